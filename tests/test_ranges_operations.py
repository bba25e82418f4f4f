"""Every span and segment operation, on all five range types, with exact expected ranges.

Spans are ``[0, 12)`` split at 4 and 8 unless a test says otherwise; integers stand for
each type's values (see `tests.ranges_helpers`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from django_segments.exceptions import (
    ContainmentError,
    GapError,
    IncorrectSegmentRangeError,
    IncorrectSpanRangeError,
    OverlapError,
    RangeIntegrityError,
    RangeValueError,
    SegmentOperationError,
)
from django_segments.ranges.compiler import operations
from tests.ranges_helpers import (
    BIGINT,
    DATE,
    DATETIME,
    DECIMAL,
    INT,
    active,
    assert_valid,
    deleted,
    every_type,
    make_span,
    pair,
    rows,
    span_range,
)

pytestmark = pytest.mark.django_db

THREE = [(0, 4), (4, 8), (8, 12)]


def three(rt):
    """A span [0, 12) with segments [0, 4), [4, 8), [8, 12)."""
    span = make_span(rt, 0, 12, (4, 8))
    assert active(rt, span) == THREE
    return span


def segs(rt, span):
    return list(span.get_active_segments())


def removed(rt, span, expected):
    """Segments removed by an operation: soft-deleted rows remain, hard-deleted rows are gone."""
    if rt.soft:
        assert deleted(rt, span) == sorted(expected)
    else:
        assert deleted(rt, span) == []
        assert len(rows(rt, span.pk)) == len(active(rt, span))


# --- span: create ----------------------------------------------------------------------


@every_type
def test_create_span_covers_it_only_when_span_gaps_are_forbidden(rt) -> None:
    span = rt.span.objects.create(current_range=rt.r(0, 12))
    assert pair(rt, span.current_range) == (0, 12)
    assert pair(rt, span.initial_range) == (0, 12)
    assert span_range(rt, span) == (0, 12)
    expected = [(0, 12)] if rt.tiling else []
    assert active(rt, span) == expected
    assert span.segment_count == len(expected)
    assert_valid(rt)


@every_type
def test_create_span_from_a_pair(rt) -> None:
    span = rt.span.objects.create(current_range=(rt.v(2), rt.v(5)))
    span.refresh_from_db()
    assert pair(rt, span.current_range) == (2, 5)
    assert pair(rt, span.initial_range) == (2, 5)


@every_type
@pytest.mark.parametrize(
    "bounds",
    [(5, 5, "[)"), (5, 2, "[)"), (0, 5, "(]"), (0, 5, "[]"), (None, 5, "[)"), (0, None, "[)")],
    ids=["empty", "inverted", "open-closed", "closed", "lower-infinite", "upper-infinite"],
)
def test_create_span_with_an_invalid_range_raises(rt, bounds) -> None:
    lo, hi, brackets = bounds
    kind = rt.options.kind
    value = kind.range_class(
        None if lo is None else rt.v(lo), None if hi is None else rt.v(hi), brackets, empty=False
    )
    with pytest.raises(IncorrectSpanRangeError):
        rt.span.objects.create(current_range=value)
    assert rt.span.all_objects.count() == 0
    assert rt.segment.all_objects.count() == 0


@every_type
def test_create_span_with_a_range_of_another_type_raises(rt) -> None:
    other = DATE if rt is not DATE else INT
    with pytest.raises(IncorrectSpanRangeError, match="must be"):
        rt.span.objects.create(current_range=other.r(0, 5))
    with pytest.raises(IncorrectSpanRangeError):
        rt.span.objects.create(current_range="[0,5)")
    with pytest.raises(IncorrectSpanRangeError, match="lower < upper"):
        rt.span.objects.create(current_range=(rt.v(1), rt.v(2)), initial_range=(rt.v(3), rt.v(3)))
    assert rt.span.all_objects.count() == 0


@every_type
def test_create_span_without_a_range_raises(rt) -> None:
    with pytest.raises(IncorrectSpanRangeError, match="current_range is required"):
        rt.span.objects.create()


# --- span: append ----------------------------------------------------------------------


@every_type
@pytest.mark.parametrize("how", ["to_value", "delta_value"])
def test_append_extends_the_span_and_adds_the_last_segment(rt, how) -> None:
    span = three(rt)
    kwargs = {"to_value": rt.v(15)} if how == "to_value" else {"delta_value": rt.d(3)}
    new = span.append(**kwargs)
    assert pair(rt, new.segment_range) == (12, 15)
    assert pair(rt, span.current_range) == (0, 15)
    assert span_range(rt, span) == (0, 15)
    assert active(rt, span) == [*THREE, (12, 15)]
    new.refresh_from_db()
    assert new.previous_segment_id == span.get_active_segments()[2].pk
    assert_valid(rt)


@every_type
def test_append_through_a_segment(rt) -> None:
    span = three(rt)
    new = segs(rt, span)[0].append(delta_value=rt.d(1))
    assert pair(rt, new.segment_range) == (12, 13)
    assert active(rt, span) == [*THREE, (12, 13)]


def test_append_copies_given_fields_to_the_new_segment() -> None:
    span = three(INT)
    new = span.append(to_value=14, label="tail", weight=7)
    new.refresh_from_db()
    assert (new.label, new.weight) == ("tail", 7)


@every_type
@pytest.mark.parametrize("kwargs", [{}, "both"], ids=["neither", "both"])
def test_append_needs_exactly_one_argument(rt, kwargs) -> None:
    span = three(rt)
    if kwargs == "both":
        kwargs = {"to_value": rt.v(15), "delta_value": rt.d(3)}
    with pytest.raises(RangeValueError, match="exactly one of to_value or delta_value"):
        span.append(**kwargs)
    assert active(rt, span) == THREE
    assert span_range(rt, span) == (0, 12)


@every_type
@pytest.mark.parametrize("target", [12, 10, -3])
def test_append_must_move_the_upper_bound_up(rt, target) -> None:
    span = three(rt)
    with pytest.raises(IncorrectSpanRangeError, match="must be above"):
        span.append(to_value=rt.v(target))
    with pytest.raises(IncorrectSpanRangeError):
        span.append(delta_value=rt.d(target - 12))
    assert active(rt, span) == THREE
    assert span_range(rt, span) == (0, 12)


def test_append_after_a_trailing_gap_is_refused_when_segment_gaps_are_forbidden() -> None:
    span = make_span(DECIMAL, 0, 12, (4,))
    span.get_active_segments().last().delete()
    assert active(DECIMAL, span) == [(0, 4)]
    with pytest.raises(GapError, match="gap"):
        span.append(to_value=DECIMAL.v(14))
    assert active(DECIMAL, span) == [(0, 4)]
    assert span_range(DECIMAL, span) == (0, 12)


def test_append_after_a_trailing_gap_is_fine_when_gaps_are_allowed() -> None:
    span = make_span(BIGINT, 0, 12, (4,))
    span.get_active_segments().last().delete()
    new = span.append(to_value=BIGINT.v(14))
    assert pair(BIGINT, new.segment_range) == (12, 14)
    assert active(BIGINT, span) == [(0, 4), (12, 14)]


# --- span: shifts ----------------------------------------------------------------------


@every_type
@pytest.mark.parametrize("delta", [5, -3, 0])
def test_shift_span_by_value_moves_everything(rt, delta) -> None:
    span = three(rt)
    span.shift_by_value(rt.d(delta))
    assert pair(rt, span.current_range) == (delta, 12 + delta)
    assert span_range(rt, span) == (delta, 12 + delta)
    assert active(rt, span) == [(a + delta, b + delta) for a, b in THREE]
    assert_valid(rt)


@every_type
def test_shift_span_by_value_leaves_soft_deleted_segments_alone(rt) -> None:
    span = make_span(rt, 0, 12, (4, 8))
    span.shift_lower_to_value(rt.v(4))
    span.shift_by_value(rt.d(10))
    assert active(rt, span) == [(14, 18), (18, 22)]
    removed(rt, span, [(0, 4)])


@every_type
@pytest.mark.parametrize(
    ("target", "expected", "gone"),
    [
        (2, [(2, 4), (4, 8), (8, 12)], []),
        (4, [(4, 8), (8, 12)], [(0, 4)]),
        (8, [(8, 12)], [(0, 4), (4, 8)]),
        (9, [(9, 12)], [(0, 4), (4, 8)]),
        (11, [(11, 12)], [(0, 4), (4, 8)]),
        (-3, [(-3, 4), (4, 8), (8, 12)], []),
        (0, THREE, []),
    ],
)
def test_shift_lower_to_value(rt, target, expected, gone) -> None:
    span = three(rt)
    span.shift_lower_to_value(rt.v(target))
    assert pair(rt, span.current_range) == (target, 12)
    assert span_range(rt, span) == (target, 12)
    assert active(rt, span) == expected
    removed(rt, span, gone)
    assert all(lo < hi for _, lo, hi, _ in rows(rt, span.pk)), "no empty ranges"
    assert_valid(rt)


@every_type
@pytest.mark.parametrize(
    ("target", "expected", "gone"),
    [
        (10, [(0, 4), (4, 8), (8, 10)], []),
        (8, [(0, 4), (4, 8)], [(8, 12)]),
        (4, [(0, 4)], [(4, 8), (8, 12)]),
        (1, [(0, 1)], [(4, 8), (8, 12)]),
        (15, [(0, 4), (4, 8), (8, 15)], []),
    ],
)
def test_shift_upper_to_value(rt, target, expected, gone) -> None:
    span = three(rt)
    span.shift_upper_to_value(rt.v(target))
    assert pair(rt, span.current_range) == (0, target)
    assert span_range(rt, span) == (0, target)
    assert active(rt, span) == expected
    removed(rt, span, gone)
    assert_valid(rt)


@every_type
def test_shift_bounds_by_value(rt) -> None:
    span = three(rt)
    span.shift_lower_by_value(rt.d(5))
    assert active(rt, span) == [(5, 8), (8, 12)]
    span.shift_lower_by_value(rt.d(-7))
    assert active(rt, span) == [(-2, 8), (8, 12)]
    span.shift_upper_by_value(rt.d(-3))
    assert active(rt, span) == [(-2, 8), (8, 9)]
    span.shift_upper_by_value(rt.d(2))
    assert active(rt, span) == [(-2, 8), (8, 11)]
    assert span_range(rt, span) == (-2, 11)
    removed(rt, span, [(0, 4)])
    assert_valid(rt)


def test_span_bound_extension_leaves_a_gap_when_no_segment_touches_the_bound() -> None:
    span = make_span(BIGINT, 0, 12, (4,))
    span.get_active_segments().first().delete()
    span.shift_lower_to_value(BIGINT.v(-2))
    assert active(BIGINT, span) == [(4, 12)]
    assert span_range(BIGINT, span) == (-2, 12)


@every_type
@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("shift_lower_to_value", 12),
        ("shift_lower_to_value", 20),
        ("shift_upper_to_value", 0),
        ("shift_upper_to_value", -5),
        ("shift_lower_by_value", 12),
        ("shift_upper_by_value", -12),
    ],
)
def test_span_bound_shift_that_empties_the_span_raises(rt, method, value) -> None:
    span = three(rt)
    arg = rt.d(value) if method.endswith("by_value") else rt.v(value)
    with pytest.raises(IncorrectSpanRangeError, match="would become empty"):
        getattr(span, method)(arg)
    assert active(rt, span) == THREE
    assert span_range(rt, span) == (0, 12)


# --- span: delete ----------------------------------------------------------------------


@every_type
def test_delete_span(rt) -> None:
    span = three(rt)
    other = make_span(rt, 0, 12, (6,))
    span.delete()
    if rt.options.soft_delete:
        assert span.is_deleted
        assert not rt.span.objects.filter(pk=span.pk).exists()
        stored = rt.span.all_objects.get(pk=span.pk)
        assert stored.is_deleted
        assert list(rt.span.all_objects.deleted()) == [stored]
        assert list(rt.span.all_objects.active()) == [other]
        assert active(rt, span) == []
        assert deleted(rt, span) == THREE
        assert span.segment_count == 0
        assert [s.is_deleted for s in span.get_inactive_segments()] == [True, True, True]
    else:
        assert not rt.span.all_objects.filter(pk=span.pk).exists()
        assert rt.segment.all_objects.filter(span_id=span.pk).count() == 0
    assert active(rt, other) == [(0, 6), (6, 12)]
    assert_valid(rt)


@every_type
@pytest.mark.parametrize(
    "call",
    [
        lambda rt, span: span.append(delta_value=rt.d(1)),
        lambda rt, span: span.shift_by_value(rt.d(1)),
        lambda rt, span: span.shift_upper_to_value(rt.v(20)),
        lambda rt, span: rt.segment.insert(span=span, segment_range=rt.r(1, 2)),
    ],
    ids=["append", "shift_by_value", "shift_upper_to_value", "insert"],
)
def test_operations_on_a_deleted_span_raise(rt, call) -> None:
    span = three(rt)
    stale = rt.span.objects.get(pk=span.pk)
    span.delete()
    match = "is deleted" if rt.options.soft_delete else "does not exist"
    with pytest.raises(SegmentOperationError, match=match):
        call(rt, stale)


# --- segment: create -------------------------------------------------------------------


@every_type
def test_create_segment_through_the_manager(rt) -> None:
    span = rt.span.objects.create(current_range=rt.r(0, 12))
    if rt.tiling:
        with pytest.raises(OverlapError, match="no_overlap"):
            rt.segment.objects.create(span=span, segment_range=rt.r(2, 3))
        assert active(rt, span) == [(0, 12)]
        return
    first = rt.segment.objects.create(span=span, segment_range=rt.r(0, 4))
    second = rt.segment.objects.create(span=span, segment_range=(rt.v(4), rt.v(8)))
    assert active(rt, span) == [(0, 4), (4, 8)]
    second.refresh_from_db()
    assert second.previous_segment_id == first.pk
    assert_valid(rt)


@every_type
def test_create_segment_outside_the_span_raises(rt) -> None:
    span = rt.span.objects.create(current_range=rt.r(0, 12))
    with pytest.raises(ContainmentError, match="outside the span range") as info:
        rt.segment.objects.create(span=span, segment_range=rt.r(12, 14))
    assert info.value.invariant == "containment"
    assert active(rt, span) == ([(0, 12)] if rt.tiling else [])


@pytest.mark.parametrize("rt", [INT, DECIMAL, DATETIME], ids=str)
def test_create_segment_in_a_soft_deleted_span_raises(rt) -> None:
    span = three(rt)
    span.delete()
    with pytest.raises(ContainmentError, match="is deleted but still has active segments"):
        rt.segment.objects.create(span=span, segment_range=rt.r(0, 4))
    assert active(rt, span) == []


@pytest.mark.parametrize("rt", [BIGINT, DECIMAL, DATETIME], ids=str)
def test_create_overlapping_segment_raises(rt) -> None:
    span = rt.span.objects.create(current_range=rt.r(0, 12))
    rt.segment.objects.create(span=span, segment_range=rt.r(0, 4))
    with pytest.raises(OverlapError) as info:
        rt.segment.objects.create(span=span, segment_range=rt.r(3, 6))
    assert info.value.invariant == "overlap"
    assert isinstance(info.value, RangeIntegrityError)
    assert active(rt, span) == [(0, 4)]


def test_an_overlap_names_the_segment_it_collided_with() -> None:
    span = BIGINT.span.objects.create(current_range=BIGINT.r(0, 12))
    first = BIGINT.segment.objects.create(span=span, segment_range=BIGINT.r(0, 4))
    with pytest.raises(OverlapError, match=f"it overlaps segment {first.pk} ") as info:
        BIGINT.segment.objects.create(span=span, segment_range=BIGINT.r(3, 6))
    assert info.value.conflicting_segment_id == first.pk


def test_a_failed_lookup_of_the_colliding_segment_leaves_the_transaction_usable() -> None:
    """Naming the other segment takes a query after the refused write was rolled back;
    if that query fails (e.g. a serialization failure under SERIALIZABLE), the caller
    still gets the typed error and can go on in its transaction."""
    span = BIGINT.span.objects.create(current_range=BIGINT.r(0, 12))
    BIGINT.segment.objects.create(span=span, segment_range=BIGINT.r(0, 4))

    def failing_lookup(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql == operations(BIGINT.segment)["conflicting_segment"]:
            return execute("SELECT 1 / 0", None, many, context)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(failing_lookup), pytest.raises(OverlapError) as info:
        BIGINT.segment.objects.create(span=span, segment_range=BIGINT.r(3, 6))
    assert "it overlaps segment" not in str(info.value)
    assert active(BIGINT, span) == [(0, 4)]  # the transaction still answers


def test_create_segment_leaving_a_gap_raises_when_segment_gaps_are_forbidden() -> None:
    span = DECIMAL.span.objects.create(current_range=DECIMAL.r(0, 12))
    DECIMAL.segment.objects.create(span=span, segment_range=DECIMAL.r(0, 4))
    with pytest.raises(GapError, match=r"leave the gap \[1\.00?,1\.50?\)") as info:
        DECIMAL.segment.objects.create(span=span, segment_range=DECIMAL.r(6, 8))
    assert info.value.invariant == "gaps"
    assert active(DECIMAL, span) == [(0, 4)]


@every_type
@pytest.mark.parametrize("bounds", [(4, 4), (6, 2)], ids=["empty", "inverted"])
def test_create_segment_with_an_invalid_range_raises(rt, bounds) -> None:
    span = rt.span.objects.create(current_range=rt.r(0, 12))
    with pytest.raises(IncorrectSegmentRangeError, match="lower < upper"):
        rt.segment.objects.create(span=span, segment_range=(rt.v(bounds[0]), rt.v(bounds[1])))
    with pytest.raises(IncorrectSegmentRangeError, match="required"):
        rt.segment.objects.create(span=span)


# --- segment: insert -------------------------------------------------------------------


@every_type
@pytest.mark.parametrize(
    ("lo", "hi", "expected", "gone"),
    [
        (2, 6, [(0, 2), (2, 6), (6, 8), (8, 12)], []),
        (5, 6, [(0, 4), (4, 5), (5, 6), (6, 8), (8, 12)], []),
        (4, 12, [(0, 4), (4, 12)], [(4, 8), (8, 12)]),
        (0, 12, [(0, 12)], [(0, 4), (4, 8), (8, 12)]),
        (4, 8, [(0, 4), (4, 8), (8, 12)], [(4, 8)]),
        (3, 9, [(0, 3), (3, 9), (9, 12)], [(4, 8)]),
        (0, 1, [(0, 1), (1, 4), (4, 8), (8, 12)], []),
    ],
)
def test_insert(rt, lo, hi, expected, gone) -> None:
    span = three(rt)
    new = rt.segment.insert(span=span, segment_range=rt.r(lo, hi))
    assert pair(rt, new.segment_range) == (lo, hi)
    assert new.pk is not None
    assert active(rt, span) == expected
    removed(rt, span, gone)
    assert_valid(rt)


def test_insert_cutting_a_segment_copies_its_fields_to_the_upper_piece() -> None:
    span = three(INT)
    INT.segment.objects.filter(span=span, segment_range__startswith=4).update(label="mid", weight=9)
    new = INT.segment.insert(span=span, segment_range=(5, 6), label="new")
    got = {pair(INT, s.segment_range): (s.label, s.weight) for s in span.get_active_segments()}
    assert got[(4, 5)] == ("mid", 9)
    assert got[(6, 8)] == ("mid", 9)
    assert got[(5, 6)] == ("new", 1)
    assert new.label == "new"


@every_type
@pytest.mark.parametrize(("lo", "hi"), [(10, 14), (-1, 2), (12, 13)])
def test_insert_outside_the_span_raises(rt, lo, hi) -> None:
    span = three(rt)
    with pytest.raises(IncorrectSegmentRangeError, match="must lie inside span"):
        rt.segment.insert(span=span, segment_range=rt.r(lo, hi))
    assert active(rt, span) == THREE


def test_insert_into_a_gap_is_refused_when_segment_gaps_are_forbidden() -> None:
    span = make_span(DECIMAL, 0, 12, (4,))
    span.get_active_segments().last().delete()
    with pytest.raises(GapError):
        DECIMAL.segment.insert(span=span, segment_range=DECIMAL.r(8, 10))
    assert active(DECIMAL, span) == [(0, 4)]


# --- segment: split --------------------------------------------------------------------


@every_type
def test_split(rt) -> None:
    span = three(rt)
    first, middle, _ = segs(rt, span)
    upper = middle.split(rt.v(5))
    assert pair(rt, middle.segment_range) == (4, 5)
    assert pair(rt, upper.segment_range) == (5, 8)
    assert upper.previous_segment_id == middle.pk
    assert middle.previous_segment_id == first.pk
    assert active(rt, span) == [(0, 4), (4, 5), (5, 8), (8, 12)]
    assert_valid(rt)


@every_type
@pytest.mark.parametrize("value", [4, 8, 0, 10, -1])
def test_split_at_a_bound_or_outside_raises(rt, value) -> None:
    span = three(rt)
    middle = segs(rt, span)[1]
    with pytest.raises(IncorrectSegmentRangeError, match="strictly inside"):
        middle.split(rt.v(value))
    assert active(rt, span) == THREE


@every_type
def test_split_a_deleted_segment_raises(rt) -> None:
    span = make_span(rt, 0, 12, (4,))
    first, _last = segs(rt, span)
    stale = rt.segment.objects.get(pk=first.pk)
    first.merge_into_upper()
    with pytest.raises(SegmentOperationError, match="does not exist or is deleted"):
        stale.split(rt.v(2))
    assert active(rt, span) == [(0, 12)]


@every_type
@pytest.mark.parametrize(
    "call",
    [
        lambda rt, s: s.merge_into_lower(),
        lambda rt, s: s.merge_into_upper(),
        lambda rt, s: s.shift_by_value(rt.d(1)),
        lambda rt, s: s.shift_upper_to_value(rt.v(9)),
    ],
    ids=["merge_into_lower", "merge_into_upper", "shift_by_value", "shift_upper_to_value"],
)
def test_operations_on_a_removed_segment_raise(rt, call) -> None:
    span = three(rt)
    middle = segs(rt, span)[1]
    stale = rt.segment.objects.get(pk=middle.pk)
    middle.merge_into_lower()
    with pytest.raises(SegmentOperationError, match="does not exist or is deleted"):
        call(rt, stale)
    assert active(rt, span) == [(0, 8), (8, 12)]


def test_split_copies_only_the_named_fields() -> None:
    span = three(INT)
    middle = segs(INT, span)[1]
    INT.segment.objects.filter(pk=middle.pk).update(label="m", weight=5)
    all_copied = middle.split(6)
    assert (all_copied.label, all_copied.weight) == ("m", 5)
    some = middle.split(5, fields_to_copy=["label"])
    assert (some.label, some.weight) == ("m", 1)
    with pytest.raises(RangeValueError, match="unknown fields"):
        all_copied.split(7, fields_to_copy=["nope"])
    assert active(INT, span) == [(0, 4), (4, 5), (5, 6), (6, 8), (8, 12)]


def test_split_with_no_fields_copied_uses_defaults() -> None:
    span = three(INT)
    middle = segs(INT, span)[1]
    INT.segment.objects.filter(pk=middle.pk).update(label="m", weight=5)
    upper = middle.split(6, fields_to_copy=[])
    assert (upper.label, upper.weight) == ("", 1)


# --- segment: merge --------------------------------------------------------------------


@every_type
@pytest.mark.parametrize(
    ("index", "into", "expected", "gone"),
    [
        (1, "lower", [(0, 8), (8, 12)], (4, 8)),
        (1, "upper", [(0, 4), (4, 12)], (4, 8)),
        (2, "lower", [(0, 4), (4, 12)], (8, 12)),
        (0, "upper", [(0, 8), (8, 12)], (0, 4)),
    ],
)
def test_merge(rt, index, into, expected, gone) -> None:
    span = three(rt)
    before = sum(hi - lo for lo, hi in active(rt, span))
    segment = segs(rt, span)[index]
    survivor = getattr(segment, f"merge_into_{into}")()
    assert pair(rt, survivor.segment_range) in expected
    assert active(rt, span) == expected
    assert sum(hi - lo for lo, hi in active(rt, span)) == before
    removed(rt, span, [gone])
    if rt.soft:
        assert segment.is_deleted
    else:
        assert not rt.segment.all_objects.filter(pk=segment.pk).exists()
    assert_valid(rt)


@every_type
@pytest.mark.parametrize(("index", "into"), [(0, "lower"), (2, "upper")])
def test_merge_with_no_neighbour_raises(rt, index, into) -> None:
    span = three(rt)
    segment = segs(rt, span)[index]
    with pytest.raises(SegmentOperationError, match=f"no {into} neighbour"):
        getattr(segment, f"merge_into_{into}")()
    assert active(rt, span) == THREE
    removed(rt, span, [])


@pytest.mark.parametrize("rt", [BIGINT, DATETIME], ids=str)
def test_merge_across_a_gap_covers_the_gap(rt) -> None:
    span = rt.span.objects.create(current_range=rt.r(0, 12))
    rt.segment.objects.create(span=span, segment_range=rt.r(0, 3))
    upper = rt.segment.objects.create(span=span, segment_range=rt.r(5, 8))
    survivor = upper.merge_into_lower()
    assert pair(rt, survivor.segment_range) == (0, 8)
    assert active(rt, span) == [(0, 8)]


# --- segment: shifts -------------------------------------------------------------------


@every_type
@pytest.mark.parametrize(
    ("method", "arg", "expected"),
    [
        ("shift_by_value", ("d", 1), [(0, 5), (5, 9), (9, 12)]),
        ("shift_by_value", ("d", -2), [(0, 2), (2, 6), (6, 12)]),
        ("shift_lower_by_value", ("d", -1), [(0, 3), (3, 8), (8, 12)]),
        ("shift_lower_by_value", ("d", 2), [(0, 6), (6, 8), (8, 12)]),
        ("shift_lower_to_value", ("v", 2), [(0, 2), (2, 8), (8, 12)]),
        ("shift_upper_by_value", ("d", 2), [(0, 4), (4, 10), (10, 12)]),
        ("shift_upper_to_value", ("v", 6), [(0, 4), (4, 6), (6, 12)]),
        ("shift_upper_to_value", ("v", 8), THREE),
    ],
)
def test_shift_segment(rt, method, arg, expected) -> None:
    span = three(rt)
    middle = segs(rt, span)[1]
    getattr(middle, method)(getattr(rt, arg[0])(arg[1]))
    assert active(rt, span) == expected
    assert pair(rt, middle.segment_range) == expected[1]
    assert_valid(rt)


@every_type
@pytest.mark.parametrize(
    ("method", "arg", "error", "match"),
    [
        ("shift_upper_to_value", ("v", 12), SegmentOperationError, "would empty its following"),
        ("shift_lower_to_value", ("v", 0), SegmentOperationError, "would empty its preceding"),
        ("shift_by_value", ("d", 4), SegmentOperationError, "would empty its following"),
        ("shift_lower_to_value", ("v", 8), IncorrectSegmentRangeError, "would become empty"),
        ("shift_upper_by_value", ("d", -5), IncorrectSegmentRangeError, "would become empty"),
    ],
)
def test_shift_segment_refusals(rt, method, arg, error, match) -> None:
    span = three(rt)
    middle = segs(rt, span)[1]
    with pytest.raises(error, match=match):
        getattr(middle, method)(getattr(rt, arg[0])(arg[1]))
    assert active(rt, span) == THREE


@every_type
def test_shift_first_segment_off_the_span_start(rt) -> None:
    span = three(rt)
    first, _, last = segs(rt, span)
    if rt.tiling:
        with pytest.raises(GapError, match="cover its whole range") as info:
            first.shift_lower_to_value(rt.v(1))
        assert info.value.invariant == "tiling"
        assert active(rt, span) == THREE
    else:
        first.shift_lower_to_value(rt.v(1))
        assert active(rt, span) == [(1, 4), (4, 8), (8, 12)]
    with pytest.raises(ContainmentError, match="outside the span range"):
        first.shift_lower_to_value(rt.v(-1))
    with pytest.raises(ContainmentError):
        last.shift_upper_by_value(rt.d(1))
    assert_valid(rt)


@pytest.mark.parametrize("rt", [BIGINT, DATETIME], ids=str)
def test_shift_segment_next_to_a_gap_moves_only_itself(rt) -> None:
    span = rt.span.objects.create(current_range=rt.r(0, 12))
    rt.segment.objects.create(span=span, segment_range=rt.r(0, 2))
    mid = rt.segment.objects.create(span=span, segment_range=rt.r(4, 6))
    rt.segment.objects.create(span=span, segment_range=rt.r(6, 8))
    mid.shift_lower_to_value(rt.v(3))
    assert active(rt, span) == [(0, 2), (3, 6), (6, 8)]
    mid.shift_lower_to_value(rt.v(1))
    assert active(rt, span) == [(0, 1), (1, 6), (6, 8)]


# --- segment: delete -------------------------------------------------------------------


@every_type
def test_delete_middle_segment(rt) -> None:
    span = three(rt)
    middle = segs(rt, span)[1]
    if rt.tiling or not rt.segment_gaps:
        with pytest.raises(GapError):
            middle.delete()
        assert active(rt, span) == THREE
        removed(rt, span, [])
        return
    middle.delete()
    assert active(rt, span) == [(0, 4), (8, 12)]
    removed(rt, span, [(4, 8)])
    last = span.last_segment
    assert last.previous_segment_id == span.first_segment.pk
    assert_valid(rt)


@every_type
def test_delete_last_segment(rt) -> None:
    span = three(rt)
    last = segs(rt, span)[2]
    if rt.tiling:
        with pytest.raises(GapError, match="cover its whole range"):
            last.delete()
        assert active(rt, span) == THREE
        return
    last.delete()
    assert active(rt, span) == [(0, 4), (4, 8)]
    removed(rt, span, [(8, 12)])
    if rt.soft:
        assert last.is_deleted
        assert last.deleted_at is not None
    assert_valid(rt)


# --- navigation ------------------------------------------------------------------------


@every_type
def test_navigation(rt) -> None:
    span = three(rt)
    a, b, c = segs(rt, span)
    assert [pair(rt, s.segment_range) for s in (a, b, c)] == THREE
    assert (span.first_segment, span.last_segment, span.segment_count) == (a, c, 3)
    assert (a.previous, a.next, b.previous, b.next, c.previous, c.next) == (None, b, a, c, b, None)
    assert (a.first, a.last, c.first, c.last) == (a, c, a, c)
    assert (a.previous_segment_id, b.previous_segment_id, c.previous_segment_id) == (None, a.pk, b.pk)
    assert (a.is_first, b.is_first, c.is_first) == (True, False, False)
    assert (a.is_last, b.is_last, c.is_last) == (False, False, True)
    assert (a.is_internal, b.is_internal, c.is_internal) == (False, True, False)
    assert (a.is_first_or_last, b.is_first_or_last, c.is_first_or_last) == (True, False, True)
    assert not any(s.is_first_and_last for s in (a, b, c))
    assert all(s.is_active and not s.is_deleted for s in (a, b, c))
    assert list(span.get_segments()) == [a, b, c]
    assert list(span.get_inactive_segments()) == []


@every_type
def test_navigation_after_removing_segments(rt) -> None:
    span = three(rt)
    a, b, c = segs(rt, span)
    b.merge_into_lower()
    c.merge_into_lower()
    only = span.first_segment
    assert only.pk == a.pk
    assert pair(rt, only.segment_range) == (0, 12)
    assert only.is_first_and_last
    assert only.is_first_or_last
    assert not only.is_internal
    assert span.last_segment == only
    assert span.segment_count == 1
    assert list(span.get_active_segments()) == [only]
    if rt.soft:
        inactive = list(span.get_inactive_segments())
        assert sorted(s.pk for s in inactive) == sorted([b.pk, c.pk])
        assert all(s.is_deleted and not s.is_active and not s.is_first for s in inactive)
        assert all(s.previous_segment_id is None for s in inactive)
        assert len(list(span.get_segments())) == 3
    else:
        assert list(span.get_segments()) == [only]


@every_type
def test_empty_span_navigation(rt) -> None:
    span = three(rt)
    stale = rt.span.objects.get(pk=span.pk)
    span.delete()
    assert (stale.first_segment, stale.last_segment, stale.segment_count) == (None, None, 0)


@every_type
def test_querysets_overlapping_and_containing(rt) -> None:
    span = three(rt)
    qs = rt.segment.objects.filter(span=span)
    assert [pair(rt, s.segment_range) for s in qs.overlapping(rt.r(3, 5)).order_by("id")] == [
        (0, 4),
        (4, 8),
    ]
    assert [pair(rt, s.segment_range) for s in qs.containing(rt.v(8))] == [(8, 12)]
    span.shift_lower_to_value(rt.v(4))
    all_qs = rt.segment.all_objects.filter(span=span)
    assert all_qs.overlapping((rt.v(0), rt.v(1))).count() == 0
    assert all_qs.overlapping((rt.v(0), rt.v(1)), include_deleted=True).count() == (1 if rt.soft else 0)
    assert all_qs.containing(rt.v(0), include_deleted=True).count() == (1 if rt.soft else 0)


# --- wrong value types -----------------------------------------------------------------

NAIVE = dt.datetime(2024, 1, 1, 5)
BAD_VALUES = [
    (INT, 4.5, "float"),
    (INT, True, "bool"),
    (INT, Decimal(4), "Decimal"),
    (BIGINT, 4.0, "float"),
    (BIGINT, False, "bool"),
    (DECIMAL, Decimal("NaN"), "finite"),
    (DECIMAL, Decimal("Infinity"), "finite"),
    (DECIMAL, 0.5, "float"),
    (DECIMAL, True, "bool"),
    (DATE, dt.datetime(2024, 1, 3, tzinfo=dt.UTC), "datetime"),
    (DATE, "2024-01-03", "str"),
    (DATETIME, NAIVE, "naive"),
    (DATETIME, dt.date(2024, 1, 1), "date"),
]
BAD_IDS = [f"{rt}-{label}" for rt, _, label in BAD_VALUES]


@pytest.mark.parametrize(("rt", "bad", "label"), BAD_VALUES, ids=BAD_IDS)
def test_wrong_value_types_raise_before_any_change(rt, bad, label) -> None:
    span = three(rt)
    segment = segs(rt, span)[1]
    calls = [
        lambda: span.append(to_value=bad),
        lambda: span.shift_lower_to_value(bad),
        lambda: span.shift_upper_to_value(bad),
        lambda: segment.split(bad),
        lambda: segment.shift_lower_to_value(bad),
        lambda: segment.shift_upper_to_value(bad),
        lambda: rt.segment.insert(span=span, segment_range=(bad, rt.v(5))),
        lambda: rt.segment.objects.create(span=span, segment_range=(rt.v(1), bad)),
        lambda: rt.span.objects.create(current_range=(bad, rt.v(5))),
        lambda: rt.segment.objects.filter(span=span).containing(bad),
    ]
    for call in calls:
        with pytest.raises(RangeValueError):
            call()
    assert active(rt, span) == THREE
    assert span_range(rt, span) == (0, 12)
    assert rt.span.all_objects.count() == 1


BAD_DELTAS = [
    (INT, 1.0),
    (INT, True),
    (BIGINT, 2.5),
    (DECIMAL, Decimal("NaN")),
    (DECIMAL, 0.25),
    (DATE, dt.timedelta(hours=5)),
    (DATE, 1),
    (DATETIME, 1),
    (DATETIME, dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
]


@pytest.mark.parametrize(("rt", "bad"), BAD_DELTAS, ids=[f"{rt}-{bad!r}" for rt, bad in BAD_DELTAS])
def test_wrong_delta_types_raise_before_any_change(rt, bad) -> None:
    span = three(rt)
    segment = segs(rt, span)[1]
    calls = [
        lambda: span.append(delta_value=bad),
        lambda: span.shift_by_value(bad),
        lambda: span.shift_lower_by_value(bad),
        lambda: span.shift_upper_by_value(bad),
        lambda: segment.shift_by_value(bad),
        lambda: segment.shift_lower_by_value(bad),
        lambda: segment.shift_upper_by_value(bad),
    ]
    for call in calls:
        with pytest.raises(RangeValueError):
            call()
    assert active(rt, span) == THREE
    assert span_range(rt, span) == (0, 12)


# --- plain ORM saves are checked too ---------------------------------------------------


@every_type
def test_saving_a_changed_range_is_checked_at_once(rt) -> None:
    span = three(rt)
    first, middle, last = segs(rt, span)
    middle.segment_range = rt.r(4, 7)
    if rt.tiling or not rt.segment_gaps:
        with pytest.raises(GapError):
            middle.save()
        assert active(rt, span) == THREE
    else:
        middle.save()
        assert active(rt, span) == [(0, 4), (4, 7), (8, 12)]
    last.segment_range = rt.r(8, 13)
    with pytest.raises(ContainmentError):
        last.save()
    first.segment_range = rt.r(0, 5)
    with pytest.raises(OverlapError):
        first.save()
    assert_valid(rt)


@every_type
def test_saving_a_span_with_a_changed_range_is_checked_at_once(rt) -> None:
    span = three(rt)
    span.current_range = rt.r(0, 10)
    with pytest.raises(ContainmentError):
        span.save()
    span.current_range = rt.r(0, 14)
    if rt.tiling:
        with pytest.raises(GapError):
            span.save()
        assert span_range(rt, span) == (0, 12)
    else:
        span.save()
        assert span_range(rt, span) == (0, 14)
    assert active(rt, span) == THREE


def test_datetimes_in_any_time_zone_name_the_same_instants() -> None:
    plus5 = dt.timezone(dt.timedelta(hours=5))
    start = dt.datetime(2024, 1, 1, 5, tzinfo=plus5)  # 00:00 UTC
    span = DATETIME.span.objects.create(current_range=(start, start + dt.timedelta(hours=12)))
    segment = DATETIME.segment.objects.create(span=span, segment_range=(start, start + dt.timedelta(hours=4)))
    segment.split(dt.datetime(2024, 1, 1, 2, tzinfo=dt.UTC))
    assert active(DATETIME, span) == [(0, 2), (2, 4)]
    assert span_range(DATETIME, span) == (0, 12)
