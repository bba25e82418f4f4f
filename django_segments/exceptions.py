"""Typed exceptions of django-segments.

Every error the library raises derives from `SegmentsError`. Database refusals (an
exclusion constraint, a constraint trigger) are translated into these types by
`django_segments.ranges.errors`, so callers never have to parse SQLSTATEs.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import IntegrityError, OperationalError


class SegmentsError(Exception):
    """Base class of every django-segments error."""


# --- Ranges: configuration -------------------------------------------------------------


class RangeConfigurationError(SegmentsError, TypeError):
    """A span or segment model is declared wrongly."""


class IncorrectSubclassError(RangeConfigurationError):
    """A model is not a proper subclass of `AbstractSpan` / `AbstractSegment`."""


class IncorrectRangeTypeError(RangeConfigurationError):
    """`SpanConfig.range_field_type` is missing or not a supported range field."""


class InvalidRangeFieldNameError(RangeConfigurationError):
    """A range field name collides with a reserved name or does not exist."""


class SegmentRelationshipError(IncorrectSubclassError):
    """`SegmentConfig.span_model` is missing, not a span model, or related wrongly.

    An `IncorrectSubclassError`, the type the range-based reference design raises for
    these cases."""


# --- Ranges: values and operations -----------------------------------------------------


class RangeValueError(SegmentsError, ValueError):
    """A value or range given to an operation is invalid (type, bounds, emptiness)."""


class IncorrectSpanRangeError(RangeValueError):
    """A span's range is invalid: empty, inverted, infinite or of the wrong type."""


class IncorrectSegmentRangeError(RangeValueError):
    """A segment's range is invalid or does not fit its span."""


class SegmentOperationError(SegmentsError):
    """An operation cannot be applied in the current state (e.g. merge with no neighbour)."""


class RangeIntegrityError(SegmentsError, IntegrityError):
    """Postgres refused a change because it would break a span invariant.

    ``invariant`` is one of ``"overlap"``, ``"containment"``, ``"gaps"``, ``"tiling"``,
    ``"range"``; ``detail`` is the database's message, naming span, segment and ranges.
    """

    def __init__(self, message: str, *, invariant: str, detail: str = "") -> None:
        super().__init__(message)
        self.invariant = invariant
        self.detail = detail


class OverlapError(RangeIntegrityError):
    """Two active segments of one span would overlap.

    ``conflicting_segment_id`` is the existing segment collided with, when known.
    """

    conflicting_segment_id: object = None


class ContainmentError(RangeIntegrityError):
    """An active segment would lie (partly) outside its span's current range."""


class GapError(RangeIntegrityError):
    """Segments would leave a gap although the span forbids segment gaps or span gaps."""


# --- Conditions ------------------------------------------------------------------------


class ConditionError(SegmentsError, ValueError):
    """A condition tree is malformed. ``path`` locates the fault, e.g. ``$.all[2]``."""

    def __init__(self, message: str, *, path: str = "$") -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


class PythonOnlyConditionError(ConditionError):
    """A tree cannot be compiled to SQL because a condition has no ``as_q``."""


# --- Segmentation ----------------------------------------------------------------------


class SegmentDefinitionError(SegmentsError, ValueError):
    """A user segment's definition (SQL, static ids, method, conditions) is invalid."""


class UnsafeSQLError(SegmentDefinitionError):
    """User SQL is not exactly one read-only SELECT."""


class RefreshError(SegmentsError):
    """A refresh failed; the previous membership is untouched."""


class SegmentSQLError(RefreshError):
    """The database refused or stopped user-written segment SQL while running it.

    The message names the SQLSTATE and its class; the database's own message and the
    position in the SQL are kept only where they cannot quote values the query read
    (see the security model in the docs). ``sqlstate`` is the code (None when the
    connection failed without one); ``position`` the 1-based character of the SQL the
    error points at, or None.
    """

    def __init__(self, message: str, *, sqlstate: str | None, position: int | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.position = position


class InvalidMemberError(SegmentsError, TypeError, ValueError):
    """A value passed as a member is neither a saved instance of ``SEGMENTS_MEMBER_MODEL``
    nor a valid primary key of it (``None``, an object of another model, text that is no
    key). The message names the argument and the type it got, never the value itself.
    """


class ArchivedSegmentError(RefreshError):
    """The user segment was archived (`UserSegment.archive`): it is never refreshed again."""


class NeverRefreshedError(SegmentsError):
    """Membership of a user segment was asked before its first successful refresh."""


class UnregisteredMethodError(SegmentDefinitionError):
    """A manager-method definition names a method that is not registered."""


# --- Concurrency -----------------------------------------------------------------------


class RetryableTransactionError(SegmentsError, OperationalError):
    """Postgres rolled the statement back because of a concurrent transaction; nothing it
    wrote remains. Run the whole transaction again (its snapshot or its locks were the
    problem, so a retry of the one statement inside it can fail the same way).

    Also a Django ``OperationalError``, as the database error it replaces.
    """

    sqlstate: ClassVar[str] = ""


class SerializationFailureError(RetryableTransactionError):
    """SQLSTATE 40001: under REPEATABLE READ or SERIALIZABLE, a concurrent transaction
    changed what this one read."""

    sqlstate = "40001"


class DeadlockError(RetryableTransactionError):
    """SQLSTATE 40P01: this transaction and another waited for each other's locks; Postgres
    stopped this one."""

    sqlstate = "40P01"


_RETRYABLE: dict[str, type[RetryableTransactionError]] = {
    cls.sqlstate: cls for cls in (SerializationFailureError, DeadlockError)
}


def retryable(exc: OperationalError) -> OperationalError:
    """The typed error for a serialization failure or a deadlock (``exc`` is Django's error,
    caused by psycopg's), else ``exc`` itself."""
    if isinstance(exc, RetryableTransactionError):
        return exc
    cause = exc.__cause__
    cls = _RETRYABLE.get(getattr(cause, "sqlstate", None) or "")
    if cls is None:
        return exc
    primary = getattr(getattr(cause, "diag", None), "message_primary", None) or str(exc).strip()
    error = cls(f"{primary} (SQLSTATE {cls.sqlstate}); run the whole transaction again")
    error.__cause__ = exc
    return error
