"""The three-valued logic of condition trees, shared by Python evaluation and SQL compilation.

Every condition is *true*, *false* or *unknown* for an object (a row). Unknown means the
condition could not be decided: the compared value is NULL / ``None`` (a NULL column, a
missing related row), or the condition raised. The same rules hold on both sides:

=====================  ==========================================  =============================
expression             Python (``evaluate``)                       SQL (``as_q``)
=====================  ==========================================  =============================
comparison ``v OP x``  unknown when ``v`` is None, else ``OP``      ``v OP x``: NULL is in neither
                       in the column's own type (`compare`)        the true nor the false rows
``NOT c``              true iff ``c`` is false; unknown stays       rows where ``c`` is false
                       unknown (`negate`)                          (`Condition.as_not_q`)
``all``                false if an item is false, else unknown if   AND of the items' true rows;
                       one is unknown, else true (`all_of`)         NOT: OR of their false rows
``any``                true if an item is true, else unknown if     OR of the items' true rows;
                       one is unknown, else false (`any_of`)        NOT: AND of their false rows
tree result            true only when definitely true               rows definitely true
=====================  ==========================================  =============================

So an unknown never grants membership, with or without ``NOT``, in Python and in SQL.
The compiler pushes ``NOT`` down to the conditions (De Morgan's laws, exact in this
logic), so the SQL is plain ANDs and ORs of each condition's true or false rows: never
Django's two-valued ``~Q``, which adds ``IS NOT NULL`` and would count NULL as false.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

#: A three-valued result: True, False or None (unknown).
Truth = bool | None

#: For a lookup: the lookup that selects the rows where it is false (NULL in neither).
#: ``ne`` is "not equal", compiled as ``NOT (... = ...)`` with `compile.sql_not` (Django
#: has no such lookup).
COMPLEMENTS: dict[str, str] = {
    "lt": "gte",
    "gte": "lt",
    "lte": "gt",
    "gt": "lte",
    "exact": "ne",
    "ne": "exact",
}

#: Postgres orders NaN above every number and equal to itself; the result of a lookup
#: whose left side is NaN (the operand is never NaN), so Python agrees with SQL.
NAN_RESULTS: dict[str, bool] = {
    "lt": False,
    "lte": False,
    "exact": False,
    "ne": True,
    "gte": True,
    "gt": True,
}


def negate(value: Truth) -> Truth:
    """Three-valued NOT: unknown stays unknown."""
    return None if value is None else not value


def all_of(values: Iterable[Truth]) -> Truth:
    """Three-valued AND, stopping at the first False. Empty: True."""
    result: Truth = True
    for value in values:
        if value is False:
            return False
        if value is None:
            result = None
    return result


def any_of(values: Iterable[Truth]) -> Truth:
    """Three-valued OR, stopping at the first True. Empty: False."""
    result: Truth = False
    for value in values:
        if value is True:
            return True
        if value is None:
            result = None
    return result


def is_nan(value: Any) -> bool:
    """Whether ``value`` is a float or Decimal NaN."""
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, Decimal) and value.is_nan()


def _number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def comparable(value: Any, operand: Any) -> tuple[Any, Any]:
    """``value`` and ``operand`` in the type Postgres compares them in.

    NOTE - Postgres compares double precision with numeric or an integer as double
    precision (the implicit casts go to float8), so when either side is a float both are
    compared as floats; ints and Decimals compare exactly, in Python as in SQL.
    """
    if _number(value) and _number(operand) and (isinstance(value, float) or isinstance(operand, float)):
        return float(value), float(operand)
    return value, operand


def compare(function: Callable[[Any, Any], Any], lookup: str | None, value: Any, operand: Any) -> Truth:
    """``function(value, operand)`` as SQL would decide ``value <lookup> operand``.

    None when ``value`` is None (NULL: unknown). A NaN value gives Postgres' answer
    (`NAN_RESULTS`) when the operator's lookup is known.
    """
    if value is None:
        return None
    if lookup in NAN_RESULTS and is_nan(value):
        return NAN_RESULTS[lookup]
    return bool(function(*comparable(value, operand)))
