"""Postgres enforces the span invariants against writes that bypass the library.

Each test writes through ``connection.cursor()`` directly. Inside the test transaction,
``SET CONSTRAINTS ALL IMMEDIATE`` makes the deferred constraint triggers fire at once;
the ``transaction=True`` tests show the same refusals at a real COMMIT.
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import DataError, IntegrityError, connection, transaction

from django_segments.exceptions import ContainmentError, GapError, OverlapError, RangeIntegrityError
from django_segments.ranges.errors import translate
from tests.ranges_helpers import (
    BIGINT,
    DATE,
    DATETIME,
    DECIMAL,
    INT,
    active,
    assert_valid,
    every_type,
    make_span,
    rows,
    span_range,
)

CHECK, EXCLUSION, FOREIGN_KEY = "23514", "23P01", "23503"


def refused(sql: str, params: list | tuple = ()) -> IntegrityError:
    """Run ``sql`` and fire every deferred check; return the IntegrityError Postgres raised."""
    with pytest.raises(IntegrityError) as info:
        accepted(sql, params)
    return info.value


def accepted(sql: str, params: list | tuple = ()) -> None:
    """Run ``sql`` and fire every deferred check; it must pass."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def assert_refusal(exc: IntegrityError, sqlstate: str, constraint: str, typed: type | None = None) -> None:
    cause = exc.__cause__
    assert isinstance(cause, psycopg.errors.IntegrityError)
    assert cause.sqlstate == sqlstate
    assert cause.diag.constraint_name == constraint
    if typed is not None:
        error = translate(exc)
        assert type(error) is typed
        assert constraint in str(error)


def seg_ids(rt, span) -> list:
    return [row[0] for row in rows(rt, span.pk) if not row[3]]


def text(value) -> str:
    """A bound as range-literal text."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def lit(rt, lo: int, hi: int, bounds: str = "[)") -> str:
    """A range literal of ``rt``'s SQL type, e.g. ``'[1,3)'``."""
    return f"{bounds[0]}{text(rt.v(lo))},{text(rt.v(hi))}{bounds[1]}"


#: NOT NULL columns of the test models without a database default.
EXTRA = {INT: {"label": "''", "weight": "1"}, BIGINT: {"label": "''"}, DATE: {"note": "''"}}


def insert_sql(rt, **columns: str) -> str:
    """``INSERT`` of one segment; parameters: span id, range literal, then ``columns`` values."""
    extra = {**EXTRA.get(rt, {}), **columns}
    names = "".join(f", {name}" for name in extra)
    values = "".join(f", {value}" for value in extra.values())
    rng = rt.options.kind.range_sql_type
    return f"INSERT INTO {seg(rt)} (span_id, segment_range{names}) VALUES (%s, %s::{rng}{values})"


def seg(rt) -> str:
    return f'"{rt.seg_table}"'


def spn(rt) -> str:
    return f'"{rt.span_table}"'


# --- no overlap ------------------------------------------------------------------------


@pytest.mark.django_db
@every_type
def test_overlapping_insert_is_refused(rt) -> None:
    span = make_span(rt, 0, 12, (4, 8))
    exc = refused(insert_sql(rt), [span.pk, lit(rt, 3, 5)])
    assert_refusal(exc, EXCLUSION, f"{rt.seg_table}_no_overlap", OverlapError)
    assert active(rt, span) == [(0, 4), (4, 8), (8, 12)]


@pytest.mark.django_db
@every_type
def test_overlapping_update_is_refused_but_soft_deleted_rows_may_overlap(rt) -> None:
    span = make_span(rt, 0, 12, (4, 8))
    first, middle, _ = seg_ids(rt, span)
    exc = refused(
        f"UPDATE {seg(rt)} SET segment_range = %s::{rt.options.kind.range_sql_type} WHERE id = %s",
        [lit(rt, 0, 6), first],
    )
    assert_refusal(exc, EXCLUSION, f"{rt.seg_table}_no_overlap", OverlapError)
    # A deleted row is outside the constraint's WHERE: it may overlap active ones.
    if not rt.segment_gaps or rt.tiling:
        return
    accepted(
        f"UPDATE {seg(rt)} SET deleted_at = now(), segment_range = %s::{rt.options.kind.range_sql_type}"
        " WHERE id = %s",
        [lit(rt, 0, 12), middle],
    )
    assert active(rt, span) == [(0, 4), (8, 12)]


# --- containment -----------------------------------------------------------------------


