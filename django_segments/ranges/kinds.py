"""Range kinds: which range field, which Python value and delta types, which SQL types.

A *kind* ties together everything the library needs to know about one range type, so
operations can validate input before it reaches the database and build ranges of the
right class.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.postgres import fields as pg
from django.db.backends.postgresql.psycopg_any import (
    DateRange,
    DateTimeTZRange,
    NumericRange,
)

from django_segments import conf
from django_segments.exceptions import IncorrectRangeTypeError, RangeValueError

Range = Any  # psycopg Range subclasses share no useful static type


@dataclass(frozen=True)
class RangeKind:
    """Everything about one supported range type."""

    name: str
    field_class: type[pg.RangeField]
    range_class: Any
    value_types: tuple[type, ...]
    delta_types: tuple[type, ...]
    sql_type: str
    multirange_sql_type: str
    #: The least and greatest value of a bound (and of a delta of an integer kind): the
    #: SQL type's for integers; what Python (and so Django) can read back for dates and
    #: datetimes, whose SQL types reach further; None for numeric (see `_numeric_holds`).
    limits: tuple[Any, Any] | None = None

    @property
    def range_sql_type(self) -> str:
        """The SQL range type, e.g. ``daterange``."""
        return self.multirange_sql_type.replace("multirange", "range")

    def _check_type(
        self, value: Any, types: tuple[type, ...], what: str, *, excluded: tuple[type, ...] = ()
    ) -> None:
        """Raise `RangeValueError` unless ``value`` is one of ``types`` (never a bool) and,
        for a Decimal, finite."""
        if not _is_instance(value, types) or isinstance(value, excluded):
            names = " or ".join(t.__name__ for t in types)
            msg = f"{what} must be {names} for a {self.name} range; got {type(value).__name__} {value!r}"
            raise RangeValueError(msg)
        if isinstance(value, Decimal) and not value.is_finite():
            msg = f"{what} must be a finite Decimal; got {value!r}"
            raise RangeValueError(msg)

    def describe_limits(self) -> str:
        """The values a bound of this kind may take, for error messages."""
        if self.limits is None:
            before, after = NUMERIC_DIGITS
            return f"a finite number of at most {before} digits before the decimal point and {after} after it"
        lowest, highest = self.limits
        return f"between {lowest} and {highest}"

    def out_of_range(self, what: str) -> RangeValueError:
        """The error for a value of ``what`` outside this kind's limits."""
        return RangeValueError(
            f"{what} is out of range for {self.name} ranges ({self.sql_type}): "
            f"a value must be {self.describe_limits()}"
        )

    def _check_limits(self, value: Any, what: str) -> None:
        """Raise `RangeValueError` unless ``value`` lies within this kind's limits."""
        if self.name == "decimal":
            if not _numeric_holds(Decimal(value)):
                raise self.out_of_range(what)
            return
        if self.limits is None:
            return
        lowest, highest = self.limits
        if isinstance(value, dt.datetime):
            try:  # NOTE - Postgres returns timestamptz in UTC, which Python must be able to hold.
                value = value.astimezone(dt.UTC)
            except OverflowError:
                raise self.out_of_range(what) from None
        if not lowest <= value <= highest:
            raise self.out_of_range(what)

    def check_value(self, value: Any, what: str) -> Any:
        """Return ``value`` if it is a valid bound of this kind, else raise `RangeValueError`."""
        excluded = (dt.datetime,) if self.name == "date" else ()
        self._check_type(value, self.value_types, what, excluded=excluded)
        if isinstance(value, dt.datetime) and value.utcoffset() is None:
            msg = f"{what} must be a timezone-aware datetime; got naive {value!r}"
            raise RangeValueError(msg)
        self._check_limits(value, what)
        return Decimal(value) if self.name == "decimal" else value

    def check_delta(self, delta: Any, what: str) -> Any:
        """Return ``delta`` if it can shift a bound of this kind, else raise `RangeValueError`.

        An integer delta must fit the column's SQL type (the statements add it there); a
        Decimal one, numeric's precision. A timedelta always fits an interval, and a
        whole number of days an integer.
        """
        self._check_type(delta, self.delta_types, what)
        if self.name == "date" and delta % dt.timedelta(days=1):
            msg = f"{what} must be a whole number of days for a date range; got {delta!r}"
            raise RangeValueError(msg)
        if isinstance(delta, int | Decimal):
            self._check_limits(delta, what)
        return Decimal(delta) if self.name == "decimal" else delta

    def add(self, value: Any, delta: Any, what: str) -> Any:
        """``value + delta``, checked against this kind's limits (`RangeValueError` if out)."""
        try:
            moved = value + delta
        except OverflowError:  # a date or datetime past Python's year 1 or 9999
            raise self.out_of_range(what) from None
        return self.check_value(moved, what)

    def make(self, lower: Any, upper: Any, what: str = "range") -> Range:
        """Build a ``[lower, upper)`` range, checking types, finiteness and order."""
        lower = self.check_value(lower, f"lower bound of {what}")
        upper = self.check_value(upper, f"upper bound of {what}")
        if not lower < upper:
            msg = f"{what} must have lower < upper; got [{lower}, {upper})"
            raise RangeValueError(msg)
        return self.range_class(lower, upper, "[)")

    def coerce(self, value: Any, what: str = "range") -> Range:
        """Accept a range of this kind or a ``(lower, upper)`` pair; return a checked range."""
        if isinstance(value, tuple | list) and len(value) == 2:
            return self.make(value[0], value[1], what)
        return self._coerce_range(value, what)

    def _coerce_range(self, value: Any, what: str) -> Range:
        if not isinstance(value, self.range_class):
            msg = f"{what} must be a {self.range_class.__name__} or a (lower, upper) pair; got {value!r}"
            raise RangeValueError(msg)
        if value.isempty:
            raise RangeValueError(f"{what} must not be empty")
        if value.lower_inf or value.upper_inf:
            msg = f"{what} must have finite bounds; got {value!r}"
            raise RangeValueError(msg)
        if not value.lower_inc or value.upper_inc:
            msg = f"{what} must use '[)' bounds (lower inclusive, upper exclusive); got {value!r}"
            raise RangeValueError(msg)
        return self.make(value.lower, value.upper, what)


