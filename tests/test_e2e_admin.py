"""End to end in a real browser: the span admin's timeline and operations form.

Debian's chromium, driven headless by Playwright for Python, against pytest-django's
``live_server``. The admin site is local to this module (`IntSpan` of the test app with
the library's `SpanAdmin`), so the project's URLs are untouched. A screenshot of each
stage goes to ``tests/artifacts/``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.urls import path

from django_segments.ranges.admin import SegmentInline, SpanAdmin
from tests.e2e import ARTIFACTS, MARKS, browser_page, login, screenshot
from tests.testapp.models import DateSpan, IntSegment, IntSpan

pytestmark = MARKS


class IntSegmentInline(SegmentInline):
    model = IntSegment
    fields = ("segment_range", "label", "weight")


class IntSpanAdmin(SpanAdmin):
    inlines = (IntSegmentInline,)
    timeline_label_field = "label"


site = admin.AdminSite(name="e2e_admin")
site.register(IntSpan, IntSpanAdmin)
site.register(DateSpan, SpanAdmin)
urlpatterns = [path("admin/", site.urls)]


@pytest.fixture
def page(
    django_db_setup: Any, settings: Any, live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """A browser page; this module's admin site is the URLconf.

    ``django_db_setup`` comes first so the test database outlives the live server (whose
    thread holds a connection until it stops) when this module runs alone.
    """
    settings.ROOT_URLCONF = __name__
    with browser_page(monkeypatch, width=1280, height=1000) as page:
        yield page


def apply(page: Any, operation: str, segment: Any = None, **fields: str) -> None:
    form = page.locator("#segment-operation-form")
    form.locator("select[name=operation]").select_option(operation)
    if segment is not None:
        form.locator("select[name=segment]").select_option(str(segment.pk))
    for name, value in fields.items():
        form.locator(f"input[name={name}]").fill(value)
    form.locator("input[type=submit]").click()
    page.wait_for_load_state("load")


def boxes(page: Any, selector: str) -> list[tuple[str, str]]:
    rects = page.locator(f"svg.segments-timeline {selector}")
    return [(r.get_attribute("data-lower"), r.get_attribute("data-upper")) for r in rects.all()]


@pytest.mark.django_db(transaction=True)
def test_timeline_and_split_in_the_browser(page: Any, live_server: Any, django_user_model: Any) -> None:
    django_user_model.objects.create_superuser("e2e", "e2e@example.com", "e2e-password")
    span = IntSpan.objects.create(name="browser", current_range=(0, 100))
    segment = span.first_segment
    segment.label = "trial"
    segment.save()
    change_url = f"/admin/testapp/intspan/{span.pk}/change/"

    login(page, live_server.url, change_url)
    assert page.locator("svg.segments-timeline").count() == 1
    assert boxes(page, "rect.segment:not(.deleted)") == [("0", "100")]
    assert boxes(page, "rect.gap") == []
    page.screenshot(path=str(ARTIFACTS / "e2e_admin_1_before.png"), full_page=True)

    # Split from the admin: the page reloads with two segments in the picture.
    apply(page, "split", segment, value="40")
    assert "done; segment #" in page.locator(".messagelist .success").inner_text()
    assert boxes(page, "rect.segment:not(.deleted)") == [("0", "40"), ("40", "100")]
    assert [(s.segment_range.lower, s.segment_range.upper) for s in span.get_active_segments()] == [
        (0, 40),
        (40, 100),
    ]
    page.screenshot(path=str(ARTIFACTS / "e2e_admin_2_split.png"), full_page=True)

    # A refusal by the database is a clear message, not a server error; nothing changed.
    apply(page, "segment_shift_lower_to_value", segment, value="-10")
    error = page.locator(".messagelist .error").inner_text()
    assert "Refused by the database (containment rule, ContainmentError)" in error
    assert boxes(page, "rect.segment:not(.deleted)") == [("0", "40"), ("40", "100")]

    # An operation that cannot apply is reported with the library's reason.
    apply(page, "merge_into_lower", segment)
    assert "no lower neighbour" in page.locator(".messagelist .error").inner_text()

    # Merging soft-deletes a segment: it shows in the picture's deleted lane.
    upper = span.last_segment
    apply(page, "merge_into_lower", upper)
    assert boxes(page, "rect.segment:not(.deleted)") == [("0", "100")]
    assert boxes(page, "rect.segment.deleted") == [("40", "100")]
    page.screenshot(path=str(ARTIFACTS / "e2e_admin_3_merged.png"), full_page=True)


def shown(page: Any) -> list[str]:
    """Names of the operation form's inputs that are visible."""
    fields = page.locator("#segment-operation-form .segments-operation-field")
    return [f.get_attribute("data-field") for f in fields.all() if f.is_visible()]


