"""Compilation of a condition tree to one Django ``Q``.

Constants are boolean ``Value`` expressions, so ``NOT`` of an empty group stays correct
(an empty ``Q()`` would match everything, negated or not).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from operator import and_, or_
from typing import Any

from django.db.models import BooleanField, Q, Value

from django_segments.conditions.base import Condition
from django_segments.exceptions import PythonOnlyConditionError


def true_q() -> Q:
    """A ``Q`` that every row satisfies (``WHERE true``)."""
    return Q(Value(True, output_field=BooleanField()))


def false_q() -> Q:
    """A ``Q`` that no row satisfies (``WHERE false``)."""
    return Q(Value(False, output_field=BooleanField()))


def condition_q(condition: Condition, path: str, context: dict[str, Any]) -> Q:
    """``condition.as_q(**context)``, or `PythonOnlyConditionError` naming it and its path."""
    if not condition.sql_capable:
        raise PythonOnlyConditionError(
            f"condition {condition.encode()!r} ({type(condition).__qualname__}) has no SQL "
            "form (as_q); this tree can be evaluated in Python only",
            path=path,
        )
    q = condition.as_q(**context)
    if not isinstance(q, Q):
        msg = f"{type(condition).__qualname__}.as_q must return a Q; got {type(q).__name__}"
        raise TypeError(msg)
    # NOTE - an empty Q() matches every row even when negated; make "always" explicit.
    return q if q else true_q()


def all_q(parts: Iterable[Q]) -> Q:
    """AND of ``parts``; an empty group is `true_q`."""
    items = list(parts)
    return reduce(and_, items) if items else true_q()


def any_q(parts: Iterable[Q]) -> Q:
    """OR of ``parts``; an empty group is `false_q`."""
    items = list(parts)
    return reduce(or_, items) if items else false_q()
