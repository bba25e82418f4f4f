"""A segment's refresh next to its peers, side by side, at one member count.

The segment is ``SELECT id FROM memberapp_intmember WHERE active``. Each repetition flips
0%, 1% or 50% of the members, then runs every side in rotating order, each on its own
copy of the membership (a segment id of its own in the membership table, so the same
columns, constraints, foreign key, indexes and triggers):

- ``library``: ``UserSegment.objects.get(pk=...).refresh()``, its SQL run on the exec
  login (``SEGMENTS_EXEC_CONNECTION``) and streamed into the writer;
- ``cte``: (a) the diff written by hand, the definition inlined on the writer (one
  statement, ``peer_cte``); ``merge``: the same as one ``MERGE`` (PostgreSQL 17+);
- ``python``: (b) the naive set difference in Python, written with array parameters;
- ``matview`` / ``matview_concurrently``: (c) ``REFRESH MATERIALIZED VIEW [CONCURRENTLY]``.

Every writing side closes the leavers' open periods and opens the enterers', commits
inside its time, and gets the refresh's ``work_mem`` (``SEGMENTS_REFRESH_WORK_MEM``). Each
repetition checks that the writing sides counted the same change, and each level that
they left the same history (rows and open rows).
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction

from bench import db
from bench.measure import StatementTimer, Timer, median, ms, ratio, rotated, vacuum
from django_segments.membership.registry import register_segment_method

SQL_FILE = "membership.sql"
#: Percent of the segment that changes -> flip every n-th member.
CHANGES = {0: None, 1: 100, 50: 2}
WRITERS = ("library", "cte", "merge", "python")
VIEWS = ("matview", "matview_concurrently")
#: The definition as a registered method: the same query, run on the writer.
METHOD = "bench_active"
Runner = Callable[[int], int | None]


@register_segment_method(name=METHOD, label="Active members (benchmark)")
def active_members(queryset: Any) -> Any:
    """The segment's definition as a method: inlined into the refresh on the writer."""
    return queryset.filter(active=True)


def merge_supported() -> bool:
    """``MERGE ... WHEN NOT MATCHED BY SOURCE`` arrived in PostgreSQL 17."""
    return connection.pg_version >= 170000


def definition() -> str:
    """The segment's SQL."""
    return db.statement(SQL_FILE, "definition")


@contextmanager
def writing() -> Iterator[Any]:
    """A cursor in a transaction with the refresh's ``work_mem``; commits on exit."""
    from django_segments import conf

    with transaction.atomic(), connection.cursor() as cursor:
        work_mem = conf.refresh_work_mem()
        if work_mem:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
        yield cursor


def library(segment: int) -> int:
    """The library's refresh as a user calls it; the members that entered or left."""
    from django_segments.models import UserSegment

    result = UserSegment.objects.get(pk=segment).refresh()
    return result.entered + result.exited


def cte(segment: int) -> int:
    """(a) The hand-written diff statement."""
    with writing() as cursor:
        opened, closed = db.execute(cursor, db.statement(SQL_FILE, "peer_cte"), {"segment": segment})[0]
    return int(opened) + int(closed)


def merge(segment: int) -> int:
    """(a) The same diff as one MERGE."""
    with writing() as cursor:
        cursor.execute(db.statement(SQL_FILE, "peer_merge"), {"segment": segment})
        return int(cursor.rowcount)


def python_diff(segment: int) -> int:
    """(b) Load the current ids and the definition's, diff the sets, write the difference."""
    with writing() as cursor:
        current = {
            row[0]
            for row in db.execute(cursor, db.statement(SQL_FILE, "peer_current_ids"), {"segment": segment})
        }
        desired = {row[0] for row in db.execute(cursor, definition())}
        leaving, entering = sorted(current - desired), sorted(desired - current)
        if leaving:
            cursor.execute(db.statement(SQL_FILE, "peer_close"), {"segment": segment, "ids": leaving})
        if entering:
            cursor.execute(db.statement(SQL_FILE, "peer_open"), {"segment": segment, "ids": entering})
    return len(leaving) + len(entering)


