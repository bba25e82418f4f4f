"""``SegmentsRouter``: the router groveco's django-segments README puts in ``DATABASE_ROUTERS``.

``DATABASE_ROUTERS = ["segments.router.SegmentsRouter"]`` becomes
``["django_segments.compat.router.SegmentsRouter"]``; it is `SegmentsExecRouter`
(``django_segments.membership.router.SegmentsExecRouter``), which new settings should
name. This module imports no models, so settings may name it.
"""

from __future__ import annotations

from django_segments.membership.router import SegmentsExecRouter

__all__ = ["SegmentsRouter"]

SegmentsRouter = SegmentsExecRouter
