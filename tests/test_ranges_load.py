"""``Segment.objects.load``: the bulk path, one ``COPY``, checked like any other write."""

from __future__ import annotations

import pytest

import django_segments as ds
from django_segments.exceptions import GapError, OverlapError
from tests.ranges_helpers import BIGINT, DATE, DECIMAL, INT, active, assert_valid

pytestmark = pytest.mark.django_db


def test_load_inserts_every_row_and_the_span_stays_valid() -> None:
    span = BIGINT.span.objects.create(current_range=BIGINT.r(0, 100))
    rows = [(span.pk, BIGINT.r(10 * i, 10 * i + 5), f"s{i}") for i in range(10)]
    assert BIGINT.segment.objects.load(rows, fields=("span", "segment_range", "label")) == 10
    assert active(BIGINT, span) == [(10 * i, 10 * i + 5) for i in range(10)]
    assert sorted(BIGINT.segment.objects.values_list("label", flat=True)) == sorted(
        f"s{i}" for i in range(10)
    )
    assert_valid(BIGINT)


def test_fields_not_named_get_their_defaults() -> None:
    """``IntSegment.weight`` has a Python default, ``label`` a blank one."""
    span = INT.span.objects.create(current_range=INT.r(0, 10))
    INT.segment.objects.filter(span=span).update(segment_range=INT.r(0, 4))
    INT.segment.objects.load([(span.pk, INT.r(4, 10))])
    loaded = INT.segment.objects.get(span=span, segment_range=INT.r(4, 10))
    assert (loaded.weight, loaded.label) == (1, "")
    assert_valid(INT)


def test_an_overlapping_load_raises_and_loads_nothing() -> None:
    span = BIGINT.span.objects.create(current_range=BIGINT.r(0, 100))
    with pytest.raises(OverlapError):
        BIGINT.segment.objects.load([(span.pk, BIGINT.r(0, 10)), (span.pk, BIGINT.r(5, 15))])
    assert active(BIGINT, span) == []


def test_a_load_that_leaves_a_gap_raises_and_loads_nothing() -> None:
    span = DECIMAL.span.objects.create(current_range=DECIMAL.r(0, 100))
    with pytest.raises(GapError, match="gap"):
        DECIMAL.segment.objects.load([(span.pk, DECIMAL.r(0, 4)), (span.pk, DECIMAL.r(8, 12))])
    assert active(DECIMAL, span) == []


def test_inside_defer_checks_the_load_is_checked_at_the_end_of_the_block() -> None:
    span = DECIMAL.span.objects.create(current_range=DECIMAL.r(0, 100))
    with ds.defer_checks():
        DECIMAL.segment.objects.load([(span.pk, DECIMAL.r(0, 4)), (span.pk, DECIMAL.r(8, 12))])
        DECIMAL.segment.objects.load([(span.pk, DECIMAL.r(4, 8))])  # fills the gap
    assert active(DECIMAL, span) == [(0, 4), (4, 8), (8, 12)]
    assert_valid(DECIMAL)


def test_tiling_spans_created_in_bulk_and_loaded_in_one_transaction() -> None:
    """The example of the operations docs: spans from ``bulk_create`` (no covering segment:
    ``save()`` is not called), then their segments, as range objects, in one transaction."""
    from django.db import transaction

    with transaction.atomic():
        spans = DATE.span.objects.bulk_create(
            DATE.span(current_range=DATE.r(0, 10), initial_range=DATE.r(0, 10)) for _ in range(3)
        )
        loaded = DATE.segment.objects.load(
            [(span.pk, DATE.r(0, 4)) for span in spans] + [(span.pk, DATE.r(4, 10)) for span in spans]
        )
    assert loaded == 6
    assert [active(DATE, span) for span in spans] == [[(0, 4), (4, 10)]] * 3
    assert_valid(DATE)


def test_tiling_spans_left_uncovered_by_a_load_are_refused() -> None:
    from django.db import transaction

    def load_half() -> None:
        with transaction.atomic():
            (span,) = DATE.span.objects.bulk_create(
                [DATE.span(current_range=DATE.r(0, 10), initial_range=DATE.r(0, 10))]
            )
            DATE.segment.objects.load([(span.pk, DATE.r(0, 4))])

    with pytest.raises(ds.GapError):
        load_half()
    assert not DATE.span.objects.exists()
