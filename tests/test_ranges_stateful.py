"""Random sequences of every range operation against a plain-Python reference model.

The machine drives spans of every test model - among them IntSpan (segments tile the
span, soft delete), BigIntSpan (gaps allowed, hard delete) and DecimalSpan (no gaps
between segments, soft delete) - and after every step checks, with SQL of its own, that the
database holds exactly what the reference predicts and that every invariant holds.
An operation the reference predicts to be invalid must raise that typed error and
leave both sides unchanged.

Fast by default; ``SEGMENTS_STRESS=full`` (``make stress``) runs it much longer.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, replace

import pytest
from django.db import connection
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from django_segments.exceptions import (
    ContainmentError,
    GapError,
    IncorrectSegmentRangeError,
    IncorrectSpanRangeError,
    OverlapError,
    RangeValueError,
    SegmentOperationError,
    SegmentsError,
)
from tests.ranges_helpers import BIGINT, DATE, DATETIME, DECIMAL, INT, RangeType, audit, rows, span_range

FULL = os.environ.get("SEGMENTS_STRESS") == "full"
SETTINGS = settings(
    max_examples=300 if FULL else 25,
    stateful_step_count=60 if FULL else 20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: The spans of one run: IntSpan twice (tiling, soft delete), BigIntSpan (free, hard
#: delete), DecimalSpan (no segment gaps), and the date (tiling, hard) and datetime
#: (free, soft) models.
POOL = (INT, INT, BIGINT, DECIMAL, DATE, DATETIME)
values = st.integers(-8, 28)
lengths = st.integers(1, 8)
deltas = st.integers(-6, 6)
picks = st.integers(0, 50)

Seg = tuple[int, int]


class Expect(Exception):  # noqa: N818 - a signal inside the reference, not an error
    """The reference predicts this operation fails with ``error``."""

    def __init__(self, error: type[SegmentsError]) -> None:
        super().__init__(error.__name__)
        self.error = error


@dataclass(frozen=True)
class Ref:
    """Reference state of one span: its range, active segments, soft-deleted ranges."""

    rt: RangeType
    lo: int
    hi: int
    segs: tuple[Seg, ...] = ()
    gone: tuple[Seg, ...] = ()
    pk: int = 0

    def with_segs(self, segs: list[Seg], removed: list[Seg] = (), **changes: int) -> Ref:
        gone = tuple(sorted([*self.gone, *removed])) if self.rt.soft else ()
        return replace(self, segs=tuple(sorted(segs)), gone=gone, **changes).checked()

    def checked(self) -> Ref:
        """Raise `Expect` if Postgres must refuse this state (containment, tiling, gaps)."""
        segs, options = self.segs, self.rt.options
        if any(a < self.lo or b > self.hi for a, b in segs):
            raise Expect(ContainmentError)
        if not options.allow_span_gaps and (not segs or segs[0][0] != self.lo or segs[-1][1] != self.hi):
            raise Expect(GapError)
        if not options.allow_segment_gaps and any(x[1] != y[0] for x, y in itertools.pairwise(segs)):
            raise Expect(GapError)
        return self


# --- reference operations (pure; raise Expect for refused ones) ------------------------


def ref_append(ref: Ref, new_hi: int) -> Ref:
    if new_hi <= ref.hi:
        raise Expect(IncorrectSpanRangeError)
    return ref.with_segs([*ref.segs, (ref.hi, new_hi)], hi=new_hi)


def ref_shift_span(ref: Ref, d: int) -> Ref:
    return ref.with_segs([(a + d, b + d) for a, b in ref.segs], lo=ref.lo + d, hi=ref.hi + d)


def ref_span_lower(ref: Ref, v: int) -> Ref:
    if not v < ref.hi:
        raise Expect(IncorrectSpanRangeError)
    kept, removed = [], []
    for a, b in ref.segs:
        if b <= v:
            removed.append((a, b))
        elif a < v or (v < ref.lo and a == ref.lo):
            kept.append((v, b))
        else:
            kept.append((a, b))
    return ref.with_segs(kept, removed, lo=v)


def ref_span_upper(ref: Ref, v: int) -> Ref:
    if not ref.lo < v:
        raise Expect(IncorrectSpanRangeError)
    kept, removed = [], []
    for a, b in ref.segs:
        if a >= v:
            removed.append((a, b))
        elif b > v or (v > ref.hi and b == ref.hi):
            kept.append((a, v))
        else:
            kept.append((a, b))
    return ref.with_segs(kept, removed, hi=v)


def ref_create(ref: Ref, a: int, b: int) -> Ref:
    if any(x < b and a < y for x, y in ref.segs):
        raise Expect(OverlapError)
    return ref.with_segs([*ref.segs, (a, b)])


def ref_insert(ref: Ref, a: int, b: int) -> Ref:
    if not (ref.lo <= a and b <= ref.hi):
        raise Expect(IncorrectSegmentRangeError)
    kept, removed = [(a, b)], []
    for x, y in ref.segs:
        if a <= x and y <= b:
            removed.append((x, y))
        elif x < a and y > b:
            kept += [(x, a), (b, y)]
        elif x < b and a < y:
            kept.append((x, a) if x < a else (b, y))
        else:
            kept.append((x, y))
    return ref.with_segs(kept, removed)


def ref_split(ref: Ref, i: int, v: int) -> Ref:
    a, b = ref.segs[i]
    if not a < v < b:
        raise Expect(IncorrectSegmentRangeError)
    segs = list(ref.segs)
    segs[i : i + 1] = [(a, v), (v, b)]
    return ref.with_segs(segs)


def ref_merge(ref: Ref, i: int, into: str) -> Ref:
    j = i - 1 if into == "lower" else i + 1
    if not 0 <= j < len(ref.segs):
        raise Expect(SegmentOperationError)
    me, nb = ref.segs[i], ref.segs[j]
    segs = [s for k, s in enumerate(ref.segs) if k not in (i, j)]
    segs.append((min(me[0], nb[0]), max(me[1], nb[1])))
    return ref.with_segs(segs, [me])


def ref_shift_segment(ref: Ref, i: int, lo: int, hi: int) -> Ref:
    segs = list(ref.segs)
    me = segs[i]
    if not lo < hi:
        raise Expect(IncorrectSegmentRangeError)
    if i > 0 and (segs[i - 1][1] == me[0] or lo < segs[i - 1][1]):
        if not segs[i - 1][0] < lo:
            raise Expect(SegmentOperationError)
        segs[i - 1] = (segs[i - 1][0], lo)
    if i + 1 < len(segs) and (segs[i + 1][0] == me[1] or hi > segs[i + 1][0]):
        if not hi < segs[i + 1][1]:
            raise Expect(SegmentOperationError)
        segs[i + 1] = (hi, segs[i + 1][1])
    segs[i] = (lo, hi)
    return ref.with_segs(segs)


def ref_delete_segment(ref: Ref, i: int) -> Ref:
    return ref.with_segs([s for k, s in enumerate(ref.segs) if k != i], [ref.segs[i]])


SEGMENT_SHIFTS = (
    "shift_by_value",
    "shift_lower_by_value",
    "shift_lower_to_value",
    "shift_upper_by_value",
    "shift_upper_to_value",
)


class SpanMachine(RuleBasedStateMachine):
    """Operations on a pool of spans, each mirrored by a `Ref`."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[Ref] = []
        self.last = 0

    @initialize()
    def create_spans(self) -> None:
        for rt in POOL:
            self.refs.append(self._new_span(rt))

    def _new_span(self, rt: RangeType) -> Ref:
        span = rt.span.objects.create(current_range=rt.r(0, 12))
        return Ref(rt, 0, 12, ((0, 12),) if rt.tiling else (), (), span.pk)

    # --- plumbing --------------------------------------------------------------------

    def _span(self, k: int) -> tuple[int, Ref, object]:
        self.last = k % len(self.refs)
        ref = self.refs[self.last]
        return self.last, ref, ref.rt.span.objects.get(pk=ref.pk)

    def _segment(self, ref: Ref, span: object, i: int) -> object:
        found = list(span.get_active_segments())
        assert [(ref.rt.i(s.segment_range.lower), ref.rt.i(s.segment_range.upper)) for s in found] == list(
            ref.segs
        )
        return found[i]

    def _apply(self, k: int, expect, call) -> object:
        """Run ``call`` if ``expect()`` gives a new Ref, else assert it raises the predicted error."""
        try:
            new = expect()
        except Expect as predicted:
            event(f"{self.refs[k].rt}: refused with {predicted.error.__name__}")
            with pytest.raises(predicted.error):
                call()
            return None
        event(f"{self.refs[k].rt}: applied")
        result = call()
        self.refs[k] = new
        return result

    # --- span rules --------------------------------------------------------------------

    @rule(k=picks, how=st.sampled_from(["to", "delta"]), to=values)
    def append(self, k: int, how: str, to: int) -> None:
        k, ref, span = self._span(k)
        rt = ref.rt
        kwargs = {"to_value": rt.v(to)} if how == "to" else {"delta_value": rt.d(to - ref.hi)}
        new = self._apply(k, lambda: ref_append(ref, to), lambda: span.append(**kwargs))
        if new is not None:
            assert (rt.i(new.segment_range.lower), rt.i(new.segment_range.upper)) == (ref.hi, to)

    @rule(k=picks, both=st.booleans())
    def append_with_wrong_arguments(self, k: int, both: bool) -> None:
        _, ref, span = self._span(k)
        kwargs = {"to_value": ref.rt.v(ref.hi + 1), "delta_value": ref.rt.d(1)} if both else {}
        with pytest.raises(RangeValueError):
            span.append(**kwargs)

    @rule(k=picks, d=deltas)
    def shift_span(self, k: int, d: int) -> None:
        k, ref, span = self._span(k)
        self._apply(k, lambda: ref_shift_span(ref, d), lambda: span.shift_by_value(ref.rt.d(d)))

    @rule(k=picks, bound=st.sampled_from(["lower", "upper"]), by=st.booleans(), to=values)
    def shift_span_bound(self, k: int, bound: str, by: bool, to: int) -> None:
        k, ref, span = self._span(k)
        rt = ref.rt
        old = ref.lo if bound == "lower" else ref.hi
        method = getattr(span, f"shift_{bound}_{'by' if by else 'to'}_value")
        arg = rt.d(to - old) if by else rt.v(to)
        expect = ref_span_lower if bound == "lower" else ref_span_upper
        self._apply(k, lambda: expect(ref, to), lambda: method(arg))

    @rule(k=picks)
    def delete_span(self, k: int) -> None:
        k, ref, span = self._span(k)
        rt = ref.rt
        span.delete()
        if rt.options.soft_delete:
            assert rt.span.all_objects.get(pk=ref.pk).is_deleted
            left = rows(rt, ref.pk)
            assert all(row[3] for row in left)
            assert sorted((lo, hi) for _, lo, hi, _ in left) == sorted([*ref.segs, *ref.gone])
        else:
            assert not rt.span.all_objects.filter(pk=ref.pk).exists()
            assert rows(rt, ref.pk) == []
        self.refs[k] = self._new_span(rt)

    # --- segment rules -----------------------------------------------------------------

    @rule(k=picks, a=values, n=lengths)
    def create_segment(self, k: int, a: int, n: int) -> None:
        k, ref, span = self._span(k)
        rt = ref.rt
        self._apply(
            k,
            lambda: ref_create(ref, a, a + n),
            lambda: rt.segment.objects.create(span=span, segment_range=rt.r(a, a + n)),
        )

    @rule(k=picks, a=values, n=lengths)
    def insert(self, k: int, a: int, n: int) -> None:
        k, ref, span = self._span(k)
        rt = ref.rt
        new = self._apply(
            k,
            lambda: ref_insert(ref, a, a + n),
            lambda: rt.segment.insert(span=span, segment_range=(rt.v(a), rt.v(a + n))),
        )
        if new is not None:
            assert new.pk is not None

    @rule(k=picks, i=picks, v=values)
    def split(self, k: int, i: int, v: int) -> None:
        k, ref, span = self._span(k)
        if not ref.segs:
            return
        i %= len(ref.segs)
        segment = self._segment(ref, span, i)
        rt = ref.rt
        upper = self._apply(k, lambda: ref_split(ref, i, v), lambda: segment.split(rt.v(v)))
        if upper is not None:
            lower_pair = (rt.i(segment.segment_range.lower), rt.i(segment.segment_range.upper))
            upper_pair = (rt.i(upper.segment_range.lower), rt.i(upper.segment_range.upper))
            assert lower_pair[1] == upper_pair[0] == v
            assert (lower_pair[0], upper_pair[1]) == ref.segs[i]  # length preserved
            assert upper.previous_segment_id == segment.pk

    @rule(k=picks, i=picks, into=st.sampled_from(["lower", "upper"]))
    def merge(self, k: int, i: int, into: str) -> None:
        k, ref, span = self._span(k)
        if not ref.segs:
            return
        i %= len(ref.segs)
        segment = self._segment(ref, span, i)
        call = getattr(segment, f"merge_into_{into}")
        survivor = self._apply(k, lambda: ref_merge(ref, i, into), call)
        if survivor is not None:
            rt = ref.rt
            j = i - 1 if into == "lower" else i + 1
            me, nb = ref.segs[i], ref.segs[j]
            got = (rt.i(survivor.segment_range.lower), rt.i(survivor.segment_range.upper))
            assert got == (min(me[0], nb[0]), max(me[1], nb[1]))
            if me[0] == nb[1] or me[1] == nb[0]:  # touching: length preserved
                assert got[1] - got[0] == (me[1] - me[0]) + (nb[1] - nb[0])

    @rule(k=picks, i=picks, method=st.sampled_from(SEGMENT_SHIFTS), x=values, d=deltas)
    def shift_segment(self, k: int, i: int, method: str, x: int, d: int) -> None:
        k, ref, span = self._span(k)
        if not ref.segs:
            return
        i %= len(ref.segs)
        segment = self._segment(ref, span, i)
        rt = ref.rt
        lo, hi = ref.segs[i]
        new_bounds = {
            "shift_by_value": ((lo + d, hi + d), rt.d(d)),
            "shift_lower_by_value": ((lo + d, hi), rt.d(d)),
            "shift_lower_to_value": ((x, hi), rt.v(x)),
            "shift_upper_by_value": ((lo, hi + d), rt.d(d)),
            "shift_upper_to_value": ((lo, x), rt.v(x)),
        }
        (new_lo, new_hi), arg = new_bounds[method]
        self._apply(
            k,
            lambda: ref_shift_segment(ref, i, new_lo, new_hi),
            lambda: getattr(segment, method)(arg),
        )

    @rule(k=picks, i=picks)
    def delete_segment(self, k: int, i: int) -> None:
        k, ref, span = self._span(k)
        if not ref.segs:
            return
        i %= len(ref.segs)
        segment = self._segment(ref, span, i)
        self._apply(k, lambda: ref_delete_segment(ref, i), segment.delete)

    @rule(k=picks, i=picks, which=st.integers(0, 4))
    def wrong_value_type(self, k: int, i: int, which: int) -> None:
        _, ref, span = self._span(k)
        calls = [
            lambda: span.append(to_value=float(ref.hi + 1)),
            lambda: span.shift_lower_to_value(True),
            lambda: span.shift_by_value(0.5),
            lambda: ref.rt.segment.insert(span=span, segment_range=(ref.lo + 0.5, ref.hi)),
        ]
        if ref.segs:
            segment = self._segment(ref, span, i % len(ref.segs))
            calls.append(lambda: segment.split(float(ref.segs[i % len(ref.segs)][0]) + 0.5))
        with pytest.raises(RangeValueError):
            calls[which % len(calls)]()

    # --- checks ------------------------------------------------------------------------

    @invariant()
    def database_matches_reference(self) -> None:
        if not self.refs:
            return
        ref = self.refs[self.last]
        rt = ref.rt
        # The spans of this example only: the examples of one run share a transaction,
        # so whole tables grow with every example (and the run would slow down with them).
        assert audit(rt, spans=[r.pk for r in self.refs if r.rt is rt]) == {}
        found = rows(rt, ref.pk)
        assert [(lo, hi) for _, lo, hi, is_deleted in found if not is_deleted] == list(ref.segs)
        assert sorted((lo, hi) for _, lo, hi, is_deleted in found if is_deleted) == list(ref.gone)
        assert all(lo < hi for _, lo, hi, _ in found)
        active_ids = [row[0] for row in found if not row[3]]
        if active_ids:  # navigation agrees with range order (one probe, not one per segment)
            last = rt.segment.objects.get(pk=active_ids[-1])
            assert last.previous_segment_id == (active_ids[-2] if len(active_ids) > 1 else None)
        assert span_range(rt, ref.pk) == (ref.lo, ref.hi)