@pytest.mark.django_db
@every_type
@pytest.mark.parametrize("where", ["above", "below"])
def test_segment_write_outside_the_span_is_refused(rt, where) -> None:
    span = make_span(rt, 0, 12, (4, 8))
    _, _, last = seg_ids(rt, span)
    first = seg_ids(rt, span)[0]
    target, value = (last, lit(rt, 8, 13)) if where == "above" else (first, lit(rt, -1, 4))
    exc = refused(
        f"UPDATE {seg(rt)} SET segment_range = %s::{rt.options.kind.range_sql_type} WHERE id = %s",
        [value, target],
    )
    assert_refusal(exc, CHECK, f"{rt.seg_table}_containment", ContainmentError)
    assert "outside the span range" in str(exc)
    assert active(rt, span) == [(0, 4), (4, 8), (8, 12)]


@pytest.mark.django_db
@pytest.mark.parametrize("rt", [BIGINT, DATETIME], ids=str)
def test_segment_moved_to_another_span_must_fit_it(rt) -> None:
    one = make_span(rt, 0, 12, (4,))
    other = make_span(rt, 20, 30)
    exc = refused(f"UPDATE {seg(rt)} SET span_id = %s WHERE id = %s", [other.pk, seg_ids(rt, one)[0]])
    assert_refusal(exc, CHECK, f"{rt.seg_table}_containment", ContainmentError)


@pytest.mark.django_db
@every_type
@pytest.mark.parametrize("new", [(0, 10), (2, 12), (3, 9)])
def test_span_shrink_leaving_segments_outside_is_refused(rt, new) -> None:
    span = make_span(rt, 0, 12, (4, 8))
    exc = refused(
        f"UPDATE {spn(rt)} SET current_range = %s::{rt.options.kind.range_sql_type} WHERE id = %s",
        [lit(rt, *new), span.pk],
    )
    assert_refusal(exc, CHECK, f"{rt.seg_table}_containment", ContainmentError)
    assert span_range(rt, span) == (0, 12)


@pytest.mark.django_db
@every_type
def test_span_deleted_with_active_segments_is_refused(rt) -> None:
    span = make_span(rt, 0, 12, (4,))
    exc = refused(f"UPDATE {spn(rt)} SET deleted_at = now() WHERE id = %s", [span.pk])
    assert_refusal(exc, CHECK, f"{rt.seg_table}_containment", ContainmentError)
    assert "is deleted but still has active segments" in str(exc)
    # Hard delete of the span row: the segments' foreign key refuses it.
    exc = refused(f"DELETE FROM {spn(rt)} WHERE id = %s", [span.pk])
    cause = exc.__cause__
    assert cause.sqlstate == FOREIGN_KEY
    name = cause.diag.constraint_name  # Django's name, truncated by Django
    assert name.startswith(rt.seg_table[:20])
    assert "_span_id_" in name
    assert "_fk_" in name
    # Deleting segments and span together (what soft/hard span delete does) is fine.
    accepted(
        f"UPDATE {seg(rt)} SET deleted_at = now() WHERE span_id = %s;"
        f" UPDATE {spn(rt)} SET deleted_at = now() WHERE id = %s",
        [span.pk, span.pk],
    )


# --- tiling and segment gaps -----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("rt", [INT, DATE], ids=str)
def test_tiling_refuses_uncovered_span_ends(rt) -> None:
    span = make_span(rt, 0, 12, (4, 8))
    first, _, last = seg_ids(rt, span)
    rng = rt.options.kind.range_sql_type
    cases = [
        (f"UPDATE {seg(rt)} SET segment_range = %s::{rng} WHERE id = %s", [lit(rt, 8, 11), last]),
        (f"UPDATE {seg(rt)} SET segment_range = %s::{rng} WHERE id = %s", [lit(rt, 1, 4), first]),
        (f"UPDATE {spn(rt)} SET current_range = %s::{rng} WHERE id = %s", [lit(rt, 0, 14), span.pk]),
        (f"UPDATE {spn(rt)} SET current_range = %s::{rng} WHERE id = %s", [lit(rt, -1, 12), span.pk]),
    ]
    if rt.soft:
        cases.append((f"UPDATE {seg(rt)} SET deleted_at = now() WHERE id = %s", [last]))
    else:
        cases.append((f"DELETE FROM {seg(rt)} WHERE id = %s", [last]))
    for sql, params in cases:
        exc = refused(sql, params)
        assert_refusal(exc, CHECK, f"{rt.seg_table}_tiling", GapError)
        assert "must cover its whole range" in str(exc)
    assert active(rt, span) == [(0, 4), (4, 8), (8, 12)]
    assert span_range(rt, span) == (0, 12)


