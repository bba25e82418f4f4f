"""Turn database refusals into the library's typed exceptions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    OperationalError,
    connections,
    router,
    transaction,
)

from django_segments.exceptions import (
    ContainmentError,
    GapError,
    IncorrectSpanRangeError,
    OverlapError,
    RangeIntegrityError,
    RangeValueError,
    retryable,
)
from django_segments.ranges.compiler import operations

_BY_SUFFIX: tuple[tuple[str, type[RangeIntegrityError], str], ...] = (
    ("_no_overlap", OverlapError, "overlap"),
    ("_containment", ContainmentError, "containment"),
    ("_tiling", GapError, "tiling"),
    ("_gaps", GapError, "gaps"),
    ("_range_valid", RangeIntegrityError, "range"),
    ("_current_range_valid", RangeIntegrityError, "range"),
    ("_initial_range_valid", RangeIntegrityError, "range"),
)


def translate(exc: IntegrityError) -> IntegrityError:
    """Return the typed error for ``exc`` (or ``exc`` itself if it is not ours)."""
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    constraint = getattr(diag, "constraint_name", None) or ""
    for suffix, cls, invariant in _BY_SUFFIX:
        if constraint.endswith(suffix):
            primary = getattr(diag, "message_primary", None) or str(exc)
            detail = getattr(diag, "message_detail", None) or ""
            message = f"{primary} ({detail})" if detail else primary
            error = cls(f"{message} [constraint {constraint}]", invariant=invariant, detail=detail)
            error.__cause__ = exc
            return error
    return exc


# "Key (span_id, segment_range)=(1, [0,7)) conflicts with existing key (span_id, segment_range)=(1, [5,9))."
_EXISTING = re.compile(r"conflicts with existing key \([^)]*\)=\((?P<span>[^,]+), (?P<range>.+)\)\.?$")


def name_conflicting_segment(error: RangeIntegrityError, segment_model: Any) -> RangeIntegrityError:
    """Add the id of the existing segment an `OverlapError` collided with to its message.

    Runs after the failed statement's savepoint was rolled back, so the connection can
    still query; if the query fails, the error is returned unchanged.
    """
    match = _EXISTING.search(error.detail)
    if not isinstance(error, OverlapError) or match is None or segment_model is None:
        return error
    alias = router.db_for_write(segment_model)
    try:
        # In a savepoint of its own: this query too can fail (a serialization failure
        # under SERIALIZABLE), and the caller's transaction must stay usable.
        with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
            cursor.execute(
                operations(segment_model)["conflicting_segment"],
                {"span": match["span"], "range": match["range"]},
            )
            row = cursor.fetchone()
    except DatabaseError:
        return error
    if row is None:
        return error
    named = OverlapError(
        f"{error} - it overlaps segment {row[0]} {match['range']} of span {match['span']}",
        invariant=error.invariant,
        detail=error.detail,
    )
    named.conflicting_segment_id = row[0]
    return named


#: SQLSTATEs of a value past its type's limits: numeric_value_out_of_range (integer,
#: bigint, numeric) and datetime_field_overflow (date, timestamp arithmetic).
OUT_OF_RANGE = frozenset({"22003", "22008"})


def out_of_range(exc: DataError, segment_model: Any, computed: str | None) -> Exception:
    """The `RangeValueError` for a value Postgres found out of its type's range (``exc``
    itself for other data errors). ``computed`` names the bounds an operation computed
    in SQL (e.g. ``"shift_by_value(): the span's new current_range"``)."""
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    if sqlstate not in OUT_OF_RANGE:
        return exc
    if segment_model is None:
        return RangeValueError(f"a value is out of range for its range type (SQLSTATE {sqlstate})")
    return bounds_error(segment_model, computed or "a bound", f"SQLSTATE {sqlstate}")


def bounds_error(segment_model: Any, what: str, reason: str) -> RangeValueError:
    """The error for bounds ``what`` of ``segment_model``'s span that leave its kind's limits."""
    kind = segment_model._span_options().kind
    span = "current_range" in what
    owner = segment_model._meta.get_field("span").related_model if span else segment_model
    cls = IncorrectSpanRangeError if span else RangeValueError
    return cls(
        f"{owner.__name__}: {what} is out of range for {kind.name} ranges "
        f"({kind.sql_type}): a value must be {kind.describe_limits()} ({reason})"
    )


@contextmanager
def typed_errors(segment_model: Any = None, *, computed: str | None = None) -> Iterator[None]:
    """Re-raise integrity errors from span constraints and triggers as typed exceptions,
    deadlocks and serialization failures as `RetryableTransactionError`, and values out
    of their type's range as `RangeValueError`.

    ``computed``: the bounds the block's statement computes from the locked row (an
    operation by a delta); a value out of range there, or refused by the range check
    (past the year 9999 Django can read), is an `IncorrectSpanRangeError` naming them.
    """
    try:
        yield
    except RangeIntegrityError as exc:
        if computed is not None and exc.invariant == "range":
            raise bounds_error(segment_model, computed, "refused by the range check") from exc
        raise
    except IntegrityError as exc:
        error = translate(exc)
        if computed is not None and isinstance(error, RangeIntegrityError) and error.invariant == "range":
            raise bounds_error(segment_model, computed, "refused by the range check") from exc
        if isinstance(error, OverlapError):
            error = name_conflicting_segment(error, segment_model)
        raise error from exc.__cause__
    except DataError as exc:
        typed = out_of_range(exc, segment_model, computed)
        if typed is exc:
            raise
        raise typed from exc
    except OperationalError as exc:  # a deadlock or serialization failure is retryable
        raise retryable(exc)  # noqa: B904 - retryable() sets the cause
