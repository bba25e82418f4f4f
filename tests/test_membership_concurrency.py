"""Refreshes under concurrency, termination and volume (real connections, committed data)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.db import connection, connections

from django_segments.exceptions import RefreshError
from django_segments.membership.refresh import LOCK_NAMESPACE
from django_segments.models import Membership, RefreshRun, UserSegment
from tests.memberapp.models import IntMember
from tests.membership_helpers import current_ids, make_segment, membership_rows, transactional

pytestmark = [pytest.mark.member_model("memberapp.IntMember"), pytest.mark.usefixtures("segments_reader")]


@pytest.fixture
def members(settings) -> list[IntMember]:
    return IntMember.objects.bulk_create(
        IntMember(email=f"m{i}@example.org", level=i % 10) for i in range(40)
    )


def _in_thread(func: Callable[[], Any], outcomes: list) -> threading.Thread:
    """Run ``func`` on a thread with its own connections; append its result or exception."""

    def target() -> None:
        try:
            outcomes.append(func())
        except Exception as exc:
            outcomes.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def _poll(query: str, params: list, *, timeout: float = 10.0) -> Any:
    """Run ``query`` until it returns a row; return the row's first value."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(query, params)
            row = cursor.fetchone()
            if row:
                return row[0]
            time.sleep(0.02)
    pytest.fail(f"timed out waiting for: {query}")
    return None  # pragma: no cover


# Advisory locks of this database only: other databases of the server have their own.
_THIS_DATABASE = "database = (SELECT oid FROM pg_database WHERE datname = current_database())"
_LOCK_WAITERS = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
    f"AND objid = %s AND NOT granted AND {_THIS_DATABASE} HAVING count(*) > 0"
)
_LOCK_HOLDER = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s AND granted "
    f"AND {_THIS_DATABASE}"
)


@transactional
def test_concurrent_refreshes_of_one_segment_are_serialized(members, settings) -> None:
    settings.SEGMENTS_SQL_EXTRA_FUNCTIONS = ["pg_sleep"]  # volatile: refused unless listed
    segment = make_segment(sql="SELECT id FROM memberapp_intmember, pg_sleep(0.2)")
    outcomes: list = []
    # Hold the segment's lock so that both refreshes are in flight at once, then let go.
    with _raw_connection() as blocker:
        blocker.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, segment.pk])
        threads = [
            _in_thread(lambda: UserSegment.objects.get(pk=segment.pk).refresh(), outcomes) for _ in range(2)
        ]
        waiting = _poll(_LOCK_WAITERS.replace("> 0", "> 1"), [LOCK_NAMESPACE, segment.pk])
        blocker.commit()
        for thread in threads:
            thread.join(30)
    assert waiting == 2
    assert [type(o).__name__ for o in outcomes] == ["RefreshResult", "RefreshResult"]
    first, second = sorted(outcomes, key=lambda o: o.stamp)
    assert ((first.entered, first.exited), (second.entered, second.exited)) == ((40, 0), (0, 0))
    assert Membership.objects.filter(segment=segment).count() == 40
    assert list(RefreshRun.objects.values_list("state", flat=True)) == ["ok", "ok"]


def _raw_connection() -> psycopg.Connection:
    """A psycopg connection to the test database, outside Django."""
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold", "server_side_binding"):
        params.pop(key, None)
    return psycopg.connect(**params)


