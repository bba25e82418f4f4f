"""Helpers of the ranges tests: one small adapter per range type, and an independent audit.

Tests describe ranges with small integers; `RangeType` turns them into the values of
each range type (int, int, Decimal quarters, days after a base date, hours after a base
aware datetime) and back, so one test body covers all five test models.

`audit` checks every span invariant with plain SQL of its own (not the library's
triggers), so a test can assert the database state is valid independently.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction

from django_segments.ranges.operations import finalize
from tests.testapp import models as m

BASE_DATE = dt.date(2024, 1, 1)
BASE_DT = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
QUARTER = Decimal("0.25")


@dataclass(frozen=True)
class RangeType:
    """One test model pair and its int <-> value conversions."""

    name: str
    span: Any
    segment: Any
    to_value: Callable[[int], Any]
    to_delta: Callable[[int], Any]
    from_value: Callable[[Any], int]

    def v(self, i: int) -> Any:
        """The value standing for the integer ``i``."""
        return self.to_value(i)

    def d(self, i: int) -> Any:
        """The delta standing for the integer ``i``."""
        return self.to_delta(i)

    def r(self, lo: int, hi: int) -> Any:
        """A ``[lo, hi)`` range of this type."""
        return self.span._span_options_value.kind.make(self.v(lo), self.v(hi))

    def i(self, value: Any) -> int:
        """The integer standing for ``value`` (exact, or the test fails)."""
        return self.from_value(value)

    @property
    def options(self) -> Any:
        """The resolved `SpanOptions` of the span model."""
        return self.span._span_options_value

    @property
    def tiling(self) -> bool:
        """Must segments cover the whole span?"""
        return not self.options.allow_span_gaps

    @property
    def segment_gaps(self) -> bool:
        """May there be gaps between consecutive segments?"""
        return self.options.allow_segment_gaps

    @property
    def soft(self) -> bool:
        """Do segment deletes set ``deleted_at``?"""
        return self.segment._segment_options_value.soft_delete

    @property
    def seg_table(self) -> str:
        """The segment table name."""
        return self.segment._meta.db_table

    @property
    def span_table(self) -> str:
        """The span table name."""
        return self.span._meta.db_table

    def __str__(self) -> str:
        return self.name


def _exact(value: Any, unit: Any) -> int:
    result = value / unit
    assert result == int(result), f"{value!r} is not a whole multiple of {unit!r}"
    return int(result)


INT = RangeType("integer", m.IntSpan, m.IntSegment, int, int, int)
BIGINT = RangeType(
    "big_integer", m.BigIntSpan, m.BigIntSegment, lambda i: 10**12 + i, int, lambda v: v - 10**12
)
DECIMAL = RangeType(
    "decimal",
    m.DecimalSpan,
    m.DecimalSegment,
    lambda i: QUARTER * i,
    lambda i: QUARTER * i,
    lambda v: _exact(Decimal(v), QUARTER),
)
DATE = RangeType(
    "date",
    m.DateSpan,
    m.DateSegment,
    lambda i: BASE_DATE + dt.timedelta(days=i),
    lambda i: dt.timedelta(days=i),
    lambda v: (v - BASE_DATE).days,
)
DATETIME = RangeType(
    "datetime",
    m.DateTimeSpan,
    m.DateTimeSegment,
    lambda i: BASE_DT + dt.timedelta(hours=i),
    lambda i: dt.timedelta(hours=i),
    lambda v: _exact(v - BASE_DT, dt.timedelta(hours=1)),
)
ALL_TYPES = (INT, BIGINT, DECIMAL, DATE, DATETIME)

#: Parametrize a test over all five range types: ``@every_type`` then ``def test(rt): ...``.
every_type = pytest.mark.parametrize("rt", ALL_TYPES, ids=str)


# --- building and reading spans --------------------------------------------------------


def make_span(rt: RangeType, lo: int, hi: int, cuts: tuple[int, ...] = ()) -> Any:
    """A span ``[lo, hi)`` tiled by segments split at ``cuts``.

    Setup only, so it is quick: one bulk insert, then the library's deferred checks run
    (`finalize`). Operations are tested elsewhere.
    """
    bounds = [lo, *cuts, hi]
    pieces = list(itertools.pairwise(bounds))
    with transaction.atomic():
        span = rt.span.objects.create(current_range=rt.r(lo, hi))
        if rt.tiling:  # the span came with one segment covering it: make it the first piece
            rt.segment.objects.filter(span=span).update(segment_range=rt.r(*pieces.pop(0)))
        rt.segment.objects.bulk_create([rt.segment(span=span, segment_range=rt.r(a, b)) for a, b in pieces])
        finalize(rt.segment)
    return span


def rows(rt: RangeType, span_id: Any, cursor: Any = None) -> list[tuple[Any, ...]]:
    """``(id, lower, upper, deleted)`` of all segments of a span, raw SQL."""
    sql = (
        "SELECT id, lower(segment_range), upper(segment_range), deleted_at IS NOT NULL"
        f' FROM "{rt.seg_table}"'
        " WHERE span_id = %s ORDER BY deleted_at IS NOT NULL, lower(segment_range), id"
    )
    if cursor is None:
        with connection.cursor() as own:
            own.execute(sql, [span_id])
            found = own.fetchall()
    else:
        cursor.execute(sql, [span_id])
        found = cursor.fetchall()
    return [(i, rt.i(lo), rt.i(hi), deleted) for i, lo, hi, deleted in found]


def active(rt: RangeType, span: Any) -> list[tuple[int, int]]:
    """Active segment ranges of ``span`` in range order, as integer pairs."""
    return [(lo, hi) for _, lo, hi, deleted in rows(rt, span.pk) if not deleted]


def deleted(rt: RangeType, span: Any) -> list[tuple[int, int]]:
    """Soft-deleted segment ranges of ``span``, sorted."""
    return sorted((lo, hi) for _, lo, hi, is_deleted in rows(rt, span.pk) if is_deleted)


def span_range(rt: RangeType, span: Any) -> tuple[int, int] | None:
    """The current range of ``span`` (a span or its pk) from the database; None if gone."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT lower(current_range), upper(current_range) FROM "{rt.span_table}" WHERE id = %s',
            [getattr(span, "pk", span)],
        )
        row = cursor.fetchone()
    return None if row is None else (rt.i(row[0]), rt.i(row[1]))


