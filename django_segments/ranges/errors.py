"""Turn database refusals into the library's typed exceptions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError

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


@contextmanager
def typed_errors() -> Iterator[None]:
    """Re-raise integrity errors from span constraints and triggers as typed exceptions."""
    try:
        yield
    except RangeIntegrityError:
        raise
    except IntegrityError as exc:
        raise translate(exc) from exc.__cause__
