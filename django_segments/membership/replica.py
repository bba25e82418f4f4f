"""User SQL on a streaming hot standby: wait until it has replayed what the writer committed.

Point ``SEGMENTS_EXEC_CONNECTION`` at a hot standby and segment SQL runs on a server that
refuses every write by nature (SQLSTATE 25006, whatever the login may do): a second
boundary beside the read-only login. A standby answers from the WAL it has replayed so
far, which may be behind the writer. So before segment SQL runs there, `wait_for_writer`
reads the writer's WAL position (``pg_current_wal_lsn()``) and waits until the standby has
replayed up to it (``pg_last_wal_replay_lsn()``): the query then sees at least every
transaction the writer had committed when the refresh began, as it would on the writer.

A standby still behind after ``SEGMENTS_REPLICA_WAIT`` seconds fails the refresh with a
`RefreshError` that says how far behind it is (membership untouched, the failure recorded);
``SEGMENTS_REPLICA_WAIT = None`` runs at once on whatever the standby has replayed. On a
server that is not in recovery the check costs one query.
"""

from __future__ import annotations

import time

import psycopg
from django.db import connections

from django_segments import conf
from django_segments.exceptions import RefreshError

#: Longest pause between two looks at the standby's replay position, in seconds.
MAX_POLL = 0.1


def wait_for_writer(exec_conn: psycopg.Connection) -> None:
    """If ``exec_conn`` is a standby, wait until it has replayed the writer's current WAL."""
    wait = conf.replica_wait()
    if wait is None:
        return
    row = exec_conn.execute("SELECT pg_is_in_recovery()").fetchone()
    if not (row and row[0]):
        return
    wait_for_replay(exec_conn, writer_lsn(), timeout=wait)


def writer_lsn() -> str:
    """The WAL position the writer database has written (``pg_current_wal_lsn()``).

    Read on this thread's writer connection: a refresh starts its segment SQL before it
    opens the ``COPY`` that receives the ids, so that connection is free at this point.
    """
    from django_segments.membership.refresh import writer_alias  # noqa: PLC0415

    with connections[writer_alias()].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return str(cursor.fetchone()[0])


def wait_for_replay(standby: psycopg.Connection, target: str, *, timeout: float) -> None:
    """Return once ``standby`` has replayed WAL up to ``target`` (an LSN such as ``0/3000060``);
    raise `RefreshError` naming the lag when it has not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        behind = bytes_behind(standby, target)
        if behind <= 0:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            msg = (
                f"The segments exec connection is a standby {behind} bytes of WAL behind the "
                f"writer after waiting {timeout:g} s (SEGMENTS_REPLICA_WAIT); its data would be "
                "older than the writer's. Check its replication, or allow a longer wait."
            )
            raise RefreshError(msg)
        time.sleep(min(pause, left))
        pause = min(pause * 2, MAX_POLL)


def bytes_behind(standby: psycopg.Connection, target: str) -> int:
    """Bytes of WAL between ``standby``'s replay position and ``target`` (0 or less: caught up)."""
    # NOTE - the replay position is NULL before a standby has replayed anything: then it
    # is behind by the whole target.
    row = standby.execute(
        "SELECT pg_wal_lsn_diff(%(t)s::pg_lsn, coalesce(pg_last_wal_replay_lsn(), '0/0'))::bigint",
        {"t": target},
    ).fetchone()
    assert row is not None  # noqa: S101 - a SELECT of one expression returns one row
    return int(row[0])
