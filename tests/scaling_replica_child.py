"""The standby scenario, run in a child process on a primary + standby pair
(``python -m tests.scaling_replica_child``, settings `tests.scaling_replica_settings`).

It migrates the primary, adds users, refreshes segments whose SQL runs on the standby,
pauses the standby's replay to show what lag does, and times refreshes through the
standby against the same refreshes through the primary. It prints one JSON object of
what it saw; tests/test_scaling_replica.py asserts on it, and ``python -m bench.scaling``
reports its timings. ``SEGMENTS_REPLICA_USERS`` (default 2,000) and
``SEGMENTS_REPLICA_REPEAT`` (default 1) size it.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any

import django
import psycopg


def main() -> None:
    """Run the scenario; print its observations as JSON."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.scaling_replica_settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    create_reader()
    users = int(os.environ.get("SEGMENTS_REPLICA_USERS", "2000"))
    add_users(users)
    seen: dict[str, Any] = {"users": users}
    seen.update(boundaries())
    seen.update(refresh_through_standby())
    seen.update(lag())
    seen["timings"] = timings(int(os.environ.get("SEGMENTS_REPLICA_REPEAT", "1")))
    print(json.dumps(seen))


def create_reader() -> None:
    """The read-only login of user SQL, made on the primary (the standby replays it)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE segments_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
        cursor.execute("GRANT SELECT ON auth_user TO segments_reader")


def add_users(count: int) -> None:
    """``count`` users more, in one statement on the primary."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,"
            " is_staff, is_active, date_joined) SELECT '', false, 'u' || g || '-' || %s, '', '', '',"
            " false, true, now() FROM generate_series(1, %s) AS g",
            [time.monotonic_ns(), count],
        )


def standby_url() -> str:
    return os.environ["SEGMENTS_STANDBY_URL"]


def boundaries() -> dict[str, Any]:
    """Where user SQL runs, and that the standby refuses writes even to a superuser."""
    from django.db import connections

    from django_segments.membership import safe_sql

    with safe_sql.read_only_session() as raw:
        user, in_recovery = raw.execute("SELECT current_user, pg_is_in_recovery()").fetchone()  # type: ignore[misc]
    with psycopg.connect(standby_url(), autocommit=True) as superuser:
        superuser.execute("SET default_transaction_read_only = off")
        try:
            superuser.execute("CREATE TABLE written_on_a_standby ()")
            refused = None
        except psycopg.Error as exc:
            refused = exc.sqlstate
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        writer_in_recovery = cursor.fetchone()[0]
    return {
        "exec_user": user,
        "exec_in_recovery": in_recovery,
        "writer_in_recovery": writer_in_recovery,
        "superuser_write_on_standby": refused,
    }


def make_segment(slug: str) -> Any:
    from django_segments.models import UserSegment

    return UserSegment.objects.create(name=slug, slug=slug, sql="SELECT id FROM auth_user WHERE id % 2 = 0")


def refresh_through_standby() -> dict[str, Any]:
    """Refresh right after the users were written: the refresh waits for the standby."""
    from django_segments.models import Membership

    segment = make_segment("even")
    result = segment.refresh()
    return {
        "fresh_member_count": result.member_count,
        "fresh_rows": Membership.objects.filter(segment=segment).current().count(),
    }


def lag() -> dict[str, Any]:
    """With the standby's replay paused: a bounded wait fails, no wait reads old data."""
    from django.test import override_settings

    from django_segments.exceptions import RefreshError
    from django_segments.models import UserSegment

    segment = UserSegment.objects.get(slug="even")
    before = segment.member_count
    with psycopg.connect(standby_url(), autocommit=True) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            add_users(10)  # five of them even
            with override_settings(SEGMENTS_REPLICA_WAIT=0.5):
                try:
                    segment.refresh()
                    error = None
                except RefreshError as exc:
                    error = str(exc)
            segment.refresh_from_db()
            failed = {"state": segment.state, "member_count": segment.member_count, "error": error}
            with override_settings(SEGMENTS_REPLICA_WAIT=None):
                stale = segment.refresh().member_count
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
    return {
        "count_before_pause": before,
        "paused_with_wait": failed,
        "paused_without_wait": stale,
        "after_resume": segment.refresh().member_count,
    }


def settle() -> None:
    """Wait, untimed, until the standby has replayed all the primary has written."""
    from django_segments.membership import replica

    with psycopg.connect(os.environ["SEGMENTS_PRIMARY_URL"]) as primary:
        target = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]  # type: ignore[index]
    with psycopg.connect(standby_url()) as standby:
        replica.wait_for_replay(standby, target, timeout=300)


def timings(repeat: int) -> dict[str, Any]:
    """Median seconds of a first refresh and of an unchanged one, via standby and primary.

    Each timed refresh starts with the standby caught up: a refresh through the standby
    right after a large write (such as a first refresh) also waits for that write's replay.
    """
    from django.test import override_settings

    runs: dict[str, list[float]] = {}
    for number in range(repeat):
        for where in ("standby", "primary_reader") if number % 2 == 0 else ("primary_reader", "standby"):
            with override_settings(SEGMENTS_EXEC_CONNECTION=where):
                segment = make_segment(f"timed-{where}-{number}")
                for kind in ("first", "unchanged"):
                    settle()
                    started = time.perf_counter()
                    segment.refresh()
                    runs.setdefault(f"{where}_{kind}", []).append(time.perf_counter() - started)
    return {name: round(statistics.median(values), 4) for name, values in runs.items()} | {"repeat": repeat}


if __name__ == "__main__":
    main()
    sys.exit(0)
