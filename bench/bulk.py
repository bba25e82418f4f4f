"""Bulk write cost of enforcement: one INSERT ... SELECT of spans x segments.

The same rows go into (a) a plain table, (b) a table with only the exclusion
constraint, (b1) that plus a primary key and the span foreign key (what any Django model
with such a foreign key has), (b2) a copy of the library's table without its triggers and (c) the
library's table with its constraints and deferred constraint triggers. Each INSERT and
its COMMIT are timed together, so (c)'s deferred checks are part of the measured time.

(c) runs in the same rounds as the others, under a ``statement_timeout`` (a regression
that makes it superlinear again must not stall the run: after one timeout it is not run
again at that size), and once at two smaller sizes to show how it grows. (c*) is the
same table with ``pgtrigger.ignore`` set in the transaction. Every timed insert starts
after a ``CHECKPOINT`` where the role may run one, so that no checkpoint of an earlier
insert's writes falls inside it.

The bulk path: the same rows loaded from Python with ``COPY``, by
``Segment.objects.load`` into the library's tables (the free model, and the tiling model
whose spans are created in the loading transaction) and by a bare ``COPY`` into (b1)
tables of the same shape; the COPY and the commit (with the deferred checks) are timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, OperationalError, connection, transaction

from bench import db
from bench.measure import Timer, median, ms, ratio, vacuum

SQL_FILE = "bulk_enforcement.sql"
TABLES = {
    "plain": "bench_plain",
    "exclusion": "bench_exclusion",
    "keyed_exclusion": "bench_keyed_exclusion",
    "no_triggers": "bench_no_triggers",
    "library": "testapp_bigintsegment",
    "library_ignore_preset": "testapp_bigintsegment",
}
#: The library's table as installed: run under the statement timeout.
LIBRARY = "library"
#: Statements run first in the inserting transaction of a variant.
PREAMBLE = {"library_ignore_preset": ["SET LOCAL pgtrigger.ignore = '{}'"]}


def _setup(spans: int, per_span: int) -> list[int]:
    with connection.cursor() as cursor:
        for sql in db.statements(SQL_FILE, "tables"):
            cursor.execute(sql)
        cursor.execute(
            "TRUNCATE testapp_bigintsegment, testapp_bigintspan, bench_no_triggers, bench_keyed_exclusion"
        )
        rows = db.execute(cursor, db.statement(SQL_FILE, "spans"), {"spans": spans, "per_span": per_span})
    vacuum("testapp_bigintspan")
    return [row[0] for row in rows]


_CHECKPOINT = {"allowed": True}


def _checkpoint() -> None:
    """``CHECKPOINT`` (superusers and, from PostgreSQL 15, members of ``pg_checkpoint``);
    without the privilege, runs go on without it."""
    if not _CHECKPOINT["allowed"]:
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError:
        _CHECKPOINT["allowed"] = False


def _insert_once(
    table: str, params: dict[str, Any], preamble: list[str], timeout_ms: int = 0
) -> float | None:
    """Seconds of INSERT + COMMIT; None when ``timeout_ms`` ran out."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}")
    _checkpoint()
    try:
        with Timer() as timer, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            for sql in preamble:
                cursor.execute(sql)
            cursor.execute(db.statement(SQL_FILE, "insert", table=table), params)
            # NOTE - Postgres does not apply statement_timeout to COMMIT, so the deferred
            # checks are fired by this statement instead (the same work COMMIT would do).
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    except OperationalError as exc:  # statement_timeout: QueryCanceled
        if "statement timeout" not in str(exc):
            raise
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        (count,) = cursor.fetchone()
    expected = len(params["span_ids"]) * params["per_span"]
    assert count == expected, f"{table}: {count} rows, expected {expected}"
    return timer.seconds


