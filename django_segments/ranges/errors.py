"""Turn database refusals into the library's typed exceptions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError, IntegrityError, connections, router, transaction

from django_segments.exceptions import (
    ContainmentError,
    GapError,
    OverlapError,
    RangeIntegrityError,
)

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
    kind = segment_model._span_options().kind
    table = segment_model._meta.db_table
    alias = router.db_for_write(segment_model)
    try:
        # In a savepoint of its own: this query too can fail (a serialization failure
        # under SERIALIZABLE), and the caller's transaction must stay usable.
        with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
            cursor.execute(
                f'SELECT id FROM "{table}" WHERE span_id::text = %s'
                f" AND segment_range = %s::{kind.range_sql_type} AND deleted_at IS NULL",
                [match["span"], match["range"]],
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


@contextmanager
def typed_errors(segment_model: Any = None) -> Iterator[None]:
    """Re-raise integrity errors from span constraints and triggers as typed exceptions."""
    try:
        yield
    except RangeIntegrityError:
        raise
    except IntegrityError as exc:
        error = translate(exc)
        if isinstance(error, OverlapError):
            error = name_conflicting_segment(error, segment_model)
        raise error from exc.__cause__
