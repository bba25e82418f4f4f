"""Managers and querysets of spans and segments.

The default managers (``objects``) hide soft-deleted rows; ``all_objects`` reaches all.
"""

from __future__ import annotations

from typing import Any

from django.db import models


class SpanQuerySet(models.QuerySet):
    """Queryset of spans."""

    def active(self) -> SpanQuerySet:
        """Spans that are not soft-deleted."""
        return self.filter(deleted_at__isnull=True)

    def deleted(self) -> SpanQuerySet:
        """Soft-deleted spans."""
        return self.filter(deleted_at__isnull=False)


class SegmentQuerySet(models.QuerySet):
    """Queryset of segments."""

    def active(self) -> SegmentQuerySet:
        """Segments that are not soft-deleted."""
        return self.filter(deleted_at__isnull=True)

    def deleted(self) -> SegmentQuerySet:
        """Soft-deleted segments."""
        return self.filter(deleted_at__isnull=False)

    def in_range_order(self) -> SegmentQuerySet:
        """Order by span, then by lower bound (uses the ``(span_id, lower(range))`` index)."""
        return self.order_by("span_id", "segment_range__startswith")

    def overlapping(self, value: Any, *, include_deleted: bool = False) -> SegmentQuerySet:
        """Segments whose range overlaps ``value`` (a range or a ``(lower, upper)`` pair)."""
        model: Any = self.model
        rng = model._span_options().kind.coerce(value, "overlapping() range")
        qs = self.filter(segment_range__overlap=rng)
        return qs if include_deleted else qs.active()

    def containing(self, value: Any, *, include_deleted: bool = False) -> SegmentQuerySet:
        """Segments whose range contains the point ``value``."""
        model: Any = self.model
        kind = model._span_options().kind
        point = kind.check_value(value, "containing() value")
        # NOTE - a one-point range, not the bare value: Django casts a bare value to the
        # base field's type, which for DecimalRangeField renders as "numeric(None, None)".
        qs = self.filter(segment_range__contains=kind.range_class(point, point, "[]"))
        return qs if include_deleted else qs.active()


class SpanManager(models.Manager.from_queryset(SpanQuerySet)):  # type: ignore[misc]
    """Default span manager: hides soft-deleted spans."""

    def get_queryset(self) -> SpanQuerySet:
        """Active spans only."""
        return super().get_queryset().filter(deleted_at__isnull=True)

    def create(self, **kwargs: Any) -> Any:
        """Create a span (the active-only filter has no part in an INSERT; building it
        cost more than a tenth of a millisecond per create)."""
        return super().get_queryset().create(**kwargs)


class SegmentManager(models.Manager.from_queryset(SegmentQuerySet)):  # type: ignore[misc]
    """Default segment manager: hides soft-deleted segments."""

    def get_queryset(self) -> SegmentQuerySet:
        """Active segments only."""
        return super().get_queryset().filter(deleted_at__isnull=True)

    def create(self, span: Any = None, segment_range: Any = None, **kwargs: Any) -> Any:
        """Create a segment of ``span`` with ``segment_range`` (validated first)."""
        return super().get_queryset().create(span=span, segment_range=segment_range, **kwargs)


AllSpanManager = models.Manager.from_queryset(SpanQuerySet)
AllSegmentManager = models.Manager.from_queryset(SegmentQuerySet)
