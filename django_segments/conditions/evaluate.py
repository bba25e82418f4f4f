"""Python evaluation of one condition, failing closed.

A condition that raises is logged with its traceback on the ``django_segments.conditions``
logger and its result is *unknown* (``None``). Unknown combines like SQL ``NULL``
(Kleene logic): ``NOT unknown`` is unknown, ``all`` is False if any item is False, else
unknown if any item is unknown; ``any`` is True if any item is True, else unknown if any
item is unknown. A tree whose result is unknown evaluates to False, so a failing condition
never grants membership, not even through ``NOT``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django_segments.conditions.base import Condition

#: Logger of runtime failures of conditions (level ERROR, with traceback).
logger = logging.getLogger("django_segments.conditions")

#: A three-valued result: True, False or None (unknown, a condition failed).
Truth = bool | None


def run_condition(condition: Condition, path: str, obj: Any, context: dict[str, Any]) -> Truth:
    """``condition.eval_bool(obj, **context)``; None (and a log record) if it raises."""
    try:
        return bool(condition.eval_bool(obj, **context))
    except Exception:
        logger.exception(
            "condition %r at %s raised while evaluating %r; it counts as failed (False)",
            condition.encode(),
            path,
            obj,
        )
        return None


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
