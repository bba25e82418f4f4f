"""Our triggers' installation template: an ignore check without a subtransaction."""

from __future__ import annotations

import pgtrigger
import pytest
from django.db import connection, transaction
from django.db.backends.postgresql.psycopg_any import NumericRange

import django_segments as ds
from tests.testapp.models import IntSegment, IntSpan

pytestmark = pytest.mark.django_db


def _fetch(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def test_ignore_function_has_no_exception_block() -> None:
    ((language, source),) = _fetch(
        "SELECT l.lanname, p.prosrc FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang"
        " WHERE p.proname = '_segments_should_ignore'"
    )
    # An EXCEPTION block would open a subtransaction on every trigger call.
    assert language == "sql"
    assert "EXCEPTION" not in source.upper()
    assert "current_setting('pgtrigger.ignore', true)" in source


def test_every_library_trigger_uses_it() -> None:
    rows = _fetch(
        "SELECT t.tgname, p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
        " WHERE t.tgname LIKE 'pgtrigger_segments_%%'"
    )
    assert len(rows) >= 5 * 4
    for name, source in rows:
        assert "_segments_should_ignore(TG_NAME)" in source, name
        assert "_pgtrigger_should_ignore" not in source, name


def test_pgtrigger_ignore_still_bypasses_a_named_trigger() -> None:
    """The documented escape hatch: whoever may set it can skip the checks it names."""
    span = IntSpan.objects.create(current_range=NumericRange(0, 10, "[)"))
    upper = span.first_segment.split(5)
    upper.segment_range = NumericRange(7, 10, "[)")
    with pytest.raises(ds.GapError):
        upper.save()
    uri = "testapp.IntSegment:segments_check_update"
    with pgtrigger.ignore(uri), transaction.atomic():
        IntSegment.all_objects.filter(pk=upper.pk).update(segment_range=NumericRange(7, 10, "[)"))
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no check fired: no error
    ranges = [(s.segment_range.lower, s.segment_range.upper) for s in span.get_active_segments()]
    assert ranges == [(0, 5), (7, 10)]
