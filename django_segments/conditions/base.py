"""Condition classes: one named rule each, e.g. ``EMAIL_DOMAIN gmail.com`` or ``LEVEL >= 5``.

A rule string is whitespace-separated terms::

    NAME                      Condition without a key           IS_STAFF
    NAME KEY                  Condition with a key              EMAIL_DOMAIN gmail.com
    NAME OPERATOR OPERAND     CompareCondition                  LEVEL >= 5
    NAME KEY OPERATOR OPERAND CompareCondition with a key       SCORE math >= 5

Subclasses declare everything explicitly: ``condstr`` (the name), whether a key is
required (``key_required``) or accepted (``key_optional``, ``keys_allowed``), and
optionally ``as_q`` (or, for comparisons, ``sql_operand``) so a tree compiles to SQL.
"""

from __future__ import annotations

import datetime
import operator
import random
import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from django.db.models import Expression, Q, Value
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IsNull,
    LessThan,
    LessThanOrEqual,
    Lookup,
)

from django_segments.conditions import compile as compiler
from django_segments.conditions import logic
from django_segments.exceptions import ConditionError

#: What a valid ``condstr`` looks like: upper case, digits and underscores.
CONDSTR_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]*$")

#: The prefix that negates a condition string or, as an object key, a sub-tree.
NOT = "NOT"

#: Operators of `CompareCondition` by default, with their Python meaning.
DEFAULT_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    ">": operator.gt,
}

#: Lookup names of the default operators. ``ne`` (not equal) is the library's own: it
#: compiles to ``NOT (= ...)`` under SQL's three-valued logic, so a NULL is neither equal
#: nor unequal (see `logic`).
DEFAULT_LOOKUPS: dict[str, str] = {
    "<": "lt",
    "<=": "lte",
    "==": "exact",
    "!=": "ne",
    ">=": "gte",
    ">": "gt",
}

_LOOKUP_CLASSES: dict[str, type[Lookup]] = {
    "lt": LessThan,
    "lte": LessThanOrEqual,
    "exact": Exact,
    "gte": GreaterThanOrEqual,
    "gt": GreaterThan,
}

#: Number operands: at most this many significant digits ...
MAX_OPERAND_DIGITS = 100
#: ... and a decimal exponent within plus or minus this (double precision reaches 1e308).
MAX_OPERAND_EXPONENT = 300

#: Whole-number operands in this range are sent as plain values, the others as ``Value``.
#: NOTE - Django turns a plain integer outside an integer column's range into "no rows"
#: or "every row" (dropping the comparison, so NULLs would match), and a year lookup
#: needs a year Python can represent; 1..9999 is inside every integer column's range
#: (including positive small integers) and is a valid year.
PLAIN_INTEGERS = range(1, 10_000)

#: Placeholder shown in generated examples when a key has no examples.
KEY_PLACEHOLDER = "<key>"


