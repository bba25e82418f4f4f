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
from django.template import Context, Template
from django.urls import path

from django_segments.ranges.admin import OPERATIONS, SegmentAdmin, SegmentInline, SpanAdmin
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
