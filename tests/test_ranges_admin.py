"""The span admin without a browser: timeline geometry, the template tag, operations and errors.

(`tests/test_e2e_admin.py` drives the same pages in chromium.)
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db import DataError
from django.template import Context, Template
from django.urls import path

from django_segments.exceptions import RangeValueError
from django_segments.ranges.admin import (
    OPERATIONS,
    SegmentAdmin,
    SegmentInline,
    SegmentOperationForm,
    SpanAdmin,
)
from django_segments.templatetags.segments_timeline import (
    as_number,
    build_timeline,
    find_gaps,
    format_bound,
)
from tests.testapp.models import (
    BigIntSegment,
    BigIntSpan,
    DateSegment,
    DateSpan,
    DateTimeSegment,
    DateTimeSpan,
    IntSegment,
    IntSpan,
)


class IntSegmentInline(SegmentInline):
    model = IntSegment


class DateSegmentInline(SegmentInline):
    model = DateSegment


site = admin.AdminSite(name="ranges_admin_tests")
site.register(IntSpan, SpanAdmin, inlines=[IntSegmentInline], timeline_label_field="label")
site.register(DateSpan, SpanAdmin, inlines=[DateSegmentInline])
site.register(BigIntSpan, SpanAdmin)
site.register(IntSegment, SegmentAdmin)
urlpatterns = [path("admin/", site.urls)]


@pytest.fixture
def client(client: Any, settings: Any, admin_user: Any) -> Any:
    settings.ROOT_URLCONF = __name__
    client.force_login(admin_user)
    return client


def messages_of(response: Any) -> list[tuple[str, str]]:
    """Messages not shown yet (redirects are not followed, so they pile up; the last is new)."""
    return [(m.tags, str(m)) for m in get_messages(response.wsgi_request)]


# --- timeline geometry ---------------------------------------------------------------------


def test_find_gaps() -> None:
    assert find_gaps(0, 10, []) == [(0, 10)]
    assert find_gaps(0, 10, [(0, 10)]) == []
    assert find_gaps(0, 10, [(6, 8), (2, 4)]) == [(0, 2), (4, 6), (8, 10)]
    assert find_gaps(0, 10, [(0, 5), (3, 10)]) == []


def test_bounds_on_one_axis() -> None:
    assert as_number(dt.date(2025, 1, 2)) - as_number(dt.date(2025, 1, 1)) == 1
    moment = dt.datetime(2025, 1, 1, 12, 30, tzinfo=dt.UTC)
    assert as_number(moment) == moment.timestamp()
    assert as_number(Decimal("1.5")) == 1.5
    assert format_bound(moment) == "2025-01-01 12:30"
    assert format_bound(dt.date(2025, 1, 1)) == "2025-01-01"
    with pytest.raises(TypeError, match="cannot place"):
        as_number("x")


@pytest.mark.django_db
def test_timeline_shows_gaps_and_deleted_segments() -> None:
    span = DateTimeSpan.objects.create(
        current_range=(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 11, tzinfo=dt.UTC))
    )
    day = dt.timedelta(days=1)
    lower = span.current_range.lower
    kept = DateTimeSegment.objects.create(span=span, segment_range=(lower + 2 * day, lower + 4 * day))
    gone = DateTimeSegment.objects.create(span=span, segment_range=(lower + 6 * day, lower + 8 * day))
    gone.delete()  # soft

    timeline = build_timeline(span, width=600)
    assert [(b.lower, b.upper) for b in timeline.segments] == [
        (kept.segment_range.lower, kept.segment_range.upper)
    ]
    assert [(b.lower, b.upper) for b in timeline.deleted] == [
        (gone.segment_range.lower, gone.segment_range.upper)
    ]
    assert [(b.lower, b.upper) for b in timeline.gaps] == [
        (lower, lower + 2 * day),
        (lower + 4 * day, span.current_range.upper),
    ]
    assert "1 active segment(s), 2 gap(s), 1 deleted segment(s)" in timeline.description
    assert timeline.span.x == timeline.margin
    assert timeline.span.x + timeline.span.width == pytest.approx(timeline.axis_end)
    assert timeline.marker is None
    assert build_timeline(span, marker=lower + 5 * day, marker_label="now").marker.label == "now"
    assert build_timeline(span, marker=lower - 5 * day).marker is None
    labelled = [t.label for t in timeline.ticks if t.label]
    assert labelled[0] == "2025-01-01 00:00"
    assert labelled[-1] == "2025-01-11 00:00"


@pytest.mark.django_db
def test_template_tag_renders_svg_without_external_assets() -> None:
    span = IntSpan.objects.create(current_range=(0, 100))
    first = span.first_segment
    first.label = "trial"
    first.save()
    first.split(40).save()
    html = Template("{% load segments_timeline %}{% segments_timeline span 800 'label' %}").render(
        Context({"span": span})
    )
    assert html.count('class="segment"') == 2
    assert 'data-lower="0" data-upper="40"' in html
    assert 'data-lower="40" data-upper="100"' in html
    assert ">trial</text>" in html
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "")


# --- admin pages -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_change_page_has_timeline_and_form(client: Any) -> None:
    span = IntSpan.objects.create(current_range=(0, 10))
    response = client.get(f"/admin/testapp/intspan/{span.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="segments-timeline"' in body
    assert 'id="segment-operation-form"' in body
    for key in OPERATIONS:
        assert f'value="{key}"' in body
    assert f"#{span.first_segment.pk} [0, 10)" in body


@pytest.mark.django_db
def test_split_through_the_admin(client: Any) -> None:
    span = IntSpan.objects.create(current_range=(0, 10))
    segment = span.first_segment
    url = f"/admin/testapp/intspan/{span.pk}/segments/operation/"
    response = client.post(url, {"operation": "split", "segment": segment.pk, "value": "4"})
    assert response.status_code == 302
    assert response["Location"] == f"/admin/testapp/intspan/{span.pk}/change/"
    assert [str(s.segment_range) for s in span.get_active_segments()] == ["[0, 4)", "[4, 10)"]
    tags, text = messages_of(response)[-1]
    assert tags == "success"
    assert "now covers [4, 10)" in text


@pytest.mark.django_db
def test_refusals_become_messages(client: Any) -> None:
    span = IntSpan.objects.create(current_range=(0, 10))
    segment = span.first_segment
    url = f"/admin/testapp/intspan/{span.pk}/segments/operation/"

    response = client.post(
        url, {"operation": "segment_shift_lower_to_value", "segment": segment.pk, "value": "-5"}
    )
    tags, text = messages_of(response)[-1]
    assert tags == "error"
    assert text.startswith("Refused by the database (containment rule, ContainmentError)")

    response = client.post(url, {"operation": "merge_into_upper", "segment": segment.pk})
    tags, text = messages_of(response)[-1]
    assert "Not possible (SegmentOperationError)" in text
    assert "no upper neighbour" in text

    response = client.post(url, {"operation": "split", "segment": segment.pk, "value": "10"})
    tags, text = messages_of(response)[-1]
    assert text.startswith("Invalid value (IncorrectSegmentRangeError)")

    response = client.post(url, {"operation": "split"})
    texts = [text for _, text in messages_of(response)]
    assert "Segment: Choose the segment this operation applies to." in texts
    assert "Value: Split the segment at a value needs a value." in texts
    assert [str(s.segment_range) for s in span.get_active_segments()] == ["[0, 10)"]


@pytest.mark.django_db
def test_span_operations_on_dates(client: Any) -> None:
    span = DateSpan.objects.create(current_range=(dt.date(2025, 1, 1), dt.date(2025, 2, 1)))
    url = f"/admin/testapp/datespan/{span.pk}/segments/operation/"
    client.post(url, {"operation": "span_shift_by_value", "delta": "3"})
    span.refresh_from_db()
    assert span.current_range.lower == dt.date(2025, 1, 4)
    client.post(url, {"operation": "append", "value": "2025-03-01"})
    client.post(url, {"operation": "span_shift_upper_to_value", "value": "2025-02-20"})
    assert [str(s.segment_range) for s in span.get_active_segments()] == [
        "[2025-01-04, 2025-02-04)",
        "[2025-02-04, 2025-02-20)",
    ]


@pytest.mark.django_db
def test_operation_view_needs_post_and_an_existing_span(client: Any) -> None:
    span = IntSpan.objects.create(current_range=(0, 10))
    assert client.get(f"/admin/testapp/intspan/{span.pk}/segments/operation/").status_code == 403
    assert client.post("/admin/testapp/intspan/999999/segments/operation/", {}).status_code == 404


@pytest.mark.django_db
def test_add_page_checks_the_range_and_creates_the_first_segment(client: Any) -> None:
    response = client.get("/admin/testapp/bigintspan/add/")
    assert "initial_range" not in response.content.decode()
    response = client.post("/admin/testapp/bigintspan/add/", {"current_range_0": "5", "current_range_1": "5"})
    assert response.status_code == 200
    assert "lower &lt; upper" in response.content.decode()
    response = client.post("/admin/testapp/bigintspan/add/", {"current_range_0": "5", "current_range_1": "9"})
    assert response.status_code == 302
    span = BigIntSpan.objects.get()
    assert str(span.initial_range) == "[5, 9)"
    assert not BigIntSegment.objects.filter(span=span).exists()  # span gaps allowed
    change = client.get(f"/admin/testapp/bigintspan/{span.pk}/change/").content.decode()
    assert 'class="gap"' in change


@pytest.mark.django_db
def test_merge_actions_on_segments(client: Any) -> None:
    span = IntSpan.objects.create(current_range=(0, 30))
    middle = span.first_segment.split(10)
    last = middle.split(20)
    url = "/admin/testapp/intsegment/"
    assert client.get(url).status_code == 200
    assert client.get(url + "add/").status_code == 403
    response = client.post(url, {"action": "merge_into_lower", "_selected_action": [middle.pk, last.pk]})
    assert response.status_code == 302
    texts = [text for _, text in messages_of(response)]
    assert "Merged 2 segment(s) into the lower neighbour." in texts
    assert [str(s.segment_range) for s in span.get_active_segments()] == ["[0, 30)"]
    first = span.first_segment
    response = client.post(url, {"action": "merge_into_upper", "_selected_action": [first.pk]})
    tags, text = messages_of(response)[-1]
    assert tags == "error"
    assert text.startswith(f"Segment #{first.pk}: Not possible (SegmentOperationError)")


# --- the operations form: widgets, defaults, kept input, out-of-range values ---------------


def _change(client: Any, span: Any) -> Any:
    return client.get(f"/admin/{span._meta.app_label}/{span._meta.model_name}/{span.pk}/change/")


def _operate(client: Any, span: Any, **data: Any) -> Any:
    url = f"/admin/{span._meta.app_label}/{span._meta.model_name}/{span.pk}/segments/operation/"
    return client.post(url, data)


@pytest.mark.django_db
def test_unbound_form_proposes_a_valid_split(client: Any) -> None:
    span = IntSpan.objects.create(current_range=(0, 10))
    form = _change(client, span).context["segment_operation_form"]
    assert not form.is_bound
    initial = {name: form[name].value() for name in ("operation", "segment", "value", "delta")}
    assert initial == {"operation": "split", "segment": span.first_segment.pk, "value": 5, "delta": 1}
    response = _operate(client, span, **initial)
    assert messages_of(response)[-1][0] == "success"
    assert [str(s.segment_range) for s in span.get_active_segments()] == ["[0, 5)", "[5, 10)"]
    date_span = DateSpan.objects.create(current_range=(dt.date(2025, 1, 1), dt.date(2025, 1, 11)))
    form = _change(client, date_span).context["segment_operation_form"]
    assert form["value"].value() == dt.date(2025, 1, 6)
    empty = BigIntSpan.objects.create(current_range=(0, 10))
    assert _change(client, empty).context["segment_operation_form"]["operation"].value() == "append"


@pytest.mark.django_db
def test_options_name_their_inputs_and_labels_do_not_repeat_the_range(client: Any, monkeypatch) -> None:
    span = IntSpan.objects.create(current_range=(0, 10))
    segment = span.first_segment
    monkeypatch.setattr(IntSegment, "__str__", lambda self: f"trial {self.segment_range}")
    body = _change(client, span).content.decode()
    assert 'value="split" selected data-target="segment" data-argument="value"' in body
    assert 'value="merge_into_lower" data-target="segment" data-argument=""' in body
    assert 'value="span_shift_by_value" data-target="span" data-argument="delta"' in body
    assert f'<option value="{segment.pk}" selected>#{segment.pk} [0, 10) trial</option>' in body
    assert 'data-field="delta"' in body
    assert "django_segments/ranges/operation_form.js" in body


@pytest.mark.django_db
def test_dates_use_the_admins_calendar(client: Any) -> None:
    span = DateSpan.objects.create(current_range=(dt.date(2025, 1, 1), dt.date(2025, 2, 1)))
    body = _change(client, span).content.decode()
    assert 'name="value" value="2025-01-16" class="vDateField"' in body
    assert body.count("admin/js/calendar.js") == 1
    assert body.count("admin/js/admin/DateTimeShortcuts.js") == 1
    add = client.get("/admin/testapp/datespan/add/").content.decode()
    assert 'name="current_range_0" class="vDateField"' in add


@pytest.mark.django_db
def test_datetime_ranges_use_the_split_widget(settings: Any) -> None:
    class DateTimeSpanAdmin(SpanAdmin):
        pass

    model_admin = DateTimeSpanAdmin(DateTimeSpan, site)
    form_class = model_admin.get_form(None, None)  # type: ignore[arg-type]
    form = form_class(
        {
            "current_range_0_0": "2025-01-01",
            "current_range_0_1": "00:00",
            "current_range_1_0": "2025-01-02",
            "current_range_1_1": "12:30",
        }
    )
    assert form.is_valid(), form.errors
    rng = form.cleaned_data["current_range"]
    assert (rng.lower.isoformat(), rng.upper.isoformat()) == (
        "2025-01-01T00:00:00+00:00",
        "2025-01-02T12:30:00+00:00",
    )
    assert 'class="vTimeField"' in str(form["current_range"])
    span = DateTimeSpan.objects.create(current_range=(rng.lower, rng.upper))
    operation_form = SegmentOperationForm(span=span)
    assert "vTimeField" in str(operation_form["value"])


@pytest.mark.django_db
def test_a_refused_operation_keeps_what_was_entered(client: Any) -> None:
    span = IntSpan.objects.create(current_range=(0, 10))
    segment = span.first_segment
    _operate(client, span, operation="segment_shift_lower_to_value", segment=segment.pk, value="-5")
    form = _change(client, span).context["segment_operation_form"]
    assert form.is_bound
    assert form["operation"].value() == "segment_shift_lower_to_value"
    assert form["value"].value() == "-5"
    assert "ContainmentError" in str(form.non_field_errors())
    # Kept once: the next visit proposes the defaults again.
    assert not _change(client, span).context["segment_operation_form"].is_bound
    # An incomplete form comes back with its field errors.
    _operate(client, span, operation="span_shift_by_value", delta="")
    form = _change(client, span).context["segment_operation_form"]
    assert form["operation"].value() == "span_shift_by_value"
    assert form.errors["delta"] == ["Shift the whole span by a delta needs a delta."]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "bounds", "data"),
    [
        (IntSpan, (0, 10), {"operation": "span_shift_by_value", "delta": "2147483647"}),
        (IntSpan, (0, 10), {"operation": "append", "value": "2147483648"}),
        (BigIntSpan, (0, 10), {"operation": "span_shift_by_value", "delta": str(2**63 - 5)}),
        (
            DateSpan,
            (dt.date(2025, 1, 1), dt.date(2025, 2, 1)),
            {"operation": "span_shift_by_value", "delta": "3000000"},
        ),
        (
            DateSpan,
            (dt.date(2025, 1, 1), dt.date(2025, 2, 1)),
            {"operation": "span_shift_by_value", "delta": "1000000000"},
        ),
    ],
    ids=["int4-delta", "int4-value", "int8-delta", "date-overflow", "timedelta-overflow"],
)
def test_out_of_range_input_is_a_form_error(client: Any, model: Any, bounds: Any, data: Any) -> None:
    span = model.objects.create(current_range=bounds)
    before = str(span.current_range)
    response = _operate(client, span, **data)
    assert response.status_code == 302
    tags, text = messages_of(response)[-1]
    assert tags == "error"
    assert text.startswith("Invalid value (")
    argument = "delta" if "delta" in data else "value"
    form = _change(client, span).context["segment_operation_form"]
    assert form.errors[argument] == [text]
    assert form[argument].value() == data[argument]
    span.refresh_from_db()
    assert str(span.current_range) == before
    assert [str(s.segment_range) for s in span.get_active_segments()] in ([], [before])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "error",
    [
        DataError("integer out of range"),
        OverflowError("date value out of range"),
        RangeValueError("delta is too large"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_each_out_of_range_error_is_a_form_error(client: Any, monkeypatch, error: Exception) -> None:
    """Whichever of the three the library raises (Postgres' DataError, Python's
    OverflowError, or its own RangeValueError before any SQL), the form reports it."""
    span = IntSpan.objects.create(current_range=(0, 10))

    def refuse(self: Any, delta: Any) -> None:
        IntSpan.objects.filter(pk=self.pk).update(name="half-applied")
        raise error

    monkeypatch.setattr(IntSpan, "shift_by_value", refuse)
    response = _operate(client, span, operation="span_shift_by_value", delta="7")
    assert response.status_code == 302
    tags, text = messages_of(response)[-1]
    assert (tags, text.split(" (")[0]) == ("error", "Invalid value")
    assert "integer out of range" not in text  # the message names no database detail
    assert _change(client, span).context["segment_operation_form"].errors["delta"] == [text]
    span.refresh_from_db()
    assert span.name != "half-applied"  # the operation's writes were rolled back
