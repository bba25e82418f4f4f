"""Scheduled refreshes in one process: which segments are due, how a round claims them,
what it passes over, what a worker that dies mid-refresh leaves, and queued refreshes."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from io import StringIO
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from django_segments.membership import refresh, tasks
from django_segments.models import Membership, RefreshRun, UserSegment
from tests.membership_helpers import transactional
from tests.scaling_helpers import ROOT, child_env, wait_for

HOUR = timedelta(hours=1)
USERS = 20


@pytest.fixture
def users(segments_reader) -> list[User]:
    return User.objects.bulk_create(User(username=f"user{i}") for i in range(USERS))


def make_segments(count: int, **fields: Any) -> list[UserSegment]:
    """``count`` segments of user SQL splitting the users by id modulo ``count``."""
    fields.setdefault("refresh_interval", HOUR)
    return UserSegment.objects.bulk_create(
        UserSegment(
            name=f"S{k}", slug=f"s{k}", sql=f"SELECT id FROM auth_user WHERE id % {count} = {k}", **fields
        )
        for k in range(count)
    )


def runs() -> Counter[int]:
    """Refresh runs per segment id."""
    return Counter(RefreshRun.objects.values_list("segment_id", flat=True))


def other_session() -> psycopg.Connection:
    """A connection of its own to the test database (another worker, another refresh)."""
    params = connection.get_connection_params()
    keep = {"dbname", "user", "password", "host", "port"}
    return psycopg.connect(**{k: v for k, v in params.items() if k in keep and v}, autocommit=True)


@pytest.mark.django_db
def test_due_needs_an_interval_and_orders_oldest_attempt_first() -> None:
    now = timezone.now()
    never, old, older, recent, unscheduled = make_segments(5)
    UserSegment.objects.filter(pk=old.pk).update(last_attempt=now - 2 * HOUR)
    UserSegment.objects.filter(pk=older.pk).update(last_attempt=now - 3 * HOUR)
    UserSegment.objects.filter(pk=recent.pk).update(last_attempt=now - HOUR / 2)
    UserSegment.objects.filter(pk=unscheduled.pk).update(refresh_interval=None)
    assert list(UserSegment.objects.due(now)) == [never, older, old]
    assert list(UserSegment.objects.due(now + HOUR)) == [never, older, old, recent]
    exactly = now - HOUR  # due the moment the interval has passed
    UserSegment.objects.filter(pk=recent.pk).update(last_attempt=exactly)
    assert recent in UserSegment.objects.due(now)


@transactional
def test_a_round_refreshes_each_due_segment_once(users) -> None:
    segments = make_segments(4)
    done = tasks.refresh_due_segments()
    assert sorted(done["ok"]) == sorted(s.pk for s in segments)
    assert done["failed"] == done["passed"] == []
    assert runs() == {s.pk: 1 for s in segments}
    assert Membership.objects.current().count() == USERS
    assert tasks.refresh_due_segments() == {"ok": [], "failed": [], "passed": []}
    assert runs() == {s.pk: 1 for s in segments}


@transactional
def test_a_failing_segment_is_recorded_and_waits_for_its_next_interval(users) -> None:
    (good,) = make_segments(1)
    bad = UserSegment.objects.create(name="Bad", slug="bad", sql="SELECT 1 / 0", refresh_interval=HOUR)
    done = tasks.refresh_due_segments()
    assert (done["ok"], done["failed"]) == ([good.pk], [bad.pk])
    bad.refresh_from_db()
    assert bad.state == "failed"
    assert "division by zero" in bad.last_error
    assert not UserSegment.objects.due().exists()  # no retry loop within the interval


@transactional
def test_a_round_takes_each_segment_once_even_when_its_failure_is_not_recorded(users, monkeypatch) -> None:
    bad = UserSegment.objects.create(name="Bad", slug="bad", sql="SELECT 1 / 0", refresh_interval=HOUR)
    monkeypatch.setattr(refresh, "_record_failure", lambda *args: None)  # e.g. the writer went away
    assert tasks.refresh_due_segments()["failed"] == [bad.pk]
    assert UserSegment.objects.due().get() == bad  # still due: the next round tries again


@transactional
def test_a_segment_locked_by_another_worker_is_skipped_without_waiting(users) -> None:
    held, *others = make_segments(3)
    with other_session() as worker, worker.transaction():
        worker.execute("SELECT 1 FROM django_segments_usersegment WHERE id = %s FOR NO KEY UPDATE", [held.pk])
        done = tasks.refresh_due_segments()
        assert sorted(done["ok"]) == sorted(s.pk for s in others)
        assert done["passed"] == []  # never seen: SKIP LOCKED
    assert runs() == {s.pk: 1 for s in others}
    assert tasks.refresh_due_segments()["ok"] == [held.pk]  # still due once released


@transactional
def test_a_segment_another_refresh_holds_is_passed_over_and_stays_due(users) -> None:
    held, *others = make_segments(3)
    with other_session() as manual, manual.transaction():
        manual.execute("SELECT pg_advisory_xact_lock(%s, %s)", refresh._lock_key(held.pk))
        done = tasks.refresh_due_segments()
        assert done["passed"] == [held.pk]
        assert sorted(done["ok"]) == sorted(s.pk for s in others)
    assert held.pk not in runs()
    assert tasks.refresh_due_segments()["ok"] == [held.pk]


CRASHING_WORKER = """
import time
import django