class Condition:
    """One named rule. Subclass it, set ``condstr`` and implement ``eval_bool``.

    Class attributes:

    * ``condstr``: the name used in rule strings; upper case, e.g. ``"IS_STAFF"``.
      A class without one is abstract and never registered.
    * ``key_required``: a key must follow the name (``EMAIL_DOMAIN gmail.com``).
    * ``key_optional``: a key may follow the name.
    * ``keys_allowed``: if set, the only keys accepted (implies a key is accepted).
    * ``key_examples``: keys shown in the admin's generated examples.
    * ``group``: heading under which the admin lists the condition.
    * ``single_valued``: each object has one value for this condition (one e-mail
      domain, one level), so under ``all`` two different keys of a keyed condition, or
      comparisons no single value satisfies, can never hold together; the admin hints
      at such a tree (`django_segments.conditions.contradictions`). Default False: a
      condition over a multi-valued relation ("has an order in EUR") may hold for many.
    * ``failure_logger``: name of the logger that records an exception raised while
      evaluating (default ``django_segments.conditions``).

    The docstring of a subclass is its description in the admin.
    """

    condstr: ClassVar[str] = ""
    key_required: ClassVar[bool] = False
    key_optional: ClassVar[bool] = False
    keys_allowed: ClassVar[Sequence[str] | None] = None
    key_examples: ClassVar[Sequence[str]] = ()
    group: ClassVar[str] = "General"
    single_valued: ClassVar[bool] = False
    failure_logger: ClassVar[str] = "django_segments.conditions"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("condstr")
        if name is not None and name != "" and (not CONDSTR_PATTERN.match(name) or name == NOT):
            msg = (
                f"{cls.__qualname__}.condstr must match {CONDSTR_PATTERN.pattern} and not be "
                f'"{NOT}"; got "{name}"'
            )
            raise TypeError(msg)

    def __init__(self, key: str | None = None) -> None:
        self.key = key

    # --- declaration -----------------------------------------------------------------

    @classmethod
    def takes_key(cls) -> bool:
        """Whether a key may follow the name at all."""
        return cls.key_required or cls.key_optional or cls.keys_allowed is not None

    @classmethod
    def description(cls) -> str:
        """The class docstring, cleaned; the admin shows it next to the condition."""
        doc = cls.__doc__ if "__doc__" in cls.__dict__ else None
        return " ".join((doc or "").split())

    @classmethod
    def from_terms(cls, terms: Sequence[str], *, path: str) -> Condition:
        """Build an instance from the terms after the name; raise `ConditionError`."""
        if len(terms) > 1:
            raise ConditionError(
                f'{cls.condstr} takes at most a key; got extra terms "{" ".join(terms[1:])}"',
                path=path,
            )
        return cls(key=cls.check_key(terms[0] if terms else None, path=path))

    @classmethod
    def check_key(cls, key: str | None, *, path: str) -> str | None:
        """Validate ``key`` against the declaration; return it or raise `ConditionError`."""
        if key is None:
            if cls.key_required:
                raise ConditionError(f"{cls.condstr} requires a key", path=path)
            return None
        if not cls.takes_key():
            raise ConditionError(f'{cls.condstr} takes no key; got "{key}"', path=path)
        if cls.keys_allowed is not None and key not in cls.keys_allowed:
            allowed = ", ".join(cls.keys_allowed)
            raise ConditionError(
                f'key "{key}" is not allowed for {cls.condstr} (allowed: {allowed})', path=path
            )
        return key

    # --- evaluation ------------------------------------------------------------------

    def eval_bool(self, obj: Any, **context: Any) -> bool | None:
        """Whether ``obj`` satisfies the condition; None when unknown (e.g. a NULL value).

        ``context`` is what the caller passed. Return None where `as_q` would meet a NULL
        (a NULL column, a missing related row), so Python and SQL agree under ``NOT``.
        """
        raise NotImplementedError(f"{type(self).__qualname__} must implement eval_bool")

    def as_q(self, **context: Any) -> Q:
        """The rows (of the member model) where the condition is true. Override to make it
        SQL-capable."""
        raise NotImplementedError(f"{type(self).__qualname__} has no as_q")

    def as_not_q(self, **context: Any) -> Q:
        """The rows where the condition is false (rows where it is unknown are in neither).

        Default: ``NOT (<as_q>)`` under SQL's own three-valued logic, its joins outer
        joins: where `as_q` meets a NULL column or a missing related row, the condition is
        unknown, as `eval_bool` returning None is. Override it when that is not the
        meaning, e.g. for a test over a multi-valued relation ("has no order over 100"),
        where ``~Q(...)`` is.
        """
        return compiler.sql_not(self.as_q(**context))

    @property
    def sql_capable(self) -> bool:
        """Whether `as_q` is implemented (the class overrides it)."""
        return type(self).as_q is not Condition.as_q

    # --- encoding and examples -------------------------------------------------------

    def terms(self) -> list[str]:
        """The normalised terms of the rule string, name first."""
        return [self.condstr] if self.key is None else [self.condstr, self.key]

    def encode(self) -> str:
        """The normalised rule string, e.g. ``"EMAIL_DOMAIN gmail.com"``."""
        return " ".join(self.terms())

    def identity(self) -> tuple[Any, ...]:
        """What makes two instances equal: class and normalised terms."""
        return (type(self), tuple(self.terms()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and self.identity() == other.identity()

    def __hash__(self) -> int:
        return hash(self.identity())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.encode()!r}>"

    @classmethod
    def example_key(cls, rng: random.Random) -> str | None:
        """A key for a generated example: allowed keys, then examples, then a placeholder."""
        if not cls.takes_key():
            return None
        choices = list(cls.keys_allowed or cls.key_examples or ())
        if not choices:
            return KEY_PLACEHOLDER if cls.key_required or rng.random() < 0.5 else None
        if not cls.key_required and rng.random() < 0.25:
            return None
        return rng.choice(choices)

    @classmethod
    def example(cls, rng: random.Random) -> str:
        """One generated rule string for the admin, e.g. ``"EMAIL_DOMAIN gmail.com"``."""
        key = cls.example_key(rng)
        return cls.condstr if key is None else f"{cls.condstr} {key}"


class CompareCondition(Condition):
    """A condition comparing a value of the object with an operand: ``LEVEL >= 5``.

    Implement ``eval_operand`` (the left side in Python; None means NULL, so the result
    is unknown). For SQL, implement ``sql_operand`` (a lookup path such as
    ``"date_joined__year"`` or an expression) or ``as_q``. Override ``cast_operand`` /
    ``format_operand`` for non-numbers and ``operators`` / ``lookups`` for other operator
    sets (e.g. ``before`` / ``after``).
    """

    operand_examples: ClassVar[Sequence[str]] = ()

    def __init__(self, key: str | None = None, *, op: str = "==", operand: Any = None) -> None:
        super().__init__(key)
        self.op = op
        self.operand = operand

    @classmethod
    def operators(cls) -> dict[str, Callable[[Any, Any], bool]]:
        """Operator symbol -> Python function of ``(value, operand)``."""
        return DEFAULT_OPERATORS

    @classmethod
    def lookups(cls) -> dict[str, str]:
        """Operator symbol -> lookup name; operators missing here are Python-only.

        Django's lookups, plus ``ne`` (not equal: ``NOT (... = ...)``, NULL stays NULL).
        """
        return DEFAULT_LOOKUPS

    @classmethod
    def cast_operand(cls, text: str) -> Any:
        """Turn the operand text into a value; raise ``ValueError`` if it is bad.

        Default: an exact number, so a ``DecimalField`` compares exactly in Python and in
        SQL. Whole numbers (``5``, ``5.0``, ``1e3``) become an ``int``, anything else a
        ``Decimal`` (``1.1`` is ``Decimal("1.1")``, never the float 1.1000000000000000888).
        ASCII only, finite, at most `MAX_OPERAND_DIGITS` digits and an exponent within
        plus or minus `MAX_OPERAND_EXPONENT`.
        """
        if not text.isascii():
            raise ValueError("not an ASCII number")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError("not a number") from None
        if not value.is_finite():
            raise ValueError("not a finite number")
        if value and (
            abs(value.adjusted()) > MAX_OPERAND_EXPONENT or len(value.as_tuple().digits) > MAX_OPERAND_DIGITS
        ):
            raise ValueError(
                f"out of range (at most {MAX_OPERAND_DIGITS} digits, exponent within "
                f"+-{MAX_OPERAND_EXPONENT})"
            )
        return int(value) if value == value.to_integral_value() else value

    @classmethod
    def format_operand(cls, value: Any) -> str:
        """The normalised text of an operand value (inverse of `cast_operand`)."""
        if isinstance(value, Decimal):
            return format(value.normalize(), "f")
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    @classmethod
    def from_terms(cls, terms: Sequence[str], *, path: str) -> Condition:
        """Parse ``[KEY] OPERATOR OPERAND``; raise `ConditionError` naming what is wrong."""
        if len(terms) < 2:
            raise ConditionError(
                f"{cls.condstr} needs an operator and an operand, e.g. "
                f"{cls.condstr} {next(iter(cls.operators()))} 5",
                path=path,
            )
        if len(terms) > 3:
            raise ConditionError(
                f"{cls.condstr} takes [key] operator operand; got {len(terms)} terms", path=path
            )
        key = cls.check_key(terms[0] if len(terms) == 3 else None, path=path)
        op, text = terms[-2], terms[-1]
        if op not in cls.operators():
            expected = ", ".join(cls.operators())
            raise ConditionError(
                f'unknown operator "{op}" for {cls.condstr} (expected one of {expected})',
                path=path,
            )
        return cls(key, op=op, operand=cls.parse_operand(text, path=path))

    @classmethod
    def parse_operand(cls, text: str, *, path: str) -> Any:
        """`cast_operand` with any exception it raises turned into `ConditionError`."""
        try:
            return cls.cast_operand(text)
        except Exception as exc:  # any failure of a custom cast is a bad operand, not a 500
            raise ConditionError(f'bad operand "{text}" for {cls.condstr}: {exc}', path=path) from exc

    def eval_operand(self, obj: Any, **context: Any) -> Any:
        """The value of ``obj`` compared with the operand."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement eval_operand")

    def eval_bool(self, obj: Any, **context: Any) -> bool | None:
        """Apply the operator to ``eval_operand(obj)`` and the operand, as SQL would.

        None (unknown) when the value is None; numbers compare in the type Postgres
        compares them in (`logic.compare`).
        """
        value = self.eval_operand(obj, **context)
        return logic.compare(self.operators()[self.op], self.lookups().get(self.op), value, self.operand)

    def sql_operand(self, **context: Any) -> str | Expression | None:
        """The left side in SQL: a lookup path (``"email"``) or an expression. None: no SQL."""
        return None

    @property
    def sql_capable(self) -> bool:
        """SQL-capable with its own ``as_q``, or with ``sql_operand`` and a known lookup."""
        if self._has_own_as_q():
            return True
        overridden = type(self).sql_operand is not CompareCondition.sql_operand
        return overridden and self.op in self.lookups()

    def sql_value(self) -> Any:
        """The operand as a SQL parameter: a whole number in `PLAIN_INTEGERS` as it is,
        anything else ``Value(operand)``.

        NOTE - a plain value is converted by the left side's field first, e.g.
        ``IntegerField`` turns 1.5 into 1 and ``length < 1.5`` would become ``length < 1``;
        a ``Value`` keeps its own type, so SQL compares like Python does (a ``Decimal`` is
        sent as ``numeric``). A small ``int`` loses nothing to that conversion, and as a
        plain value Django can compile a lookup such as ``date_joined__year >= 2020`` to a
        range of the column, which an index can serve, instead of
        ``EXTRACT(YEAR FROM date_joined) >= 2020`` on every row.
        """
        operand = self.operand
        if isinstance(operand, int) and not isinstance(operand, bool) and operand in PLAIN_INTEGERS:
            return operand
        return Value(operand)

    def _has_own_as_q(self) -> bool:
        return type(self).as_q is not CompareCondition.as_q

    def _sql_lhs(self, context: dict[str, Any]) -> str | Expression:
        lhs = self.sql_operand(**context)
        if lhs is None or self.op not in self.lookups():
            raise NotImplementedError(f"{self.encode()!r} has no SQL form")
        return lhs

    def as_q(self, **context: Any) -> Q:
        """The rows where ``<sql_operand> <lookup> <operand>`` is true (NULL: neither)."""
        return self.lookup_q(self._sql_lhs(context), self.lookups()[self.op])

    def as_not_q(self, **context: Any) -> Q:
        """The rows where the comparison is false: the complement lookup (``<`` -> ``>=``,
        ``==`` -> ``!=``), so a NULL value is in neither; for another lookup, NOT of it on
        rows whose value is not NULL. With an own ``as_q``: `Condition.as_not_q`."""
        if self._has_own_as_q():
            return super().as_not_q(**context)
        lhs = self._sql_lhs(context)
        lookup = self.lookups()[self.op]
        complement = logic.COMPLEMENTS.get(lookup)
        if complement is not None:
            return self.lookup_q(lhs, complement)
        not_null = Q(**{f"{lhs}__isnull": False}) if isinstance(lhs, str) else Q(IsNull(lhs, False))
        return ~self.lookup_q(lhs, lookup) & not_null

    def lookup_q(self, lhs: str | Expression, lookup: str) -> Q:
        """``Q(<lhs>__<lookup>=<sql_value>)``; ``ne`` is ``NOT (<lhs> = <operand>)``.

        NOTE - `compile.sql_not` keeps NULL as NULL, and Postgres plans ``NOT (a = b)`` as
        ``a <> b``; a year compared with a whole number stays a range of the column.
        """
        if lookup == "ne":
            return compiler.sql_not(self.lookup_q(lhs, "exact"))
        rhs = self.sql_value()
        if isinstance(lhs, str):
            return Q(**{f"{lhs}__{lookup}": rhs})
        if lookup in _LOOKUP_CLASSES:
            return Q(_LOOKUP_CLASSES[lookup](lhs, rhs))
        msg = f"lookup {lookup!r} needs a lookup path, not an expression, as sql_operand"
        raise NotImplementedError(msg)

    def terms(self) -> list[str]:
        """Name, optional key, operator and normalised operand."""
        return [*super().terms(), self.op, self.format_operand(self.operand)]

    @classmethod
    def example_operand(cls, rng: random.Random) -> str:
        """An operand for a generated example: from ``operand_examples``, else in [0, 100]."""
        return rng.choice(list(cls.operand_examples)) if cls.operand_examples else str(rng.randint(0, 100))

    @classmethod
    def example(cls, rng: random.Random) -> str:
        """A generated rule: name, optional key, an operator and `example_operand`."""
        operators = list(cls.operators())
        if not operators:
            return super().example(rng)
        return f"{super().example(rng)} {rng.choice(operators)} {cls.example_operand(rng)}"


class DateCompareCondition(CompareCondition):
    """Compare a date with an ISO date operand: ``JOINED before 2025-01-01``.

    Operators ``before``, ``after`` and ``on`` (SQL lookups ``lt``, ``gt``, ``exact``).
    Implement ``eval_operand`` (a ``datetime.date``) and, for SQL, ``sql_operand``.
    """

    operand_examples: ClassVar[Sequence[str]] = ("2024-01-01", "2025-01-01")
    _date_operators: ClassVar[dict[str, Callable[[Any, Any], bool]]] = {
        "before": lambda value, operand: value < operand,
        "after": lambda value, operand: value > operand,
        "on": lambda value, operand: value == operand,
    }

    @classmethod
    def operators(cls) -> dict[str, Callable[[Any, Any], bool]]:
        """``before`` / ``after`` / ``on``."""
        return cls._date_operators

    @classmethod
    def lookups(cls) -> dict[str, str]:
        """``lt`` / ``gt`` / ``exact``."""
        return {"before": "lt", "after": "gt", "on": "exact"}

    @classmethod
    def cast_operand(cls, text: str) -> Any:
        """An ISO date, e.g. ``2025-01-01``."""
        return datetime.date.fromisoformat(text)

    @classmethod
    def format_operand(cls, value: Any) -> str:
        """The ISO form of the date."""
        return value.isoformat()
