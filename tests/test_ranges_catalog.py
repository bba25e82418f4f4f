"""After migrate, the database holds every constraint, trigger and index the design names."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.ranges_helpers import ALL_TYPES, every_type

pytestmark = pytest.mark.django_db

# pg_trigger.tgtype bits (src/include/catalog/pg_trigger.h)
ROW, BEFORE, INSERT, DELETE, UPDATE, TRUNCATE = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5


def fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def constraints(table: str) -> dict[str, tuple]:
    """name -> (contype, condeferrable, condeferred, definition) of ``table``'s constraints."""
    found = fetch(
        "SELECT conname, contype, condeferrable, condeferred, pg_get_constraintdef(oid)"
        " FROM pg_constraint WHERE conrelid = %s::regclass",
        [table],
    )
    return {name: rest for name, *rest in found}


def triggers(table: str) -> dict[str, tuple]:
    """pgtrigger name prefix -> (tgtype, tgdeferrable, tginitdeferred, is constraint trigger)."""
    found = fetch(
        "SELECT tgname, tgtype, tgdeferrable, tginitdeferred, tgconstraint <> 0, tgenabled"
        " FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
        [table],
    )
    result = {}
    for name, tgtype, deferrable, initdeferred, is_constraint, enabled in found:
        assert name.startswith("pgtrigger_"), name
        assert enabled == "O", f"{name} is not enabled"
        result[name.removeprefix("pgtrigger_").rsplit("_", 1)[0]] = (
            tgtype,
            deferrable,
            initdeferred,
            is_constraint,
        )
    return result


@every_type
def test_segment_table_constraints(rt) -> None:
    found = constraints(rt.seg_table)
    contype, deferrable, deferred, definition = found[f"{rt.seg_table}_no_overlap"]
    assert (contype, deferrable, deferred) == ("x", True, False)
    assert definition.startswith("EXCLUDE USING gist (span_id WITH =, segment_range WITH &&)")
    assert "WHERE ((deleted_at IS NULL))" in definition
    assert definition.endswith("DEFERRABLE")
    contype, deferrable, deferred, definition = found[f"{rt.seg_table}_segment_range_valid"]
    assert (contype, deferrable, deferred) == ("c", False, False)
    for fragment in ("isempty(segment_range)", "lower_inc(segment_range)", "upper_inf(segment_range)"):
        assert fragment in definition
    fks = [v for v in found.values() if v[0] == "f"]
    assert len(fks) == 1, "span_id is the only foreign key"
    assert "REFERENCES " + rt.span_table + "(id)" in fks[0][3]


@every_type
def test_span_table_check_constraints(rt) -> None:
    found = constraints(rt.span_table)
    for column in ("initial_range", "current_range"):
        contype, _, _, definition = found[f"{rt.span_table}_{column}_valid"]
        assert contype == "c"
        assert f"isempty({column})" in definition
        assert f"upper_inc({column})" in definition


@every_type
def test_segment_table_triggers(rt) -> None:
    found = triggers(rt.seg_table)
    assert set(found) == {
        "segments_check_insert",
        "segments_check_update",
        "segments_check_delete",
        *(["segments_truncate_guard"] if rt.tiling else []),
    }
    if rt.tiling:
        tgtype, deferrable, _, is_constraint = found["segments_truncate_guard"]
        assert tgtype & (ROW | BEFORE) == 0, "statement level, AFTER"
        assert tgtype & TRUNCATE, "fires on TRUNCATE"
        assert (deferrable, is_constraint) == (False, False)
    # One trigger per event: a transition table needs a single event. Statement level, so
    # a bulk write queues one check per span, not one per row.
    for name, event in [
        ("segments_check_insert", INSERT),
        ("segments_check_update", UPDATE),
        ("segments_check_delete", DELETE),
    ]:
        tgtype, deferrable, initdeferred, is_constraint = found[name]
        assert (deferrable, initdeferred, is_constraint) == (False, False, False), name
        assert tgtype & ROW == 0, name
        assert tgtype & BEFORE == 0, name
        assert tgtype & (INSERT | UPDATE | DELETE) == event, name


@every_type
def test_span_table_triggers(rt) -> None:
    found = triggers(rt.span_table)
    label = rt.segment._meta.model_name
    expected = {f"segments_span_upd_{label}", f"segments_span_ins_{label}"}
    # Where segment gaps are forbidden, a new span's region is computed before its insert.
    seed = set() if rt.segment_gaps else {f"segments_span_seed_{label}"}
    assert set(found) == expected | seed
    for name in seed:
        tgtype, deferrable, initdeferred, is_constraint = found[name]
        assert (deferrable, initdeferred, is_constraint) == (False, False, False), name
        assert tgtype & ROW, name
        assert tgtype & BEFORE, name
        assert tgtype & (INSERT | UPDATE | DELETE) == INSERT, name
    for name in expected:
        tgtype, deferrable, initdeferred, is_constraint = found[name]
        assert (deferrable, initdeferred, is_constraint) == (True, True, True), name
        assert tgtype & ROW, name
    # The update check is queued by every change of the columns its skip rule compares.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname LIKE %s",
            [rt.span_table, f"pgtrigger_segments_span_upd_{label}%"],
        )
        (definition,) = cursor.fetchone()
    for column in ("segments_revision", "current_range", "deleted_at"):
        assert f"(old.{column} IS DISTINCT FROM new.{column})" in definition, column


@every_type
def test_span_revision_column(rt) -> None:
    """Incremented by the touch, never indexed (the touch stays a HOT update)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format_type(atttypid, atttypmod), attnotnull, pg_get_expr(d.adbin, d.adrelid)"
            " FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
            " WHERE a.attrelid = %s::regclass AND a.attname = 'segments_revision'",
            [rt.span_table],
        )
        assert cursor.fetchall() == [("bigint", True, "0")]
        cursor.execute(
            "SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s::regclass AND a.attname = 'segments_revision'",
            [rt.span_table],
        )
        assert cursor.fetchone() == (0,)


@every_type
def test_navigation_index(rt) -> None:
    found = fetch("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [rt.seg_table])
    ordered = [d for n, d in found if n.endswith("_order")]
    assert len(ordered) == 1
    assert "USING btree (span_id, lower(segment_range))" in ordered[0]


def test_check_triggers_report_every_invariant_they_enforce() -> None:
    """The trigger functions raise under the constraint names the library translates."""
    for rt in ALL_TYPES:
        (source,) = fetch(
            "SELECT string_agg(p.prosrc, ' ') FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
            " WHERE t.tgrelid = %s::regclass AND t.tgname LIKE 'pgtrigger_segments_span_%%'",
            [rt.span_table],
        )[0]
        assert f"'{rt.seg_table}_containment'" in source
        assert (f"'{rt.seg_table}_tiling'" in source) == rt.tiling
        assert (f"'{rt.seg_table}_gaps'" in source) == (not rt.segment_gaps)
        # The segment table's statement triggers touch the span row, so concurrent
        # writers of one span queue up and each check runs on a locked span.
        (touch,) = fetch(
            "SELECT string_agg(p.prosrc, ' ') FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
            " WHERE t.tgrelid = %s::regclass AND t.tgname LIKE 'pgtrigger_segments_check_%%'",
            [rt.seg_table],
        )[0]
        revision = '"segments_revision"'
        assert touch.count(f'UPDATE "{rt.span_table}" SET {revision} = {revision} + 1') == 3


def test_btree_gist_extension_is_installed() -> None:
    assert fetch("SELECT extname FROM pg_extension WHERE extname = %s", ["btree_gist"]) == [("btree_gist",)]
