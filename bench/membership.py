"""Membership: refresh of one large segment next to materialized views; read latency.

A segment selects the active members (SQL definition, streamed from the exec connection
into the database); the same query also backs two materialized views. Each repetition
flips a share of the members (0%, 1%, 50% of the segment changes), then refreshes the
segment, ``REFRESH MATERIALIZED VIEW`` and ``REFRESH MATERIALIZED VIEW CONCURRENTLY``,
each timed on its own, in rotating order. Reads: ``member.is_member(segment)`` and
``member.segments`` with 1,000 refreshed segments of which each member is in 100.
"""

from __future__ import annotations

import gc
import logging
import tracemalloc
from collections.abc import Callable
from typing import Any

from django.db import connection

from bench import db
from bench.measure import Timer, counting, median, ms, ratio, vacuum

SQL_FILE = "membership.sql"
CHANGES = {0: None, 1: 100, 50: 2}  # percent of the segment -> flip every n-th member
ACTIVE_SLUG = "bench-active"
#: First refreshes done in this process, by slug (the memory area traces them, this
#: area reuses the large one: materializing a million members takes minutes).
_FIRST: dict[str, dict[str, Any]] = {}


def member_count(*, quick: bool) -> int:
    """Members of the large segment."""
    return 20_000 if quick else 1_000_000


def load_members(count: int) -> None:
    """(Re)create ``count`` active members with ids 1..count, unless already there."""
    from tests.memberapp.models import IntMember

    if IntMember.objects.count() == count and IntMember.objects.filter(pk=count).exists():
        return
    with connection.cursor() as cursor:
        for sql in db.statements(SQL_FILE, "members"):
            cursor.execute(sql, {"count": count})
    vacuum("memberapp_intmember")


def _segment(slug: str, sql: str) -> Any:
    from django_segments.models import UserSegment

    UserSegment.objects.filter(slug=slug).delete()
    return UserSegment.objects.create(name=slug, slug=slug, sql=sql)


def first_refresh(members: int, *, limit: int | None = None, traced: bool = False) -> dict[str, Any]:
    """Create and refresh (once per process) the segment of active members [id <= limit]."""
    load_members(members)
    slug = ACTIVE_SLUG if limit is None else f"{ACTIVE_SLUG}-{limit}"
    if slug in _FIRST:
        return _FIRST[slug]
    definition = db.statement(SQL_FILE, "definition")
    if limit is not None:
        definition += f" AND id <= {int(limit)}"
    segment = _segment(slug, definition)
    gc.collect()
    if traced:
        tracemalloc.start()
    try:
        with Timer() as timer:
            result = segment.refresh()
        peak = tracemalloc.get_traced_memory()[1] if traced else None
    finally:
        if traced:
            tracemalloc.stop()
    _FIRST[slug] = {
        "segment": segment,
        "members": result.member_count,
        "ms": ms(timer.seconds),
        "peak_bytes": peak,
        "traced": traced,
    }
    return _FIRST[slug]


def _library_refresh(segment: Any, timeout_s: int) -> tuple[float | None, int | None]:
    """Seconds and changed members of ``segment.refresh()``; ``(None, None)`` on timeout."""
    from django_segments.exceptions import RefreshError

    library_log = logging.getLogger("django_segments.membership")
    level = library_log.level
    # NOTE - a timed-out refresh is recorded and logged (with traceback) by the library.
    library_log.setLevel(logging.ERROR)
    with connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {int(timeout_s) * 1000}")
    try:
        with Timer() as timer:
            result = segment.refresh()
    except RefreshError as exc:
        if "statement timeout" not in str(exc):
            raise
        return None, None
    finally:
        library_log.setLevel(level)
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
    return timer.seconds, result.entered + result.exited


def _matview(name: str) -> float:
    with Timer() as timer, connection.cursor() as cursor:
        cursor.execute(db.statement(SQL_FILE, name))
    return timer.seconds


