"""Scaling: a round of due refreshes shared by 1 and by 2 worker processes, and refreshes
whose SQL runs on a streaming standby against the same on the primary.

Workers: 50 segments of user SQL over the member table; each worker is a process that
runs `refresh_due_segments` (what ``manage.py refresh_due``, a db_worker or a Celery
worker runs for a round). The processes start first and wait; the clock runs from their
release to the last one's end, so Python's start-up is not counted. Rounds of 1 and 2
workers alternate, each after every segment was made due again (refreshes that change
nothing, the usual scheduled case), after one first round that filled the segments.

Standby: an embedded primary and a ``pg_basebackup -R`` standby of it of their own; the
scenario of tests/scaling_replica_child.py with more users times first and unchanged
refreshes through each (medians, alternating order).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEGMENTS = 50

WORKER = """
import json, sys
import django

django.setup()
from django_segments.membership import tasks

sys.stdout.write("ready\\n")
sys.stdout.flush()
sys.stdin.readline()
print(json.dumps(tasks.refresh_due_segments()), flush=True)
"""


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Both measurements; sizes are smaller with ``quick``."""
    members = 2_000 if quick else 50_000
    rounds = 1 if quick else 5
    log(f"scaling: {SEGMENTS} segments over {members} members, 1 vs 2 workers, {rounds} round(s) each")
    workers = _workers(members, rounds)
    users = 2_000 if quick else 100_000
    log(f"scaling: standby vs primary, {users} users")
    return {"workers": workers, "standby": _standby(users, rounds)}


def _workers(members: int, rounds: int) -> dict[str, Any]:
    from django.db.models import F

    from django_segments.models import RefreshRun, UserSegment
    from tests.memberapp.models import IntMember

    IntMember.objects.bulk_create(IntMember(email=f"m{i}@example.org") for i in range(members))
    UserSegment.objects.bulk_create(
        UserSegment(
            name=f"Due {k}",
            slug=f"bench-due-{k}",
            sql=f"SELECT id FROM memberapp_intmember WHERE id % {SEGMENTS} = {k}",
            refresh_interval=timedelta(hours=1),
        )
        for k in range(SEGMENTS)
    )
    first = _round(2)
    seconds: dict[int, list[float]] = {1: [], 2: []}
    for number in range(rounds):
        for count in (1, 2) if number % 2 == 0 else (2, 1):
            UserSegment.objects.update(last_attempt=F("last_attempt") - timedelta(hours=2))
            seconds[count].append(_round(count)["seconds"])
    one, two = statistics.median(seconds[1]), statistics.median(seconds[2])
    return {
        "segments": SEGMENTS,
        "members": members,
        "rounds": rounds,
        "first_round_2_workers_s": round(first["seconds"], 3),
        "one_worker_s": round(one, 3),
        "two_workers_s": round(two, 3),
        "speedup": round(one / two, 2),
        "one_worker_rounds_s": [round(s, 3) for s in seconds[1]],
        "two_workers_rounds_s": [round(s, 3) for s in seconds[2]],
        "runs": RefreshRun.objects.count(),
        "runs_expected": SEGMENTS * (1 + 2 * rounds),
        "shares": first["shares"],
    }


def _round(count: int) -> dict[str, Any]:
    """Release ``count`` waiting worker processes at once; time them until the last ends."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "bench.settings"}
    procs = [
        subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
            [sys.executable, "-c", WORKER],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", "a worker did not start"
    started = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    done = [json.loads(proc.communicate(timeout=600)[0].splitlines()[-1]) for proc in procs]
    seconds = time.perf_counter() - started
    refreshed = [pk for result in done for pk in result["ok"]]
    assert len(refreshed) == len(set(refreshed)) == SEGMENTS, "a segment refreshed twice or not at all"
    return {"seconds": seconds, "shares": [len(result["ok"]) for result in done]}


def _standby(users: int, repeat: int) -> dict[str, Any]:
    from tests.scaling_replica import replica_pair

    with (
        tempfile.TemporaryDirectory(prefix="segments-bench-replica-") as root,
        replica_pair(Path(root)) as pair,
    ):
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "tests.scaling_replica_settings",
            "SEGMENTS_PRIMARY_URL": pair.primary,
            "SEGMENTS_STANDBY_URL": pair.standby,
            "SEGMENTS_REPLICA_USERS": str(users),
            "SEGMENTS_REPLICA_REPEAT": str(repeat),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "tests.scaling_replica_child"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
            check=True,
        )
    seen = json.loads(proc.stdout.splitlines()[-1])
    timings = seen["timings"]
    return {
        "users": users,
        "members": seen["fresh_member_count"],
        "repeat": repeat,
        **{key: value for key, value in timings.items() if key != "repeat"},
        "ratio_first": round(timings["standby_first"] / timings["primary_reader_first"], 2),
        "ratio_unchanged": round(timings["standby_unchanged"] / timings["primary_reader_unchanged"], 2),
    }
