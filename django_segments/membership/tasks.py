"""Refreshes outside the web request: queued one segment at a time, or scheduled.

Two bodies serve every queue:

- `refresh_segment_by_id` refreshes one segment (a queued refresh: the admin's action, or
  a save with ``SEGMENTS_REFRESH_ON_SAVE = "task"``). It never raises for a failed
  refresh: the failure is recorded on the segment and returned.
- `refresh_due_segments` refreshes the segments that are due (`UserSegment.refresh_interval`
  has passed since their last attempt), one after another, until none is left. Any number
  of workers may run it at once: each claims one due segment at a time with
  ``SELECT ... FOR NO KEY UPDATE SKIP LOCKED`` and refreshes it in the same transaction,
  so no two workers refresh one segment in one round, and a worker that dies mid-refresh
  rolls back: its segment is still due and the next round (or another worker) takes it.

`refresh_segment` and `refresh_due` are tasks of Django's tasks framework when one is
installed (``django.tasks`` on Django 6, the ``django-tasks`` backport on 5.2);
`django_segments.contrib.celery` has the same two for Celery. `enqueue_refresh` sends a
refresh to the queue named by ``SEGMENTS_REFRESH_QUEUE`` and marks the segment "refresh
queued" until a worker has run it.

NOTE - ``refresh_segment`` and ``refresh_due`` are task objects when a tasks framework
exists: workers import them by their dotted path, so the module attributes themselves
must be the tasks.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from django_segments import conf
from django_segments.exceptions import RefreshError

if TYPE_CHECKING:
    from django_segments.membership.models import UserSegment

logger = logging.getLogger("django_segments.membership")

#: Names of the tasks frameworks, in the order they are looked for.
FRAMEWORKS = ("django.tasks", "django_tasks")


def refresh_segment_by_id(segment_id: int) -> dict[str, Any] | None:
    """Refresh one segment; return a JSON-able summary, or None when it no longer exists.

    The body of a queued refresh on any queue. A missing segment (deleted since its
    refresh was queued) is logged as a warning naming the id.
    """
    from django_segments.membership.models import UserSegment  # noqa: PLC0415

    segment = UserSegment.objects.filter(pk=segment_id).first()
    if segment is None:
        logger.warning("Refresh of user segment id %s skipped: no user segment has that id.", segment_id)
        return None
    return _refresh_and_summarize(segment)


def _refresh_and_summarize(segment: UserSegment) -> dict[str, Any]:
    """Refresh ``segment``, clear its "refresh queued" mark if still the one it had; summarize."""
    queued = segment.refresh_queued_at
    try:
        result = segment.refresh()
    except RefreshError as exc:
        logger.error("%s", exc)  # the refresh logged the traceback already
        summary: dict[str, Any] = {"segment": segment.pk, "state": "failed", "error": str(exc)}
    else:
        summary = {
            "segment": segment.pk,
            "state": "ok",
            "entered": result.entered,
            "exited": result.exited,
            "member_count": result.member_count,
        }
    if queued is not None:
        # A refresh queued again while this one ran keeps its newer mark.
        type(segment).objects.filter(pk=segment.pk, refresh_queued_at=queued).update(refresh_queued_at=None)
    return summary


def refresh_due_segments(*, now: datetime | None = None) -> dict[str, list[int]]:
    """Refresh every segment due at ``now`` (default: the call's start) that no other worker holds.

    Returns the ids refreshed (``ok``), those whose refresh failed (recorded on the
    segment, ``failed``) and those passed over because a refresh outside the scheduler
    held them (``passed``: that refresh makes them not due).
    """
    from django_segments.membership.refresh import writer_alias  # noqa: PLC0415

    alias = writer_alias()
    cutoff = timezone.now() if now is None else now
    done: dict[str, list[int]] = {"ok": [], "failed": [], "passed": []}
    while True:
        # Each segment once per call, even one whose failure could not be recorded (its
        # last attempt unchanged, it would still be due).
        seen = [pk for ids in done.values() for pk in ids]
        with transaction.atomic(using=alias):
            segment = _claim_due(alias, cutoff, seen)
            if segment is None:
                return done
            if _held_elsewhere(alias, segment.pk):
                done["passed"].append(segment.pk)
                continue
            summary = _refresh_and_summarize(segment)
        done[summary["state"]].append(segment.pk)


def _claim_due(alias: str, now: datetime, seen: list[int]) -> UserSegment | None:
    """Lock and return the next due segment not in ``seen`` that no other transaction has
    locked, or None.

    NOTE - at READ COMMITTED, a row that another worker refreshed and committed after this
    statement's snapshot is re-checked against the WHERE clause before it is locked, so a
    segment refreshed a moment ago is no longer due here.
    """
    from django_segments.membership.models import UserSegment  # noqa: PLC0415

    due = UserSegment.objects.using(alias).due(now).exclude(pk__in=seen)
    return due.select_for_update(skip_locked=True, no_key=True).first()


def _held_elsewhere(alias: str, segment_id: int) -> bool:
    """Whether a refresh outside the scheduler holds the segment's lock right now.

    NOTE - tried without waiting: that refresh's last UPDATE of the segment row waits for
    this transaction's row lock, so waiting for its lock here would deadlock.
    """
    from django_segments.membership.refresh import try_lock  # noqa: PLC0415

    with connections[alias].cursor() as cursor:
        return not try_lock(cursor, segment_id)


def tasks_framework() -> Any | None:
    """``django.tasks`` (Django 6+), else the ``django_tasks`` backport, else None."""
    for name in FRAMEWORKS:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def refresh_segment(segment_id: int) -> dict[str, Any] | None:
    """Task: `refresh_segment_by_id`."""
    return refresh_segment_by_id(segment_id)


def refresh_due() -> dict[str, list[int]]:
    """Task: `refresh_due_segments`."""
    return refresh_due_segments()


_framework = tasks_framework()
if _framework is not None:
    refresh_segment = _framework.task(refresh_segment)
    refresh_due = _framework.task(refresh_due)


def refresh_queue() -> str | None:
    """The queue refreshes go to: ``SEGMENTS_REFRESH_QUEUE``, else ``"django"`` when
    ``SEGMENTS_REFRESH_ON_SAVE`` is ``"task"``, else None (refresh in this process)."""
    queue = conf.refresh_queue()
    if queue is None and conf.refresh_on_save() == "task":
        return "django"
    return queue


def _enqueuer(queue: str, *, due: bool = False) -> Callable[..., Any] | None:
    """The function that enqueues a refresh (``due``: a round of due refreshes) on ``queue``;
    None when Django's tasks framework is asked for and not installed."""
    if queue == "django":
        task = refresh_due if due else refresh_segment
        return getattr(task, "enqueue", None)
    if queue == "celery":
        from django_segments.contrib import celery as celery_tasks  # noqa: PLC0415

        return (celery_tasks.refresh_due if due else celery_tasks.refresh_segment).delay
    if due:
        msg = (
            f"SEGMENTS_REFRESH_QUEUE={queue!r} enqueues single refreshes only; run "
            "django_segments.membership.tasks.refresh_due_segments on that queue's own schedule."
        )
        raise ValueError(msg)
    enqueue: Callable[..., Any] = import_string(queue)
    return enqueue


def refreshes_are_queued() -> bool:
    """Whether `enqueue_refresh` queues (True) or refreshes in this process (False)."""
    queue = refresh_queue()
    return queue is not None and _enqueuer(queue) is not None


def enqueue_refresh(segment_id: int, *, queue: str | None = None) -> str:
    """Queue a refresh of ``segment_id`` on ``queue`` (default: `refresh_queue`); return ``"task"``.

    Without a queue (or with ``"django"`` and no tasks framework installed, logged) the
    segment is refreshed now, in this process, and ``"sync"`` is returned. A queued
    segment shows "refresh queued" until a worker has refreshed it.
    """
    from django_segments.membership.models import UserSegment  # noqa: PLC0415

    queue = queue or refresh_queue()
    enqueue = None if queue is None else _enqueuer(queue)
    if enqueue is None:
        if queue is not None:
            logger.warning(
                "Refreshes go to Django's tasks framework, but django.tasks is not available "
                "(Django 6, or the backport: pip install django-segments[tasks]); refreshing "
                "segment %s synchronously.",
                segment_id,
            )
        refresh_segment_by_id(segment_id)
        return "sync"
    stamp = timezone.now()
    segments = UserSegment.objects.filter(pk=segment_id)
    segments.update(refresh_queued_at=stamp)
    if transaction.get_connection(segments.db).in_atomic_block:
        # NOTE - a worker could run the refresh before this transaction commits and read
        # neither its rows nor its mark: the message leaves once the transaction commits.
        transaction.on_commit(lambda: _send_after_commit(enqueue, segment_id, stamp), using=segments.db)
    else:
        _send(enqueue, segment_id, stamp)
    return "task"


def _send(enqueue: Callable[..., Any], segment_id: int, stamp: datetime) -> None:
    """``enqueue(segment_id)``; a failure takes back the segment's mark ``stamp``."""
    from django_segments.membership.models import UserSegment  # noqa: PLC0415

    try:
        enqueue(segment_id)
    except Exception:
        UserSegment.objects.filter(pk=segment_id, refresh_queued_at=stamp).update(refresh_queued_at=None)
        raise


def _send_after_commit(enqueue: Callable[..., Any], segment_id: int, stamp: datetime) -> None:
    """`_send` once the caller's transaction committed: a failure is logged (the caller has
    moved on), and the segment is not left marked."""
    try:
        _send(enqueue, segment_id, stamp)
    except Exception:
        logger.exception("Could not queue the refresh of user segment %s.", segment_id)


def enqueue_refresh_due(copies: int = 1) -> list[Any]:
    """Enqueue ``copies`` rounds of `refresh_due` on `refresh_queue`, so that as many workers
    share the due segments; return the queue's handles (task results), none without a queue."""
    queue = refresh_queue()
    enqueue = None if queue is None else _enqueuer(queue, due=True)
    if enqueue is None:
        return []
    return [enqueue() for _ in range(copies)]


def schedule_refresh(segment_id: int, mode: str) -> str:
    """Refresh ``segment_id`` as ``SEGMENTS_REFRESH_ON_SAVE`` (``mode``) says; return how:
    ``"task"`` (queued on `refresh_queue`, Django's tasks framework when none is set; see
    `enqueue_refresh`) or ``"sync"``."""
    if mode == "task":
        return enqueue_refresh(segment_id, queue=refresh_queue() or "django")
    if mode != "sync":
        logger.warning(
            "SEGMENTS_REFRESH_ON_SAVE=%r is not 'sync', 'task' or None; refreshing synchronously.",
            mode,
        )
    refresh_segment_by_id(segment_id)
    return "sync"
