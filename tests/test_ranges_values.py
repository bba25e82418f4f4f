"""Bounds that are infinite, NaN or past their type's limits are refused everywhere.

In Postgres: the range checks of span and segment tables refuse infinite and NaN bounds
(and dates and timestamps Python cannot read back), whoever writes; integer types refuse
values past their width themselves. In Python: every operation refuses such values with
a `RangeValueError` naming the field and its limits, before any SQL runs where the
value alone decides; where an operation computes a bound in SQL from the locked span
row (a shift or append by a delta), the statement's refusal becomes the same type and
nothing is written.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.db.backends.postgresql.psycopg_any import DateRange, DateTimeTZRange, NumericRange
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_segments.exceptions import (
    IncorrectSegmentRangeError,
    IncorrectSpanRangeError,
    RangeIntegrityError,
    RangeValueError,
)
from django_segments.ranges.errors import translate
from tests.ranges_helpers import (
    BIGINT,
    DATE,
    DATETIME,
    DECIMAL,
    INT,
    active,
    every_type,
    make_span,
    span_range,
)

pytestmark = pytest.mark.django_db

#: Range literals Postgres accepts for the type but the library must not store.
NOT_FINITE = {
    DATE: ["[2026-01-01,infinity)", "[-infinity,2026-01-01)", "[9999-12-01,10000-01-05)"],
    DATETIME: [
        "[2026-01-01 00:00+00,infinity)",
        "[-infinity,2026-01-01 00:00+00)",
        "[9999-12-31 00:00+00,10000-01-01 05:00+00)",
    ],
    DECIMAL: ["[0,NaN)", "[0,Infinity)", "[-Infinity,0)", "[Infinity,NaN)"],
}
#: Range literals past the SQL type's width: Postgres itself refuses them.
TOO_WIDE = {INT: "[0,2147483648)", BIGINT: "[0,9223372036854775808)"}


def run(*statements: tuple[str, list]) -> None:
    """Run ``statements`` in one transaction and fire the deferred checks."""
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def check_refusal(rt, sql: str, params: list, *constraints: str) -> None:
    with pytest.raises(IntegrityError) as info:
        run((sql, params))
    cause = info.value.__cause__
    assert isinstance(cause, psycopg.errors.CheckViolation)
    assert cause.diag.constraint_name in constraints
    assert type(translate(info.value)) is RangeIntegrityError


@pytest.mark.parametrize(
    ("rt", "literal"),
    [(rt, literal) for rt, literals in NOT_FINITE.items() for literal in literals],
    ids=str,
)
def test_raw_sql_cannot_store_infinite_or_nan_bounds(rt, literal: str) -> None:
    span = make_span(rt, 0, 12, (4,))
    rng = rt.options.kind.range_sql_type
    for column in ("current_range", "initial_range"):
        check_refusal(
            rt,
            f'UPDATE "{rt.span_table}" SET {column} = %s::{rng} WHERE id = %s',
            [literal, span.pk],
            f"{rt.span_table}_{column}_valid",
        )
    check_refusal(
        rt,
        f'UPDATE "{rt.seg_table}" SET segment_range = %s::{rng} WHERE span_id = %s',
        [literal, span.pk],
        f"{rt.seg_table}_segment_range_valid",
    )
    check_refusal(
        rt,
        f'INSERT INTO "{rt.span_table}" (initial_range, current_range) VALUES (%s::{rng}, %s::{rng})',
        [literal, literal],
        f"{rt.span_table}_initial_range_valid",
        f"{rt.span_table}_current_range_valid",
    )
    assert span_range(rt, span) == (0, 12)
    assert active(rt, span) == [(0, 4), (4, 12)]


@pytest.mark.parametrize("rt", list(NOT_FINITE), ids=str)
def test_a_span_and_its_matching_segment_moved_to_infinity_together_are_refused(rt) -> None:
    """The reported case: span and segment updated alike in one transaction."""
    span = make_span(rt, 0, 12)
    literal = NOT_FINITE[rt][0]
    rng = rt.options.kind.range_sql_type
    with pytest.raises(IntegrityError):
        run(
            (f'UPDATE "{rt.seg_table}" SET segment_range = %s::{rng} WHERE span_id = %s', [literal, span.pk]),
            (f'UPDATE "{rt.span_table}" SET current_range = %s::{rng} WHERE id = %s', [literal, span.pk]),
        )
    assert rt.span.objects.get(pk=span.pk).current_range == rt.r(0, 12)


@pytest.mark.parametrize(("rt", "literal"), list(TOO_WIDE.items()), ids=str)
def test_raw_sql_cannot_store_integers_past_the_column_type(rt, literal: str) -> None:
    span = make_span(rt, 0, 12)
    rng = rt.options.kind.range_sql_type
    for table, column in ((rt.span_table, "current_range"), (rt.seg_table, "segment_range")):
        key = "id" if table == rt.span_table else "span_id"
        with pytest.raises(DataError) as info, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f'UPDATE "{table}" SET {column} = %s::{rng} WHERE {key} = %s', [literal, span.pk])
        assert isinstance(info.value.__cause__, psycopg.errors.NumericValueOutOfRange)


def test_the_checks_in_the_catalog_name_finite_bounds() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'c' AND conname LIKE 'testapp_%%range_valid'"
        )
        found = dict(cursor.fetchall())
    for rt in (DATE, DATETIME):
        for table, column in ((rt.span_table, "current_range"), (rt.seg_table, "segment_range")):
            definition = found[f"{table}_{column}_valid"]
            assert f"isfinite(lower({column}))" in definition
            assert f"isfinite(upper({column}))" in definition
    for table, column in ((DECIMAL.span_table, "initial_range"), (DECIMAL.seg_table, "segment_range")):
        definition = found[f"{table}_{column}_valid"]
        assert f"lower({column}) > '-Infinity'::numeric" in definition
        assert f"upper({column}) < 'Infinity'::numeric" in definition


# --- Python: typed errors before any SQL ----------------------------------------------


def no_queries():
    return CaptureQueriesContext(connection)


@pytest.mark.parametrize(
    ("rt", "value", "limit"),
    [
        (INT, (0, 2**31), "2147483647"),
        (INT, (-(2**31) - 1, 0), "-2147483648"),
        (BIGINT, (0, 2**63), "9223372036854775807"),
        (DECIMAL, (Decimal(0), Decimal("1E+131072")), "131072 digits"),
        (DECIMAL, (Decimal(0), Decimal("1E-16384")), "16383 after"),
        (DECIMAL, (Decimal(0), Decimal("NaN")), "finite"),
        (DECIMAL, NumericRange(Decimal("-Infinity"), Decimal(0)), "finite"),
        (DATETIME, (dt.datetime(9999, 12, 31, 22, tzinfo=dt.timezone(dt.timedelta(hours=-5))), None), "9999"),
    ],
    ids=str,
)
def test_a_span_with_an_out_of_range_bound_is_refused_before_sql(rt, value, limit: str) -> None:
    if isinstance(value, tuple) and value[1] is None:  # a lower bound past the limit
        value = DateTimeTZRange(value[0], value[0] + dt.timedelta(hours=1))
    with no_queries() as queries, pytest.raises(IncorrectSpanRangeError) as info:
        rt.span.objects.create(current_range=value)
    assert queries.captured_queries == []
    assert "current_range" in str(info.value)
    assert limit in str(info.value)


@pytest.mark.parametrize(
    ("rt", "delta"),
    [(INT, 2**31), (INT, -(2**31) - 1), (BIGINT, 2**63), (DECIMAL, Decimal("1E+131072"))],
    ids=str,
)
def test_a_delta_past_the_column_type_is_refused_before_sql(rt, delta) -> None:
    span = make_span(rt, 0, 12, (4,))
    segment = rt.segment.objects.filter(span=span).order_by("segment_range").last()
    calls = [
        lambda: span.shift_by_value(delta),
        lambda: span.shift_upper_by_value(delta),
        lambda: span.shift_lower_by_value(delta),
        lambda: span.append(delta_value=delta),
        lambda: segment.shift_upper_by_value(delta),
    ]
    for call in calls:
        with no_queries() as queries, pytest.raises(RangeValueError, match="delta_value is out of range"):
            call()
        assert queries.captured_queries == []
    assert span_range(rt, span) == (0, 12)


@pytest.mark.parametrize(
    ("rt", "to"),
    [(INT, 2**31), (BIGINT, -(2**63) - 1), (DECIMAL, Decimal("Infinity"))],
    ids=str,
)
def test_a_target_value_past_the_limits_is_refused_before_sql(rt, to) -> None:
    span = make_span(rt, 0, 12, (4,))
    segment = rt.segment.objects.filter(span=span).order_by("segment_range").first()
    for call in (
        lambda: span.shift_upper_to_value(to),
        lambda: span.append(to_value=to),
        lambda: segment.split(to),
        lambda: segment.shift_lower_to_value(to),
    ):
        with no_queries() as queries, pytest.raises(RangeValueError):
            call()
        assert queries.captured_queries == []


# --- Python: bounds computed in SQL ---------------------------------------------------


@pytest.mark.parametrize(
    ("rt", "delta"),
    [
        (INT, 2**31 - 1),
        (BIGINT, 2**63 - 1),
        (DATE, dt.timedelta(days=999_999_999)),  # past Postgres's own date range
        (DATE, dt.timedelta(days=3_000_000)),  # a valid date in Postgres, past Python's 9999
        (DATETIME, dt.timedelta(days=999_999_999)),
        (DATETIME, dt.timedelta(days=3_000_000)),
    ],
    ids=str,
)
def test_a_delta_that_moves_a_bound_past_the_limits_is_a_typed_error(rt, delta) -> None:
    span = make_span(rt, 0, 12, (4,))
    with transaction.atomic():  # the caller's transaction stays usable
        for call, what in (
            (lambda: span.shift_by_value(delta), "shift_by_value()"),
            (lambda: span.shift_upper_by_value(delta), "shift_upper_by_value()"),
            (lambda: span.append(delta_value=delta), "append()"),
        ):
            with pytest.raises(IncorrectSpanRangeError) as info:
                call()
            message = str(info.value)
            assert message.startswith(f"{rt.span.__name__}: {what}")
            assert "current_range" in message
            assert f"out of range for {rt.options.kind.name} ranges" in message
        assert span_range(rt, span) == (0, 12)
        assert active(rt, span) == [(0, 4), (4, 12)]


@pytest.mark.parametrize(
    ("rt", "delta"),
    [(INT, 2**31 - 1), (DATE, dt.timedelta(days=999_999_999)), (DATETIME, dt.timedelta(days=999_999_999))],
    ids=str,
)
def test_a_segment_shift_past_the_limits_is_refused_before_it_writes(rt, delta) -> None:
    span = make_span(rt, 0, 12, (4,))
    segment = rt.segment.objects.filter(span=span).order_by("segment_range").last()
    with pytest.raises(RangeValueError, match="new upper bound is out of range"):
        segment.shift_upper_by_value(delta)
    assert active(rt, span) == [(0, 4), (4, 12)]


def test_a_load_of_an_out_of_range_value_is_a_typed_error() -> None:
    span = make_span(BIGINT, 0, 12)
    with pytest.raises(RangeValueError, match="out of range for big_integer ranges"):
        BIGINT.segment.objects.load([(span.pk, "[20,9223372036854775808)")])
    assert active(BIGINT, span) == [(0, 12)]


# --- one type for an invalid segment range --------------------------------------------


@every_type
@pytest.mark.parametrize("how", ["save", "create", "insert"])
@pytest.mark.parametrize("shape", ["empty", "inverted", "equal"])
def test_an_invalid_segment_range_is_the_same_error_everywhere(rt, how: str, shape: str) -> None:
    span = make_span(rt, 0, 12)
    range_class = rt.options.kind.range_class
    value = {
        "empty": range_class(empty=True),
        "inverted": (rt.v(6), rt.v(2)),
        "equal": (rt.v(3), rt.v(3)),
    }[shape]
    calls = {
        "save": lambda: rt.segment(span=span, segment_range=value).save(),
        "create": lambda: rt.segment.objects.create(span=span, segment_range=value),
        "insert": lambda: rt.segment.insert(span=span, segment_range=value),
    }
    with no_queries() as queries, pytest.raises(IncorrectSegmentRangeError, match="segment_range"):
        calls[how]()
    assert queries.captured_queries == []


def test_a_date_range_class_of_the_wrong_kind_is_the_same_error_everywhere() -> None:
    span = make_span(INT, 0, 12)
    for call in (
        lambda: INT.segment.objects.create(span=span, segment_range=DateRange(dt.date(2024, 1, 1), None)),
        lambda: INT.segment.insert(span=span, segment_range=DateRange(dt.date(2024, 1, 1), None)),
    ):
        with pytest.raises(IncorrectSegmentRangeError):
            call()


# --- Python and Postgres agree on every bound -----------------------------------------


def _near(limit: int) -> st.SearchStrategy[int]:
    return st.integers(min_value=limit - 3, max_value=limit + 3)


def _integers(lowest: int, highest: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(min_value=-5, max_value=5), _near(lowest), _near(highest), st.integers())


_OFFSETS = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(dt.timedelta(hours=-12))]
)
_EDGES = st.sampled_from(
    [dt.datetime.min, dt.datetime.max, dt.datetime(1, 1, 1, 13), dt.datetime(9999, 12, 31, 11)]
)

BOUNDS = {
    INT: _integers(-(2**31), 2**31 - 1),
    DATE: st.one_of(st.dates(), st.sampled_from([dt.date.min, dt.date.max])),
    DATETIME: st.builds(
        lambda naive, zone: naive.replace(tzinfo=zone), st.one_of(st.datetimes(), _EDGES), _OFFSETS
    ),
    BIGINT: _integers(-(2**63), 2**63 - 1),
    DECIMAL: st.one_of(
        # NOTE - psycopg writes a signed or signalling NaN as an unquoted -NaN / sNaN: use NaN.
        st.decimals(allow_nan=True, allow_infinity=True).map(lambda d: Decimal("NaN") if d.is_nan() else d),
        st.sampled_from(
            [Decimal("1E+131071"), Decimal("1E+131072"), Decimal("1E-16383"), Decimal("1E-16384")]
        ),
    ),
}


def postgres_accepts(rt, lower, upper) -> bool:
    """Whether a raw ``INSERT`` of a span with ``[lower, upper)`` passes Postgres (nothing is kept)."""
    kind = rt.options.kind
    # NOTE - "(%s)::int8": a literal -9223372036854775808::int8 casts the positive number first.
    rng = f"{kind.range_sql_type}((%s)::{kind.sql_type}, (%s)::{kind.sql_type}, '[)')"
    columns = "initial_range, current_range" + (", name" if rt is INT else "")
    values = f"{rng}, {rng}" + (", ''" if rt is INT else "")
    sql = f'INSERT INTO "{rt.span_table}" ({columns}) VALUES ({values})'
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [lower, upper, lower, upper])
            raise RolledBackError
    except RolledBackError:
        return True
    except (IntegrityError, DataError):
        return False


class RolledBackError(Exception):
    """Raised to roll back a write that passed."""


@pytest.mark.parametrize("rt", list(BOUNDS), ids=str)
def test_python_refuses_exactly_the_bounds_postgres_refuses(rt) -> None:
    verdicts: list[bool] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(lower=BOUNDS[rt], upper=BOUNDS[rt])
    def agree(lower, upper) -> None:
        try:
            rt.options.kind.make(lower, upper)
        except RangeValueError:
            python = False
        else:
            python = True
        assert python == postgres_accepts(rt, lower, upper), (lower, upper)
        verdicts.append(python)

    agree()
    assert len(verdicts) >= 50, "hypothesis ran too few examples"
    assert True in verdicts, "no example was a valid range"


@pytest.mark.parametrize(("rt", "least"), [(INT, -(2**31)), (BIGINT, -(2**63))], ids=str)
def test_the_least_value_of_the_type_travels_as_a_parameter(rt, least: int) -> None:
    """With client-side binding, ``-9223372036854775808::int8`` would be out of range; the
    statements cast ``(value)``."""
    span = rt.span.objects.create(current_range=(0, 10))
    span.shift_lower_to_value(least)
    assert span.current_range == NumericRange(least, 10, "[)")
    segment = (
        rt.segment.objects.create(span=span, segment_range=(least, least + 1)) if not rt.tiling else None
    )
    first = span.first_segment
    assert first.segment_range.lower == least
    if segment is None:
        piece = first.split(least + 1)
        assert piece.segment_range.lower == least + 1
    rt.segment.insert(span=span, segment_range=(least, least + 1))
    assert span.first_segment.segment_range == NumericRange(least, least + 1, "[)")


# --- the span admin's operation form ----------------------------------------------------


def _admin_urls() -> list:
    from django.contrib import admin
    from django.urls import path

    from django_segments.ranges.admin import SpanAdmin

    site = admin.AdminSite(name="ranges_values_tests")
    site.register(INT.span, SpanAdmin)
    return [path("admin/", site.urls)]


urlpatterns = _admin_urls()


@pytest.mark.parametrize("delta", [str(2**31 - 1), str(2**31), str(-(2**40))])
def test_the_admin_answers_an_out_of_range_delta_with_an_error_not_a_500(
    client, settings, admin_user, delta: str
) -> None:
    from django.contrib.messages import get_messages

    settings.ROOT_URLCONF = __name__
    client.force_login(admin_user)
    span = make_span(INT, 0, 10)
    response = client.post(
        f"/admin/testapp/intspan/{span.pk}/segments/operation/",
        {"operation": "span_shift_by_value", "delta": delta},
    )
    assert response.status_code in (200, 302)
    shown = " ".join(str(m) for m in get_messages(response.wsgi_request)) + response.content.decode()
    assert "out of range for integer ranges" in shown
    assert span_range(INT, span) == (0, 10)