def _is_instance(value: Any, types: tuple[type, ...]) -> bool:
    return isinstance(value, types) and not isinstance(value, bool)


#: Postgres numeric holds up to 131072 digits before the decimal point and 16383 after it.
NUMERIC_DIGITS = (131072, 16383)


def _numeric_holds(value: Decimal) -> bool:
    """Whether Postgres numeric can hold the finite ``value``."""
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):
        return True
    return value.adjusted() < NUMERIC_DIGITS[0] and -exponent <= NUMERIC_DIGITS[1]


_INT4 = (-(2**31), 2**31 - 1)
_INT8 = (-(2**63), 2**63 - 1)
_DATES = (dt.date.min, dt.date.max)
_DATETIMES = (dt.datetime.min.replace(tzinfo=dt.UTC), dt.datetime.max.replace(tzinfo=dt.UTC))


KINDS: dict[str, RangeKind] = {
    kind.name: kind
    for kind in (
        RangeKind(
            "integer", pg.IntegerRangeField, NumericRange, (int,), (int,), "int4", "int4multirange", _INT4
        ),
        RangeKind(
            "big_integer",
            pg.BigIntegerRangeField,
            NumericRange,
            (int,),
            (int,),
            "int8",
            "int8multirange",
            _INT8,
        ),
        RangeKind(
            "decimal",
            pg.DecimalRangeField,
            NumericRange,
            (Decimal, int),
            (Decimal, int),
            "numeric",
            "nummultirange",
        ),
        RangeKind(
            "date",
            pg.DateRangeField,
            DateRange,
            (dt.date,),
            (dt.timedelta,),
            "date",
            "datemultirange",
            _DATES,
        ),
        RangeKind(
            "datetime",
            pg.DateTimeRangeField,
            DateTimeTZRange,
            (dt.datetime,),
            (dt.timedelta,),
            "timestamptz",
            "tstzmultirange",
            _DATETIMES,
        ),
    )
}


def resolve_kind(range_field_type: Any, where: str) -> RangeKind:
    """Map ``SpanConfig.range_field_type`` (short name or field class) to a `RangeKind`.

    ``POSTGRES_RANGE_FIELDS`` may map a short name to a subclass of a supported field.
    """
    if range_field_type is None:
        msg = f"{where}.range_field_type is required; use one of {sorted(KINDS)} or a range field class"
        raise IncorrectRangeTypeError(msg)
    overrides = conf.range_fields()
    field_class = overrides.get(range_field_type, range_field_type)
    if isinstance(field_class, type):
        for kind in KINDS.values():
            if issubclass(field_class, kind.field_class):
                if field_class is kind.field_class:
                    return kind
                return RangeKind(**{**kind.__dict__, "field_class": field_class})
    got = range_field_type.__name__ if isinstance(range_field_type, type) else repr(range_field_type)
    msg = (
        f"{where}.range_field_type must be one of {sorted(KINDS)} or IntegerRangeField, "
        f"BigIntegerRangeField, DecimalRangeField, DateRangeField, DateTimeRangeField; got {got}"
    )
    raise IncorrectRangeTypeError(msg)
