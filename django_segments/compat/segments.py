"""groveco django-segments names: ``Segment``, ``SegmentMixin`` and its live methods.

``from segments.models import Segment, SegmentMixin`` becomes
``from django_segments.compat.segments import Segment, SegmentMixin``. ``Segment`` is a
proxy of `UserSegment` (the same table and rows) with groveco's field names as
properties, so ``Segment(definition="SELECT id FROM ...")`` and
``Segment.objects.create(...)`` work; it is not a model of its own (no table, no
migration), and the app need not be in ``INSTALLED_APPS``. Import this module where models
may be imported (after Django's app registry is ready), as groveco's ``segments.models``.

Differences, documented in docs/coming-from-groveco-django-segments.md: live methods write
nothing (groveco's ``has_member_live`` also updated the stored membership), and
``user.refresh_segments()`` refreshes every segment in full (there is no per-member refresh).
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any, cast

from django.db import models

from django_segments.exceptions import SegmentsError
from django_segments.membership.mixins import SegmentMixin as BaseSegmentMixin
from django_segments.membership.models import UserSegment
from django_segments.membership.tasks import schedule_refresh

__all__ = ["Segment", "SegmentException", "SegmentExecutionError", "SegmentMixin"]

#: groveco's base exception and the one its segments raised for failing SQL: both are
#: `SegmentsError`, the base of `UnsafeSQLError` (SQL refused when saved) and
#: `RefreshError` (SQL that failed when run).
SegmentException = SegmentsError
SegmentExecutionError = SegmentsError


class Segment(UserSegment):
    """A `UserSegment` under groveco's names (a proxy: same table, same rows)."""

    class Meta:
        proxy = True
        app_label = "django_segments_compat"
        verbose_name = "segment"

    @property
    def definition(self) -> str:
        """groveco's ``definition``: the segment's ``sql``."""
        return self.sql

    @definition.setter
    def definition(self, value: str | None) -> None:
        self.sql = value or ""

    @property
    def members_count(self) -> int:
        """groveco's ``members_count``: `UserSegment.member_count` at the last refresh."""
        return self.member_count

    @property
    def created_date(self) -> datetime:
        """groveco's ``created_date``: ``created_at``."""
        return self.created_at

    @property
    def updated_date(self) -> datetime:
        """groveco's ``updated_date``: ``updated_at``."""
        return self.updated_at

    @property
    def recalculated_date(self) -> datetime | None:
        """groveco's ``recalculated_date``: ``last_success`` (the last successful refresh)."""
        return self.last_success

    def has_member_live(self, user: Any) -> bool:
        """Live answer for ``user``: `UserSegment.matches` (writes nothing)."""
        return self.matches(user)

    @property
    def members_live(self) -> list[models.Model]:
        """Every member the definitions select now, without writing: loads them all.

        For a large segment, ``refresh()`` and use ``members`` (a queryset) instead.
        """
        return self.preview(limit=sys.maxsize).members


class SegmentMixin(BaseSegmentMixin):
    """`django_segments.SegmentMixin` with groveco's live methods; ``segments`` are `Segment`\\ s."""

    @property
    def segments(self) -> models.QuerySet[Segment]:
        """This member's current segments as `Segment` proxies, by ascending priority."""
        ids = super().segments.values("pk")
        # NOTE - the manager is declared for UserSegment; a proxy's manager returns proxies.
        queryset = cast("models.QuerySet[Segment]", Segment.objects.filter(pk__in=ids))
        return queryset.order_by("priority", "name", "pk")

    def is_member_live(self, segment: UserSegment) -> bool:
        """Live answer: ``segment.matches(self)`` (writes nothing)."""
        return segment.matches(self)

    def refresh_segments(self) -> None:
        """Refresh every segment now, in full (there is no refresh of one member alone).

        groveco ran every segment's SQL for this user and rewrote the user's rows; here
        every segment's membership becomes current for every member, a refresh each.
        """
        for segment in UserSegment.objects.all():
            segment.refresh()

    def refresh_segments_async(self) -> None:
        """Schedule a refresh of every segment as a background task (``"task"`` mode)."""
        for pk in UserSegment.objects.values_list("pk", flat=True):
            schedule_refresh(pk, "task")
