"""Bad range input: every case gets a typed error naming the argument, and changes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange, NumericRange

from django_segments.exceptions import (
    GapError,
    IncorrectSegmentRangeError,
    IncorrectSpanRangeError,
    RangeValueError,
    SegmentsError,
)
from tests.stress.audit import audit, snapshot
from tests.stress.conftest import count, tables_of
from tests.testapp.models import (
    BigIntSegment,
    BigIntSpan,
    DateSpan,
    DateTimeSegment,
    DateTimeSpan,
    DecimalSegment,
    DecimalSpan,
    IntSegment,
    IntSpan,
)

pytestmark = [pytest.mark.stress, pytest.mark.django_db]

ALL = [tables_of(m) for m in (IntSpan, DecimalSpan, BigIntSpan, DateSpan, DateTimeSpan)]
UTC = dt.UTC
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
NAIVE = dt.datetime(2024, 1, 1, 12)  # the point of some cases


class World:
    """One span of each model, most cut in two, for the cases to abuse."""

    def __init__(self) -> None:
        self.int = IntSpan.objects.create(current_range=(0, 100))
        self.int_seg = self.int.first_segment
        self.int_seg.split(50)
        self.dec = DecimalSpan.objects.create(current_range=(0, 100))
        self.dec_seg = DecimalSegment.objects.create(span=self.dec, segment_range=(0, 50))
        DecimalSegment.objects.create(span=self.dec, segment_range=(50, 100))
        self.big = BigIntSpan.objects.create(current_range=(0, 100))
        self.big_seg = BigIntSegment.objects.create(span=self.big, segment_range=(10, 20))
        self.date = DateSpan.objects.create(current_range=(dt.date(2024, 1, 1), dt.date(2024, 2, 1)))
        self.dt = DateTimeSpan.objects.create(current_range=(T0, T0 + dt.timedelta(days=10)))
        self.dt_seg = DateTimeSegment.objects.create(
            span=self.dt, segment_range=(T0, T0 + dt.timedelta(days=1))
        )


def _resave(segment: Any, value: Any) -> None:
    segment.segment_range = value
    segment.save()


# action, expected type, text the message must contain (the argument or field)
CASES: list[Any] = [
    # inverted bounds
    pytest.param(
        lambda w: IntSpan.objects.create(current_range=(10, 5)),
        IncorrectSpanRangeError,
        "current_range",
        id="span inverted",
    ),
    pytest.param(
        lambda w: IntSegment(span=w.int, segment_range=(60, 55)).save(),
        IncorrectSegmentRangeError,
        "segment_range",
        id="segment inverted",
    ),
    pytest.param(
        lambda w: BigIntSegment.insert(span=w.big, segment_range=(40, 30)),
        RangeValueError,
        "segment_range",
        id="insert inverted",
    ),
    pytest.param(
        lambda w: _resave(w.big_seg, (20, 10)),
        IncorrectSegmentRangeError,
        "segment_range",
        id="resave inverted",
    ),
    pytest.param(
        lambda w: w.int.append(to_value=50), IncorrectSpanRangeError, "append()", id="append to below upper"
    ),
    pytest.param(
        lambda w: w.int.shift_lower_to_value(200),
        IncorrectSpanRangeError,
        "shift_lower_to_value()",
        id="shift_lower_to_value past upper",
    ),
    pytest.param(
        lambda w: w.big.shift_upper_to_value(-5),
        IncorrectSpanRangeError,
        "shift_upper_to_value()",
        id="shift_upper_to_value below lower",
    ),
    pytest.param(
        lambda w: w.big_seg.shift_lower_to_value(30),
        IncorrectSegmentRangeError,
        "shift_lower_to_value()",
        id="segment shift_lower_to_value past upper",
    ),
    pytest.param(
        lambda w: w.big_seg.shift_upper_by_value(-15),
        IncorrectSegmentRangeError,
        "shift_upper_by_value()",
        id="segment shift_upper_by_value below lower",
    ),
    pytest.param(lambda w: w.int_seg.split(75), IncorrectSegmentRangeError, "split", id="split outside"),
    pytest.param(
        lambda w: list(IntSegment.objects.overlapping((5, 1))),
        RangeValueError,
        "overlapping() range",
        id="overlapping inverted",
    ),
    # empty ranges
    pytest.param(
        lambda w: BigIntSpan.objects.create(current_range=NumericRange(empty=True)),
        IncorrectSpanRangeError,
        "current_range",
        id="span empty",
    ),
    pytest.param(
        lambda w: BigIntSpan.objects.create(current_range=(7, 7)),
        IncorrectSpanRangeError,
        "current_range",
        id="span zero width",
    ),
    pytest.param(
        lambda w: BigIntSegment(span=w.big, segment_range=NumericRange(empty=True)).save(),
        IncorrectSegmentRangeError,
        "segment_range",
        id="segment empty",
    ),
    pytest.param(
        lambda w: BigIntSegment.insert(span=w.big, segment_range=(30, 30)),
        RangeValueError,
        "segment_range",
        id="insert zero width",
    ),
    pytest.param(
        lambda w: w.int_seg.split(0), IncorrectSegmentRangeError, "split", id="split at lower bound"
    ),
    # infinite bounds
    pytest.param(
        lambda w: IntSpan.objects.create(current_range=NumericRange(0, None)),
        IncorrectSpanRangeError,
        "current_range",
        id="span upper infinite",
    ),
    pytest.param(
        lambda w: BigIntSegment(span=w.big, segment_range=NumericRange(None, 5)).save(),
        IncorrectSegmentRangeError,
        "segment_range",
        id="segment lower infinite",
    ),
    pytest.param(
        lambda w: BigIntSegment.insert(span=w.big, segment_range=NumericRange(30, None)),
        RangeValueError,
        "segment_range",
        id="insert infinite",
    ),
    pytest.param(
        lambda w: w.dec.append(to_value=Decimal("Infinity")),
        RangeValueError,
        "to_value",
        id="append Infinity",
    ),
    pytest.param(
        lambda w: w.dec.shift_by_value(Decimal("-Infinity")),
        RangeValueError,
        "delta_value",
        id="span shift -Infinity",
    ),
    pytest.param(
        lambda w: DateTimeSpan.objects.create(current_range=DateTimeTZRange(T0, None)),
        IncorrectSpanRangeError,
        "current_range",
        id="datetime span infinite",
    ),
    # wrong Python types
    pytest.param(lambda w: w.int_seg.split("25"), RangeValueError, "split_value", id="split str"),
    pytest.param(lambda w: w.int_seg.split(25.5), RangeValueError, "split_value", id="split float"),
    pytest.param(lambda w: w.int_seg.split(True), RangeValueError, "split_value", id="split bool"),
    pytest.param(
        lambda w: w.int_seg.split(Decimal(25)), RangeValueError, "split_value", id="split Decimal on integer"
    ),
    pytest.param(
        lambda w: w.dt_seg.split(dt.date(2024, 1, 1)),
        RangeValueError,
        "split_value",
        id="split date on datetime",
    ),
    pytest.param(
        lambda w: w.int.append(delta_value="5"), RangeValueError, "delta_value", id="append delta str"
    ),
    pytest.param(
        lambda w: w.int.append(to_value=150, delta_value=5), RangeValueError, "append()", id="append both"
    ),
    pytest.param(lambda w: w.int.shift_by_value(1.5), RangeValueError, "delta_value", id="span shift float"),
    pytest.param(
        lambda w: w.dt.shift_by_value(5), RangeValueError, "delta_value", id="span shift int on datetime"
    ),
    pytest.param(
        lambda w: w.date.shift_by_value(dt.timedelta(hours=3)),
        RangeValueError,
        "delta_value",
        id="span shift hours on date",
    ),
    pytest.param(
        lambda w: w.big_seg.shift_by_value(None), RangeValueError, "delta_value", id="segment shift None"
    ),
    pytest.param(
        lambda w: w.big_seg.shift_lower_to_value("3"),
        RangeValueError,
        "lower",
        id="segment shift_lower_to_value str",
    ),
    pytest.param(
        lambda w: w.big.shift_upper_to_value([200]),
        RangeValueError,
        "to_value",
        id="span shift_upper_to_value list",
    ),
    pytest.param(
        lambda w: IntSpan.objects.create(current_range="[0,10)"),
        IncorrectSpanRangeError,
        "current_range",
        id="span range str",
    ),
    pytest.param(
        lambda w: BigIntSegment(span=w.big, segment_range=(1, 2, 3)).save(),
        IncorrectSegmentRangeError,
        "segment_range",
        id="segment range triple",
    ),
    pytest.param(
        lambda w: BigIntSegment.insert(span=w.big, segment_range=(T0, T0)),
        RangeValueError,
        "segment_range",
        id="insert datetime into integer",
    ),
    pytest.param(
        lambda w: list(IntSegment.objects.containing("5")),
        RangeValueError,
        "containing() value",
        id="containing str",
    ),
    # NaN decimals
    pytest.param(lambda w: w.dec_seg.split(Decimal("NaN")), RangeValueError, "split_value", id="split NaN"),
    pytest.param(lambda w: w.dec_seg.split(Decimal("sNaN")), RangeValueError, "split_value", id="split sNaN"),
    pytest.param(
        lambda w: w.dec.append(delta_value=Decimal("NaN")),
        RangeValueError,
        "delta_value",
        id="append delta NaN",
    ),
    pytest.param(
        lambda w: w.dec.shift_by_value(Decimal("NaN")), RangeValueError, "delta_value", id="span shift NaN"
    ),
    pytest.param(
        lambda w: DecimalSpan.objects.create(current_range=(Decimal("NaN"), 5)),
        IncorrectSpanRangeError,
        "current_range",
        id="span NaN bound",
    ),
    pytest.param(
        lambda w: DecimalSegment(span=w.dec, segment_range=(0, Decimal("NaN"))).save(),
        IncorrectSegmentRangeError,
        "segment_range",
        id="segment NaN bound",
    ),
    pytest.param(
        lambda w: w.dec_seg.shift_upper_by_value(Decimal("NaN")),
        RangeValueError,
        "delta_value",
        id="segment shift NaN",
    ),
    pytest.param(
        lambda w: w.dec.shift_lower_to_value(Decimal("NaN")),
        RangeValueError,
        "to_value",
        id="span shift_lower_to_value NaN",
    ),
    # naive datetimes
    pytest.param(
        lambda w: DateTimeSpan.objects.create(current_range=(NAIVE, NAIVE + dt.timedelta(days=1))),
        IncorrectSpanRangeError,
        "current_range",
        id="span naive",
    ),
    pytest.param(
        lambda w: DateTimeSegment(span=w.dt, segment_range=(NAIVE, T0 + dt.timedelta(days=2))).save(),
        IncorrectSegmentRangeError,
        "segment_range",
        id="segment naive",
    ),
    pytest.param(lambda w: w.dt_seg.split(NAIVE), RangeValueError, "split_value", id="split naive"),
    pytest.param(
        lambda w: w.dt.append(to_value=NAIVE + dt.timedelta(days=30)),
        RangeValueError,
        "to_value",
        id="append naive",
    ),
    pytest.param(
        lambda w: w.dt.shift_upper_to_value(NAIVE + dt.timedelta(days=30)),
        RangeValueError,
        "to_value",
        id="span shift_upper_to_value naive",
    ),
    pytest.param(
        lambda w: w.dt_seg.shift_upper_to_value(NAIVE),
        RangeValueError,
        "upper",
        id="segment shift_upper_to_value naive",
    ),
    pytest.param(
        lambda w: DateTimeSegment.insert(span=w.dt, segment_range=(NAIVE, NAIVE + dt.timedelta(hours=1))),
        RangeValueError,
        "segment_range",
        id="insert naive",
    ),
    pytest.param(
        lambda w: list(DateTimeSegment.objects.overlapping((NAIVE, NAIVE + dt.timedelta(hours=1)))),
        RangeValueError,
        "overlapping() range",
        id="overlapping naive",
    ),
]


def _state() -> list[Any]:
    with connection.cursor() as cursor:
        return [snapshot(cursor, t) for t in ALL]


@pytest.mark.parametrize(("action", "expected", "names"), CASES)
def test_bad_input_is_refused_by_name_and_changes_nothing(action: Any, expected: type, names: str) -> None:
    world = World()
    before = _state()

    with pytest.raises(SegmentsError) as info:
        action(world)

    assert isinstance(info.value, expected), f"{type(info.value).__name__}: {info.value}"
    assert names in str(info.value), f"the message does not name {names!r}: {info.value}"
    assert _state() == before
    with connection.cursor() as cursor:
        findings = audit(cursor, ALL, own_snapshot=False)
    assert findings == []
    count("bad input", expected.__name__, rejected=1, note="typed error names the argument; no change")


def test_a_refused_hard_delete_changes_nothing_and_keeps_the_instance() -> None:
    """Django clears the primary key after a DELETE; the refusal must give it back."""
    span = DateSpan.objects.create(current_range=(dt.date(2024, 1, 1), dt.date(2024, 3, 1)))
    first = span.first_segment
    first.split(dt.date(2024, 2, 1))
    first.refresh_from_db()
    pk = first.pk
    before = _state()

    with pytest.raises(GapError):
        first.delete()

    assert first.pk == pk
    assert _state() == before
    first.merge_into_upper()  # the instance is still usable
    assert span.segment_count == 1
    count("bad input", "refused hard delete keeps the instance", rejected=1)
