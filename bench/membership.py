"""Membership: a segment's refresh next to its peers; read latency next to hand-written SQL.

At two member counts (100,000 and 1,000,000; ``--quick`` 2,000 and 20,000) the refresh of
one segment runs side by side with a hand-written diff, a naive Python diff and two
materialized views (`bench.membership_peers`). Then, at the larger count: a first refresh
next to ``INSERT ... SELECT`` of the same ids, and the read paths (``has_member``,
``member.is_member``, ``member.segments``, ``segment.members[:100]``) with 1,000
refreshed segments of which each member is in 100, each next to hand-written SQL that
gives the same answer. The memory area uses `first_refresh` of this module.
"""

from __future__ import annotations

import gc
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


def _hand(name: str, params: dict[str, Any]) -> Callable[[], list[tuple[Any, ...]]]:
    """The hand-written read of section ``hand_<name>``, rows fetched."""

    def read() -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            return db.execute(cursor, db.statement(SQL_FILE, f"hand_{name}"), params)

    return read


def _read_pair(library: Callable[[], Any], hand: Callable[[], Any], reps: int) -> dict[str, Any]:
    """The library's read and the hand-written SQL, alternating; medians and statements."""
    times: dict[str, list[float]] = {"library": [], "hand": []}
    statements = 0
    for rep in range(reps):
        for side in ("library", "hand") if rep % 2 == 0 else ("hand", "library"):
            with counting() as sent, Timer() as timer:
                (library if side == "library" else hand)()
            times[side].append(timer.seconds)
            statements = max(statements, sent.count) if side == "library" else statements
    lib, by_hand = median(times["library"]), median(times["hand"])
    return {
        "library_ms": ms(lib),
        "hand_ms": ms(by_hand),
        "ratio": ratio(lib, by_hand),
        "statements": statements,
    }


def _reads(reps: int, members: int, large: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Point reads with 1,000 refreshed segments (each member in about 100) and the large
    segment ``large``, against hand-written SQL for the same answer."""
    from django_segments.models import UserSegment
    from tests.memberapp.models import IntMember

    count, every = 1_000, 10
    _many_segments(count, members, every)
    member = IntMember.objects.get(pk=members // 2 + 1)  # odd: never flipped, in the large segment
    segment = UserSegment.objects.get(pk=large)
    params = {"segment": segment.pk, "member": member.pk}
    assert segment.has_member(member) == _hand("has_member", params)()[0][0]
    assert [s.pk for s in member.segments] == [row[0] for row in _hand("member_segments", params)()]
    pairs = {
        "has_member": (lambda: segment.has_member(member), _hand("has_member", params)),
        "is_member": (lambda: member.is_member(segment), _hand("has_member", params)),
        "member_segments": (lambda: list(member.segments), _hand("member_segments", params)),
        "segment_members": (lambda: list(segment.members[:100]), _hand("segment_members", params)),
    }
    found = {name: _read_pair(library, hand, reps) for name, (library, hand) in pairs.items()}
    shown = ", ".join(
        f"{name} {row['library_ms']:.3f}/{row['hand_ms']:.3f} ms" for name, row in found.items()
    )
    log(f"  reads library/by hand: {shown}")
    explain_params = {"segment_id": segment.pk, "member_id": member.pk}
    return {
        "segments": count,
        "members_with_segments": members,
        "segments_per_member": len(list(member.segments)),
        "repetitions": reps,
        **found,
        "explain_is_member": _explain("is_member", explain_params),
        "explain_member_segments": _explain("member_segments", explain_params),
    }


def sizes(*, quick: bool) -> tuple[int, int]:
    """The two member counts the refreshes are compared at."""
    return (2_000, 20_000) if quick else (100_000, 1_000_000)


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """The refresh next to its peers at two member counts; a first refresh next to
    ``INSERT ... SELECT``; the read paths next to hand-written SQL."""
    from bench import membership_peers as peers

    reps = {0: 3, 1: 3, 50: 2} if quick else {0: 5, 1: 5, 50: 3}
    results = []
    for members in sizes(quick=quick):
        load_members(members)
        results.append(peers.run_size(members, reps, log))
    first = peers.first_refreshes(3)
    log(f"  first refresh {first['library_ms']:.0f} ms, INSERT ... SELECT {first['insert_select_ms']:.0f} ms")
    small, large = results[0]["memory"], results[-1]["memory"]
    return {
        "definition": peers.definition(),
        "sizes": list(sizes(quick=quick)),
        "merge_supported": peers.merge_supported(),
        "refresh": [row for size in results for row in size["rows"]],
        "first_refresh": {"members": large["members"], **first},
        "memory": [size["memory"] for size in results],
        "ratio_peak_large_small": ratio(large["peak_bytes"], small["peak_bytes"]),
        "breakdown": [size["breakdown"] for size in results],
        "exec_vs_writer": [size["exec_vs_writer"] for size in results],
        "reads": _reads(200 if quick else 500, 200 if quick else 1_000, results[-1]["segment"], log),
    }
