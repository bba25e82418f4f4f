"""Scheduled refreshes shared by real worker processes: Django's tasks framework
(django-tasks-db's ``db_worker``) and Celery, on Redis and on RabbitMQ.

Each test starts two workers, makes 50 segments due and enqueues two rounds of
``refresh_due``, one for each worker; then it asserts that every segment was refreshed
exactly once (one `RefreshRun` each, and no id in two workers' results), that both workers
took part, and that a second due round refreshes each exactly once again.

A broker that cannot be reached skips its test with the reason, except in CI
(``CI=true``), where the test fails instead: CI runs these servers and must run the tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.models import F

from django_segments.membership import tasks
from django_segments.models import RefreshRun, UserSegment
from tests.membership_helpers import transactional
from tests.scaling_helpers import ROOT, child_env, require, unreachable, wait_for

SEGMENTS = 50
WORKERS = 2
#: Seconds a worker may take to start, and a round to finish.
TIMEOUT = 90
REDIS_URL = os.environ.get("SEGMENTS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("SEGMENTS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")

pytestmark = transactional


def test_require_fails_in_ci_and_skips_elsewhere(monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI has it"):
        require(False, "no broker")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no broker"):
        require(False, "no broker")
    require(True, "never shown")
    assert unreachable("redis://127.0.0.1:1/0") is not None


@pytest.fixture
def due_segments(segments_reader) -> list[UserSegment]:
    """50 segments of user SQL, due (never refreshed, hourly), over 200 users."""
    User.objects.bulk_create(User(username=f"user{i}") for i in range(200))
    return UserSegment.objects.bulk_create(
        UserSegment(
            name=f"Due {k}",
            slug=f"due-{k}",
            sql=f"SELECT id FROM auth_user WHERE id % {SEGMENTS} = {k}",
            refresh_interval=timedelta(hours=1),
        )
        for k in range(SEGMENTS)
    )


@contextmanager
def workers(
    commands: list[list[str]], ready: str, env: dict[str, str], logs: Path, stop: int = signal.SIGTERM
) -> Iterator[None]:
    """Run one process per command until the block ends (then send ``stop``); each must log
    ``ready`` first."""
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for number, command in enumerate(commands):
            log = logs / f"worker{number}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
                    command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
                )
            procs.append((proc, log))
        for proc, log in procs:
            wait_for(lambda proc=proc, log=log: _logged(proc, log, ready), f"{log.name} ready")
        yield
    finally:
        for proc, _ in procs:
            proc.send_signal(stop)
        for proc, log in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                pytest.fail(f"{log.name} did not stop on {stop!r}:\n{log.read_text()[-3000:]}")


def _logged(proc: subprocess.Popen[bytes], log: Path, text: str) -> bool:
    if proc.poll() is not None:
        pytest.fail(f"{log.name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
    return text in log.read_text(errors="replace")


def assert_one_refresh_each(segments: list[UserSegment], results: list[tuple[str, Any]], rounds: int) -> None:
    """Each segment refreshed once in this round (``rounds`` runs in all), by both workers."""
    refreshed = [pk for _, value in results for pk in value["ok"]]
    assert sorted(refreshed) == sorted(s.pk for s in segments), "a segment refreshed twice or not at all"
    assert all(not value["failed"] and not value["passed"] for _, value in results), results
    runs = Counter(RefreshRun.objects.filter(state="ok").values_list("segment_id", flat=True))
    assert runs == {s.pk: rounds for s in segments}
    assert RefreshRun.objects.count() == rounds * SEGMENTS
    busy = {worker for worker, value in results if value["ok"]}
    assert len(busy) == WORKERS, f"only {busy} refreshed: the round was not shared"


def make_due_again(segments: list[UserSegment]) -> None:
    """The next due round: every last attempt two intervals ago."""
    UserSegment.objects.filter(pk__in=[s.pk for s in segments]).update(
        last_attempt=F("last_attempt") - timedelta(hours=2)
    )
    assert UserSegment.objects.due().count() == SEGMENTS


def run_rounds(segments: list[UserSegment], run_round: Callable[[], list[tuple[str, Any]]]) -> None:
    """Two due rounds, each enqueued once per worker."""
    assert UserSegment.objects.due().count() == SEGMENTS
    assert_one_refresh_each(segments, run_round(), rounds=1)
    assert not UserSegment.objects.due().exists()
    make_due_again(segments)
    assert_one_refresh_each(segments, run_round(), rounds=2)
    for segment in UserSegment.objects.filter(pk__in=[s.pk for s in segments]):
        assert (segment.state, segment.member_count) == ("ok", 200 // SEGMENTS)


# --- Django's tasks framework ---------------------------------------------------------


def test_two_db_workers_share_due_refreshes(due_segments, settings, tmp_path) -> None:
    require(tasks.tasks_framework() is not None, "no tasks framework (Django 6 or django-tasks)")
    require("django_tasks_db" in settings.INSTALLED_APPS, "django-tasks-db is not installed")
    command = [sys.executable, "-m", "django", "db_worker", "--backend", "db", "--interval", "0.05"]
    commands = [[*command, "--no-startup-delay", "--worker-id", f"w{n}"] for n in range(WORKERS)]

    def run_round() -> list[tuple[str, Any]]:
        results = [tasks.refresh_due.using(backend="db").enqueue() for _ in range(WORKERS)]
        for result in results:
            wait_for(lambda result=result: result.refresh() or result.is_finished, "a refresh_due task")
            assert result.status == "SUCCESSFUL", result.errors
        return [(result.worker_ids[-1], result.return_value) for result in results]

    with workers(commands, "Starting worker", child_env(), tmp_path):
        run_rounds(due_segments, run_round)


# --- Celery -----------------------------------------------------------------------------


@contextmanager
def celery_workers(broker: str, backend: str, logs: Path) -> Iterator[None]:
    """Two Celery workers (solo pool) on a queue of this test's own; the app made current."""
    require(find_spec("celery") is not None, "Celery is not installed")
    from tests.scaling_celery_app import make_app

    queue = f"segments-test-{uuid.uuid4().hex[:12]}"
    app = make_app(broker, backend, queue)
    app.set_current()
    env = child_env(
        SEGMENTS_CELERY_BROKER=broker, SEGMENTS_CELERY_BACKEND=backend, SEGMENTS_CELERY_QUEUE=queue
    )
    command = [sys.executable, "-m", "celery", "-A", "tests.scaling_celery_app", "worker", "--pool=solo"]
    options = ["-Q", queue, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"]
    commands = [[*command, "-n", f"w{n}@%h", *options] for n in range(WORKERS)]
    try:
        # SIGKILL: the workers are idle by then, and Celery's own shutdown took 12 s on AMQP.
        with workers(commands, " ready.", env, logs, stop=signal.SIGKILL):
            yield
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
        app.close()


def run_celery_rounds(segments: list[UserSegment], settings: Any) -> None:
    settings.SEGMENTS_REFRESH_QUEUE = "celery"

    def run_round() -> list[tuple[str, Any]]:
        results = tasks.enqueue_refresh_due(WORKERS)
        values = [result.get(timeout=TIMEOUT) for result in results]
        return [(result.worker, value) for result, value in zip(results, values, strict=True)]

    run_rounds(segments, run_round)


def test_two_celery_workers_on_redis_share_due_refreshes(due_segments, settings, tmp_path) -> None:
    problem = unreachable(REDIS_URL)
    require(problem is None, f"Redis is not reachable at {problem}")
    with celery_workers(REDIS_URL, REDIS_URL, tmp_path):
        run_celery_rounds(due_segments, settings)


def test_two_celery_workers_on_rabbitmq_share_due_refreshes(due_segments, settings, tmp_path) -> None:
    problem = unreachable(AMQP_URL)
    require(problem is None, f"RabbitMQ is not reachable at {problem}")
    with celery_workers(AMQP_URL, "rpc://", tmp_path):
        run_celery_rounds(due_segments, settings)
