"""Our triggers' installation template (`SegmentsTriggerSqlV2`).

Its ignore check opens no subtransaction (an ``EXCEPTION`` block per trigger call made a
transaction's commit O(N^2) in the rows it wrote), and a role that may only write the
tables cannot switch the checks off. The checks run as the role that writes; two ways
such a role could skip them with version 1 of the template:

- ``SET pgtrigger.ignore = '{...}'``: a custom setting anyone may set. It is honoured only
  for members of the table owner's role (and superusers), who may disable triggers
  anyway.
- a temporary table named like the span or segment table: ``pg_temp`` comes first in a
  session's search path, so unqualified names in a trigger function found it. Our
  trigger functions carry their own search path, with ``pg_temp`` last.

Each test creates a role in the test transaction (rolled back with it), gives it the
privileges an application's role has, and writes as that role with ``SET LOCAL ROLE``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pgtrigger
import pytest
from django.db import IntegrityError, connection, transaction
from django.db.backends.postgresql.psycopg_any import NumericRange

from django_segments.ranges.ddl import IGNORE_FUNCTION
from tests.testapp.models import BigIntSegment, BigIntSpan, IntSegment, IntSpan

pytestmark = pytest.mark.django_db


def _fetch(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


@pytest.fixture
def writer() -> str:
    """A role with the privileges of an application's database user, and no more."""
    name = f"segments_writer_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{name}" NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE')
        cursor.execute(f'GRANT USAGE ON SCHEMA public TO "{name}"')
        cursor.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{name}"')
        cursor.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{name}"')
        cursor.execute("SELECT current_database()")
        (database,) = cursor.fetchone()
        cursor.execute(f'GRANT TEMPORARY ON DATABASE "{database}" TO "{name}"')
    return name  # the role, its grants and what it creates go with the test's transaction


@contextmanager
def _as(role: str, *statements: tuple[str, list]) -> Iterator[Any]:
    """A savepoint in which ``statements`` ran as ``role``; yields the cursor."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{role}"')
        for sql, params in statements:
            cursor.execute(sql, params)
        yield cursor


def _write_as(role: str, *statements: tuple[str, list]) -> None:
    """Run ``statements`` as ``role`` in a savepoint and fire every deferred check."""
    with _as(role, *statements) as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _refused_as(role: str, *statements: tuple[str, list]) -> str:
    """The constraint named by the error that refused ``statements`` written as ``role``."""
    with pytest.raises(IntegrityError) as info:
        _write_as(role, *statements)
    return info.value.__cause__.diag.constraint_name


def test_the_writer_is_not_privileged(writer: str) -> None:
    ((superuser, owner),) = _fetch(
        "SELECT r.rolsuper, pg_has_role(r.oid, c.relowner, 'MEMBER') FROM pg_roles r, pg_class c"
        " WHERE r.rolname = %s AND c.oid = 'testapp_intsegment'::regclass",
        [writer],
    )
    assert (superuser, owner) == (False, False)


def test_pgtrigger_ignore_does_not_bypass_the_checks_for_a_writer(writer: str) -> None:
    span = IntSpan.objects.create(current_range=NumericRange(0, 10, "[)"))
    upper = span.first_segment.split(5)
    gap = ("UPDATE testapp_intsegment SET segment_range = int4range(7, 10) WHERE id = %s", [upper.pk])
    with pgtrigger.ignore("testapp.IntSegment:segments_check_update"):
        assert _refused_as(writer, gap) == "testapp_intsegment_gaps"


def test_pgtrigger_ignore_still_works_for_the_table_owner(writer: str) -> None:
    """The connection's own role owns the tables (it migrated them)."""
    span = IntSpan.objects.create(current_range=NumericRange(0, 10, "[)"))
    upper = span.first_segment.split(5)
    with pgtrigger.ignore("testapp.IntSegment:segments_check_update"), transaction.atomic():
        IntSegment.all_objects.filter(pk=upper.pk).update(segment_range=NumericRange(7, 10, "[)"))
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert [(s.segment_range.lower, s.segment_range.upper) for s in span.get_active_segments()] == [
        (0, 5),
        (7, 10),
    ]


def test_a_temporary_table_does_not_stand_in_for_the_span_table(writer: str) -> None:
    """The touch and the check read the real span row, not a look-alike in pg_temp."""
    span = BigIntSpan.objects.create(current_range=NumericRange(0, 10, "[)"))
    segment = BigIntSegment.objects.create(span=span, segment_range=NumericRange(0, 5, "[)"))
    look_alike = [
        (
            "CREATE TEMPORARY TABLE testapp_bigintspan"
            " (id bigint, current_range int8range, deleted_at timestamptz)",
            [],
        ),
        ("INSERT INTO testapp_bigintspan VALUES (%s, int8range(0, 1000), NULL)", [span.pk]),
    ]
    grow = (
        "UPDATE public.testapp_bigintsegment SET segment_range = int8range(0, 500) WHERE id = %s",
        [segment.pk],
    )
    assert _refused_as(writer, *look_alike, grow) == "testapp_bigintsegment_containment"
    # In the writer's session the unqualified name is the look-alike.
    with _as(writer, *look_alike) as cursor:
        cursor.execute("SELECT upper(current_range) FROM testapp_bigintspan WHERE id = %s", [span.pk])
        assert cursor.fetchall() == [(1000,)]
        transaction.set_rollback(True)