def pair(rt: RangeType, rng: Any) -> tuple[int, int]:
    """A range object as an integer pair."""
    return (rt.i(rng.lower), rt.i(rng.upper))


# --- the independent audit -------------------------------------------------------------


def audit_queries(rt: RangeType, *, only_spans: bool = False) -> dict[str, str]:
    """One SQL query per invariant; each returns the offending span ids (none when valid).

    ``only_spans``: each query takes one parameter, an array of span ids, and checks those
    spans only (through the span key's indexes), so its cost does not grow with the table.
    """
    seg, span = f'"{rt.seg_table}"', f'"{rt.span_table}"'

    def only(column: str) -> str:
        return f" AND {column} = ANY(%s)" if only_spans else ""

    queries = {
        "overlap": (
            f"SELECT a.span_id FROM {seg} a JOIN {seg} b ON a.span_id = b.span_id AND a.id < b.id"
            " AND a.segment_range && b.segment_range"
            f" WHERE a.deleted_at IS NULL AND b.deleted_at IS NULL{only('a.span_id')}"
        ),
        "containment": (
            f"SELECT s.span_id FROM {seg} s LEFT JOIN {span} p ON p.id = s.span_id"
            f" WHERE s.deleted_at IS NULL{only('s.span_id')} AND (p.id IS NULL OR p.deleted_at IS NOT NULL"
            " OR NOT s.segment_range <@ p.current_range)"
        ),
        "empty_or_invalid_range": (
            f"SELECT span_id FROM {seg} WHERE (isempty(segment_range) OR lower_inf(segment_range)"
            " OR upper_inf(segment_range) OR NOT lower_inc(segment_range) OR upper_inc(segment_range))"
            f"{only('span_id')}"
        ),
    }
    agg = (
        f"SELECT p.id, p.current_range, range_agg(s.segment_range) AS agg FROM {span} p"
        f" LEFT JOIN {seg} s ON s.span_id = p.id AND s.deleted_at IS NULL"
        f" WHERE p.deleted_at IS NULL{only('p.id')} GROUP BY p.id, p.current_range"
    )
    if rt.tiling:
        kind = rt.options.kind
        queries["tiling"] = (
            f"SELECT id FROM ({agg}) g WHERE agg IS NULL"
            f" OR lower(agg) <> lower(current_range) OR upper(agg) <> upper(current_range)"
            + ("" if rt.segment_gaps else f" OR agg <> {kind.multirange_sql_type}(current_range)")
        )
    if not rt.segment_gaps:
        queries["segment_gaps"] = (
            f"SELECT id FROM ({agg}) g WHERE agg IS NOT NULL AND (SELECT count(*) FROM unnest(agg)) > 1"
        )
    return queries


def audit(rt: RangeType, cursor: Any = None, *, spans: Sequence[Any] | None = None) -> dict[str, list[Any]]:
    """Violated invariants: ``{invariant: [span ids]}``; empty when valid. The whole table,
    or only ``spans`` (their keys) when given."""
    found: dict[str, list[Any]] = {}
    params = None if spans is None else [list(spans)]

    def run(cur: Any) -> None:
        for name, sql in audit_queries(rt, only_spans=spans is not None).items():
            cur.execute(sql, params)
            ids = sorted({row[0] for row in cur.fetchall()})
            if ids:
                found[name] = ids

    if cursor is None:
        with connection.cursor() as own:
            run(own)
    else:
        run(cursor)
    return found


def assert_valid(rt: RangeType, cursor: Any = None) -> None:
    """Fail with the list of violated invariants, if any."""
    assert audit(rt, cursor) == {}