def _refresh_level(segment: Any, every: int | None, reps: int, timeout_s: int) -> dict[str, Any]:
    """One change rate: ``reps`` rounds of flip, then the three refreshes in rotating order."""
    sides = ["library", "matview", "matview_concurrently"]
    times: dict[str, list[float | None]] = {name: [] for name in sides}
    changed: list[int] = []
    for rep in range(reps):
        if every:
            with connection.cursor() as cursor:
                cursor.execute(db.statement(SQL_FILE, "change"), {"every": every})
        for name in sides[rep % 3 :] + sides[: rep % 3]:
            if name == "library":
                seconds, count = _library_refresh(segment, timeout_s)
                changed += [] if count is None else [count]
            else:
                seconds = _matview(f"refresh_{name}")
            times[name].append(seconds)
    lib = None if None in times["library"] else median(times["library"])
    mv, conc = median(times["matview"]), median(times["matview_concurrently"])
    return {
        "repetitions": reps,
        "changed_members": max(changed) if changed else None,
        "library_ms": None if lib is None else ms(lib),
        "library_timed_out": lib is None,
        "library_timeout_s": timeout_s,
        "matview_ms": ms(mv),
        "matview_concurrently_ms": ms(conc),
        "ratio_library_matview": ratio(lib if lib is not None else timeout_s, mv),
        "ratio_library_concurrently": ratio(lib if lib is not None else timeout_s, conc),
    }


def _refreshes(segment: Any, reps: dict[int, int], timeout_s: int, log: Callable[[str], None]):
    rows = []
    for percent, every in CHANGES.items():
        vacuum("memberapp_intmember", "django_segments_membership", "bench_segment_mv")
        row = {"change_percent": percent, **_refresh_level(segment, every, reps[percent], timeout_s)}
        lib = f"> {timeout_s} s (timeout)" if row["library_timed_out"] else f"{row['library_ms']:.0f} ms"
        log(
            f"  refresh {percent:>2}% ({row['changed_members']} changed): library {lib},"
            f" matview {row['matview_ms']:.0f} ms, concurrently {row['matview_concurrently_ms']:.0f} ms"
        )
        rows.append(row)
    return rows


def _many_segments(count: int, members: int, every: int) -> list[int]:
    with connection.cursor() as cursor:
        rows = db.execute(cursor, db.statement(SQL_FILE, "many_segments"), {"count": count})
        ids = [row[0] for row in rows]
        cursor.execute(
            db.statement(SQL_FILE, "many_memberships"),
            {"segment_ids": ids, "members": members, "every": every},
        )
    vacuum("django_segments_usersegment", "django_segments_membership")
    return ids


def _latency(call: Callable[[], Any], reps: int) -> tuple[float, int]:
    times, counts = [], set()
    for _ in range(reps):
        with counting() as log, Timer() as timer:
            call()
        times.append(timer.seconds)
        counts.add(log.count)
    return median(times), max(counts)


def _explain(name: str, params: dict[str, Any]) -> str:
    with connection.cursor() as cursor:
        rows = db.execute(cursor, db.statement("explain.sql", name), params)
    return "\n".join(row[0] for row in rows)


def _reads(reps: int, members: int, log: Callable[[str], None]) -> dict[str, Any]:
    from django_segments.models import UserSegment
    from tests.memberapp.models import IntMember

    count, every = 1_000, 10
    ids = _many_segments(count, members, every)
    member = IntMember.objects.get(pk=members // 2)
    segment = UserSegment.objects.get(pk=ids[len(ids) // 2])
    is_member, is_member_statements = _latency(lambda: member.is_member(segment), reps)
    listing, listing_statements = _latency(lambda: list(member.segments), reps)
    found = len(list(member.segments))
    log(f"  is_member {ms(is_member):.3f} ms; segments of one member ({found}) {ms(listing):.3f} ms")
    params = {"segment_id": segment.pk, "member_id": member.pk}
    return {
        "segments": count,
        "members_with_segments": members,
        "segments_per_member": found,
        "is_member_ms": ms(is_member),
        "is_member_statements": is_member_statements,
        "member_segments_ms": ms(listing),
        "member_segments_statements": listing_statements,
        "explain_is_member": _explain("is_member", params),
        "explain_member_segments": _explain("member_segments", params),
    }


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Refresh a large segment at three change rates; measure the read paths."""
    members = member_count(quick=quick)
    # NOTE - a 50% change of a million members takes minutes: one repetition.
    reps = {0: 3, 1: 3, 50: 1}
    first = first_refresh(members)
    traced = " (under tracemalloc, memory area)" if first["traced"] else ""
    log(f"  first refresh: {first['members']} members in {first['ms']:.0f} ms{traced}")
    with connection.cursor() as cursor:
        for sql in db.statements(SQL_FILE, "matviews"):
            cursor.execute(sql)
    refreshes = _refreshes(first["segment"], reps, 30 if quick else 60, log)
    return {
        "members": members,
        "definition": db.statement(SQL_FILE, "definition"),
        "first_refresh_ms": first["ms"],
        "first_refresh_traced": first["traced"],
        "refresh": refreshes,
        "reads": _reads(200, 200 if quick else 1_000, log),
    }
