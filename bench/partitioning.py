"""Partitioning: many large segments in one membership table against a table partitioned
by segment (declarative LIST partitions, one per segment).

Both tables have the shape of ``django_segments_membership`` (its columns, check,
indexes and statement triggers) with the coming member key: a ``bigint`` foreign key to
the member table. Member m is in segment s when (m + s) is a multiple of 10, so each
segment has a tenth of the members and each member is in a tenth of the segments.

Refreshes are the library's: in one transaction the advisory lock, the selected ids staged
in a temporary table (filled on the server here; a refresh copies them from the exec
connection, the same work on either side), ``ANALYZE``, the refresh's diff statement and
the commit. Measured: one segment with 0% and 1% of it changed, all segments one after
another, the has-member probe and a member's segment listing (each the statement the read
API sends), a segment's life (create, first refresh, delete), the tables' sizes, and
which statements of a segment's creation and deletion wait behind a running refresh.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from django.db import connection, transaction
from psycopg import errors, sql

from bench import db
from bench.measure import Timer, median, ms, ratio, rotated, vacuum

SQL_FILE = "partitioning.sql"
SIDES = ("single", "parted")
TABLES = {"single": "bench_part_single", "parted": "bench_part_parted"}
EVERY = 10
#: The Membership model's no-overlap triggers, on the named table.
OVERLAP_FUNCTION = """
CREATE FUNCTION {table}_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM written w JOIN {table} m
          ON m.segment_id = w.segment_id AND m.member_id = w.member_id
         AND m.id <> w.id AND m.period && w.period
    ) THEN
        RAISE EXCEPTION USING ERRCODE = '23P01',
            MESSAGE = 'periods of one member in one segment must not overlap';
    END IF;
    RETURN NULL;
END $$
"""
OVERLAP_TRIGGER = (
    "CREATE TRIGGER {table}_no_overlap_{op} AFTER {operation} ON {table}"
    " REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION {table}_no_overlap()"
)


def sizes(*, quick: bool) -> tuple[int, int]:
    """``(segments, members)``: 100 segments of 100,000 members, or 10 of 2,000."""
    return (10, 20_000) if quick else (100, 1_000_000)


def partition(segment: int) -> str:
    """Name of the partition of ``segment``."""
    return f"bench_part_parted_s{segment}"


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Build both tables, then measure refreshes, reads, a segment's life and locks."""
    segments, members = sizes(quick=quick)
    log(f"  loading {segments} segments x {members // EVERY} members into each table")
    built = build(segments, members)
    loaded = ", ".join(f"{side} {built[side]['load_s']:.1f} s" for side in SIDES)
    log(f"  loaded (s): {loaded}")
    state = Flips()
    one = segments // 2
    reps = 3 if quick else 5
    results: dict[str, Any] = {
        "segments": segments,
        "members_per_segment": members // EVERY,
        "rows": segments * members // EVERY,
        "member_key": "bigint",
        "build": built,
        "one_segment": [_one_segment(one, percent, reps, state, log, members=members) for percent in (0, 1)],
        "unpruned_update": _unpruned(one, state, members, log),
        "all_segments": [
            _all_segments(segments, percent, 1 if quick else 2, state, log, members=members)
            for percent in (0, 1)
        ],
        "reads": _reads(segments, members, 300 if quick else 2_000, log),
        "lifecycle": _lifecycle(segments + 1, members, 1 if quick else 3, log),
        "locks": _locks(segments + 1),
    }
    results["sizes_bytes"] = {side: _size(TABLES[side]) for side in SIDES}
    log(f"  sizes: {', '.join(f'{s} {b / 2**20:.0f} MiB' for s, b in results['sizes_bytes'].items())}")
    return results


# --- building ------------------------------------------------------------------------------


def build(segments: int, members: int) -> dict[str, Any]:
    """Create the member and segment tables and both membership tables, loaded and indexed."""
    params = {"segments": segments, "members": members, "every": EVERY}
    with connection.cursor() as cursor:
        for name in ("tables", "single", "parted"):
            for statement in db.statements(SQL_FILE, name):
                cursor.execute(statement, params)
        for segment in range(1, segments + 1):
            _create_partition(cursor, segment)
    built: dict[str, Any] = {}
    for side in SIDES:
        table = TABLES[side]
        with Timer() as load, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(db.statement(SQL_FILE, "load", table=table), params)
        with Timer() as index, connection.cursor() as cursor:
            for statement in db.statements(SQL_FILE, "indexes", table=table, prefix=table):
                cursor.execute(statement)
            _overlap_triggers(cursor, table)
        vacuum(table)
        built[side] = {"load_s": round(load.seconds, 1), "index_s": round(index.seconds, 1)}
    return built


