"""System checks about range models and installed triggers."""

from __future__ import annotations

import pytest
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


@pytest.mark.django_db
def test_w002_when_a_constraint_trigger_is_missing() -> None:
    assert segment_checks.check_triggers_installed(databases=["default"]) == []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname LIKE %s",
            [IntSegment._meta.db_table, "pgtrigger_segments_check_insert%"],
        )
        (name,) = cursor.fetchone()
        cursor.execute(f'DROP TRIGGER "{name}" ON {IntSegment._meta.db_table}')
    messages = segment_checks.check_triggers_installed(databases=["default"])
    assert _ids(messages) == ["django_segments.W002"]
    assert name in messages[0].msg
    assert messages[0].obj is IntSegment


@pytest.mark.django_db
def test_w003_when_an_installed_trigger_is_not_the_one_the_model_generates() -> None:
    """An older template version, as after upgrading without makemigrations."""
    assert segment_checks.check_triggers_installed(databases=["default"]) == []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname LIKE %s",
            [IntSpan._meta.db_table, "pgtrigger_segments_span_upd%"],
        )
        (name,) = cursor.fetchone()
        cursor.execute(f"COMMENT ON TRIGGER \"{name}\" ON {IntSpan._meta.db_table} IS 'an older hash'")
    messages = segment_checks.check_triggers_installed(databases=["default"])
    assert _ids(messages) == ["django_segments.W003"]
    assert name in messages[0].msg
    assert messages[0].obj is IntSpan
