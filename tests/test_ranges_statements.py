"""Every operation issues the same number of statements for 3 and for 60 segments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pglast
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.measure import statement_count
from django_segments.exceptions import SegmentsError
from tests.ranges_helpers import ALL_TYPES, INT, RangeType, active, assert_valid, make_span

pytestmark = pytest.mark.django_db
SMALL, LARGE = 3, 60
#: Operations never need more than this many statements (savepoints included).
MOST = 16


def build(rt: RangeType, n: int) -> Any:
    """A span tiled by ``n`` segments of length 2, plus room for one more when gaps are allowed."""
    span = make_span(rt, 0, 2 * n, tuple(range(2, 2 * n, 2)))
    if not rt.tiling:
        rt.span.objects.filter(pk=span.pk).update(current_range=rt.r(0, 2 * n + 2))
        span.refresh_from_db()
    assert len(active(rt, span)) == n
    return span


def on_middle(method: str, arg: Callable[[RangeType, int], Any] | None = None) -> Callable:
    """Prepare ``method`` of the middle segment (fetched before the measurement)."""

    def prepare(rt: RangeType, span: Any, n: int) -> Callable[[], Any]:
        segment = span.get_active_segments()[n // 2]
        call = getattr(segment, method)
        return call if arg is None else lambda: call(arg(rt, n))

    return prepare


def on_span(call: Callable[[RangeType, Any, int], Any]) -> Callable:
    return lambda rt, span, n: lambda: call(rt, span, n)


def inside_middle(rt: RangeType, n: int) -> Any:
    """A value strictly inside the middle segment [2 * (n // 2), 2 * (n // 2) + 2)."""
    return rt.v(2 * (n // 2) + 1)


#: name -> prepare(rt, span, n) returning the call to measure.
OPERATIONS: dict[str, Callable[[RangeType, Any, int], Callable[[], Any]]] = {
    "span.append": lambda rt, span, n: (
        span.shift_upper_to_value(rt.v(2 * n)),  # no trailing room: append must not leave a gap
        lambda: span.append(delta_value=rt.d(2)),
    )[1],
    "span.shift_by_value": on_span(lambda rt, span, n: span.shift_by_value(rt.d(3))),
    "span.shift_lower_to_value": on_span(lambda rt, span, n: span.shift_lower_to_value(rt.v(3))),
    "span.shift_lower_by_value": on_span(lambda rt, span, n: span.shift_lower_by_value(rt.d(-2))),
    "span.shift_upper_to_value": on_span(lambda rt, span, n: span.shift_upper_to_value(rt.v(3))),
    "span.shift_upper_by_value": on_span(lambda rt, span, n: span.shift_upper_by_value(rt.d(4))),
    "span.delete": on_span(lambda rt, span, n: span.delete()),
    "segment.create": on_span(
        lambda rt, span, n: rt.segment.objects.create(span=span, segment_range=rt.r(2 * n, 2 * n + 1))
    ),
    "segment.insert": on_span(
        lambda rt, span, n: rt.segment.insert(span=span, segment_range=rt.r(1, 2 * n - 1))
    ),
    "segment.split": on_middle("split", inside_middle),
    "segment.merge_into_lower": on_middle("merge_into_lower"),
    "segment.merge_into_upper": on_middle("merge_into_upper"),
    "segment.shift_by_value": on_middle("shift_by_value", lambda rt, n: rt.d(1)),
    "segment.shift_lower_by_value": on_middle("shift_lower_by_value", lambda rt, n: rt.d(-1)),
    "segment.shift_lower_to_value": on_middle("shift_lower_to_value", inside_middle),
    "segment.shift_upper_by_value": on_middle("shift_upper_by_value", lambda rt, n: rt.d(1)),
    "segment.shift_upper_to_value": on_middle("shift_upper_to_value", inside_middle),
    "segment.delete": on_middle("delete"),
}


def run(rt: RangeType, name: str, n: int) -> tuple[Any, type | None, list[str]]:
    """Run operation ``name`` on a new span of ``n`` segments: the span, the typed error
    (None on success) and the SQL strings sent."""
    span = build(rt, n)
    call = OPERATIONS[name](rt, span, n)
    error = None
    with CaptureQueriesContext(connection) as ctx:
        try:
            call()
        except SegmentsError as exc:
            error = type(exc)
    return span, error, [q["sql"] for q in ctx.captured_queries]


def count(rt: RangeType, name: str, n: int) -> tuple[int, type | None]:
    """SQL statements issued by operation ``name`` on a span of ``n`` segments (several may
    share a round trip), and its error."""
    _, error, strings = run(rt, name, n)
    if error is None:
        assert_valid(rt)
    return sum(statement_count(sql) for sql in strings), error


#: Every (type, operation) pair; a tiled span has no room for a created segment.
CASES = [
    pytest.param(rt, name, id=f"{rt}-{name}")
    for rt in ALL_TYPES
    for name in sorted(OPERATIONS)
    if not (name == "segment.create" and rt.tiling)
]


@pytest.mark.parametrize(("rt", "name"), CASES)
def test_statement_count_does_not_grow_with_the_span(rt, name) -> None:
    small, small_error = count(rt, name, SMALL)
    large, large_error = count(rt, name, LARGE)
    assert small_error == large_error
    assert small == large, f"{name} on {rt}: {small} statements for {SMALL} segments, {large} for {LARGE}"
    assert small <= MOST


def test_one_update_shifts_every_segment() -> None:
    """The span shift is one UPDATE of the segment table, not one per segment."""
    span = build(INT, LARGE)
    with CaptureQueriesContext(connection) as ctx:
        span.shift_by_value(5)
    statements = [sql for q in ctx.captured_queries for sql in pglast.split(q["sql"])]
    updates = [sql for sql in statements if sql.startswith(f'UPDATE "{INT.seg_table}"')]
    assert len(updates) == 1
    assert active(INT, span)[0] == (5, 7)
    assert active(INT, span)[-1] == (2 * LARGE + 3, 2 * LARGE + 5)
