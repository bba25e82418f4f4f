"""Operations that need the span's bounds (``append``, the span bound shifts) compute them
in SQL, from the span row read under its lock: an instance loaded before another change,
or one whose ``current_range`` is deferred, gives the result the current bounds give, in
one round trip, and its signals are sent once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_segments import signals
from django_segments.exceptions import IncorrectSpanRangeError, SegmentOperationError
from tests.ranges_helpers import INT, active, assert_valid, every_type, make_span, pair, span_range
from tests.test_ranges_round_trips import counts, sent

pytestmark = pytest.mark.django_db


def build(rt: Any) -> Any:
    """A span [0, 6) tiled by three segments: appending to it leaves no gap."""
    return make_span(rt, 0, 6, (2, 4))


def another(rt: Any, span: Any) -> Any:
    """A second instance of the same span row, loaded now."""
    return rt.span.objects.get(pk=span.pk)


@every_type
def test_append_on_a_stale_instance_appends_at_the_current_upper_bound(rt) -> None:
    span = build(rt)
    stale = another(rt, span)
    span.append(delta_value=rt.d(2))
    lower, upper = span_range(rt, span)
    with CaptureQueriesContext(connection) as ctx:
        segment = stale.append(delta_value=rt.d(3))
    assert counts(ctx) == (4, 1), "\n".join(sent(ctx))
    assert pair(rt, segment.segment_range) == (upper, upper + 3)
    assert span_range(rt, span) == (lower, upper + 3)
    assert pair(rt, stale.current_range) == (lower, upper + 3)
    assert active(rt, span)[-2:] == [(upper - 2, upper), (upper, upper + 3)]
    assert_valid(rt)


@every_type
def test_a_refusal_the_stale_bounds_would_give_is_not_the_answer(rt) -> None:
    """With the instance's bounds the new upper bound is not above the span's; with the
    current ones it is: the append happens."""
    span = build(rt)
    stale = another(rt, span)
    lower, upper = span_range(rt, span)
    span.shift_upper_to_value(rt.v(upper - 2))
    segment = stale.append(to_value=rt.v(upper - 1))
    assert pair(rt, segment.segment_range) == (upper - 2, upper - 1)
    assert span_range(rt, span) == (lower, upper - 1)
    assert_valid(rt)


@every_type
def test_a_refused_append_writes_nothing_in_its_one_round_trip(rt) -> None:
    span = build(rt)
    before = active(rt, span)
    lower, upper = span_range(rt, span)
    with (
        CaptureQueriesContext(connection) as ctx,
        pytest.raises(
            IncorrectSpanRangeError, match=re.escape(f"must be above the span's upper bound {rt.v(upper)}")
        ),
    ):
        span.append(to_value=rt.v(upper))
    assert counts(ctx) == (4, 1), "\n".join(sent(ctx))
    assert active(rt, span) == before
    assert span_range(rt, span) == (lower, upper)


@every_type
@pytest.mark.parametrize("call", ["append", "shift_upper_by_value", "shift_lower_by_value"])
def test_a_stale_instance_of_a_deleted_span_is_refused(rt, call) -> None:
    span = build(rt)
    stale = another(rt, span)
    key = span.pk
    span.delete()
    method = getattr(stale, call)
    args = {"delta_value": rt.d(1)} if call == "append" else {"delta_value": rt.d(-1)}
    with pytest.raises(SegmentOperationError, match=f"span {key} (is deleted|does not exist)"):
        method(**args)
    assert_valid(rt)


@every_type
def test_a_deferred_range_needs_no_more_round_trips(rt) -> None:
    span = build(rt)
    lower, upper = span_range(rt, span)
    only_key = rt.span.objects.only("pk").get(pk=span.pk)
    with CaptureQueriesContext(connection) as ctx:
        segment = only_key.append(delta_value=rt.d(1))
    assert counts(ctx) == (4, 1), "\n".join(sent(ctx))
    assert pair(rt, segment.segment_range) == (upper, upper + 1)
    assert pair(rt, only_key.current_range) == (lower, upper + 1)
    assert_valid(rt)


@every_type
def test_a_bound_shift_on_a_stale_instance_keeps_the_other_bound_as_it_is_now(rt) -> None:
    """The stale instance holds the old lower bound; writing it back would undo the
    other shift."""
    span = build(rt)
    stale = another(rt, span)
    lower, upper = span_range(rt, span)
    span.shift_lower_to_value(rt.v(lower + 2))
    with CaptureQueriesContext(connection) as ctx:
        stale.shift_upper_by_value(rt.d(2))
    assert counts(ctx) == (4, 1), "\n".join(sent(ctx))
    assert span_range(rt, span) == (lower + 2, upper + 2)
    assert pair(rt, stale.current_range) == (lower + 2, upper + 2)
    assert active(rt, span)[0][0] == lower + 2
    assert_valid(rt)


def test_a_stale_instance_sends_each_signal_once() -> None:
    span = build(INT)
    stale = another(INT, span)
    span.shift_lower_to_value(2)
    created: list[Any] = []
    updated: list[Any] = []

    def on_create(sender: Any, instance: Any, **kwargs: Any) -> None:
        created.append(instance.pk)

    def on_update(sender: Any, instance: Any, **kwargs: Any) -> None:
        updated.append(pair(INT, instance.current_range))

    signals.segment_post_create.connect(on_create, sender=INT.segment)
    signals.span_post_update.connect(on_update, sender=INT.span)
    try:
        new = stale.append(delta_value=3)
    finally:
        signals.segment_post_create.disconnect(on_create, sender=INT.segment)
        signals.span_post_update.disconnect(on_update, sender=INT.span)
    assert span_range(INT, span) == (2, 9)
    assert created == [new.pk]
    assert updated == [(2, 9)]
    assert active(INT, span) == [(2, 4), (4, 6), (6, 9)]
