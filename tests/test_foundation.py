"""The foundation: system checks, the btree_gist migration, the embedded server helper."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.core import checks
from django.db import connection, connections
from django.db.backends.postgresql.base import DatabaseWrapper
from django.test.utils import override_settings

import django_segments
from django_segments import checks as segment_checks
from django_segments.migrations_ops import CreateBtreeGist, ExtensionError


def _ids(messages: list) -> list[str]:
    return sorted(m.id for m in messages)


def test_public_namespace_is_sorted_and_resolves() -> None:
    assert django_segments.__all__ == sorted(django_segments.__all__)
    assert django_segments.__version__
    for name in django_segments.__all__:
        assert getattr(django_segments, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        django_segments.nope  # noqa: B018


def test_e001_reported_when_pgtrigger_missing(settings) -> None:
    assert segment_checks.check_pgtrigger_installed() == []
    apps_without = [a for a in settings.INSTALLED_APPS if a != "pgtrigger"]
    with override_settings(INSTALLED_APPS=apps_without):
        messages = segment_checks.check_pgtrigger_installed()
    assert _ids(messages) == ["django_segments.E001"]
    assert "pgtrigger" in messages[0].msg
    assert messages[0].level == checks.ERROR


@pytest.mark.django_db
def test_database_checks_pass_on_the_server_under_test() -> None:
    messages = checks.run_checks(databases=["default"], tags=[checks.Tags.database])
    assert [m for m in messages if m.id.startswith("django_segments")] == []


@pytest.mark.django_db
def test_e002_when_btree_gist_unavailable(monkeypatch) -> None:
    version, _, _ = segment_checks.server_facts("default")
    monkeypatch.setattr(segment_checks, "server_facts", lambda alias: (version, False, False))
    messages = segment_checks.check_database(databases=["default"])
    assert _ids(messages) == ["django_segments.E002"]
    assert "btree_gist" in messages[0].msg


@pytest.mark.django_db
def test_w001_for_postgres_older_than_14(monkeypatch) -> None:
    monkeypatch.setattr(segment_checks, "server_facts", lambda alias: (130011, True, True))
    messages = segment_checks.check_database(databases=["default"])
    assert _ids(messages) == ["django_segments.W001"]
    assert "PostgreSQL 13" in messages[0].msg


@pytest.mark.django_db
def test_e003_for_a_non_postgres_database(monkeypatch) -> None:
    monkeypatch.setattr(connection, "vendor", "sqlite")
    messages = segment_checks.check_database(databases=["default"])
    assert _ids(messages) == ["django_segments.E003"]


@pytest.mark.django_db
def test_migrated_database_has_btree_gist() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension WHERE extname = 'btree_gist'")
        assert cursor.fetchone() == ("btree_gist",)


def _admin_conninfo(dbname: str | None = None) -> dict:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("server_side_binding", None)
    if dbname:
        params["dbname"] = dbname
    return params


@pytest.fixture
def scratch_database():
    """A new empty database plus a login role with no CREATE privilege on it."""
    suffix = uuid.uuid4().hex[:8]
    dbname, role = f"segments_ext_{suffix}", f"segments_noext_{suffix}"
    with psycopg.connect(**_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}"')
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        yield dbname, role
    finally:
        with psycopg.connect(**_admin_conninfo(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


@contextmanager
def _connection_as(dbname: str, user: str) -> Iterator[DatabaseWrapper]:
    """A Django connection to ``dbname`` as ``user``, registered under a temporary alias."""
    alias = f"probe_{dbname}"
    settings_dict = {**connection.settings_dict, "NAME": dbname, "USER": user, "PASSWORD": ""}
    wrapper = DatabaseWrapper(settings_dict, alias=alias)
    connections[alias] = wrapper
    try:
        yield wrapper
    finally:
        wrapper.close()
        del connections[alias]


def _has_extension(dbname: str) -> bool:
    with psycopg.connect(**_admin_conninfo(dbname)) as conn:
        row = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'btree_gist'")
        return row.fetchone()[0] == 1


def test_extension_migration_fails_clearly_without_privilege(scratch_database, django_db_blocker) -> None:
    dbname, role = scratch_database
    with (
        django_db_blocker.unblock(),
        _connection_as(dbname, role) as wrapper,
        pytest.raises(ExtensionError) as excinfo,
        wrapper.schema_editor() as editor,
    ):
        CreateBtreeGist().database_forwards("django_segments", editor, None, None)
    message = str(excinfo.value)
    assert "btree_gist" in message
    assert dbname in message
    assert role in message
    assert "CREATE EXTENSION btree_gist" in message
    assert not _has_extension(dbname)


def test_extension_migration_creates_it_with_privilege(scratch_database, django_db_blocker) -> None:
    dbname, role = scratch_database
    with psycopg.connect(**_admin_conninfo(), autocommit=True) as admin:
        # NOTE - btree_gist is a trusted extension (PG 13+): CREATE on the database suffices.
        admin.execute(f'GRANT CREATE ON DATABASE "{dbname}" TO "{role}"')
    with django_db_blocker.unblock(), _connection_as(dbname, role) as wrapper:
        with wrapper.schema_editor() as editor:
            CreateBtreeGist().database_forwards("django_segments", editor, None, None)
        # Running it again is a no-op, not an error.
        with wrapper.schema_editor() as editor:
            CreateBtreeGist().database_forwards("django_segments", editor, None, None)
    assert _has_extension(dbname)


def test_database_url_is_exported_for_child_processes() -> None:
    from django_segments.testing import database_url

    assert os.environ["DATABASE_URL"] == database_url()


def test_all_lists_exactly_the_lazy_names() -> None:
    assert set(django_segments.__all__) == {*django_segments._LAZY, "__version__"}


def test_segment_tables_create_btree_gist_when_missing(scratch_database, django_db_blocker) -> None:
    """A project's segment migration may run before ours: the constraint brings btree_gist."""
    from tests.testapp.models import IntSegment, IntSpan

    dbname, _ = scratch_database
    assert not _has_extension(dbname)
    with django_db_blocker.unblock(), _connection_as(dbname, connection.settings_dict["USER"]) as wrapper:
        with wrapper.schema_editor() as editor:
            editor.create_model(IntSpan)  # its triggers name the segment table, made next
            editor.create_model(IntSegment)
        with wrapper.cursor() as cursor:
            cursor.execute(
                "SELECT contype FROM pg_constraint WHERE conname = %s",
                [f"{IntSegment._meta.db_table}_no_overlap"],
            )
            assert cursor.fetchone() == ("x",)
    assert _has_extension(dbname)


