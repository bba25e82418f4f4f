"""Celery tasks of django-segments: `refresh_segment` and `refresh_due`.

Requires Celery (``pip install django-segments[celery]``) and a Celery app that loads
Django (the usual ``proj/celery.py``), which loads this module with
``app.autodiscover_tasks(["django_segments.contrib"], related_name="celery")``. Both
tasks are registered with `celery.shared_task`, so they bind to your app, under stable
names: ``django_segments.refresh_segment`` and ``django_segments.refresh_due``.

Set ``SEGMENTS_REFRESH_QUEUE = "celery"`` to send the admin's refreshes (and saves with
``SEGMENTS_REFRESH_ON_SAVE = "task"``) here, and schedule rounds of due refreshes with
Celery beat; each worker that runs a round shares the due segments with the others::

    app.conf.beat_schedule = {
        "segments-refresh-due": {"task": "django_segments.refresh_due", "schedule": 60.0},
    }

Both tasks acknowledge their message only after they ran (``acks_late``), so the message
of a worker lost mid-refresh is delivered again; a refresh runs in one transaction and
writes only what changed, so running it again loses and duplicates nothing.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from django_segments.membership import tasks


@shared_task(name="django_segments.refresh_segment", acks_late=True, reject_on_worker_lost=True)
def refresh_segment(segment_id: int) -> dict[str, Any] | None:
    """Refresh one segment: `django_segments.membership.tasks.refresh_segment_by_id`."""
    return tasks.refresh_segment_by_id(segment_id)


@shared_task(name="django_segments.refresh_due", acks_late=True, reject_on_worker_lost=True)
def refresh_due() -> dict[str, list[int]]:
    """Refresh the due segments no other worker holds: `tasks.refresh_due_segments`."""
    return tasks.refresh_due_segments()
