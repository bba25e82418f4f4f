"""System checks about range models and installed triggers."""

from __future__ import annotations

import pytest
from django.core import checks
from django.db import connection
from django.test.utils import isolate_apps

import django_segments as ds
from django_segments import checks as segment_checks
from tests.testapp.models import IntSegment, IntSpan


def _ids(messages: list) -> list[str]:
    return sorted(m.id for m in messages)


def test_test_app_models_pass() -> None:
    assert segment_checks.check_range_models() == []


def test_e004_when_pgtrigger_migrations_are_off(settings) -> None:
    settings.PGTRIGGER_MIGRATIONS = False
    assert _ids(segment_checks.check_range_models()) == ["django_segments.E004"]


@isolate_apps("tests.testapp")
def test_w010_and_e010_for_span_models_without_segments(monkeypatch) -> None:
    class LonelySpan(ds.AbstractSpan):
        class Meta:
            app_label = "testapp"

        class SpanConfig:
            range_field_type = "integer"
            allow_span_gaps = True

    class StrictLonelySpan(ds.AbstractSpan):
        class Meta:
            app_label = "testapp"

        class SpanConfig:
            range_field_type = "integer"
            allow_span_gaps = False

    monkeypatch.setattr(segment_checks, "_span_models", lambda: [LonelySpan, StrictLonelySpan])
    messages = segment_checks.check_range_models()
    assert _ids(messages) == ["django_segments.E010", "django_segments.W010"]
    by_id = {m.id: m for m in messages}
    assert by_id["django_segments.E010"].obj is StrictLonelySpan
    assert "cannot even be created" in by_id["django_segments.E010"].msg


def _installed_trigger(model: type, prefix: str) -> str:
    """The name of ``model``'s one installed trigger whose name starts with ``prefix``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname LIKE %s",
            [model._meta.db_table, f"{prefix}%"],
        )
        (name,) = cursor.fetchone()
    return name


def _drop_insert_check_trigger() -> str:
    """Drop IntSegment's insert check trigger; return its name."""
    name = _installed_trigger(IntSegment, "pgtrigger_segments_check_insert")
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TRIGGER "{name}" ON {IntSegment._meta.db_table}')
    return name


@pytest.mark.django_db
def test_w002_when_a_constraint_trigger_is_missing() -> None:
    assert segment_checks.check_triggers_installed(databases=["default"]) == []
    name = _drop_insert_check_trigger()
    messages = segment_checks.check_triggers_installed(databases=["default"])
    assert _ids(messages) == ["django_segments.W002"]
    assert name in messages[0].msg
    assert messages[0].obj is IntSegment


@pytest.mark.django_db
def test_w002_leaves_out_a_trigger_that_an_unapplied_migration_adds() -> None:
    import pgtrigger

    name = _drop_insert_check_trigger()
    (trigger,) = [t for m, t in pgtrigger.registered() if m is IntSegment and t.get_pgid(m) == name]
    assert _ids(segment_checks.check_triggers_installed(databases=["default"])) == ["django_segments.W002"]
    with connection.cursor() as cursor:  # as if 0003, which installs the trigger now, were not applied
        cursor.execute(
            "DELETE FROM django_migrations WHERE app = 'testapp' AND name = '0003_trigger_template_v2'"
        )
    assert ("testapp", "intsegment", trigger.name) in segment_checks.pending_triggers("default")
    assert segment_checks.check_triggers_installed(databases=["default"]) == []


@pytest.mark.django_db
def test_w003_when_an_installed_trigger_is_not_the_one_the_model_generates() -> None:
    """An older template version, as after upgrading without makemigrations."""
    assert segment_checks.check_triggers_installed(databases=["default"]) == []
    name = _installed_trigger(IntSpan, "pgtrigger_segments_span_upd")
    with connection.cursor() as cursor:
        cursor.execute(f"COMMENT ON TRIGGER \"{name}\" ON {IntSpan._meta.db_table} IS 'an older hash'")
    messages = segment_checks.check_triggers_installed(databases=["default"])
    assert _ids(messages) == ["django_segments.W003"]
    assert name in messages[0].msg
    assert messages[0].obj is IntSpan


# --- The login that runs user SQL (E020, W020, E021) -------------------------------------


def test_a_separate_exec_login_passes(settings) -> None:
    assert settings.SEGMENTS_EXEC_CONNECTION == "segments_exec"
    assert segment_checks.check_exec_connection() == []
    assert segment_checks.check_exec_login_deploy() == []


def test_w020_and_e021_when_user_sql_runs_as_the_applications_login(settings) -> None:
    settings.SEGMENTS_EXEC_CONNECTION = "default"
    (warning,) = segment_checks.check_exec_connection()
    assert warning.id == "django_segments.W020"
    assert warning.level == checks.WARNING
    assert "runs as the application's own database login" in warning.msg
    assert "docs/security.md" in warning.hint
    (error,) = segment_checks.check_exec_login_deploy()
    assert (error.id, error.level) == ("django_segments.E021", checks.ERROR)
    assert "is the login of 'default', which writes the membership tables" in error.msg
    assert "docs/security.md" in error.hint


def test_e020_when_the_exec_alias_does_not_exist(settings) -> None:
    settings.SEGMENTS_EXEC_CONNECTION = "nope"
    assert _ids(segment_checks.check_exec_connection()) == ["django_segments.E020"]
    assert segment_checks.check_exec_login_deploy() == []


def test_e021_is_a_deployment_check_and_w020_is_not(settings) -> None:
    settings.SEGMENTS_EXEC_CONNECTION = "default"
    registry = checks.registry.registry
    plain, deploy = set(registry.get_checks()), set(registry.get_checks(include_deployment_checks=True))
    assert segment_checks.check_exec_connection in plain
    assert segment_checks.check_exec_login_deploy in deploy - plain
    assert _ids(segment_checks.check_exec_connection()) == ["django_segments.W020"]
    assert _ids(segment_checks.check_exec_login_deploy()) == ["django_segments.E021"]


@pytest.mark.django_db(databases=["default"])
def test_e021_asks_the_server_when_allowed_to_query(settings) -> None:
    settings.SEGMENTS_EXEC_CONNECTION = "default"  # the test login is a superuser
    (error,) = segment_checks.check_exec_login_deploy(databases=["default"])
    assert "which writes the membership tables and is a superuser and can write " in error.msg
    assert "django_segments_membership" in error.msg


@pytest.mark.django_db(transaction=True, databases=["default", "segments_exec"])
def test_e021_when_a_separate_login_may_write_the_librarys_tables(segments_reader) -> None:
    assert segment_checks.check_exec_login_deploy(databases=["segments_exec"]) == []
    with connection.cursor() as cursor:
        cursor.execute("GRANT UPDATE ON django_segments_membership TO segments_reader")
    try:
        (error,) = segment_checks.check_exec_login_deploy(databases=["segments_exec"])
    finally:
        with connection.cursor() as cursor:
            cursor.execute("REVOKE UPDATE ON django_segments_membership FROM segments_reader")
    assert error.id == "django_segments.E021"
    assert error.msg == (
        "The login that runs user-written segment SQL (alias 'segments_exec') can write "
        "django_segments_membership."
    )
