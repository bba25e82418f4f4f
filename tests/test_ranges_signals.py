"""Signals nest: general pre, specific pre, the change, specific post, general post.

Post signals are sent only when the change succeeded (and passed the database checks).
Every operation also sends create signals for the segments it creates and delete (or
soft delete) signals for those it removes, with those instances; for rows the statement
picks itself both are sent once it ran.
"""

from __future__ import annotations

import pytest
from django.dispatch import Signal

from django_segments import signals
from django_segments.exceptions import (
    ContainmentError,
    GapError,
    IncorrectSegmentRangeError,
    SegmentOperationError,
)
from tests.ranges_helpers import BIGINT, DATETIME, INT, active, make_span

#: The signals of span and segment operations (``user_segment_refreshed`` is the user
#: segments' change feed).
ALL_SIGNALS = {
    name: value
    for name, value in vars(signals).items()
    if isinstance(value, Signal) and name != "user_segment_refreshed"
}


def test_there_are_26_signals() -> None:
    assert len(ALL_SIGNALS) == 26
    for prefix in ("span", "segment"):
        for event in ("create", "update", "delete", "soft_delete", "delete_or_soft_delete"):
            assert f"{prefix}_pre_{event}" in ALL_SIGNALS
            assert f"{prefix}_post_{event}" in ALL_SIGNALS
    for event in ("split", "merge", "insert"):
        assert {f"segment_pre_{event}", f"segment_post_{event}"} <= set(ALL_SIGNALS)


@pytest.fixture
def sent():
    """Every signal sent during the test, as ``(name, sender, instance, kwargs)``."""
    log: list[tuple] = []
    receivers = {}
    for name, signal in ALL_SIGNALS.items():

        def receiver(sender, instance, signal=None, _name=name, **kwargs):
            log.append((_name, sender, instance, kwargs))

        receivers[name] = receiver
        signal.connect(receiver, weak=False, dispatch_uid=f"ranges-test-{name}")
    yield log
    for name, signal in ALL_SIGNALS.items():
        signal.disconnect(dispatch_uid=f"ranges-test-{name}")


def names(log) -> list[str]:
    return [entry[0] for entry in log]


def nested(prefix: str, general: str, specific: str | None = None) -> list[str]:
    events = [general] if specific is None else [general, specific]
    return [f"{prefix}_pre_{e}" for e in events] + [f"{prefix}_post_{e}" for e in reversed(events)]


pytestmark = pytest.mark.django_db


def test_segment_soft_delete(sent) -> None:
    span = make_span(DATETIME, 0, 12, (4,))
    segment = span.last_segment
    sent.clear()
    segment.delete()
    assert names(sent) == nested("segment", "delete_or_soft_delete", "soft_delete")
    assert all(entry[1] is DATETIME.segment and entry[2] is segment for entry in sent)


def test_segment_hard_delete(sent) -> None:
    span = make_span(BIGINT, 0, 12, (4,))
    segment = span.last_segment
    sent.clear()
    segment.delete()
    assert names(sent) == nested("segment", "delete_or_soft_delete", "delete")
    assert all(entry[1] is BIGINT.segment for entry in sent)


def test_span_soft_delete(sent) -> None:
    """Each segment the soft delete removes gets its soft delete signals, inside the span's."""
    span = make_span(INT, 0, 12, (4,))
    ids = [segment.pk for segment in span.get_active_segments()]
    sent.clear()
    span.delete()
    outer = nested("span", "delete_or_soft_delete", "soft_delete")
    inner = nested("segment", "delete_or_soft_delete", "soft_delete")
    assert names(sent) == [*outer[:2], *inner, *inner, *outer[2:]]
    assert all(entry[1] is INT.span and entry[2] is span for entry in sent if entry[0].startswith("span_"))
    segments = [entry for entry in sent if entry[0].startswith("segment_")]
    assert all(entry[1] is INT.segment and entry[2].is_deleted for entry in segments)
    assert sorted({entry[2].pk for entry in segments}) == sorted(ids)


