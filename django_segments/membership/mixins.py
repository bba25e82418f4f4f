"""`SegmentMixin`: segment questions asked from the member's side."""

from __future__ import annotations

from typing import Any

from django.db import models

from django_segments.membership import members as member_ids
from django_segments.membership.models import CurrentMembership, UserSegment


class SegmentMixin:
    """Mixin for the member model (``SEGMENTS_MEMBER_MODEL``)::

        class User(SegmentMixin, AbstractUser): ...

    ``segments`` and ``segment_ids`` come from recorded membership; segments that were
    never refreshed know no members and so never appear there. ``is_member`` raises
    `NeverRefreshedError` for such a segment rather than answering False.
    """

    pk: Any

    def _segment_member_id(self) -> Any:
        return member_ids.member_key_of(member_ids.get_member_model(), self)

    def is_member(self, segment: UserSegment | str) -> bool:
        """Whether this member is currently in ``segment`` (an instance or a slug)."""
        if isinstance(segment, str):
            segment = UserSegment.objects.get(slug=segment)
        return segment.has_member(self)

    @property
    def segments(self) -> models.QuerySet[UserSegment]:
        """Segments this member is currently in, by ascending priority, then name."""
        member_id = self._segment_member_id()
        if member_id is None:
            return UserSegment.objects.none()
        ids = CurrentMembership.objects.filter(member_id=member_id).values("segment_id")
        return UserSegment.objects.filter(pk__in=ids).order_by("priority", "name", "pk")

    @property
    def segment_ids(self) -> list[int]:
        """Primary keys of `segments`, in the same order."""
        return list(self.segments.values_list("pk", flat=True))
