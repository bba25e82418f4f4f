"""Helpers shared by the segmentation tests (test_membership*.py, test_segment_sql*.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from django_segments.models import Membership, UserSegment

#: Databases a test needs when a refresh runs user SQL on the exec connection.
DATABASES = ["default", "segments_exec"]

#: Tests whose data the exec connection must see: committed, hence transactional.
transactional = pytest.mark.django_db(transaction=True, databases=DATABASES)


def make_segment(slug: str = "seg", **fields: Any) -> UserSegment:
    """Create a segment named after ``slug``."""
    return UserSegment.objects.create(name=slug.title(), slug=slug, **fields)


def set_definition(segment: UserSegment, **fields: Any) -> None:
    """Change definition fields around ``save()`` validation (as a direct UPDATE would)."""
    UserSegment.objects.filter(pk=segment.pk).update(**fields)
    segment.refresh_from_db()


def current_ids(segment: UserSegment) -> set[str]:
    """Keys (as text) of the members with an open period in ``segment``."""
    rows = Membership.objects.filter(segment=segment).current()
    return {str(key) for key in rows.values_list("member_id", flat=True)}


def membership_rows(segment: UserSegment) -> list[tuple[str, str, str]]:
    """``(member_id, period, xmin)`` of every row of ``segment``, sorted: a change detector."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT member_id, period::text, xmin::text FROM django_segments_membership "
            "WHERE segment_id = %s ORDER BY member_id, lower(period)",
            [segment.pk],
        )
        return cursor.fetchall()
