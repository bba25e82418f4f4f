"""Python evaluation of one condition, failing closed.

A condition's result is three-valued (see `django_segments.conditions.logic`): ``eval_bool``
returning None is *unknown*, and so is a condition that raises. A raise is logged with its
traceback on the condition's ``failure_logger`` (``django_segments.conditions`` by
default), except ``ObjectDoesNotExist`` (a missing related row, such as ``user.profile``),
which is data rather than a fault and is logged at DEBUG level only. A tree whose result
is unknown evaluates to False, so an unknown condition never grants membership, not even
through ``NOT``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from django_segments.conditions.base import Condition
from django_segments.conditions.logic import Truth, all_of, any_of, negate

#: Default logger of runtime failures of conditions (level ERROR, with traceback).
logger = logging.getLogger("django_segments.conditions")

__all__ = ["Truth", "all_of", "any_of", "logger", "negate", "run_condition"]


def run_condition(condition: Condition, path: str, obj: Any, context: dict[str, Any]) -> Truth:
    """``condition.eval_bool(obj, **context)``: True, False, or None when unknown."""
    try:
        result = condition.eval_bool(obj, **context)
    except ObjectDoesNotExist:
        logger.debug(
            "condition %r at %s: a related row of %r is missing (unknown)", condition.encode(), path, obj
        )
        return None
    except Exception:
        logging.getLogger(condition.failure_logger).exception(
            "condition %r at %s raised while evaluating %r; it counts as unknown (fails closed)",
            condition.encode(),
            path,
            obj,
        )
        return None
    return None if result is None else bool(result)
