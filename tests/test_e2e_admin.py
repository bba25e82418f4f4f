"""End to end in a real browser: the span admin's timeline and operations form.

Debian's chromium, driven headless by Playwright for Python, against pytest-django's
``live_server``. The admin site is local to this module (`IntSpan` of the test app with
the library's `SpanAdmin`), so the project's URLs are untouched. A screenshot of each
stage goes to ``tests/artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.urls import path

from django_segments.ranges.admin import SegmentInline, SpanAdmin
from tests.e2e import ARTIFACTS, MARKS, browser_page, login
from tests.testapp.models import IntSegment, IntSpan

pytestmark = MARKS


class IntSegmentInline(SegmentInline):
    model = IntSegment
    fields = ("segment_range", "label", "weight")


class IntSpanAdmin(SpanAdmin):
    inlines = (IntSegmentInline,)
    timeline_label_field = "label"


site = admin.AdminSite(name="e2e_admin")
site.register(IntSpan, IntSpanAdmin)
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