@pytest.mark.django_db
@pytest.mark.parametrize("rt", [INT, DATE], ids=str)
def test_tiling_refuses_a_new_span_without_segments(rt) -> None:
    rng = rt.options.kind.range_sql_type
    name = ("", "") if rt is DATE else (", name", ", ''")
    exc = refused(
        f"INSERT INTO {spn(rt)} (initial_range, current_range{name[0]})"
        f" VALUES (%s::{rng}, %s::{rng}{name[1]})",
        [lit(rt, 0, 5), lit(rt, 0, 5)],
    )
    assert_refusal(exc, CHECK, f"{rt.seg_table}_tiling", GapError)


@pytest.mark.django_db
@pytest.mark.parametrize("rt", [INT, DECIMAL, DATE], ids=str)
def test_inner_gap_is_refused(rt) -> None:
    span = make_span(rt, 0, 12, (4, 8))
    _, middle, last = seg_ids(rt, span)
    rng = rt.options.kind.range_sql_type
    constraint = f"{rt.seg_table}_gaps"
    remove = "UPDATE {t} SET deleted_at = now() WHERE id = %s" if rt.soft else "DELETE FROM {t} WHERE id = %s"
    for sql, params in [
        (remove.format(t=seg(rt)), [middle]),
        (f"UPDATE {seg(rt)} SET segment_range = %s::{rng} WHERE id = %s", [lit(rt, 9, 12), last]),
    ]:
        exc = refused(sql, params)
        assert_refusal(exc, CHECK, constraint, GapError)
        assert "segment gaps are not allowed" in str(exc)
    assert active(rt, span) == [(0, 4), (4, 8), (8, 12)]


@pytest.mark.django_db
@pytest.mark.parametrize("rt", [BIGINT, DATETIME], ids=str)
def test_gaps_are_accepted_where_configured(rt) -> None:
    span = make_span(rt, 0, 12, (4, 8))
    _, middle, last = seg_ids(rt, span)
    accepted(f"DELETE FROM {seg(rt)} WHERE id = %s", [middle])
    accepted(
        f"UPDATE {seg(rt)} SET segment_range = %s::{rt.options.kind.range_sql_type} WHERE id = %s",
        [lit(rt, 9, 11), last],
    )
    assert active(rt, span) == [(0, 4), (9, 11)]
    assert_valid(rt)


# --- range validity --------------------------------------------------------------------


@pytest.mark.django_db
@every_type
@pytest.mark.parametrize(
    "shape",
    ["empty", "[{},)", "(,{})", "(,)"],
    ids=["empty", "upper-infinite", "lower-infinite", "unbounded"],
)
def test_invalid_ranges_are_refused_by_check_constraints(rt, shape) -> None:
    span = make_span(rt, 0, 12, (4,))
    value = shape.format(text(rt.v(0)))
    rng = rt.options.kind.range_sql_type
    exc = refused(
        f"UPDATE {seg(rt)} SET segment_range = %s::{rng} WHERE id = %s", [value, seg_ids(rt, span)[0]]
    )
    assert_refusal(exc, CHECK, f"{rt.seg_table}_segment_range_valid", RangeIntegrityError)
    for column in ("current_range", "initial_range"):
        exc = refused(f"UPDATE {spn(rt)} SET {column} = %s::{rng} WHERE id = %s", [value, span.pk])
        assert_refusal(exc, CHECK, f"{rt.span_table}_{column}_valid", RangeIntegrityError)


@pytest.mark.django_db
@pytest.mark.parametrize("rt", [DECIMAL, DATETIME], ids=str)
@pytest.mark.parametrize("bounds", ["(]", "[]", "()"])
def test_continuous_ranges_must_use_closed_open_bounds(rt, bounds) -> None:
    span = make_span(rt, 0, 12, (4,))
    rng = rt.options.kind.range_sql_type
    exc = refused(
        f"UPDATE {seg(rt)} SET segment_range = %s::{rng} WHERE id = %s",
        [lit(rt, 0, 4, bounds), seg_ids(rt, span)[0]],
    )
    assert_refusal(exc, CHECK, f"{rt.seg_table}_segment_range_valid", RangeIntegrityError)
    exc = refused(
        f"UPDATE {spn(rt)} SET current_range = %s::{rng} WHERE id = %s", [lit(rt, 0, 12, bounds), span.pk]
    )
    assert_refusal(exc, CHECK, f"{rt.span_table}_current_range_valid", RangeIntegrityError)