def _library_growth(span_ids: list[int], per_span: int, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """(c) once at a tenth and a fifth of the full size (the full size is in the rounds)."""
    runs = []
    for spans in sorted({max(1, len(span_ids) // 10), max(1, len(span_ids) // 5)} - {len(span_ids)}):
        seconds = _insert_once(TABLES[LIBRARY], {"span_ids": span_ids[:spans], "per_span": per_span}, [])
        assert seconds is not None
        log(f"  bulk library (as installed) {spans * per_span:>7} rows: {ms(seconds):.1f} ms")
        runs.append({"rows": spans * per_span, "ms": ms(seconds)})
    return runs


def _copy_rows(span_ids: list[int], per_span: int, extra: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    return [(sid, f"[{10 * i},{10 * i + 10})", *extra) for sid in span_ids for i in range(per_span)]


def _load_once(key: str, spans: int, per_span: int) -> float:
    """Seconds of one load of ``key`` (``free`` / ``tiling``, ``load`` or ``copy``): the
    COPY and the commit; the tables are emptied first, and tiling spans created in the
    loading transaction (not timed)."""
    from tests.testapp.models import BigIntSegment, IntSegment

    model, side = key.split(".")
    tables = {
        ("free", "load"): "testapp_bigintsegment",
        ("free", "copy"): "bench_copy_free",
        ("tiling", "load"): "testapp_intsegment, testapp_intspan",
        ("tiling", "copy"): "bench_copy_tiling, bench_copy_tiling_span",
    }
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables[model, side]}")
        if model == "free":
            cursor.execute("SELECT id FROM testapp_bigintspan ORDER BY id")
            span_ids = [row[0] for row in cursor.fetchall()][:spans]
    _checkpoint()
    with transaction.atomic(), connection.cursor() as cursor:
        if model == "tiling":
            span_table = "testapp_intspan" if side == "load" else "bench_copy_tiling_span"
            sql = db.statement(SQL_FILE, "tiling_spans", table=span_table)
            span_ids = [row[0] for row in db.execute(cursor, sql, {"spans": spans, "per_span": per_span})]
        extra: tuple[Any, ...] = ("", 1) if model == "tiling" else ("",)
        rows = _copy_rows(span_ids, per_span, extra)
        fields = ("span", "segment_range", "label", "weight")[: 2 + len(extra)]
        started = time.perf_counter()
        if side == "load":
            (IntSegment if model == "tiling" else BigIntSegment).objects.load(rows, fields=fields)
        else:
            columns = ", ".join(("span_id", "segment_range", "label", "weight")[: 2 + len(extra)])
            table = "bench_copy_tiling" if model == "tiling" else "bench_copy_free"
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    # The block's commit (the deferred checks, the foreign key) is timed too.
    return time.perf_counter() - started


def _bulk_path(spans: int, per_span: int, reps: int, log: Callable[[str], None]) -> dict[str, Any]:
    """``Segment.objects.load`` next to a bare COPY into (b1), per model, in alternating rounds."""
    keys = ["free.load", "free.copy", "tiling.load", "tiling.copy"]
    with connection.cursor() as cursor:
        for sql in db.statements(SQL_FILE, "copy_tables"):
            cursor.execute(sql)
    times: dict[str, list[float]] = {key: [] for key in keys}
    for rep in range(reps + 1):
        for key in keys if rep % 2 else list(reversed(keys)):
            seconds = _load_once(key, spans, per_span)
            log(f"  bulk {key:22} {ms(seconds):10.1f} ms{'' if rep else ' (warm-up)'}")
            if rep:
                times[key].append(seconds)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_copy_free, bench_copy_tiling, bench_copy_tiling_span")
        cursor.execute("TRUNCATE testapp_intsegment, testapp_intspan")
    medians = {key: median(values) for key, values in times.items()}
    return {
        "copy_ms": {key: ms(value) for key, value in medians.items()},
        "ratio_load_keyed_copy": {
            model: ratio(medians[f"{model}.load"], medians[f"{model}.copy"]) for model in ("free", "tiling")
        },
    }


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Insert spans x segments into each table; return medians and ratios."""
    spans, per_span = (30, 100) if quick else (1_000, 100)
    reps = 1 if quick else 3
    timeout_s = 20 if quick else 30
    span_ids = _setup(spans, per_span)
    params = {"span_ids": span_ids, "per_span": per_span}
    times: dict[str, list[float]] = {key: [] for key in TABLES}
    timed_out = False
    for rep in range(reps + 1):  # the first round warms caches and is not recorded
        keys = list(TABLES) if rep % 2 else list(reversed(TABLES))
        for key in keys:
            if not rep and key == "library_ignore_preset":
                continue  # the same table as (c), which warms it
            if key == LIBRARY and timed_out:
                continue
            timeout_ms = timeout_s * 1000 if key == LIBRARY else 0
            seconds = _insert_once(TABLES[key], params, PREAMBLE.get(key, []), timeout_ms)
            if seconds is None:
                timed_out = True
                log(f"  bulk {key:22} > {timeout_s} s (statement_timeout)")
                continue
            log(f"  bulk {key:22} {ms(seconds):10.1f} ms{'' if rep else ' (warm-up)'}")
            if rep:
                times[key].append(seconds)
    growth = _library_growth(span_ids, per_span, log)
    bulk_path = _bulk_path(spans, per_span, reps, log)
    medians = {key: median(values) for key, values in times.items() if key != LIBRARY}
    full = None if timed_out else ms(median(times[LIBRARY]))
    growth.append({"rows": spans * per_span, "ms": full})
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_plain, bench_exclusion, bench_keyed_exclusion, bench_no_triggers")
        cursor.execute("TRUNCATE testapp_bigintsegment, testapp_bigintspan")
    library = full / 1000 if full is not None else timeout_s
    return {
        **bulk_path,
        "spans": spans,
        "segments_per_span": per_span,
        "rows": spans * per_span,
        "repetitions": reps,
        "ms": {key: ms(value) for key, value in medians.items()},
        "library_ms": full,
        "library_timeout_s": timeout_s,
        "library_timed_out": full is None,
        "library_growth": growth,
        "ratio_library_plain": ratio(library, medians["plain"]),
        "ratio_library_exclusion": ratio(library, medians["exclusion"]),
        "ratio_library_keyed_exclusion": ratio(library, medians["keyed_exclusion"]),
        "ratio_library_no_triggers": ratio(library, medians["no_triggers"]),
        "ratio_exclusion_plain": ratio(medians["exclusion"], medians["plain"]),
        "ratio_no_triggers_exclusion": ratio(medians["no_triggers"], medians["exclusion"]),
        "ratio_ignore_preset_exclusion": ratio(medians["library_ignore_preset"], medians["exclusion"]),
        "ratio_ignore_preset_plain": ratio(medians["library_ignore_preset"], medians["plain"]),
    }
