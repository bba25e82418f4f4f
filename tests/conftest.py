"""Shared fixtures. The database server comes from tests/settings.py (embedded or DATABASE_URL)."""

from __future__ import annotations

import signal
import threading
from typing import Any

import pytest
from django.conf import settings
from django.db import connection


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM ends the whole session, not just the test that is running.

    NOTE - `django_segments.testing` turns SIGTERM into ``SystemExit`` so that atexit stops
    the embedded server; inside a test, pytest reports a ``SystemExit`` as that test's
    failure and goes on with the next one. ``pytest.exit`` stops the session instead, runs
    the teardown, and the process exits (and the server stops) as intended.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_session)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the tests of this run's member model (see `member_models_of`); deselect the rest.

    ``Membership.member`` refers to one member model, fixed when the models load, so each
    member model is a run of its own (``make test`` runs each, ``tests/settings.py`` reads
    ``SEGMENTS_TEST_MEMBER_MODEL``).
    """
    running = settings.SEGMENTS_MEMBER_MODEL
    selected = [item for item in items if running in member_models_of(item)]
    deselected = [item for item in items if running not in member_models_of(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def member_models_of(item: pytest.Item) -> tuple[str, ...]:
    """The member models a test runs with: those of its ``member_model`` marker, else the
    suite's default, ``auth.User``."""
    marker = item.get_closest_marker("member_model")
    return tuple(marker.args) if marker else (DEFAULT_MEMBER_MODEL,)


DEFAULT_MEMBER_MODEL = "auth.User"


def _exit_session(signum: int, frame: Any) -> None:
    pytest.exit(f"terminated by signal {signum}", returncode=128 + signum)


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
