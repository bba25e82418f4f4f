"""Operations that need the span's bounds (``append``, the span bound shifts) assume the
instance holds the current ones and send the lock with their writes, in one round trip;
the span row read under the lock decides. A stale instance, a refusal that stale bounds
may explain and a deferred ``current_range`` take the locked path: the result is the one
the current bounds give, never the one the instance assumed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.db.models.signals import post_save
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
    assert pair(rt, segment.segment_range) == (upper, upper + 3)
    assert span_range(rt, span) == (lower, upper + 3)
    assert pair(rt, stale.current_range) == (lower, upper + 3)
    assert active(rt, span)[-2:] == [(upper - 2, upper), (upper, upper + 3)]
    assert_valid(rt)
    # The assumed bounds were wrong: the first string (lock and writes) was undone (here
    # its new segment overlapped the other append's), then the lock alone, then the writes.
    strings = sent(ctx)
    assert "FOR NO KEY UPDATE; INSERT INTO" in strings[0], strings
    assert strings[-2].endswith("FOR NO KEY UPDATE"), strings
    assert strings[-1].startswith("INSERT INTO"), strings
    assert any(q["sql"].startswith("ROLLBACK TO SAVEPOINT") for q in ctx.captured_queries)


@every_type
def test_a_refusal_that_stale_bounds_explain_is_not_the_answer(rt) -> None:
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
def test_an_append_refused_with_current_bounds_is_refused_at_once(rt) -> None:
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
    # Nothing was written; the span row was read once, to tell whether the refusal stands.
    assert counts(ctx) == (1, 1), "\n".join(sent(ctx))
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
def test_a_deferred_range_takes_the_locked_path(rt) -> None:
    span = build(rt)
    lower, upper = span_range(rt, span)
    only_key = rt.span.objects.only("pk").get(pk=span.pk)
    with CaptureQueriesContext(connection) as ctx:
        segment = only_key.append(delta_value=rt.d(1))
    strings = sent(ctx)
    assert counts(ctx)[1] == 2, "\n".join(strings)
    assert strings[0].endswith("FOR NO KEY UPDATE")
    assert pair(rt, segment.segment_range) == (upper, upper + 1)
    assert pair(rt, only_key.current_range) == (lower, upper + 1)
    assert_valid(rt)


@every_type
def test_a_bound_shift_on_a_stale_instance_keeps_the_other_bound_as_it_is_now(rt) -> None:
    """The stale instance assumes the old lower bound; writing it back would undo the
    other shift."""
    span = build(rt)
    stale = another(rt, span)
    lower, upper = span_range(rt, span)
    span.shift_lower_to_value(rt.v(lower + 2))
    stale.shift_upper_by_value(rt.d(2))
    assert span_range(rt, span) == (lower + 2, upper + 2)
    assert pair(rt, stale.current_range) == (lower + 2, upper + 2)
    assert active(rt, span)[0][0] == lower + 2
    assert_valid(rt)


@every_type
def test_a_bound_shift_on_a_current_instance_is_one_round_trip(rt) -> None:
    span = build(rt)
    lower, upper = span_range(rt, span)
    with CaptureQueriesContext(connection) as ctx:
        span.shift_lower_to_value(rt.v(lower + 1))
    assert counts(ctx)[1] == 1, "\n".join(sent(ctx))
    assert span_range(rt, span) == (lower + 1, upper)
    assert_valid(rt)


def test_an_undone_attempt_sends_no_post_signals() -> None:
    """The other change leaves the stale instance's writes valid, so they pass the check;
    the span row read under the lock undoes them before Django's ``post_save`` and the
    operation's post signals: each is sent once, for what stays."""
    span = build(INT)
    stale = another(INT, span)
    span.shift_lower_to_value(2)
    saved: list[Any] = []
    updated: list[Any] = []

    def on_save(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
        saved.append((created, pair(INT, instance.segment_range)))

    def on_update(sender: Any, instance: Any, **kwargs: Any) -> None:
        updated.append(pair(INT, instance.current_range))

    post_save.connect(on_save, sender=INT.segment)
    signals.span_post_update.connect(on_update, sender=INT.span)
    try:
        stale.append(delta_value=3)
    finally:
        post_save.disconnect(on_save, sender=INT.segment)
        signals.span_post_update.disconnect(on_update, sender=INT.span)
    assert span_range(INT, span) == (2, 9)
    assert saved == [(True, (6, 9))]
    assert updated == [(2, 9)]
    assert active(INT, span) == [(2, 4), (4, 6), (6, 9)]