def test_every_library_trigger_function_pins_its_search_path() -> None:
    rows = _fetch(
        "SELECT t.tgname, p.prosrc, p.proconfig FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
        " WHERE t.tgname LIKE 'pgtrigger_segments_%%'"
    )
    assert len(rows) >= 5 * 4
    for name, source, config in rows:
        assert f"{IGNORE_FUNCTION}(TG_NAME, TG_RELID)" in source, name
        assert "_pgtrigger_should_ignore" not in source, name
        (path,) = [c.split("=", 1)[1] for c in config or [] if c.startswith("search_path=")]
        schemas = [s.strip() for s in path.split(",")]
        assert schemas[0] == "pg_catalog", (name, path)
        assert schemas[-1] == "pg_temp", (name, path)
        assert "public" in schemas, (name, path)


def test_the_ignore_function_is_inlined_and_asks_for_ownership() -> None:
    """One expression, no sub-query, no SET clause: Postgres inlines it into the trigger's
    cached plan, so a trigger call does not plan it again. The owner lookup is apart."""
    rows = _fetch(
        "SELECT p.proname, l.lanname, p.prosrc, p.proconfig, p.provolatile, p.prosecdef"
        " FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.proname IN (%s, %s)",
        [IGNORE_FUNCTION, f"{IGNORE_FUNCTION}_owner"],
    )
    found = {name: rest for name, *rest in rows}
    language, source, config, volatility, definer = found[IGNORE_FUNCTION]
    assert (language, config, volatility, definer) == ("sql", None, "s", False)
    assert "EXCEPTION" not in source.upper()  # no subtransaction per trigger call
    assert source.upper().count("SELECT") == 1
    assert f"{IGNORE_FUNCTION}_owner(rel)" in source
    language, source, config, volatility, definer = found[f"{IGNORE_FUNCTION}_owner"]
    assert (language, config, volatility, definer) == ("sql", None, "s", False)
    assert "pg_has_role(current_user, c.relowner, 'MEMBER')" in source


def test_session_settings_cannot_mark_a_span_as_checked(writer: str) -> None:
    """Nothing a session may set decides whether a span is checked: with version 1 the
    checks skipped a span whose ``segments.checked_<table>_<span>`` setting matched
    ``segments.generation``, and any role could set both."""
    span = BigIntSpan.objects.create(current_range=NumericRange(0, 10, "[)"))
    segment = BigIntSegment.objects.create(span=span, segment_range=NumericRange(0, 5, "[)"))
    tag = hashlib.sha1(BigIntSegment._meta.db_table.encode()).hexdigest()[:10]  # noqa: S324
    grow = ("UPDATE testapp_bigintsegment SET segment_range = int8range(0, 500) WHERE id = %s", [segment.pk])
    forge = (
        "SELECT set_config('segments.checked_' || %s || '_' || md5(%s::text),"
        " coalesce(current_setting('segments.generation', true), '0'), true),"
        " set_config('segments.touch', 'off', true)",
        [tag, span.pk],
    )
    assert _refused_as(writer, grow, forge) == "testapp_bigintsegment_containment"


@pytest.mark.parametrize(
    "then",
    [
        pytest.param("UPDATE testapp_bigintspan SET id = id WHERE id = %s", id="a write of the span row"),
        pytest.param(
            "UPDATE testapp_bigintspan SET segments_revision = 0 WHERE id = %s", id="the revision set back"
        ),
        pytest.param(
            "UPDATE testapp_bigintspan SET segments_revision = segments_revision + 7 WHERE id = %s",
            id="the revision moved on",
        ),
    ],
)
def test_a_later_write_of_the_span_row_does_not_hide_a_violation(writer: str, then: str) -> None:
    """A check skips only events that a later queued event supersedes: whatever the writer
    does to the span row afterwards, one event still matches the row and checks it."""
    span = BigIntSpan.objects.create(current_range=NumericRange(0, 10, "[)"))
    segment = BigIntSegment.objects.create(span=span, segment_range=NumericRange(0, 5, "[)"))
    grow = ("UPDATE testapp_bigintsegment SET segment_range = int8range(0, 500) WHERE id = %s", [segment.pk])
    assert _refused_as(writer, grow, (then, [span.pk])) == "testapp_bigintsegment_containment"
