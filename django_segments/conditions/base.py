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
import math
import operator
import random
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from django.db.models import Expression, Q, Value
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    Lookup,
)

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

#: Django lookup names of the default operators (``!=`` compiles to a negated ``exact``).
DEFAULT_LOOKUPS: dict[str, str] = {
    "<": "lt",
    "<=": "lte",
    "==": "exact",
    "!=": "exact",
    ">=": "gte",
    ">": "gt",
}

#: Negated operators: compiled as ``~Q(<lookup>)``.
NEGATED_OPERATORS: frozenset[str] = frozenset({"!="})

_LOOKUP_CLASSES: dict[str, type[Lookup]] = {
    "lt": LessThan,
    "lte": LessThanOrEqual,
    "exact": Exact,
    "gte": GreaterThanOrEqual,
    "gt": GreaterThan,
}

#: Beyond 2**53 a float no longer holds every integer: such operands stay floats.
_EXACT_FLOAT_INTEGERS = 2**53

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

    The docstring of a subclass is its description in the admin.
    """

    condstr: ClassVar[str] = ""
    key_required: ClassVar[bool] = False
    key_optional: ClassVar[bool] = False
    keys_allowed: ClassVar[Sequence[str] | None] = None
    key_examples: ClassVar[Sequence[str]] = ()
    group: ClassVar[str] = "General"

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

    def eval_bool(self, obj: Any, **context: Any) -> bool:
        """Whether ``obj`` satisfies the condition. ``context`` is what the caller passed."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement eval_bool")

    def as_q(self, **context: Any) -> Q:
        """The condition as a ``Q`` on the member model. Override to make it SQL-capable."""
        raise NotImplementedError(f"{type(self).__qualname__} has no as_q")

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

    Implement ``eval_operand`` (the left side in Python). For SQL, implement
    ``sql_operand`` (a lookup path such as ``"date_joined__year"`` or an expression) or
    ``as_q``. Override ``cast_operand`` / ``format_operand`` for non-numbers and
    ``operators`` / ``lookups`` for other operator sets (e.g. ``before`` / ``after``).
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
        """Operator symbol -> Django lookup name; operators missing here are Python-only."""
        return DEFAULT_LOOKUPS

    @classmethod
    def negated_operators(cls) -> frozenset[str]:
        """Operators compiled as the negation of their lookup (``!=`` -> ``~exact``)."""
        return NEGATED_OPERATORS

    @classmethod
    def cast_operand(cls, text: str) -> Any:
        """Turn the operand text into a value; raise ``ValueError`` if it is bad.

        Default: a number. Whole numbers (``5``, ``5.0``, ``1e3``) become an ``int``, so SQL
        compares integers as integers; anything else becomes a finite ``float``.
        """
        try:
            return int(text)
        except ValueError:
            pass
        value = float(text)
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        if value.is_integer() and abs(value) <= _EXACT_FLOAT_INTEGERS:
            return int(value)
        return value

    @classmethod
    def format_operand(cls, value: Any) -> str:
        """The normalised text of an operand value (inverse of `cast_operand`)."""
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

    def eval_bool(self, obj: Any, **context: Any) -> bool:
        """Apply the operator to ``eval_operand(obj)`` and the operand."""
        return bool(self.operators()[self.op](self.eval_operand(obj, **context), self.operand))

    def sql_operand(self, **context: Any) -> str | Expression | None:
        """The left side in SQL: a lookup path (``"email"``) or an expression. None: no SQL."""
        return None

    @property
    def sql_capable(self) -> bool:
        """SQL-capable with its own ``as_q``, or with ``sql_operand`` and a known lookup."""
        if type(self).as_q is not CompareCondition.as_q:
            return True
        overridden = type(self).sql_operand is not CompareCondition.sql_operand
        return overridden and self.op in self.lookups()

    def sql_value(self) -> Any:
        """The operand as a SQL parameter: an ``int`` as it is, anything else ``Value(operand)``.

        NOTE - a plain value is converted by the left side's field first, e.g.
        ``IntegerField`` turns 1.5 into 1 and ``length < 1.5`` would become ``length < 1``;
        a ``Value`` keeps its own type, so SQL compares like Python does. An ``int`` loses
        nothing to that conversion, and as a plain value Django can compile a lookup such as
        ``date_joined__year >= 2020`` to a range of the column, which an index can serve,
        instead of ``EXTRACT(YEAR FROM date_joined) >= 2020`` on every row.
        """
        operand = self.operand
        if isinstance(operand, int) and not isinstance(operand, bool):
            return operand
        return Value(operand)

    def as_q(self, **context: Any) -> Q:
        """``Q(<sql_operand>__<lookup>=Value(operand))``, negated for ``!=``."""
        lhs = self.sql_operand(**context)
        lookup = self.lookups().get(self.op)
        if lhs is None or lookup is None:
            raise NotImplementedError(f"{self.encode()!r} has no SQL form")
        rhs = self.sql_value()
        if isinstance(lhs, str):
            q = Q(**{f"{lhs}__{lookup}": rhs})
        elif lookup in _LOOKUP_CLASSES:
            q = Q(_LOOKUP_CLASSES[lookup](lhs, rhs))
        else:
            msg = f"lookup {lookup!r} needs a lookup path, not an expression, as sql_operand"
            raise NotImplementedError(msg)
        return ~q if self.op in self.negated_operators() else q

    def terms(self) -> list[str]:
        """Name, optional key, operator and normalised operand."""
        return [*super().terms(), self.op, self.format_operand(self.operand)]

    @classmethod
    def example(cls, rng: random.Random) -> str:
        """A generated rule: operands from ``operand_examples`` or a number in [0, 100]."""
        operand = rng.choice(list(cls.operand_examples)) if cls.operand_examples else str(rng.randint(0, 100))
        op = rng.choice(list(cls.operators()))
        return f"{super().example(rng)} {op} {operand}"


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