@pytest.mark.django_db
@pytest.mark.parametrize("rt", [INT, BIGINT, DATE], ids=str)
def test_discrete_ranges_are_canonicalized_to_closed_open(rt) -> None:
    """Postgres stores ``(a,b]`` of a discrete type as ``[a+1,b+1)``; the checks see that."""
    span = make_span(rt, 0, 12, (4,))
    first = seg_ids(rt, span)[0]
    exc = refused(
        f"UPDATE {seg(rt)} SET segment_range = %s::{rt.options.kind.range_sql_type} WHERE id = %s",
        [lit(rt, 0, 4, "(]"), first],
    )
    assert_refusal(exc, EXCLUSION, f"{rt.seg_table}_no_overlap", OverlapError)


@pytest.mark.django_db
@every_type
def test_inverted_range_is_rejected_by_postgres_itself(rt) -> None:
    span = make_span(rt, 0, 12, (4,))
    with (
        pytest.raises(DataError, match="lower bound must be less than or equal") as info,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            f"UPDATE {seg(rt)} SET segment_range = %s::{rt.options.kind.range_sql_type} WHERE id = %s",
            [lit(rt, 4, 0), seg_ids(rt, span)[0]],
        )
    assert isinstance(info.value.__cause__, psycopg.errors.DataException)
    assert active(rt, span) == [(0, 4), (4, 12)]


# --- previous_segment ------------------------------------------------------------------


@pytest.mark.django_db
@every_type
def test_previous_segment_follows_range_order_after_raw_writes(rt) -> None:
    """Nothing is stored, so raw writes cannot leave it stale: it is read from range order."""
    span = make_span(rt, 0, 12, (4, 8))
    a, b, c = seg_ids(rt, span)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {seg(rt)} WHERE id = %s", [b])
        cursor.execute(insert_sql(rt) + " RETURNING id", [span.pk, lit(rt, 4, 8)])
        new = cursor.fetchone()[0]
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    by_id = {s.pk: s for s in rt.segment.all_objects.filter(span=span)}
    assert [(pk, by_id[pk].previous_segment_id) for pk in (a, new, c)] == [(a, None), (new, a), (c, new)]
    assert by_id[c].previous_segment == by_id[new]
    assert_valid(rt)


# --- at a real COMMIT ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("rt", "sql", "constraint"),
    [
        (INT, "UPDATE {seg} SET deleted_at = now() WHERE id = {last}", "tiling"),
        (DECIMAL, "UPDATE {seg} SET deleted_at = now() WHERE id = {middle}", "gaps"),
        (
            BIGINT,
            "UPDATE {span} SET current_range = '[1000000000000,1000000000010)' WHERE id = {span_id}",
            "containment",
        ),
        (DATE, "DELETE FROM {seg} WHERE id = {middle}", "gaps"),
        (DATETIME, "UPDATE {span} SET deleted_at = now() WHERE id = {span_id}", "containment"),
    ],
    ids=["int-tiling", "decimal-gaps", "bigint-shrink", "date-gaps", "datetime-deleted-span"],
)
def test_autocommit_write_is_refused_at_commit(rt, sql, constraint) -> None:
    span = make_span(rt, 0, 12, (4, 8))
    _first, middle, last = seg_ids(rt, span)
    statement = sql.format(seg=seg(rt), span=spn(rt), last=last, middle=middle, span_id=span.pk)
    with pytest.raises(IntegrityError) as info, connection.cursor() as cursor:
        cursor.execute(statement)
    assert info.value.__cause__.diag.constraint_name == f"{rt.seg_table}_{constraint}"
    assert active(rt, span) == [(0, 4), (4, 8), (8, 12)]
    assert span_range(rt, span) == (0, 12)
    assert_valid(rt)


