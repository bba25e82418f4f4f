"""End to end in a real browser: the user-segment admin's pages.

The segment form (live member count, the never-true hint, the count chart, the slug),
the members page (paging, search, a member's link, CSV), and a refresh run's drill-down
to who entered and who left. Debian's chromium driven by Playwright, against
``live_server`` and the test project's admin; screenshots go to `tests.e2e.ARTIFACTS`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest

from django_segments.models import RefreshRun
from tests.e2e import MARKS, browser_page, login, screenshot
from tests.memberapp.admin import IntMemberAdmin
from tests.memberapp.models import IntMember
from tests.membership_helpers import DATABASES, make_segment, set_definition

pytestmark = [
    pytest.mark.member_model("memberapp.IntMember"),
    *MARKS,
    pytest.mark.usefixtures("segments_reader"),
]

ADMIN = "/admin/django_segments"


@pytest.fixture
def page(django_db_setup: Any, live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A browser page on the test project's admin (``django_db_setup`` first, so the test
    database outlives the live server)."""
    with browser_page(monkeypatch, width=1280, height=1000) as page:
        yield page


@pytest.fixture
def members(settings: Any, django_user_model: Any, monkeypatch: pytest.MonkeyPatch) -> list[IntMember]:
    settings.SEGMENTS_CONDITIONS = "tests.admin_conditions"
    monkeypatch.setattr(IntMemberAdmin, "search_fields", ["email"])
    django_user_model.objects.create_superuser("e2e", "e2e@example.com", "e2e-password")
    return IntMember.objects.bulk_create(
        IntMember(email=f"m{i}@{'example.org' if i % 2 else 'test.net'}", level=i) for i in range(60)
    )


def _ids(members: list[IntMember]) -> str:
    return " ".join(str(m.pk) for m in members)


def _history(members: list[IntMember]) -> Any:
    """A segment refreshed three times: 55 members, then 58, then 52."""
    segment = make_segment("vip", static_ids=_ids(members[:55]))
    segment.refresh()
    set_definition(segment, static_ids=_ids(members[:58]))
    segment.refresh()
    set_definition(segment, static_ids=_ids(members[6:58]))
    segment.refresh()
    return segment


@pytest.mark.django_db(transaction=True, databases=DATABASES)
def test_segment_form_counts_live_and_draws_the_history(
    page: Any, live_server: Any, members: list[IntMember], capsys: Any
) -> None:
    segment = _history(members)
    change_url = f"{ADMIN}/usersegment/{segment.pk}/change/"
    login(page, live_server.url, change_url)

    # The count over time, drawn on the server: a step line ending at today's 52.
    chart = page.locator("#segments-count-chart svg")
    assert chart.get_attribute("data-latest") == "52"
    assert page.locator("#segments-count-chart polyline").count() == 1
    assert "3 changes in the history" in page.locator("#segments-count-chart figcaption").inner_text()
    # The slug is read-only; the page counts the saved definition at once.
    assert page.locator("input[name=slug]").count() == 0
    number = page.locator("#segments-live-count .segments-live-count-number")
    number.wait_for()
    assert number.inner_text() == "52"
    screenshot(page, "e2e_segments_1_change_form", capsys)

    # Typing changes the count after a pause; nothing is saved.
    page.fill("textarea[name=static_ids]", _ids(members[:7]))
    page.wait_for_function(
        "document.querySelector('#segments-live-count .segments-live-count-number')?.textContent === '7'"
    )
    # A tree that can never match is named, with the reason.
    page.fill("textarea[name=static_ids]", "")
    page.fill("textarea[name=conditions]", '{"all": ["EMAIL_DOMAIN example.org", "EMAIL_DOMAIN test.net"]}')
    hint = page.locator("#segments-live-count ul.segments-live-never")
    hint.wait_for()
    assert "EMAIL_DOMAIN has one value per member" in hint.inner_text()
    assert page.locator("#segments-live-count .segments-live-count-number").inner_text() == "0"
    screenshot(page, "e2e_segments_2_never_true_hint", capsys)
    # An invalid definition shows its error instead of a count.
    page.fill("textarea[name=conditions]", "null")
    page.fill("textarea[name=sql]", "SELECT 1; SELECT 2")
    errors = page.locator("#segments-live-count ul.segments-live-errors")
    errors.wait_for()
    assert "exactly one SELECT" in errors.inner_text()
    segment.refresh_from_db()
    assert segment.sql == ""
    assert segment.static_ids == _ids(members[6:58])
    assert page.js_errors == []

    # The add form: no Refresh fieldset; the slug follows the name.
    page.goto(f"{live_server.url}{ADMIN}/usersegment/add/")
    assert page.locator("fieldset h2", has_text="Refresh").count() == 0
    page.locator("input[name=name]").press_sequentially("New Buyers")
    assert page.input_value("input[name=slug]") == "new-buyers"
    screenshot(page, "e2e_segments_3_add_form", capsys)
    assert page.js_errors == []


