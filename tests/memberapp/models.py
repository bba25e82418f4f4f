"""Member models for the segmentation tests: one integer-keyed, one UUID-keyed."""

from __future__ import annotations

import uuid

from django.db import models

from django_segments.membership.mixins import SegmentMixin
from django_segments.membership.registry import register_segment_method


class MemberQuerySet(models.QuerySet):
    @register_segment_method(label="Level 5 and above")
    def high_level(self):
        return self.filter(level__gte=5)

    def not_registered(self):
        return self.filter(level__lt=0)


class IntMember(SegmentMixin, models.Model):
    """An integer-keyed member."""

    email = models.EmailField()
    level = models.IntegerField(default=0)
    active = models.BooleanField(default=True)

    objects = MemberQuerySet.as_manager()

    def __str__(self) -> str:
        return self.email


class UuidMember(SegmentMixin, models.Model):
    """A UUID-keyed member."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    email = models.EmailField()
    level = models.IntegerField(default=0)
    active = models.BooleanField(default=True)

    objects = MemberQuerySet.as_manager()

    def __str__(self) -> str:
        return self.email


class Secret(models.Model):
    """A table the segments_reader login may not read."""

    value = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.value
