"""End to end in a real browser: two condition editors on one admin page.

Headless Debian chromium driven by Playwright against pytest-django's ``live_server``
(which serves the package's static files). The page is the default admin's add form of
``condapp.Rule``, which has two ``ConditionsField`` columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.condapp.models import Rule
from tests.e2e import ARTIFACTS, MARKS, browser_page, login

pytestmark = MARKS


@pytest.fixture
def page(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A browser page that records JavaScript errors in ``page.js_errors``."""
    with browser_page(monkeypatch, width=1400, height=1100) as page:
        yield page


def editor(page: Any, field: str) -> Any:
    return page.locator(f"[data-ds-conditions]:has(textarea[name={field}])")


def json_of(page: Any, field: str) -> Any:
    text = page.locator(f"textarea[name={field}]").input_value()
    return json.loads(text) if text.strip() else None


@pytest.mark.django_db(transaction=True)
def test_two_condition_editors_in_the_browser(page: Any, live_server: Any, django_user_model: Any) -> None:
    django_user_model.objects.create_superuser("e2e", "e2e@example.com", "e2e-password")
    login(page, live_server.url, "/admin/condapp/rule/add/")
    show, hide = editor(page, "show_if"), editor(page, "hide_if")
    assert show.locator(".ds-conditions__group-box").count() == 1
    assert hide.locator(".ds-conditions__group-box").count() == 1
    assert json_of(page, "show_if") == {"all": []}
    assert json_of(page, "hide_if") is None

    # Structured editing of the first field writes its JSON and leaves the other alone.
    show.get_by_role("button", name="+ condition").click()
    leaf = show.locator(".ds-conditions__leaf").first
    leaf.locator("select").first.select_option("IS_STAFF")
    show.locator(".ds-conditions__leaf input[type=checkbox]").check()
    assert json_of(page, "show_if") == {"all": ["NOT IS_STAFF"]}
    assert json_of(page, "hide_if") is None

    # A comparison: pick the condition, operator and operand.
    show.get_by_role("button", name="+ condition").click()
    second = show.locator(".ds-conditions__leaf").nth(1)
    second.locator("select").first.select_option("USERNAME_LENGTH")
    second.locator("select").nth(1).select_option(">=")
    second.locator("input[type=text]").fill("3")
    assert json_of(page, "show_if") == {"all": ["NOT IS_STAFF", "USERNAME_LENGTH >= 3"]}

    # Examples with descriptions: clicking one adds it to that field only.
    hide.locator("summary").click()
    assert "The e-mail address ends with @KEY" in hide.locator("details").inner_text()
    example = hide.locator("[data-ds-example^='ID_PARITY']").first
    text = example.get_attribute("data-ds-example")
    example.click()
    assert json_of(page, "hide_if") == {"all": [text]}
    assert json_of(page, "show_if") == {"all": ["NOT IS_STAFF", "USERNAME_LENGTH >= 3"]}

    # Editing the JSON re-renders the editor; invalid JSON pauses it with a message.
    page.fill("textarea[name=hide_if]", '{"any": ["IS_STAFF", {"NOT": {"all": []}}]}')
    assert hide.locator(".ds-conditions__group-box").count() == 2
    page.fill("textarea[name=hide_if]", '{"any": [')
    assert "Structured editor paused" in hide.locator("[data-ds-status]").inner_text()
    assert show.locator("[data-ds-status]").inner_text() == ""
    page.screenshot(path=str(ARTIFACTS / "conditions_editor.png"), full_page=True)

    # The server judges: a malformed tree is a form error with its path, nothing saved.
    page.fill("input[name=name]", "browser")
    page.fill("textarea[name=hide_if]", '{"all": ["LEVEL => 5"]}')
    page.click("input[name=_save]")
    page.wait_for_load_state("load")
    assert '$.all[0]: unknown operator "=>"' in page.locator(".errorlist").inner_text()
    assert Rule.objects.count() == 0

    page.fill("textarea[name=hide_if]", '{"any": ["EMAIL_DOMAIN gmail.com"]}')
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/condapp/rule/")
    rule = Rule.objects.get()
    assert rule.show_if == {"all": ["NOT IS_STAFF", "USERNAME_LENGTH >= 3"]}
    assert rule.hide_if == {"any": ["EMAIL_DOMAIN gmail.com"]}
    assert page.js_errors == []
