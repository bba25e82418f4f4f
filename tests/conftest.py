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


#: Tables the "segments_exec" login may read in the test database (nothing else).
READER_TABLES = ("auth_user", "memberapp_intmember", "memberapp_uuidmember")


@pytest.fixture(scope="session")
def segments_reader(django_db_setup, django_db_blocker) -> str:
    """The login of the "segments_exec" alias: not a superuser, SELECT on member tables only."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "DO $$ BEGIN CREATE ROLE segments_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = 'segments_reader'")
        assert cursor.fetchone() == (False,), "segments_reader must not be a superuser"
        cursor.execute("GRANT USAGE ON SCHEMA public TO segments_reader")
        cursor.execute(f"GRANT SELECT ON {', '.join(READER_TABLES)} TO segments_reader")
    return "segments_reader"