def view(name: str) -> Runner:
    """(c) ``REFRESH MATERIALIZED VIEW`` of section ``refresh_<name>``."""

    def refresh(_segment: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(db.statement(SQL_FILE, f"refresh_{name}"))

    return refresh


RUNNERS: dict[str, Runner] = {
    "library": library,
    "cte": cte,
    "merge": merge,
    "python": python_diff,
    **{name: view(name) for name in VIEWS},
}


def peer_segment(slug: str) -> int:
    """A segment row for a peer to write under; the library never refreshes it."""
    with connection.cursor() as cursor:
        return int(db.execute(cursor, db.statement(SQL_FILE, "peer_segment"), {"slug": slug})[0][0])


def forget(segment: int) -> None:
    """Delete a segment's membership rows and runs (not timed)."""
    with connection.cursor() as cursor:
        for statement in db.statements(SQL_FILE, "peer_forget"):
            cursor.execute(statement, {"segment": segment})


def library_segment(slug: str, **definitions: str) -> int:
    """A fresh user segment (its SQL the definition unless ``definitions`` say otherwise)."""
    from django_segments.models import UserSegment

    for old in UserSegment.objects.filter(slug=slug).values_list("pk", flat=True):
        forget(old)
    UserSegment.objects.filter(slug=slug).delete()
    return UserSegment.objects.create(name=slug, slug=slug, **(definitions or {"sql": definition()})).pk


def traced_first_refresh(segment: int) -> dict[str, Any]:
    """The segment's first refresh under tracemalloc: its time and peak Python memory."""
    gc.collect()
    tracemalloc.start()
    try:
        with Timer() as timer:
            entered = library(segment)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return {
        "members": entered,
        "ms": ms(timer.seconds),
        "peak_bytes": peak,
        "peak_mib": round(peak / 2**20, 2),
    }


def warm_up() -> None:
    """One small refresh before a traced one: what a process allocates once (imports,
    caches, the first connection of the exec alias) is then not in the traced peak,
    whichever area ran before."""
    library(library_segment("bench-warm-up", sql=f"{definition()} AND id <= 100"))


def writers() -> tuple[str, ...]:
    """The writing sides this server runs."""
    return WRITERS if merge_supported() else tuple(w for w in WRITERS if w != "merge")


def setup(members: int) -> tuple[dict[str, int], dict[str, Any]]:
    """Segments for the writing sides, each with its first refresh; the views. Returns the
    segment ids by side and the library's traced first refresh."""
    segments = {"library": library_segment(f"bench-peers-{members}")}
    warm_up()
    first = traced_first_refresh(segments["library"])
    for side in writers()[1:]:
        segments[side] = peer_segment(f"bench-peer-{side}-{members}")
        RUNNERS[side](segments[side])
    with connection.cursor() as cursor:
        for statement in db.statements(SQL_FILE, "matviews"):
            cursor.execute(statement)
    check_histories(segments)
    return segments, first


def check_histories(segments: dict[str, int]) -> None:
    """Every writing side has the same number of rows and of open rows."""
    with connection.cursor() as cursor:
        rows = db.execute(
            cursor, db.statement(SQL_FILE, "peer_histories"), {"segments": list(segments.values())}
        )
    found = {segment: (total, open_rows) for segment, total, open_rows in rows}
    by_side = {side: found.get(segment) for side, segment in segments.items()}
    assert len(set(by_side.values())) == 1, f"the sides wrote different histories: {by_side}"


def flip(every: int | None) -> None:
    """Flip every ``every``-th member (none when ``every`` is None)."""
    if every:
        with connection.cursor() as cursor:
            cursor.execute(db.statement(SQL_FILE, "change"), {"every": every})


def level(segments: dict[str, int], percent: int, reps: int) -> dict[str, Any]:
    """One change rate: ``reps`` rounds of a flip, then every side in rotating order."""
    sides = (*writers(), *VIEWS)
    times: dict[str, list[float]] = {side: [] for side in sides}
    changed: list[int] = []
    vacuum(
        "memberapp_intmember", "django_segments_membership", "bench_segment_mv", "bench_segment_mv_concurrent"
    )
    for rep in range(reps):
        flip(CHANGES[percent])
        counted = {}
        for side in rotated(sides, rep):
            with Timer() as timer:
                counted[side] = RUNNERS[side](segments.get(side, 0))
            times[side].append(timer.seconds)
        counts = {side: counted[side] for side in writers()}
        assert len(set(counts.values())) == 1, f"{percent}%: the sides counted different changes: {counts}"
        changed.append(counts["library"] or 0)
    check_histories(segments)
    return level_row(percent, reps, max(changed), {side: median(values) for side, values in times.items()})


def level_row(percent: int, reps: int, changed: int, seconds: dict[str, float]) -> dict[str, Any]:
    """The results of one change rate: medians and the library's ratios to each peer."""
    lib = seconds["library"]
    merged = seconds.get("merge")
    return {
        "change_percent": percent,
        "changed_members": changed,
        "repetitions": reps,
        **{f"{side}_ms": ms(value) for side, value in seconds.items()},
        "merge_ms": None if merged is None else ms(merged),
        "ratio_library_cte": ratio(lib, seconds["cte"]),
        "ratio_library_merge": None if merged is None else ratio(lib, merged),
        "ratio_library_python": ratio(lib, seconds["python"]),
        "ratio_library_matview": ratio(lib, seconds["matview"]),
        "ratio_library_concurrently": ratio(lib, seconds["matview_concurrently"]),
    }


def first_refreshes(reps: int) -> dict[str, Any]:
    """A segment's first refresh against ``INSERT ... SELECT`` of the same ids."""
    times: dict[str, list[float]] = {"library": [], "insert_select": []}
    for rep in range(reps):
        for side in rotated(tuple(times), rep):
            segment = (
                library_segment("bench-first") if side == "library" else peer_segment(f"bench-first-{rep}")
            )
            with Timer() as timer:
                if side == "library":
                    library(segment)
                else:
                    with writing() as cursor:
                        cursor.execute(db.statement(SQL_FILE, "peer_first_insert"), {"segment": segment})
            times[side].append(timer.seconds)
            forget(segment)
            vacuum("django_segments_membership")
    lib, insert = median(times["library"]), median(times["insert_select"])
    return {
        "repetitions": reps,
        "library_ms": ms(lib),
        "insert_select_ms": ms(insert),
        "ratio": ratio(lib, insert),
    }


def exec_vs_writer(sql_segment: int, reps: int) -> dict[str, Any]:
    """Unchanged refreshes: the SQL on the exec login against the same query as a method
    definition (inlined on the writer)."""
    method_segment = library_segment(f"bench-method-{sql_segment}", method=METHOD)
    library(method_segment)  # its first refresh, not timed
    segments = {"sql": sql_segment, "method": method_segment}
    times: dict[str, list[float]] = {side: [] for side in segments}
    for rep in range(reps):
        for side in rotated(tuple(segments), rep):
            with Timer() as timer:
                library(segments[side])
            times[side].append(timer.seconds)
    on_exec, on_writer = median(times["sql"]), median(times["method"])
    return {
        "repetitions": reps,
        "sql_ms": ms(on_exec),
        "method_ms": ms(on_writer),
        "ratio": ratio(on_exec, on_writer),
    }


def statement_kind(sql: str) -> str:
    """Which part of a refresh a statement of the library is."""
    text = sql.lstrip()
    if "FULL JOIN" in text:
        return "diff"
    if text.startswith("ANALYZE"):
        return "analyze"
    if text.startswith(("CREATE TEMP", "DROP TABLE")):
        return "temp_tables"
    return "other_statements"


def breakdown(segment: int) -> dict[str, Any]:
    """One library refresh at 1% change, split by statement; the ``COPY`` (which does not go
    through Django's execute) is the gap after the stage table's creation."""
    from django.db import connection as writer

    flip(CHANGES[1])
    timer = StatementTimer()
    with writer.execute_wrapper(timer), Timer() as total:
        changed = library(segment)
    parts = dict.fromkeys(("diff", "analyze", "temp_tables", "stream_copy", "other_statements"), 0.0)
    for (sql, started, ended), after in zip(timer.calls, [*timer.calls[1:], None], strict=True):
        parts[statement_kind(sql)] += ended - started
        if "segments_stage_" in sql and sql.lstrip().startswith("CREATE TEMP") and after:
            parts["stream_copy"] += after[1] - ended
    parts["rest"] = total.seconds - sum(parts.values())
    return {
        "changed_members": changed,
        "total_ms": ms(total.seconds),
        "statements": len(timer.calls),
        **{f"{name}_ms": ms(value) for name, value in parts.items()},
    }


def run_size(members: int, reps: dict[int, int], log: Callable[[str], None]) -> dict[str, Any]:
    """Every comparison at one member count (the members are loaded already)."""
    segments, first = setup(members)
    log(f"  {members} members: first refresh {first['ms']:.0f} ms, peak {first['peak_mib']} MiB (traced)")
    rows = []
    for percent in CHANGES:
        row = {"members": members, **level(segments, percent, reps[percent])}
        log(
            f"  {members} {percent:>2}% ({row['changed_members']} changed): library {row['library_ms']:.0f},"
            f" cte {row['cte_ms']:.0f}, python {row['python_ms']:.0f}, matview {row['matview_ms']:.0f},"
            f" concurrently {row['matview_concurrently_ms']:.0f} ms"
        )
        rows.append(row)
    split = breakdown(segments["library"])
    writer = exec_vs_writer(segments["library"], max(reps.values()))
    log(
        f"  {members}: SQL on the exec login {writer['sql_ms']:.0f} ms,"
        f" as a method {writer['method_ms']:.0f} ms"
    )
    return {
        "members": members,
        "segment": segments["library"],
        "rows": rows,
        "memory": {"members": members, **first},
        "breakdown": {"members": members, **split},
        "exec_vs_writer": {"members": members, **writer},
    }
