"""Helpers of the scaling tests (tests/test_scaling_*.py): child processes on the test
database, and skipping that turns into failing in CI."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def require(ok: bool, reason: str) -> None:
    """Skip with ``reason`` unless ``ok``; in CI (``CI=true``) fail instead."""
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI has it, so this test must run there")
    pytest.skip(reason)


def unreachable(url: str) -> str | None:
    """Why the server of ``url`` cannot be reached, or None when it accepts a connection."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=2).close()
    except OSError as exc:
        return f"{parts.hostname}:{parts.port}: {exc}"
    return None


def child_env(**extra: str) -> dict[str, str]:
    """Environment of a child process: the test settings on this test's database."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.scaling_worker_settings",
        "SEGMENTS_TEST_DATABASE": connection.settings_dict["NAME"],
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def wait_for(done: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    """Call ``done`` until it returns something true (returned); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = done()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")