django.setup()
from django_segments.membership import refresh, tasks

original = refresh._apply


def apply_then_hang(cursor, segment_id, *args, **kwargs):
    counts = original(cursor, segment_id, *args, **kwargs)
    print("applied", segment_id, flush=True)
    time.sleep(120)  # killed here, before the refresh's transaction commits
    return counts


refresh._apply = apply_then_hang
tasks.refresh_due_segments()
"""


@transactional
def test_a_worker_killed_mid_refresh_loses_nothing(users) -> None:
    segments = make_segments(5)
    child = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", CRASHING_WORKER], cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line[:1] == ["applied"], f"the worker did not reach its refresh (exit {child.poll()})"
        crashed = int(line[1])
        # Meanwhile another worker takes every other due segment, not the claimed one.
        done = tasks.refresh_due_segments()
        assert sorted(done["ok"]) == sorted(s.pk for s in segments if s.pk != crashed)
    finally:
        child.kill()
        child.wait()
    assert not Membership.objects.filter(segment_id=crashed).exists()  # nothing half-applied
    assert crashed not in runs()
    assert UserSegment.objects.get(pk=crashed).state == "never"
    # The server ends the dead worker's transaction; the segment is due again, refreshed once.
    wait_for(lambda: tasks.refresh_due_segments()["ok"] == [crashed], "the crashed segment's refresh", 30)
    assert runs() == {s.pk: 1 for s in segments}
    assert Membership.objects.filter(segment_id=crashed).current().count() == USERS // 5


# --- queued refreshes -----------------------------------------------------------------

QUEUED: list[int] = []


def record_enqueue(segment_id: int) -> None:
    """A queue for the tests (``SEGMENTS_REFRESH_QUEUE``): remembers what was enqueued."""
    QUEUED.append(segment_id)


@pytest.fixture
def test_queue(settings) -> list[int]:
    settings.SEGMENTS_REFRESH_QUEUE = f"{__name__}.record_enqueue"
    QUEUED.clear()
    return QUEUED


@transactional
def test_a_queued_refresh_is_marked_until_a_worker_ran_it(users, test_queue) -> None:
    (segment,) = make_segments(1, refresh_interval=None)
    assert tasks.refreshes_are_queued()
    assert tasks.enqueue_refresh(segment.pk) == "task"
    assert test_queue == [segment.pk]
    segment.refresh_from_db()
    assert segment.refresh_queued_at is not None
    assert segment.state == "never"  # nothing refreshed here
    assert tasks.refresh_segment_by_id(segment.pk)["state"] == "ok"  # the worker's side
    segment.refresh_from_db()
    assert (segment.state, segment.refresh_queued_at) == ("ok", None)


@transactional
def test_a_refresh_queued_again_while_one_runs_keeps_its_mark(users, test_queue) -> None:
    (segment,) = make_segments(1, refresh_interval=None)
    tasks.enqueue_refresh(segment.pk)
    running = UserSegment.objects.get(pk=segment.pk)  # a worker read the first mark
    tasks.enqueue_refresh(segment.pk)
    again = UserSegment.objects.get(pk=segment.pk).refresh_queued_at
    assert again is not None
    assert again != running.refresh_queued_at
    tasks._refresh_and_summarize(running)
    assert UserSegment.objects.get(pk=segment.pk).refresh_queued_at == again


def failing_enqueue(segment_id: int) -> None:
    raise ConnectionError("broker down")


@transactional
def test_a_refresh_that_cannot_be_queued_is_not_marked(users, settings) -> None:
    settings.SEGMENTS_REFRESH_QUEUE = f"{__name__}.failing_enqueue"
    (segment,) = make_segments(1)
    with pytest.raises(ConnectionError, match="broker down"):
        tasks.enqueue_refresh(segment.pk)
    assert UserSegment.objects.get(pk=segment.pk).refresh_queued_at is None


@transactional
def test_the_django_queue_enqueues_on_the_tasks_framework(users, settings) -> None:
    settings.SEGMENTS_REFRESH_QUEUE = "django"  # tests' TASKS "default" runs tasks at once
    (segment,) = make_segments(1)
    assert tasks.enqueue_refresh(segment.pk) == "task"
    segment.refresh_from_db()
    assert (segment.state, segment.refresh_queued_at) == ("ok", None)
    (result,) = tasks.enqueue_refresh_due()
    assert result.return_value == {"ok": [], "failed": [], "passed": []}  # refreshed within the hour


@transactional
def test_task_mode_queues_on_the_tasks_framework_when_no_queue_is_set(users, monkeypatch) -> None:
    queued: list[int] = []

    class FakeTask:
        enqueue = staticmethod(queued.append)

    monkeypatch.setattr(tasks, "refresh_segment", FakeTask())
    (segment,) = make_segments(1)
    assert tasks.refresh_queue() is None
    assert tasks.schedule_refresh(segment.pk, "task") == "task"
    assert queued == [segment.pk]


def test_which_queue_refreshes_go_to(settings) -> None:
    assert tasks.refresh_queue() is None
    assert not tasks.refreshes_are_queued()
    assert tasks.enqueue_refresh_due() == []
    settings.SEGMENTS_REFRESH_ON_SAVE = "task"
    assert tasks.refresh_queue() == "django"  # what "task" meant before the queue setting
    settings.SEGMENTS_REFRESH_QUEUE = "celery"
    assert tasks.refresh_queue() == "celery"
    settings.SEGMENTS_REFRESH_QUEUE = f"{__name__}.record_enqueue"
    with pytest.raises(ValueError, match="enqueues single refreshes only"):
        tasks.enqueue_refresh_due()


def test_the_celery_tasks_have_stable_names() -> None:
    pytest.importorskip("celery")
    from django_segments.contrib import celery as celery_tasks

    assert celery_tasks.refresh_segment.name == "django_segments.refresh_segment"
    assert celery_tasks.refresh_due.name == "django_segments.refresh_due"
    assert celery_tasks.refresh_segment.acks_late


@pytest.mark.django_db
def test_refreshing_a_missing_segment_logs_a_warning_naming_the_id(caplog) -> None:
    missing = (UserSegment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    with caplog.at_level(logging.WARNING, logger="django_segments.membership"):
        assert tasks.refresh_segment_by_id(missing) is None
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"user segment id {missing} " in record.getMessage()


@transactional
def test_the_refresh_due_command_runs_or_enqueues_a_round(users, settings) -> None:
    good, bad = make_segments(2)
    UserSegment.objects.filter(pk=bad.pk).update(sql="SELECT 1 / 0")
    out = StringIO()
    with pytest.raises(CommandError, match="1 refresh"):
        call_command("refresh_due", stdout=out)
    assert "Refreshed 1 due segment(s); 1 failed; 0 passed over" in out.getvalue()
    with pytest.raises(CommandError, match="No refresh queue"):
        call_command("refresh_due", "--enqueue", "2")
    with pytest.raises(CommandError, match="positive"):
        call_command("refresh_due", "--enqueue", "0")
    settings.SEGMENTS_REFRESH_QUEUE = "django"  # the tests' "default" backend runs at once
    UserSegment.objects.update(last_attempt=None)
    UserSegment.objects.filter(pk=bad.pk).update(sql="SELECT 1")
    call_command("refresh_due", "--enqueue", "2", stdout=out)
    assert "Enqueued 2 round(s)" in out.getvalue()
    assert runs() == {good.pk: 2, bad.pk: 2}


def test_refresh_due_enqueue_on_a_queue_of_single_refreshes_is_a_command_error(settings) -> None:
    settings.SEGMENTS_REFRESH_QUEUE = f"{__name__}.record_enqueue"
    with pytest.raises(CommandError, match="enqueues single refreshes only"):
        call_command("refresh_due", "--enqueue", "1")


@transactional
def test_a_refresh_queued_in_a_transaction_is_sent_when_it_commits(users, test_queue) -> None:
    """A worker must not run the refresh before the caller's rows and mark are committed."""
    (segment,) = make_segments(1, refresh_interval=None)
    with transaction.atomic():
        assert tasks.enqueue_refresh(segment.pk) == "task"
        assert test_queue == []  # nothing sent yet: a worker would not see this transaction
    assert test_queue == [segment.pk]
    assert UserSegment.objects.get(pk=segment.pk).refresh_queued_at is not None


@transactional
def test_a_refresh_queued_in_a_rolled_back_transaction_is_never_sent(users, test_queue) -> None:
    (segment,) = make_segments(1, refresh_interval=None)
    with transaction.atomic():
        tasks.enqueue_refresh(segment.pk)
        transaction.set_rollback(True)
    assert test_queue == []
    assert UserSegment.objects.get(pk=segment.pk).refresh_queued_at is None


@transactional
def test_a_send_that_fails_after_the_commit_is_logged_and_unmarks(users, settings, caplog) -> None:
    settings.SEGMENTS_REFRESH_QUEUE = f"{__name__}.failing_enqueue"
    (segment,) = make_segments(1, refresh_interval=None)
    with caplog.at_level(logging.ERROR, logger="django_segments.membership"), transaction.atomic():
        tasks.enqueue_refresh(segment.pk)
    assert f"Could not queue the refresh of user segment {segment.pk}" in caplog.text
    assert UserSegment.objects.get(pk=segment.pk).refresh_queued_at is None
