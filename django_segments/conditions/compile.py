"""Compilation of a condition tree to one Django ``Q``, in the three-valued logic of `logic`.

Each condition gives two ``Q``: the rows where it is true (``as_q``) and the rows where it
is false (``as_not_q``); rows where it is unknown are in neither. ``NOT`` swaps the two
and groups combine them with AND / OR (De Morgan's laws for a negated group), so the
compiled WHERE never relies on Django's two-valued ``~Q``.

Constants are boolean ``Value`` expressions, so an empty group stays correct under
``NOT`` (an empty ``Q()`` would match everything, negated or not).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from operator import and_, or_
from typing import TYPE_CHECKING, Any

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db.models import BooleanField, ExpressionWrapper, Q, Value

from django_segments.exceptions import PythonOnlyConditionError

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

    from django_segments.conditions.base import Condition
    from django_segments.conditions.tree import Leaf


def true_q() -> Q:
    """A ``Q`` that every row satisfies (``WHERE true``)."""
    return Q(Value(True, output_field=BooleanField()))


def false_q() -> Q:
    """A ``Q`` that no row satisfies (``WHERE false``)."""
    return Q(Value(False, output_field=BooleanField()))


class SqlNot(ExpressionWrapper):
    """``NOT (<q>)`` under SQL's three-valued logic: where ``q`` is NULL, so is this.

    Django's ``~Q`` is two-valued instead (it adds ``IS NOT NULL`` so that NULL counts as
    false). ``q`` is resolved as an expression, so its joins are outer joins and a missing
    related row is NULL, not a dropped row.
    """

    def __init__(self, q: Q) -> None:
        super().__init__(q, output_field=BooleanField())

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, tuple[Any, ...]]:
        """``NOT (...)``; a ``q`` that Django found to match no row or every row is a constant."""
        try:
            sql, params = compiler.compile(self.expression)
        except EmptyResultSet:
            return "TRUE", ()
        except FullResultSet:
            return "FALSE", ()
        return f"NOT ({sql})", tuple(params)


def sql_not(q: Q) -> Q:
    """The rows where ``q`` is false, not NULL (see `SqlNot`); `false_q` for an empty ``Q``."""
    return Q(SqlNot(q)) if q else false_q()


def _checked(q: Any, condition: Condition, method: str) -> Q:
    if not isinstance(q, Q):
        msg = f"{type(condition).__qualname__}.{method} must return a Q; got {type(q).__name__}"
        raise TypeError(msg)
    return q


def condition_q(condition: Condition, context: dict[str, Any]) -> Q:
    """``condition.as_q(**context)``: the rows where it is true."""
    q = _checked(condition.as_q(**context), condition, "as_q")
    # NOTE - an empty Q() matches every row even when negated; make "always" explicit.
    return q if q else true_q()


def condition_not_q(condition: Condition, context: dict[str, Any]) -> Q:
    """``condition.as_not_q(**context)``: the rows where it is false."""
    q = _checked(condition.as_not_q(**context), condition, "as_not_q")
    return q if q else true_q()


def require_sql(leaves: Iterable[Leaf]) -> None:
    """Raise `PythonOnlyConditionError` at the first leaf without SQL, naming them all."""
    python_only = [leaf for leaf in leaves if not leaf.condition.sql_capable]
    if not python_only:
        return
    first, others = python_only[0], python_only[1:]
    message = (
        f"condition {first.condition.encode()!r} ({type(first.condition).__qualname__}) has no SQL "
        "form (as_q), so this tree can only be evaluated in Python"
    )
    if others:
        named = ", ".join(f"{leaf.condition.encode()!r} at {leaf.path}" for leaf in others)
        message += f" (nor has {named})"
    raise PythonOnlyConditionError(message, path=first.path)


def all_q(parts: Iterable[Q]) -> Q:
    """AND of ``parts``; an empty group is `true_q`."""
    items = list(parts)
    return reduce(and_, items) if items else true_q()


def any_q(parts: Iterable[Q]) -> Q:
    """OR of ``parts``; an empty group is `false_q`."""
    items = list(parts)
    return reduce(or_, items) if items else false_q()
