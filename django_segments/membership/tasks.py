"""Refresh on save (``SEGMENTS_REFRESH_ON_SAVE``): synchronously or as a background task.

``"task"`` enqueues `refresh_segment` through Django's tasks framework (``django.tasks``,
Django 6.0+; configure a backend with the ``TASKS`` setting). Where that framework is
missing, the refresh runs synchronously and a warning is logged. A failed refresh is
recorded on the segment and logged; it never makes ``save()`` raise (the segment is
already committed).

NOTE - ``refresh_segment`` is a task object when ``django.tasks`` exists: workers import
it by its dotted path, so the module attribute itself must be the task.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from django_segments.exceptions import RefreshError

logger = logging.getLogger("django_segments.membership")


def refresh_segment_by_id(segment_id: int) -> dict[str, Any] | None:
    """Refresh one segment; return a JSON-able summary, or None when it no longer exists."""
    from django_segments.membership.models import UserSegment  # noqa: PLC0415

    segment = UserSegment.objects.filter(pk=segment_id).first()
    if segment is None:
        return None
    try:
        result = segment.refresh()
    except RefreshError as exc:
        logger.error("%s", exc)  # the refresh logged the traceback already
        return {"segment": segment_id, "state": "failed", "error": str(exc)}
    return {
        "segment": segment_id,
        "state": "ok",
        "entered": result.entered,
        "exited": result.exited,
        "member_count": result.member_count,
    }


def tasks_framework() -> Any | None:
    """The ``django.tasks`` module, or None before Django 6.0."""
    try:
        return importlib.import_module("django.tasks")
    except ImportError:
        return None


def refresh_segment(segment_id: int) -> dict[str, Any] | None:
    """Task body: `refresh_segment_by_id`."""
    return refresh_segment_by_id(segment_id)


_framework = tasks_framework()
if _framework is not None:  # pragma: no cover - Django 6.0+
    refresh_segment = _framework.task(refresh_segment)


def schedule_refresh(segment_id: int, mode: str) -> str:
    """Refresh ``segment_id`` as ``mode`` says; return how: ``"task"`` or ``"sync"``."""
    if mode == "task":
        if hasattr(refresh_segment, "enqueue"):
            refresh_segment.enqueue(segment_id)
            return "task"
        logger.warning(
            "SEGMENTS_REFRESH_ON_SAVE is 'task' but django.tasks is not available "
            "(Django 6.0+); refreshing segment %s synchronously.",
            segment_id,
        )
    elif mode != "sync":
        logger.warning(
            "SEGMENTS_REFRESH_ON_SAVE=%r is not 'sync', 'task' or None; refreshing synchronously.",
            mode,
        )
    refresh_segment_by_id(segment_id)
    return "sync"
