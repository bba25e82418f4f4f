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

    def check_value(self, value: Any, what: str) -> Any:
        """Return ``value`` if it is a valid bound of this kind, else raise `RangeValueError`."""
        excluded = (dt.datetime,) if self.name == "date" else ()
        self._check_type(value, self.value_types, what, excluded=excluded)
        if isinstance(value, dt.datetime) and value.utcoffset() is None:
            msg = f"{what} must be a timezone-aware datetime; got naive {value!r}"
            raise RangeValueError(msg)
        return Decimal(value) if self.name == "decimal" else value

    def check_delta(self, delta: Any, what: str) -> Any:
        """Return ``delta`` if it can shift a bound of this kind, else raise `RangeValueError`."""
        self._check_type(delta, self.delta_types, what)
        if self.name == "date" and delta % dt.timedelta(days=1):
            msg = f"{what} must be a whole number of days for a date range; got {delta!r}"
            raise RangeValueError(msg)
        return Decimal(delta) if self.name == "decimal" else delta

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


KINDS: dict[str, RangeKind] = {
    kind.name: kind
    for kind in (
        RangeKind("integer", pg.IntegerRangeField, NumericRange, (int,), (int,), "int4", "int4multirange"),
        RangeKind(
            "big_integer",
            pg.BigIntegerRangeField,
            NumericRange,
            (int,),
            (int,),
            "int8",
            "int8multirange",
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
        ),
        RangeKind(
            "datetime",
            pg.DateTimeRangeField,
            DateTimeTZRange,
            (dt.datetime,),
            (dt.timedelta,),
            "timestamptz",
            "tstzmultirange",
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