def test_span_hard_delete(sent) -> None:
    """Segments go by Django's cascade; each gets its delete signals, inside the span's,
    once the delete ran (as for other rows a statement picks itself)."""
    span = make_span(BIGINT, 0, 12, (4,))
    ids = [segment.pk for segment in span.get_segments()]
    sent.clear()
    span.delete()
    outer = nested("span", "delete_or_soft_delete", "delete")
    inner = nested("segment", "delete_or_soft_delete", "delete")
    assert names(sent) == [*outer[:2], *inner, *inner, *outer[2:]]
    segments = [entry for entry in sent if entry[0].startswith("segment_")]
    assert all(entry[1] is BIGINT.segment for entry in segments)
    assert sorted({entry[2].pk for entry in segments}) == sorted(ids)
    assert not BIGINT.segment.all_objects.filter(pk__in=ids).exists()


def test_split(sent) -> None:
    """The new upper piece gets its create signals, inside the split's."""
    segment = make_span(INT, 0, 12).first_segment
    sent.clear()
    piece = segment.split(5)
    own, create = nested("segment", "update", "split"), nested("segment", "create")
    assert names(sent) == [*own[:2], *create, *own[2:]]
    assert all(entry[2] is segment and entry[3] == {"split_value": 5} for entry in sent if entry[0] in own)
    created = [entry for entry in sent if entry[0] in create]
    assert all(entry[2] is piece and entry[3] == {} for entry in created)
    assert piece.pk is not None
    assert (piece.segment_range.lower, piece.segment_range.upper) == (5, 12)


def test_merge(sent) -> None:
    """The merged segment is removed: its (soft) delete signals come inside the merge's."""
    span = make_span(INT, 0, 12, (4,))
    segment = span.last_segment
    sent.clear()
    segment.merge_into_lower()
    removed = nested("segment", "delete_or_soft_delete", "soft_delete")
    merge = nested("segment", "update", "merge")
    assert names(sent) == [*merge[:2], *removed, *merge[2:]]
    assert all(entry[2] is segment for entry in sent)
    assert all(entry[3] == {"into": "lower"} for entry in sent if entry[0] in merge)
    assert segment.deleted_at is not None


def test_insert(sent) -> None:
    span = make_span(INT, 0, 12)
    sent.clear()
    new = INT.segment.insert(span=span, segment_range=(2, 5))
    # [2, 5) cuts [0, 12) in two: the upper piece [5, 12) is created by the statement.
    own = nested("segment", "create", "insert")
    assert names(sent) == [*own[:2], *nested("segment", "create"), *own[2:]]
    assert all(entry[2] is new for entry in [*sent[:2], *sent[-2:]])
    cut = sent[2][2]
    assert sent[3][2].pk == cut.pk is not None
    assert (cut.segment_range.lower, cut.segment_range.upper) == (5, 12)


def test_rows_a_bound_shift_removes_get_their_delete_signals(sent) -> None:
    span = make_span(BIGINT, 0, 12, (4, 8))
    first = span.first_segment
    sent.clear()
    span.shift_lower_to_value(BIGINT.v(9))
    removed = nested("segment", "delete_or_soft_delete", "delete")
    assert names(sent) == ["span_pre_update", *removed, *removed, "span_post_update"]
    assert {entry[2].pk for entry in sent if entry[0] in removed} == {first.pk, first.pk + 1}
    assert all(isinstance(entry[2], BIGINT.segment) for entry in sent if entry[0] in removed)


def test_nobody_listening_to_picked_rows_builds_no_instances(monkeypatch) -> None:
    """Instances of rows a statement picked are built only for receivers."""
    from django_segments.ranges import wire

    built: list[int] = []
    real = wire.instances
    monkeypatch.setattr(wire, "instances", lambda *args: built.append(len(args[2])) or real(*args))
    span = make_span(BIGINT, 0, 12, (4, 8))
    span.shift_lower_to_value(BIGINT.v(9))
    assert built == []


def empty_span(rt=BIGINT):
    return rt.span.objects.create(current_range=rt.r(0, 12))


