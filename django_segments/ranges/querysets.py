"""Managers and querysets of spans and segments.

The default managers (``objects``) hide soft-deleted rows; ``all_objects`` reaches all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections, models, router, transaction


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

    def load(
        self,
        rows: Iterable[Sequence[Any]],
        *,
        fields: Sequence[str] = ("span", "segment_range"),
        using: str | None = None,
    ) -> int:
        """Insert many segments with one ``COPY``: the bulk path. Returns the number of rows.

        ``rows`` are tuples of values in the order of ``fields`` (``span`` takes the span's
        key), as the database takes them: ints, strings, ranges, dates, aware datetimes,
        Decimals. A field not named gets the default Django's ``save()`` gives it (a
        ``db_default`` is the column's). No instances are built and no signals are sent. ``using``: the
        database alias (default: the router's for writes of the model).

        Postgres checks the rows as for any other write: the exclusion constraint during
        the ``COPY``, the span checks (one per span, looking at the ranges written) before
        this returns, in a savepoint, so a violation raises the typed exception and loads
        nothing. NOTE - the load does not lock the spans first, as operations do: load
        spans that operations are not writing at the same time, or a deadlock error
        (SQLSTATE 40P01, safe to retry) may end one of them.
        """
        from django_segments.ranges.compiler import qn  # noqa: PLC0415
        from django_segments.ranges.errors import typed_errors  # noqa: PLC0415
        from django_segments.ranges.operations import finalize  # noqa: PLC0415

        model: Any = self.model
        meta = model._meta.concrete_model._meta
        named = [meta.get_field(name) for name in fields]
        using = using or router.db_for_write(model)
        connection = connections[using]
        defaults = [
            (f, f.get_db_prep_save(f.get_default(), connection))
            for f in meta.concrete_fields
            if f not in named
            and not f.primary_key
            and not f.has_db_default()
            and not getattr(f, "generated", False)
        ]
        columns = ", ".join(qn(f.column) for f in [*named, *(f for f, _ in defaults)])
        extra = tuple(value for _, value in defaults)
        count = 0
        with typed_errors(model), transaction.atomic(using=using), connection.cursor() as cursor:
            with (
                connection.wrap_database_errors,
                cursor.copy(f"COPY {qn(meta.db_table)} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row((*row, *extra) if extra else row)
                    count += 1
            finalize(model, using)
        return count


class SpanManager(models.Manager.from_queryset(SpanQuerySet)):  # type: ignore[misc]
    """Default span manager: hides soft-deleted spans."""

    def get_queryset(self) -> SpanQuerySet:
        """Active spans only."""
        return super().get_queryset().filter(deleted_at__isnull=True)


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
