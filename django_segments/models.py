"""Concrete models of the ``django_segments`` app (defined in `django_segments.membership`)."""

from django_segments.membership.models import (
    CurrentMembership,
    Membership,
    RefreshRun,
    RefreshState,
    UserSegment,
)

__all__ = ["CurrentMembership", "Membership", "RefreshRun", "RefreshState", "UserSegment"]
