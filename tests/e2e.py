"""Shared pieces of the browser end-to-end tests (Debian's chromium, Playwright for Python)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: The flags this machine's closed network needs; `playwright install` is never run.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Where screenshots are kept: ``SEGMENTS_E2E_ARTIFACTS``, else ``tests/artifacts/`` in the
#: checkout (ignored by git; CI keeps the checkout, so they stay with the run).
ARTIFACTS = Path(os.environ.get("SEGMENTS_E2E_ARTIFACTS") or Path(__file__).resolve().parent / "artifacts")

#: Module marks: e2e, skipped with a clear reason where the browser cannot run.
MARKS = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None,
        reason="playwright is not installed (pip install 'django-segments[e2e]'; .ci/install-browser)",
    ),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
]


@contextmanager
def browser_page(monkeypatch: pytest.MonkeyPatch, *, width: int, height: int) -> Iterator[Any]:
    """A headless chromium page that records JavaScript errors in ``page.js_errors``."""
    from playwright.sync_api import sync_playwright

    # NOTE - Playwright's sync API runs an event loop in this thread, so Django refuses
    # ORM calls here unless told otherwise; the test's own queries are synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(viewport={"width": width, "height": height}).new_page()
            page.set_default_timeout(15_000)
            page.js_errors = []
            page.on("pageerror", lambda error: page.js_errors.append(str(error)))
            yield page
        finally:
            browser.close()
            # NOTE - while Playwright's loop runs, Django keeps this thread's connections
            # in a context of their own (asgiref Local); close them before the loop ends,
            # or one stays open and the test database cannot be dropped.
            connections.close_all()


def login(page: Any, base: str, next_url: str) -> None:
    """Log in through the admin form as ``e2e`` and land on ``next_url``."""
    page.goto(f"{base}/admin/login/?next={next_url}")
    page.fill("#id_username", "e2e")
    page.fill("#id_password", "e2e-password")
    page.click("input[type=submit]")
    page.wait_for_url(f"**{next_url}")


def screenshot(page: Any, name: str, capsys: pytest.CaptureFixture[str]) -> Path:
    """Save a full-page screenshot as ``ARTIFACTS/<name>.png`` and print its path (past
    pytest's capture, so it shows in the test run's output)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    with capsys.disabled():
        print(f"\nscreenshot: {target}")
    return target