@transactional
@pytest.mark.parametrize("victim", ["writer", "reader"])
def test_refresh_terminated_midway_leaves_membership_intact(members, victim, settings) -> None:
    settings.SEGMENTS_SQL_EXTRA_FUNCTIONS = ["pg_sleep"]  # volatile: refused unless listed
    segment = make_segment(sql="SELECT id FROM memberapp_intmember WHERE level >= 5")
    segment.refresh()
    before = membership_rows(segment)
    last_success = segment.last_success
    # The next refresh would change everything, and sleeps while streaming.
    UserSegment.objects.filter(pk=segment.pk).update(
        sql="SELECT id FROM memberapp_intmember, pg_sleep(1.5) WHERE level < 5"
    )
    outcomes: list = []
    thread = _in_thread(lambda: UserSegment.objects.get(pk=segment.pk).refresh(), outcomes)
    if victim == "writer":
        pid = _poll(_LOCK_HOLDER, [LOCK_NAMESPACE, segment.pk])
    else:
        pid = _poll(
            "SELECT pid FROM pg_stat_activity WHERE usename = 'segments_reader' AND query LIKE %s",
            ["%pg_sleep(1.5)%"],
        )
    # Readers are not blocked by the refresh in progress, and see the old membership.
    assert membership_rows(segment) == before
    assert segment.has_member(members[9])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    thread.join(30)
    [outcome] = outcomes
    assert isinstance(outcome, RefreshError)
    assert "terminat" in str(outcome) or "closed" in str(outcome)
    assert membership_rows(segment) == before
    segment.refresh_from_db()
    assert (segment.state, segment.last_success) == ("failed", last_success)
    assert segment.last_error


@transactional
def test_refresh_of_100k_members_rewrites_only_the_changed_rows(settings) -> None:
    settings.SEGMENTS_REFRESH_BATCH_SIZE = 20_000
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO memberapp_intmember (email, level, active) "
            "SELECT 'm' || g || '@example.org', g % 10, true FROM generate_series(1, 100000) g"
        )
    segment = make_segment(sql="SELECT id FROM memberapp_intmember WHERE active")
    started = time.monotonic()
    assert segment.refresh().member_count == 100_000
    first_seconds = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT member_id, xmin::text, ctid::text FROM django_segments_membership WHERE segment_id = %s",
            [segment.pk],
        )
        before = {row[0]: row[1:] for row in cursor.fetchall()}
        # 1% change: 500 members leave, 500 new members join.
        cursor.execute("UPDATE memberapp_intmember SET active = false WHERE id % 200 = 0")
        cursor.execute(
            "INSERT INTO memberapp_intmember (email, level, active) "
            "SELECT 'n' || g || '@example.org', 1, true FROM generate_series(1, 500) g"
        )
        counters = _table_counters(cursor)
    started = time.monotonic()
    result = segment.refresh()
    second_seconds = time.monotonic() - started
    assert (result.entered, result.exited, result.member_count) == (500, 500, 100_000)
    with connection.cursor() as cursor:
        delta = _counters_since(cursor, counters, expected=[500, 500, 0])
        cursor.execute(
            "SELECT member_id, xmin::text, ctid::text FROM django_segments_membership "
            "WHERE segment_id = %s AND upper_inf(period)",
            [segment.pk],
        )
        after = {row[0]: row[1:] for row in cursor.fetchall()}
    assert delta == [500, 500, 0]  # inserted, updated, deleted rows of the membership table
    unchanged = set(before) & set(after)
    assert len(unchanged) == 99_500
    assert all(before[m] == after[m] for m in unchanged)
    assert len(current_ids(segment)) == 100_000
    print(f"100k refresh: first {first_seconds:.2f}s, 1% change {second_seconds:.2f}s")


def _counters_since(cursor: Any, before: list[int], *, expected: list[int]) -> list[int]:
    """How much the membership table's counters moved since ``before``.

    PostgreSQL 15 and newer flush this backend's pending counts on request. PostgreSQL 14
    has no such function: its backends send their counts to the statistics collector
    when idle, at most every half second. There, the counters are read again until
    they show ``expected`` or 10 s pass, and the last reading is returned (the caller
    asserts on it).
    """

    def moved() -> list[int]:
        return [after - b for after, b in zip(_table_counters(cursor), before, strict=True)]

    if connection.pg_version >= 150000:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        return moved()
    deadline = time.monotonic() + 10
    while (delta := moved()) != expected and time.monotonic() <= deadline:
        time.sleep(0.1)
    return delta


def _table_counters(cursor: Any) -> list[int]:
    cursor.execute("SELECT pg_stat_clear_snapshot()")
    cursor.execute(
        "SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables "
        "WHERE relname = 'django_segments_membership'"
    )
    return list(cursor.fetchone())