def _create_partition(cursor: Any, segment: int) -> None:
    cursor.execute(
        db.statement(SQL_FILE, "create_partition", partition=partition(segment)), {"segment": segment}
    )


def _overlap_triggers(cursor: Any, table: str) -> None:
    cursor.execute(OVERLAP_FUNCTION.format(table=table))
    for op, operation in (("ins", "INSERT"), ("upd", "UPDATE")):
        cursor.execute(OVERLAP_TRIGGER.format(table=table, op=op, operation=operation))


def _size(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(db.statement(SQL_FILE, "size"), {"table": table})
        return int(cursor.fetchone()[0])


# --- refreshes -----------------------------------------------------------------------------


class Flips:
    """Which segments have 1% of their members out (both tables follow the same flips)."""

    def __init__(self) -> None:
        self.flipped: set[int] = set()

    def desired(self, segment: int, *, change: bool) -> bool:
        """The ``flipped`` flag of the next refresh of ``segment``; flip it when ``change``."""
        if change:
            self.flipped ^= {segment}
        return segment in self.flipped


def refresh(
    side: str, segment: int, *, flipped: bool, members: int, statement: str = "apply"
) -> dict[str, Any]:
    """One refresh of ``segment`` in ``side``'s table, committed; its times and counts."""
    table = TABLES[side]
    params = {"segment": segment, "every": EVERY, "members": members, "flipped": flipped}
    with Timer() as whole, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(db.statement(SQL_FILE, "lock"), params)
        cursor.execute("SELECT clock_timestamp()")
        params["stamp"] = cursor.fetchone()[0]
        for part in db.statements(SQL_FILE, "desired"):
            cursor.execute(part, params)
        with Timer() as diff:
            cursor.execute(db.statement(SQL_FILE, statement, table=table), params)
            entered, exited, before = cursor.fetchone()
        cursor.execute(db.statement(SQL_FILE, "drop_stage"))
    return {
        "seconds": whole.seconds,
        "diff_seconds": diff.seconds,
        "entered": entered,
        "exited": exited,
        "count": before + entered - exited,
    }


def _one_segment(
    segment: int, percent: int, reps: int, state: Flips, log: Callable[[str], None], *, members: int
) -> dict[str, Any]:
    """``reps`` refreshes of one segment in each table, alternating which goes first."""
    vacuum(*TABLES.values())
    times: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    for rep in range(reps):
        flipped = state.desired(segment, change=percent > 0)
        for side in rotated(SIDES, rep):
            times[side].append(refresh(side, segment, flipped=flipped, members=members))
    _same_outcome(times)
    row = {"change_percent": percent, "repetitions": reps, "changed": _changed(times["single"])}
    row.update(_medians(times))
    log(
        f"  one segment, {percent}% ({row['changed']} changed): one table {row['single_ms']:.0f} ms,"
        f" partitioned {row['parted_ms']:.0f} ms (x{row['ratio']}); diff statement alone"
        f" {row['single_diff_ms']:.0f} / {row['parted_diff_ms']:.0f} ms"
    )
    return row


def _unpruned(segment: int, state: Flips, members: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The library's statement as it stands (UPDATE by id alone) on the partitioned table, 1%."""
    vacuum(TABLES["parted"])
    flipped = state.desired(segment, change=True)
    pruned = refresh("parted", segment, flipped=flipped, members=members)
    flipped = state.desired(segment, change=True)
    unpruned = refresh("parted", segment, flipped=flipped, members=members, statement="apply_unpruned")
    # Both tables follow the same flips: the single table catches up (not timed).
    refresh("single", segment, flipped=flipped, members=members)
    result = {
        "changed": unpruned["entered"] + unpruned["exited"],
        "pruned_diff_ms": ms(pruned["diff_seconds"]),
        "unpruned_diff_ms": ms(unpruned["diff_seconds"]),
        "ratio": ratio(unpruned["diff_seconds"], pruned["diff_seconds"]),
    }
    log(
        f"  partitioned, 1%: UPDATE naming the segment {result['pruned_diff_ms']:.0f} ms,"
        f" by id alone (the library's statement) {result['unpruned_diff_ms']:.0f} ms"
    )
    return result


def _all_segments(
    segments: int, percent: int, reps: int, state: Flips, log: Callable[[str], None], *, members: int
) -> dict[str, Any]:
    """Every segment refreshed one after another (a round), per table, alternating."""
    vacuum(*TABLES.values())
    rounds: dict[str, list[float]] = {side: [] for side in SIDES}
    for rep in range(reps):
        flips = {s: state.desired(s, change=percent > 0) for s in range(1, segments + 1)}
        for side in rotated(SIDES, rep):
            with Timer() as timer:
                for segment, flipped in flips.items():
                    refresh(side, segment, flipped=flipped, members=members)
            rounds[side].append(timer.seconds)
    single, parted = median(rounds["single"]), median(rounds["parted"])
    row = {
        "change_percent": percent,
        "repetitions": reps,
        "single_s": round(single, 2),
        "parted_s": round(parted, 2),
        "ratio": ratio(parted, single),
        "single_rounds_s": [round(s, 2) for s in rounds["single"]],
        "parted_rounds_s": [round(s, 2) for s in rounds["parted"]],
    }
    log(
        f"  all {segments} segments, {percent}%: one table {single:.1f} s,"
        f" partitioned {parted:.1f} s (x{row['ratio']})"
    )
    return row


def _same_outcome(times: dict[str, list[dict[str, Any]]]) -> None:
    """Both tables saw the same changes and hold the same members (else the bench is wrong)."""
    counts = {side: [(t["entered"], t["exited"], t["count"]) for t in runs] for side, runs in times.items()}
    assert counts["single"] == counts["parted"], counts


def _changed(runs: list[dict[str, Any]]) -> int:
    return max(t["entered"] + t["exited"] for t in runs)


def _medians(times: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for side in SIDES:
        found[f"{side}_ms"] = ms(median([t["seconds"] for t in times[side]]))
        found[f"{side}_diff_ms"] = ms(median([t["diff_seconds"] for t in times[side]]))
    found["ratio"] = ratio(found["parted_ms"], found["single_ms"])
    found["diff_ratio"] = ratio(found["parted_diff_ms"], found["single_diff_ms"])
    return found


# --- reads ---------------------------------------------------------------------------------


def _reads(segments: int, members: int, probes: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Median latency of the two read statements, the same random arguments on both sides."""
    vacuum(*TABLES.values())
    rng = random.Random(23)
    pairs = [(rng.randint(1, segments), rng.randint(1, members)) for _ in range(probes)]
    found: dict[str, Any] = {"probes": probes}
    for name, params in (
        ("has_member", [{"segment": s, "member": m} for s, m in pairs]),
        ("member_segments", [{"member": m} for _, m in pairs]),
    ):
        times: dict[str, list[float]] = {side: [] for side in SIDES}
        answers: dict[str, list[Any]] = {side: [] for side in SIDES}
        with connection.cursor() as cursor:
            for number, args in enumerate(params):
                for side in rotated(SIDES, number):
                    text = db.statement(SQL_FILE, name, table=TABLES[side])
                    started = time.perf_counter()
                    cursor.execute(text, args)
                    rows = cursor.fetchall()
                    times[side].append(time.perf_counter() - started)
                    answers[side].append(rows)
        assert answers["single"] == answers["parted"], name
        for side in SIDES:
            found[f"{name}_{side}_ms"] = ms(statistics.median(times[side]))
        found[f"{name}_ratio"] = ratio(found[f"{name}_parted_ms"], found[f"{name}_single_ms"])
        found[f"{name}_explain"] = {side: _explain(name, side, params[0]) for side in SIDES}
        log(
            f"  {name}: one table {found[f'{name}_single_ms']:.3f} ms,"
            f" partitioned {found[f'{name}_parted_ms']:.3f} ms (x{found[f'{name}_ratio']})"
        )
    return found


def _explain(name: str, side: str, params: dict[str, Any]) -> str:
    text = db.statement(SQL_FILE, name, table=TABLES[side])
    with connection.cursor() as cursor:
        rows = db.execute(cursor, f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {text}", params)
    return "\n".join(row[0] for row in rows)


# --- a segment's life ----------------------------------------------------------------------


def _lifecycle(segment: int, members: int, reps: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Create a segment (a partition), refresh it the first time (all enter), delete it."""
    seconds: dict[str, list[float]] = {}
    for _ in range(reps):
        for name, value in _one_life(segment, members).items():
            seconds.setdefault(name, []).append(value)
    found = {name: ms(median(values)) for name, values in seconds.items()}
    found["repetitions"] = reps
    found["first_refresh_ratio"] = ratio(found["parted_first_refresh_ms"], found["single_first_refresh_ms"])
    found["delete_ratio"] = ratio(found["parted_drop_ms"], found["single_delete_ms"])
    log(
        f"  a segment's life: create partition {found['parted_create_ms']:.1f} ms; first refresh"
        f" {found['single_first_refresh_ms']:.0f} / {found['parted_first_refresh_ms']:.0f} ms;"
        f" delete {found['single_delete_ms']:.0f} ms (DELETE) / {found['parted_drop_ms']:.1f} ms (DROP)"
    )
    return found


def _one_life(segment: int, members: int) -> dict[str, float]:
    times: dict[str, float] = {}
    with Timer() as timer, transaction.atomic(), connection.cursor() as cursor:
        _create_partition(cursor, segment)
    times["parted_create_ms"] = timer.seconds
    for side in SIDES:
        times[f"{side}_first_refresh_ms"] = refresh(side, segment, flipped=False, members=members)["seconds"]
    with Timer() as timer, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(db.statement(SQL_FILE, "delete_segment", table=TABLES["single"]), {"segment": segment})
    times["single_delete_ms"] = timer.seconds
    with Timer() as timer, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(db.statement(SQL_FILE, "drop_partition", partition=partition(segment)))
    times["parted_drop_ms"] = timer.seconds
    return times


# --- locks ---------------------------------------------------------------------------------


def _connect() -> psycopg.Connection:
    return psycopg.connect(db.database_url(), dbname=connection.settings_dict["NAME"], autocommit=True)


def _waits(conn: psycopg.Connection, statement: str | sql.Composable) -> bool:
    """Whether ``statement`` waited longer than the lock timeout (it is rolled back)."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET LOCAL lock_timeout = '300ms'")
            conn.execute(statement)
    except errors.LockNotAvailable:
        return True
    return False


def _locks(segment: int) -> dict[str, bool]:
    """With a refresh of another segment open (it holds ROW EXCLUSIVE on the parent): which
    of a segment's DDL waits, and whether a read of a third segment then waits behind it."""
    part, queued = sql.Identifier(partition(segment)), sql.Identifier(partition(segment + 1))
    found: dict[str, bool] = {}
    with _connect() as refreshing, _connect() as ddl, _connect() as reader:
        with refreshing.transaction(force_rollback=True):
            refreshing.execute("UPDATE bench_part_parted SET period = period WHERE segment_id = 1 AND id = 1")
            found["create_partition_of_waits"] = _waits(ddl, _create_of(part, segment))
            found["attach_partition_waits"] = _attach_waits(ddl, part, segment)
            found["drop_partition_waits"] = _waits(ddl, sql.SQL("DROP TABLE IF EXISTS {}").format(part))
            found["read_waits_behind_create"] = _read_behind(ddl, reader, _create_of(queued, segment + 1))
        ddl.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(part, queued))
    return found


def _create_of(part: sql.Composable, segment: int) -> sql.Composable:
    return sql.SQL("CREATE TABLE {} PARTITION OF bench_part_parted FOR VALUES IN ({})").format(
        part, sql.Literal(segment)
    )


def _attach_waits(conn: psycopg.Connection, part: sql.Composable, segment: int) -> bool:
    """The gentler route: a table of the same shape, attached (SHARE UPDATE EXCLUSIVE)."""
    like = "LIKE bench_part_parted INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
    try:
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '300ms'")
            conn.execute(sql.SQL("CREATE TABLE {} (" + like + ")").format(part))
            conn.execute(
                sql.SQL("ALTER TABLE bench_part_parted ATTACH PARTITION {} FOR VALUES IN ({})").format(
                    part, sql.Literal(segment)
                )
            )
    except errors.LockNotAvailable:
        return True
    return False


def _read_behind(ddl: psycopg.Connection, reader: psycopg.Connection, statement: sql.Composable) -> bool:
    """While ``statement`` (DDL) waits for the open refresh: does a reader queue behind it?"""
    waiting = threading.Thread(target=_try_quietly, args=(ddl, statement))
    waiting.start()
    time.sleep(0.3)  # the DDL is queued for its ACCESS EXCLUSIVE lock by now
    read = "SELECT 1 FROM bench_part_parted WHERE segment_id = 2 AND member_id = 8 AND upper_inf(period)"
    waits = _waits(reader, read)
    ddl.cancel_safe()
    waiting.join()
    return waits


def _try_quietly(conn: psycopg.Connection, statement: sql.Composable) -> None:
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(statement)
    except errors.QueryCanceled:
        pass
