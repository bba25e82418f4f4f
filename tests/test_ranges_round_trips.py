"""The exact statements each operation sends: a regression guard for round trips.

`test_ranges_statements` checks that counts do not grow with the span; this pins them,
so an extra re-read or a statement executed twice shows up here.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.measure import SAVEPOINT_STATEMENT
from django_segments.exceptions import SegmentsError
from tests.ranges_helpers import BIGINT, INT
from tests.test_ranges_statements import OPERATIONS, build

pytestmark = pytest.mark.django_db

#: Statements besides savepoints. "lock" is the span row; "check" is finalize's one round
#: trip (SET CONSTRAINTS ... IMMEDIATE; SET CONSTRAINTS ... DEFERRED).
EXPECTED = {
    "span.append": 4,  # lock, span, new segment, check
    "span.shift_by_value": 4,  # lock, span (returning its range), segments, check
    "span.shift_lower_to_value": 4,  # lock, span, one statement removes and clips, check
    "span.shift_upper_by_value": 4,
    "segment.insert": 4,  # lock, one statement removes, clips and cuts, new segment, check
    "segment.split": 3,  # lock, one statement that writes and returns both rows, check
    "segment.merge_into_lower": 3,  # lock, one statement that writes and returns, check
    "segment.shift_by_value": 4,  # lock, neighbourhood, one UPDATE, check
}


def statements(ctx: CaptureQueriesContext) -> list[str]:
    """The statements captured, without savepoint handling (as the benchmarks count)."""
    return [q["sql"] for q in ctx.captured_queries if not SAVEPOINT_STATEMENT.match(q["sql"])]


@pytest.mark.parametrize("rt", [INT, BIGINT], ids=str)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_statements_per_operation(rt, name) -> None:
    span = build(rt, 5)
    call = OPERATIONS[name](rt, span, 5)
    with CaptureQueriesContext(connection) as ctx:
        try:
            call()
        except SegmentsError as exc:  # pragma: no cover - the message says which
            pytest.fail(f"{name} on {rt} failed: {exc}")
    sent = statements(ctx)
    assert len(sent) == EXPECTED[name], "\n".join(sent)
    checks = [sql for sql in sent if sql.startswith("SET CONSTRAINTS")]
    assert len(checks) == 1
    assert "IMMEDIATE; SET CONSTRAINTS" in checks[0]


@pytest.mark.parametrize(("rt", "expected"), [(INT, 3), (BIGINT, 2)], ids=str)
def test_statements_to_create_a_span(rt, expected) -> None:
    """Tiling: the span, its covering segment, one check. Gaps allowed: the span, its check."""
    with CaptureQueriesContext(connection) as ctx:
        span = rt.span.objects.create(current_range=rt.r(0, 10))
    sent = statements(ctx)
    assert len(sent) == expected, "\n".join(sent)
    assert [(s.segment_range.lower, s.segment_range.upper) for s in span.get_active_segments()] == (
        [(rt.v(0), rt.v(10))] if rt.tiling else []
    )