@pytest.mark.django_db(transaction=True, databases=DATABASES)
def test_members_page_pages_searches_links_and_exports(
    page: Any, live_server: Any, members: list[IntMember], capsys: Any
) -> None:
    segment = _history(members)
    login(page, live_server.url, f"{ADMIN}/usersegment/")
    page.click(f"td.field-members_link a[href$='/{segment.pk}/members/']")
    page.wait_for_url(f"**{ADMIN}/usersegment/{segment.pk}/members/")
    rows = page.locator("#segments-members tbody tr")
    assert rows.count() == 50
    assert "Page 1 of 2 (52 rows)" in page.locator(".segments-paginator").inner_text()
    screenshot(page, "e2e_segments_4_members", capsys)
    page.click("a[rel=next]")
    page.wait_for_load_state("load")
    assert rows.count() == 2

    page.fill("#segments-members-q", "example.org")
    page.click(".segments-members-search input[type=submit]")
    page.wait_for_load_state("load")
    emails = page.locator("#segments-members tbody td:nth-child(2)").all_inner_texts()
    assert emails == [m.email for m in members[6:58] if m.email.endswith("example.org")]
    screenshot(page, "e2e_segments_5_members_search", capsys)
    csv_href = page.get_attribute("a.segments-csv", "href")
    exported = list(csv.reader(io.StringIO(page.request.get(f"{live_server.url}{csv_href}").text())))
    assert [row[1] for row in exported[1:]] == emails

    page.click(f"text={members[7].email}")
    page.wait_for_url(f"**/admin/memberapp/intmember/{members[7].pk}/change/")
    assert page.js_errors == []


@pytest.mark.django_db(transaction=True, databases=DATABASES)
def test_refresh_run_drills_down_to_entries_and_exits(
    page: Any, live_server: Any, members: list[IntMember], capsys: Any
) -> None:
    segment = _history(members)
    last = RefreshRun.objects.filter(segment=segment).latest()
    login(page, live_server.url, f"{ADMIN}/refreshrun/")
    header = page.locator("#result_list thead").inner_text()
    for column in ("took", "entered", "left", "members"):
        assert column in header.lower()
    screenshot(page, "e2e_segments_6_runs", capsys)
    # The table fits the page: no horizontal scrolling at 1280 pixels.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.click(f"a[href$='/refreshrun/{last.pk}/changes/?change=left']")
    page.wait_for_load_state("load")
    left = page.locator("#segments-run-changes tbody td:first-child").all_inner_texts()
    assert left == [str(m.pk) for m in members[:6]]
    screenshot(page, "e2e_segments_7_run_left", capsys)
    page.locator(".segments-tabs a", has_text="Entered").click()
    page.wait_for_load_state("load")
    assert "Nobody entered in this run" in page.locator(".segments-empty").inner_text()
    csv_href = page.get_attribute("a.segments-csv", "href")
    exported = list(csv.reader(io.StringIO(page.request.get(f"{live_server.url}{csv_href}").text())))
    assert [(row[0], row[1]) for row in exported[1:]] == [("left", str(m.pk)) for m in members[:6]]

    page.goto(f"{live_server.url}{ADMIN}/refreshrun/{last.pk}/change/")
    assert page.locator(".object-tools a", has_text="Left (6)").count() == 1
    assert page.js_errors == []