def test_create(sent) -> None:
    span = empty_span()
    sent.clear()
    segment = BIGINT.segment.objects.create(span=span, segment_range=BIGINT.r(0, 3))
    assert names(sent) == nested("segment", "create")
    assert sent[0][2] is segment


def test_span_create_nests_the_covering_segment(sent) -> None:
    INT.span.objects.create(current_range=(0, 5))
    assert names(sent) == ["span_pre_create", *nested("segment", "create"), "span_post_create"]


def test_update(sent) -> None:
    span = empty_span()
    segment = BIGINT.segment.objects.create(span=span, segment_range=BIGINT.r(0, 3))
    sent.clear()
    segment.label = "x"
    segment.save()
    assert names(sent) == nested("segment", "update")
    sent.clear()
    span.save()
    assert names(sent) == nested("span", "update")


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda span: span.shift_by_value(1), nested("span", "update")),
        (lambda span: span.shift_upper_to_value(20), nested("span", "update")),
        (
            lambda span: span.append(delta_value=2),
            ["span_pre_update", *nested("segment", "create"), "span_post_update"],
        ),
        (lambda span: span.first_segment.shift_upper_by_value(1), nested("segment", "update")),
    ],
    ids=["shift_by_value", "shift_upper_to_value", "append", "segment-shift"],
)
def test_operations_send_update(sent, call, expected) -> None:
    span = make_span(INT, 0, 12, (4,))
    sent.clear()
    call(span)
    assert names(sent) == expected


# --- failures: pre signals may have been sent, post signals never ---------------------


@pytest.mark.parametrize(
    ("make", "call", "error", "pre"),
    [
        (
            lambda: make_span(INT, 0, 12),
            lambda span: span.first_segment.split(12),
            IncorrectSegmentRangeError,
            ["segment_pre_update", "segment_pre_split", "segment_pre_create"],
        ),
        (
            lambda: make_span(INT, 0, 12),
            lambda span: span.first_segment.merge_into_upper(),
            SegmentOperationError,
            [
                "segment_pre_update",
                "segment_pre_merge",
                "segment_pre_delete_or_soft_delete",
                "segment_pre_soft_delete",
            ],
        ),
        (
            lambda: make_span(INT, 0, 12, (4,)),
            lambda span: span.last_segment.delete(),
            GapError,
            ["segment_pre_delete_or_soft_delete", "segment_pre_soft_delete"],
        ),
        (
            empty_span,
            lambda span: BIGINT.segment.objects.create(span=span, segment_range=BIGINT.r(10, 14)),
            ContainmentError,
            ["segment_pre_create"],
        ),
        (
            lambda: make_span(INT, 0, 12, (4,)),
            lambda span: span.last_segment.shift_upper_by_value(1),
            ContainmentError,
            ["segment_pre_update"],
        ),
        (
            lambda: make_span(INT, 0, 12, (4,)),
            # The range is checked against the span row read with the lock, which
            # travels with the writing statement: the pre signals are sent first.
            lambda span: INT.segment.insert(span=span, segment_range=(10, 14)),
            IncorrectSegmentRangeError,
            ["segment_pre_create", "segment_pre_insert"],
        ),
    ],
    ids=["split", "merge", "delete", "create", "shift", "insert"],
)
def test_post_signals_are_not_sent_on_failure(sent, make, call, error, pre) -> None:
    span = make()
    before = active(INT if isinstance(span, INT.span) else BIGINT, span)
    sent.clear()
    with pytest.raises(error):
        call(span)
    assert names(sent) == pre
    assert active(INT if isinstance(span, INT.span) else BIGINT, span) == before


@pytest.mark.django_db(transaction=True)
def test_post_create_is_not_sent_when_the_commit_check_fails(sent) -> None:
    """In autocommit the check runs before post_create, not at the COMMIT after it."""
    span = empty_span()
    sent.clear()
    with pytest.raises(ContainmentError):
        BIGINT.segment.objects.create(span=span, segment_range=BIGINT.r(11, 13))
    assert names(sent) == ["segment_pre_create"]
    assert BIGINT.segment.objects.count() == 0
