"""django-segments: Postgres-enforced spans and segments, user segments and conditions.

Public names live here, flat: ``import django_segments as ds; ds.AbstractSpan``. Model
classes are imported lazily (on first attribute access) because Django models cannot be
defined before the app registry is ready; type checkers see every name with its type
through the imports under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("django-segments")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

# NOTE - a library's loggers get a NullHandler (the logging HOWTO's advice): without one,
# a project that configured no logging has Python's last-resort handler print every
# warning, with its traceback, on stderr. Configured handlers still receive everything.
logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    # NOTE - type checkers read these imports; at run time `__getattr__` imports each name
    # on first use (models cannot be imported before the app registry is ready).
    from django_segments.conditions import (
        CompareCondition,
        Condition,
        ConditionsField,
        ConditionsFormField,
        ConditionsWidget,
        DateCompareCondition,
        Definitions,
        conditions_from_module,
        default_definitions,
        eval_conditions,
        parse,
    )
    from django_segments.exceptions import (
        ArchivedSegmentError,
        ConditionError,
        ContainmentError,
        DeadlockError,
        GapError,
        IncorrectRangeTypeError,
        IncorrectSegmentRangeError,
        IncorrectSpanRangeError,
        IncorrectSubclassError,
        InvalidMemberError,
        InvalidRangeFieldNameError,
        NeverRefreshedError,
        OverlapError,
        PythonOnlyConditionError,
        RangeIntegrityError,
        RangeValueError,
        RefreshError,
        RetryableTransactionError,
        SegmentDefinitionError,
        SegmentOperationError,
        SegmentRelationshipError,
        SegmentsError,
        SegmentSQLError,
        SerializationFailureError,
        UnregisteredMethodError,
        UnsafeSQLError,
    )
    from django_segments.membership.mixins import SegmentMixin
    from django_segments.membership.models import (
        CurrentMembership,
        Membership,
        RefreshRun,
        UserSegment,
        forget_member,
    )
    from django_segments.membership.registry import register_segment_method
    from django_segments.membership.router import SegmentsExecRouter
    from django_segments.ranges.config import SegmentConfig, SpanConfig
    from django_segments.ranges.models import AbstractSegment, AbstractSpan
    from django_segments.ranges.operations import defer_checks
    from django_segments.ranges.querysets import SegmentManager, SegmentQuerySet, SpanManager, SpanQuerySet

# public name -> defining module
_LAZY: dict[str, str] = {
    # ranges
    "AbstractSegment": "django_segments.ranges.models",
    "AbstractSpan": "django_segments.ranges.models",
    "SegmentConfig": "django_segments.ranges.config",
    "SegmentManager": "django_segments.ranges.querysets",
    "SegmentQuerySet": "django_segments.ranges.querysets",
    "SpanConfig": "django_segments.ranges.config",
    "SpanManager": "django_segments.ranges.querysets",
    "SpanQuerySet": "django_segments.ranges.querysets",
    "defer_checks": "django_segments.ranges.operations",
    # conditions
    "CompareCondition": "django_segments.conditions",
    "Condition": "django_segments.conditions",
    "ConditionsField": "django_segments.conditions",
    "ConditionsFormField": "django_segments.conditions",
    "ConditionsWidget": "django_segments.conditions",
    "DateCompareCondition": "django_segments.conditions",
    "Definitions": "django_segments.conditions",
    "conditions_from_module": "django_segments.conditions",
    "default_definitions": "django_segments.conditions",
    "eval_conditions": "django_segments.conditions",
    "parse": "django_segments.conditions",
    # membership
    "CurrentMembership": "django_segments.membership.models",
    "Membership": "django_segments.membership.models",
    "RefreshRun": "django_segments.membership.models",
    "SegmentMixin": "django_segments.membership.mixins",
    "SegmentsExecRouter": "django_segments.membership.router",
    "UserSegment": "django_segments.membership.models",
    "forget_member": "django_segments.membership.models",
    "register_segment_method": "django_segments.membership.registry",
    # exceptions
    "ArchivedSegmentError": "django_segments.exceptions",
    "ConditionError": "django_segments.exceptions",
    "ContainmentError": "django_segments.exceptions",
    "DeadlockError": "django_segments.exceptions",
    "GapError": "django_segments.exceptions",
    "IncorrectRangeTypeError": "django_segments.exceptions",
    "IncorrectSegmentRangeError": "django_segments.exceptions",
    "IncorrectSpanRangeError": "django_segments.exceptions",
    "IncorrectSubclassError": "django_segments.exceptions",
    "InvalidMemberError": "django_segments.exceptions",
    "InvalidRangeFieldNameError": "django_segments.exceptions",
    "NeverRefreshedError": "django_segments.exceptions",
    "OverlapError": "django_segments.exceptions",
    "PythonOnlyConditionError": "django_segments.exceptions",
    "RangeIntegrityError": "django_segments.exceptions",
    "RangeValueError": "django_segments.exceptions",
    "RefreshError": "django_segments.exceptions",
    "RetryableTransactionError": "django_segments.exceptions",
    "SegmentDefinitionError": "django_segments.exceptions",
    "SegmentOperationError": "django_segments.exceptions",
    "SegmentRelationshipError": "django_segments.exceptions",
    "SegmentSQLError": "django_segments.exceptions",
    "SegmentsError": "django_segments.exceptions",
    "SerializationFailureError": "django_segments.exceptions",
    "UnregisteredMethodError": "django_segments.exceptions",
    "UnsafeSQLError": "django_segments.exceptions",
}

__all__ = [
    "AbstractSegment",
    "AbstractSpan",
    "ArchivedSegmentError",
    "CompareCondition",
    "Condition",
    "ConditionError",
    "ConditionsField",
    "ConditionsFormField",
    "ConditionsWidget",
    "ContainmentError",
    "CurrentMembership",
    "DateCompareCondition",
    "DeadlockError",
    "Definitions",
    "GapError",
    "IncorrectRangeTypeError",
    "IncorrectSegmentRangeError",
    "IncorrectSpanRangeError",
    "IncorrectSubclassError",
    "InvalidMemberError",
    "InvalidRangeFieldNameError",
    "Membership",
    "NeverRefreshedError",
    "OverlapError",
    "PythonOnlyConditionError",
    "RangeIntegrityError",
    "RangeValueError",
    "RefreshError",
    "RefreshRun",
    "RetryableTransactionError",
    "SegmentConfig",
    "SegmentDefinitionError",
    "SegmentManager",
    "SegmentMixin",
    "SegmentOperationError",
    "SegmentQuerySet",
    "SegmentRelationshipError",
    "SegmentSQLError",
    "SegmentsError",
    "SegmentsExecRouter",
    "SerializationFailureError",
    "SpanConfig",
    "SpanManager",
    "SpanQuerySet",
    "UnregisteredMethodError",
    "UnsafeSQLError",
    "UserSegment",
    "__version__",
    "conditions_from_module",
    "default_definitions",
    "defer_checks",
    "eval_conditions",
    "forget_member",
    "parse",
    "register_segment_method",
]


if not TYPE_CHECKING:
    # NOTE - hidden from type checkers, so that a misspelt ``ds.Name`` is an error there
    # instead of ``Any``.

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            msg = f"module 'django_segments' has no attribute {name!r}"
            raise AttributeError(msg)
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return __all__