@pytest.mark.django_db
def test_migrations_match_the_models() -> None:
    """Generated DDL (constraints, triggers) lives in migrations: they must be current."""
    from django.core.management import call_command

    try:
        call_command("makemigrations", "--check", "--dry-run", verbosity=0)
    except SystemExit as exc:  # makemigrations --check exits 1 when a migration is missing
        pytest.fail(f"models changed without a migration (exit {exc.code}); run makemigrations")


def environ_without_database_url() -> dict[str, str]:
    """This process's environment without ``DATABASE_URL``: a child started with it starts
    an embedded server of its own (or, by design, does not)."""
    return {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}


def assert_server_stopped(pid: int, pgdata: str, owner: str) -> None:
    """The embedded server ``pid`` exits within 15 s and its data directory is gone."""
    import time

    import psutil

    deadline = time.monotonic() + 15
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not psutil.pid_exists(pid), f"the embedded server outlived {owner}"
    assert not os.path.exists(pgdata)


def test_embedded_server_stops_when_its_process_is_terminated(tmp_path) -> None:
    """SIGTERM (a CI timeout, ctrl-c in a wrapper) must not leave a server behind."""
    import signal
    import subprocess
    import sys

    import psutil

    script = (
        "import os, sys, time\n"
        "os.environ.pop('DATABASE_URL', None)\n"
        "from django_segments.testing import postgres\n"
        "server = postgres.embedded_server()\n"
        "print(server.get_pid(), server.pgdata, flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen(  # noqa: S603 - fixed interpreter and script
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=environ_without_database_url()
    )
    try:
        pid, pgdata = child.stdout.readline().split()
        assert psutil.pid_exists(int(pid))
        child.send_signal(signal.SIGTERM)
        child.wait(30)
        assert_server_stopped(int(pid), pgdata, "its process")
    finally:
        if child.poll() is None:
            child.kill()


def test_the_type_checker_settings_start_no_server() -> None:
    """mypy's Django plugin imports `tests.settings_typecheck` and exits without running
    ``atexit``: with DATABASE_URL unset those settings must not start an embedded server
    (one would be left running)."""
    import subprocess
    import sys

    script = (
        "import tests.settings_typecheck as s\n"
        "from django_segments.testing import postgres\n"
        "print(postgres._server is None, s.DATABASES['default']['NAME'])\n"
    )
    done = subprocess.run(  # noqa: S603 - fixed interpreter and script
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environ_without_database_url(),
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["True", "typecheck-only"]