@pytest.mark.django_db
@pytest.mark.parametrize("rt", [BIGINT, DATETIME], ids=str)
def test_segment_written_before_its_span_is_checked(rt) -> None:
    """The span foreign key is deferred, so a transaction may write a segment first and
    its span afterwards (as fixture loading does). The segment's statement finds no span
    row to touch; the span's own insert queues the check instead."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{rt.span_table}', 'id'))")
        span_id = cursor.fetchone()[0]
        cursor.execute(insert_sql(rt), [span_id, lit(rt, 20, 30)])
        rng = rt.options.kind.range_sql_type  # neither span model has other NOT NULL columns
        cursor.execute(
            f"INSERT INTO {spn(rt)} (id, initial_range, current_range) VALUES (%s, %s::{rng}, %s::{rng})",
            [span_id, lit(rt, 0, 10), lit(rt, 0, 10)],
        )
        with pytest.raises(IntegrityError) as info:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert info.value.__cause__.diag.constraint_name == f"{rt.seg_table}_containment"


@pytest.mark.django_db
def test_a_gap_among_segments_written_before_their_span_is_refused() -> None:
    """Where segment gaps are forbidden, the new span's check looks at the segments
    written before it (they were never touched): a gap among them is refused at commit."""
    rt = DECIMAL
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{rt.span_table}', 'id'))")
        span_id = cursor.fetchone()[0]
        cursor.execute(insert_sql(rt), [span_id, lit(rt, 0, 4)])
        cursor.execute(insert_sql(rt), [span_id, lit(rt, 8, 12)])
        rng = rt.options.kind.range_sql_type
        cursor.execute(
            f"INSERT INTO {spn(rt)} (id, initial_range, current_range, segments_changed)"
            f" VALUES (%s, %s::{rng}, %s::{rng}, NULL)",  # the column is the database's anyway
            [span_id, lit(rt, 0, 20), lit(rt, 0, 20)],
        )
        with pytest.raises(IntegrityError) as info:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert info.value.__cause__.diag.constraint_name == f"{rt.seg_table}_gaps"


def copied(rt, columns: list[str], row: list) -> None:
    """COPY one segment row in, then fire every deferred check."""
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {seg(rt)} ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write_row(row)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db
@every_type
def test_copy_into_the_segment_table_is_checked(rt) -> None:
    """COPY fires the statement-level triggers too (with their transition table)."""
    span = make_span(rt, 0, 12, (4, 8))
    extra = EXTRA.get(rt, {})
    row = [span.pk, lit(rt, 12, 16), *(value.strip("'") for value in extra.values())]
    with pytest.raises(IntegrityError) as info:
        copied(rt, ["span_id", "segment_range", *extra], row)
    assert info.value.__cause__.diag.constraint_name == f"{rt.seg_table}_containment"
    assert active(rt, span) == [(0, 4), (4, 8), (8, 12)]


def in_order(*statements: tuple[str, list]) -> None:
    """Run ``statements`` in one savepoint, the checks deferred until one asks for them."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for sql, params in statements:
            cursor.execute(sql, params)


@pytest.mark.django_db
@every_type
def test_the_check_sees_the_last_statement_and_runs_again_after_more_writes(rt) -> None:
    """Several statements queue several checks of one span; the checks read the rows as
    the last statement left them. A check fired early does not excuse later writes."""
    span = make_span(rt, 0, 12, (4, 8))
    _first, _middle, last = seg_ids(rt, span)
    move = f"UPDATE {seg(rt)} SET segment_range = %s::{rt.options.kind.range_sql_type} WHERE id = %s"
    check = ("SET CONSTRAINTS ALL IMMEDIATE", [])
    in_order(
        (move, [lit(rt, 8, 20), last]), (move, [lit(rt, 8, 11), last]), (move, [lit(rt, 8, 12), last]), check
    )
    assert active(rt, span) == [(0, 4), (4, 8), (8, 12)]
    statements = [(move, [lit(rt, 8, 11), last]), (move, [lit(rt, 8, 12), last]), check]  # valid
    with pytest.raises(IntegrityError) as info:
        in_order(*statements, ("SET CONSTRAINTS ALL DEFERRED", []), (move, [lit(rt, 8, 20), last]), check)
    assert info.value.__cause__.diag.constraint_name == f"{rt.seg_table}_containment"
    assert active(rt, span) == [(0, 4), (4, 8), (8, 12)]


# --- TRUNCATE ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_truncating_the_segments_of_tiled_spans_is_refused() -> None:
    span = make_span(INT, 0, 12, (4, 8))
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE refuses pending trigger events
    with pytest.raises(IntegrityError) as info, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {seg(INT)}")
    assert info.value.__cause__.diag.constraint_name == f"{INT.seg_table}_tiling"
    assert f"would leave active span {span.pk} without segments" in str(info.value)
    assert isinstance(translate(info.value), GapError)
    assert active(INT, span) == [(0, 4), (4, 8), (8, 12)]


@pytest.mark.django_db
def test_truncating_spans_with_their_segments_is_allowed() -> None:
    make_span(INT, 0, 12, (4, 8))
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {spn(INT)}, {seg(INT)}")
        cursor.execute(f"SELECT count(*) FROM {seg(INT)}")
        assert cursor.fetchone() == (0,)


@pytest.mark.django_db
def test_truncating_the_segments_of_spans_with_gaps_allowed_is_allowed() -> None:
    span = make_span(BIGINT, 0, 12, (4, 8))
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {seg(BIGINT)}")
    assert active(BIGINT, span) == []
    assert_valid(BIGINT)
