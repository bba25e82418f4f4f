"""Shared fixtures. The database server comes from tests/settings.py (embedded or DATABASE_URL)."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.fixture
def server_version() -> int:
    """``server_version_num`` of the server under test, e.g. 180001."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version_num')::int")
        return cursor.fetchone()[0]
