"""`defer_checks`: checks postponed to the end of a block, never skipped."""

from __future__ import annotations

import pytest
from django.db.backends.postgresql.psycopg_any import NumericRange

import django_segments as ds
from tests.testapp.models import IntSpan

pytestmark = pytest.mark.django_db


def _r(lower: int, upper: int) -> NumericRange:
    return NumericRange(lower, upper, "[)")


def _tiled() -> tuple[IntSpan, object, object]:
    span = IntSpan.objects.create(current_range=_r(0, 10))
    upper = span.first_segment.split(5)
    return span, span.first_segment, upper


def _ranges(span: IntSpan) -> list[tuple[int, int]]:
    return [(s.segment_range.lower, s.segment_range.upper) for s in span.get_active_segments()]


def test_a_save_that_opens_a_gap_is_refused_at_once() -> None:
    span, _, upper = _tiled()
    upper.segment_range = _r(7, 10)
    with pytest.raises(ds.GapError, match="gap"):
        upper.save()
    assert _ranges(span) == [(0, 5), (5, 10)]


def test_moving_a_boundary_through_a_gap_inside_defer_checks() -> None:
    span, lower, upper = _tiled()
    with ds.defer_checks():
        upper.segment_range = _r(7, 10)
        upper.save()  # a gap [5, 7) exists here
        lower.segment_range = _r(0, 7)
        lower.save()
    assert _ranges(span) == [(0, 7), (7, 10)]
    lower.refresh_from_db()
    upper.refresh_from_db()
    assert upper.previous_segment_id == lower.pk


def test_an_invalid_end_state_is_refused_and_the_block_rolls_back() -> None:
    span, lower, _ = _tiled()

    def shrink_first_then_append() -> None:
        with ds.defer_checks():
            lower.segment_range = _r(0, 3)
            lower.save()
            span.append(delta_value=5)  # an operation inside the block is deferred too

    with pytest.raises(ds.GapError, match=f"span {span.pk}"):
        shrink_first_then_append()
    assert _ranges(span) == [(0, 5), (5, 10)]
    span.refresh_from_db()
    assert (span.current_range.lower, span.current_range.upper) == (0, 10)


def test_nested_blocks_check_once_at_the_outermost_end() -> None:
    span, lower, upper = _tiled()
    with ds.defer_checks():
        with ds.defer_checks():
            upper.segment_range = _r(8, 10)
            upper.save()
        lower.segment_range = _r(0, 8)
        lower.save()
    assert _ranges(span) == [(0, 8), (8, 10)]