@pytest.mark.stress
@pytest.mark.django_db
def test_random_operation_sequences_match_the_reference() -> None:
    run_state_machine_as_test(SpanMachine, settings=SETTINGS)


def test_reference_model_examples() -> None:
    """The reference itself, on the examples of test_ranges_operations (a check of the checker)."""
    three = Ref(INT, 0, 12, ((0, 4), (4, 8), (8, 12)))
    assert ref_span_lower(three, 9).segs == ((9, 12),)
    assert ref_span_lower(three, 9).gone == ((0, 4), (4, 8))
    assert ref_span_upper(three, 15).segs == ((0, 4), (4, 8), (8, 15))
    assert ref_insert(three, 5, 6).segs == ((0, 4), (4, 5), (5, 6), (6, 8), (8, 12))
    assert ref_merge(three, 1, "upper").segs == ((0, 4), (4, 12))
    assert ref_shift_segment(three, 1, 5, 9).segs == ((0, 5), (5, 9), (9, 12))
    for call, error in [
        (lambda: ref_delete_segment(three, 1), GapError),
        (lambda: ref_shift_segment(three, 0, 1, 4), GapError),
        (lambda: ref_shift_segment(three, 2, 8, 13), ContainmentError),
        (lambda: ref_shift_segment(three, 1, 4, 12), SegmentOperationError),
        (lambda: ref_merge(three, 0, "lower"), SegmentOperationError),
        (lambda: ref_split(three, 0, 4), IncorrectSegmentRangeError),
        (lambda: ref_create(Ref(BIGINT, 0, 12, ((0, 4),)), 3, 5), OverlapError),
        (lambda: ref_create(Ref(DECIMAL, 0, 12, ((0, 4),)), 5, 6), GapError),
    ]:
        with pytest.raises(Expect) as info:
            call()
        assert info.value.error is error


@pytest.mark.django_db
def test_the_audit_finds_a_violation_in_the_spans_it_is_given() -> None:
    """The machine's audit, restricted to its spans, still sees what the whole-table audit
    sees there (checks deferred, so the invalid state lives until the test rolls back)."""
    bad, good = (INT.span.objects.create(current_range=INT.r(0, 12)) for _ in range(2))
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute(
            f'UPDATE "{INT.seg_table}" SET segment_range = %s WHERE span_id = %s', [INT.r(20, 30), bad.pk]
        )
    whole = audit(INT)
    assert whole["containment"] == [bad.pk]
    assert audit(INT, spans=[bad.pk, good.pk]) == whole
    assert audit(INT, spans=[good.pk]) == {}
    with connection.cursor() as cursor:  # Django checks deferred constraints at teardown
        cursor.execute(
            f'UPDATE "{INT.seg_table}" SET segment_range = %s WHERE span_id = %s', [INT.r(0, 12), bad.pk]
        )
    assert audit(INT, spans=[bad.pk]) == {}
