"""Conditions: named rules, JSON condition trees, their evaluation and compilation to SQL.

The stable interface::

    from django_segments.conditions import parse, default_definitions
    defs = default_definitions()          # from settings.SEGMENTS_CONDITIONS
    tree = parse(data, definitions=defs)  # ConditionError with a path if malformed
    tree.evaluate(obj, **context)         # bool; failing conditions fail closed
    tree.as_q(**context)                  # one Q; PythonOnlyConditionError if impossible
    tree.sql_capable                      # bool
    tree.encode()                         # normalised JSON data

See docs/conditions.md.
"""

from __future__ import annotations

from django_segments.conditions.base import CompareCondition, Condition, DateCompareCondition
from django_segments.conditions.evaluate import logger
from django_segments.conditions.fields import (
    ConditionsField,
    ConditionsFormField,
    eval_conditions,
)
from django_segments.conditions.parser import clear_cache, parse
from django_segments.conditions.registry import (
    Definitions,
    conditions_from_module,
    default_definitions,
)
from django_segments.conditions.tree import AllOf, AnyOf, Leaf, Node, Not
from django_segments.conditions.widgets import ConditionsWidget
from django_segments.exceptions import ConditionError, PythonOnlyConditionError

__all__ = [
    "AllOf",
    "AnyOf",
    "CompareCondition",
    "Condition",
    "ConditionError",
    "ConditionsField",
    "ConditionsFormField",
    "ConditionsWidget",
    "DateCompareCondition",
    "Definitions",
    "Leaf",
    "Node",
    "Not",
    "PythonOnlyConditionError",
    "clear_cache",
    "conditions_from_module",
    "default_definitions",
    "eval_conditions",
    "logger",
    "parse",
]