@pytest.mark.django_db(transaction=True)
def test_operation_form_shows_what_the_operation_needs_and_keeps_a_refusal(
    page: Any, live_server: Any, django_user_model: Any, capsys: Any
) -> None:
    django_user_model.objects.create_superuser("e2e", "e2e@example.com", "e2e-password")
    span = IntSpan.objects.create(name="form", current_range=(0, 100))
    login(page, live_server.url, f"/admin/testapp/intspan/{span.pk}/change/")
    form = page.locator("#segment-operation-form")
    # Valid defaults: split the first segment at its middle.
    assert form.locator("select[name=operation]").input_value() == "split"
    assert form.locator("input[name=value]").input_value() == "50"
    assert shown(page) == ["operation", "segment", "value"]
    screenshot(page, "e2e_span_1_defaults", capsys)
    form.locator("select[name=operation]").select_option("merge_into_lower")
    assert shown(page) == ["operation", "segment"]
    form.locator("select[name=operation]").select_option("span_shift_by_value")
    assert shown(page) == ["operation", "delta"]

    # Out of range: a form error, what was entered is still there, nothing changed.
    form.locator("input[name=delta]").fill("2147483647")
    form.locator("input[type=submit]").click()
    page.wait_for_load_state("load")
    assert "Invalid value (" in page.locator(".messagelist .error").inner_text()
    assert form.locator("select[name=operation]").input_value() == "span_shift_by_value"
    assert form.locator("input[name=delta]").input_value() == "2147483647"
    assert "out of range" in form.locator("[data-field=delta] .errorlist").inner_text()
    assert shown(page) == ["operation", "delta"]
    screenshot(page, "e2e_span_2_refused", capsys)
    span.refresh_from_db()
    assert (span.current_range.lower, span.current_range.upper) == (0, 100)
    assert page.js_errors == []


#: The admin's calendar link: an anchor on Django 5.2, a button on Django 6 (whose icon
#: inside has an id starting the same way).
CALENDAR_LINK = "a[id^=calendarlink], button[id^=calendarlink]"


@pytest.mark.django_db(transaction=True)
def test_date_inputs_use_the_admin_calendar(
    page: Any, live_server: Any, django_user_model: Any, capsys: Any
) -> None:
    django_user_model.objects.create_superuser("e2e", "e2e@example.com", "e2e-password")
    span = DateSpan.objects.create(current_range=(dt.date(2025, 1, 1), dt.date(2025, 2, 1)))
    login(page, live_server.url, f"/admin/testapp/datespan/{span.pk}/change/")
    form = page.locator("#segment-operation-form")
    assert form.locator("input[name=value]").input_value() == "2025-01-16"
    # The admin's own calendar: one shortcut per date input, a calendar that fills it. The
    # shortcuts are added on the window's load event: wait for them, and show the field's
    # HTML when they do not come.
    value_box = form.locator("[data-field=value]")
    calendar_link = value_box.locator(CALENDAR_LINK)
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        calendar_link.wait_for(state="visible")
    except PlaywrightTimeoutError:
        pytest.fail(f"no calendar link; the field: {value_box.inner_html()}; errors: {page.js_errors}")
    assert value_box.locator(".datetimeshortcuts a", has_text="Today").count() == 1
    calendar_link.click()
    calendar = page.locator(".calendarbox:visible")
    calendar.wait_for()
    screenshot(page, "e2e_span_3_calendar", capsys)
    calendar.locator("td a", has_text="20").first.click()
    assert form.locator("input[name=value]").input_value().endswith("-20")
    page.goto(f"{live_server.url}/admin/testapp/datespan/add/")
    assert page.locator("input[name=current_range_0].vDateField").count() == 1
    assert page.locator(".field-current_range").locator(CALENDAR_LINK).count() == 2
    assert page.js_errors == []
