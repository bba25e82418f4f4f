"""Two connections racing on one span: never an invalid commit, exactly the expected winner.

Each worker thread uses its own Django connection (closed when the thread ends). The
"ordered" tests hold the first transaction open until Postgres shows the second one
waiting on a lock, so both interleavings are exercised deterministically; the "free"
tests just start both at once. Every test ends with an independent audit over a fresh
psycopg connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction

from django_segments.exceptions import GapError, OverlapError, SegmentOperationError
from tests.ranges_helpers import BIGINT, DECIMAL, INT, audit, make_span, rows

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 20


def conninfo() -> dict[str, Any]:
    """psycopg parameters of the test database."""
    s = connection.settings_dict
    params = {"dbname": s["NAME"], "user": s["USER"], "password": s["PASSWORD"] or None}
    params.update({"host": s["HOST"] or None, "port": s["PORT"] or None})
    return {k: v for k, v in params.items() if v is not None}


def independent_audit(rt) -> tuple[dict, Callable[[Any], list[tuple]]]:
    """Audit ``rt``'s tables over a new connection; also return a reader of span rows."""
    with psycopg.connect(**conninfo(), autocommit=True) as conn, conn.cursor() as cursor:
        problems = audit(rt, cursor)
        snapshot = {}
        cursor.execute(f'SELECT id FROM "{rt.span_table}"')
        for (span_id,) in cursor.fetchall():
            snapshot[span_id] = rows(rt, span_id, cursor)
    return problems, lambda span_id: snapshot.get(span_id, [])


def committed_state(rt, span_pk: int) -> tuple:
    """The span's committed range and segment rows, read over a new connection."""
    with psycopg.connect(**conninfo(), autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f'SELECT current_range::text FROM "{rt.span_table}" WHERE id = %s', [span_pk])
        return cursor.fetchone(), rows(rt, span_pk, cursor)


def active_of(found: list[tuple]) -> list[tuple[int, int]]:
    return [(lo, hi) for _, lo, hi, is_deleted in found if not is_deleted]


class Worker(threading.Thread):
    """Run ``body`` in a thread with its own connection; keep its result or exception."""

    def __init__(self, body: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.body = body
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.body()
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()


def run_all(*workers: Worker) -> None:
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(TIMEOUT)
        assert not worker.is_alive(), "worker hung"


def wait_until_blocked(count: int = 1) -> None:
    """Wait until ``count`` backends of this database wait on a lock."""
    deadline = time.monotonic() + TIMEOUT
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
            time.sleep(0.01)
    raise AssertionError("the second transaction never waited on a lock")


def ordered(first: Callable[[], Any], second: Callable[[], Any], *, commit_first: bool = True):
    """Run ``first`` in an open transaction, start ``second``, let ``first`` finish once
    ``second`` is blocked; return both workers."""
    done, release = threading.Event(), threading.Event()

    class RolledBackError(Exception):
        pass

    def hold() -> Any:
        try:
            with transaction.atomic():
                result = first()
                done.set()
                assert release.wait(TIMEOUT)
                if not commit_first:
                    raise RolledBackError
        except RolledBackError:
            return "rolled back"
        return result

    def follow() -> Any:
        assert done.wait(TIMEOUT)
        return second()

    a, b = Worker(hold), Worker(follow)
    a.start()
    b.start()
    assert done.wait(TIMEOUT)
    wait_until_blocked()
    release.set()
    for worker in (a, b):
        worker.join(TIMEOUT)
        assert not worker.is_alive()
    return a, b


# --- overlapping creates ---------------------------------------------------------------


def create(span_pk: int, lo: int, hi: int) -> Callable[[], Any]:
    return lambda: BIGINT.segment.objects.create(span_id=span_pk, segment_range=BIGINT.r(lo, hi)).pk


@pytest.mark.parametrize("commit_first", [True, False], ids=["first-commits", "first-rolls-back"])
def test_overlapping_creates_ordered(commit_first) -> None:
    span = BIGINT.span.objects.create(current_range=BIGINT.r(0, 20))
    a, b = ordered(create(span.pk, 0, 10), create(span.pk, 5, 15), commit_first=commit_first)
    assert a.error is None
    if commit_first:
        assert isinstance(b.error, OverlapError)
        expected = [(0, 10)]
    else:
        assert a.result == "rolled back"
        assert b.error is None
        expected = [(5, 15)]
    problems, read = independent_audit(BIGINT)
    assert problems == {}
    assert active_of(read(span.pk)) == expected


def test_overlapping_creates_free_race() -> None:
    spans = [BIGINT.span.objects.create(current_range=BIGINT.r(0, 20)) for _ in range(4)]
    for span in spans:
        barrier = threading.Barrier(2)

        def racer(lo: int, hi: int, span=span, barrier=barrier) -> Callable[[], Any]:
            def go() -> Any:
                barrier.wait(TIMEOUT)
                return create(span.pk, lo, hi)()

            return go

        a, b = Worker(racer(0, 10)), Worker(racer(5, 15))
        run_all(a, b)
        winners = [w for w in (a, b) if w.error is None]
        losers = [w for w in (a, b) if w.error is not None]
        assert len(winners) == 1, [a.error, b.error]
        assert isinstance(losers[0].error, OverlapError)
        _, read = independent_audit(BIGINT)
        assert active_of(read(span.pk)) == ([(0, 10)] if winners[0] is a else [(5, 15)])
    assert independent_audit(BIGINT)[0] == {}


# --- append vs shrink ------------------------------------------------------------------


def append_to(span_pk: int, to: int) -> Callable[[], Any]:
    return lambda: INT.span.objects.get(pk=span_pk).append(to_value=to).pk


def shrink_to(span_pk: int, to: int) -> Callable[[], Any]:
    return lambda: INT.span.objects.get(pk=span_pk).shift_upper_to_value(to)


APPEND_THEN_SHRINK = ([(0, 5)], [(10, 15)], (0, 5))
SHRINK_THEN_APPEND = ([(0, 5), (5, 15)], [], (0, 15))


@pytest.mark.parametrize("append_first", [True, False], ids=["append-first", "shrink-first"])
def test_append_vs_shrink_ordered(append_first) -> None:
    span = make_span(INT, 0, 10)
    ops = (append_to(span.pk, 15), shrink_to(span.pk, 5))
    a, b = ordered(*(ops if append_first else reversed(ops)))
    assert (a.error, b.error) == (None, None)
    expected = APPEND_THEN_SHRINK if append_first else SHRINK_THEN_APPEND
    assert_span_state(span.pk, expected)


def test_append_vs_shrink_free_race() -> None:
    span = make_span(INT, 0, 10)
    barrier = threading.Barrier(2)

    def after_barrier(op: Callable[[], Any]) -> Callable[[], Any]:
        return lambda: (barrier.wait(TIMEOUT), op())[1]

    a = Worker(after_barrier(append_to(span.pk, 15)))
    b = Worker(after_barrier(shrink_to(span.pk, 5)))
    run_all(a, b)
    assert (a.error, b.error) == (None, None)
    problems, read = independent_audit(INT)
    assert problems == {}
    found = read(span.pk)
    state = (active_of(found), sorted((lo, hi) for _, lo, hi, d in found if d))
    assert state in [APPEND_THEN_SHRINK[:2], SHRINK_THEN_APPEND[:2]]


def assert_span_state(span_pk: int, expected: tuple) -> None:
    segs, gone, rng = expected
    problems, read = independent_audit(INT)
    assert problems == {}
    found = read(span_pk)
    assert active_of(found) == segs
    assert sorted((lo, hi) for _, lo, hi, is_deleted in found if is_deleted) == gone
    span = INT.span.objects.get(pk=span_pk)
    assert (span.current_range.lower, span.current_range.upper) == rng


@pytest.mark.parametrize("delete_first", [True, False], ids=["delete-first", "append-first"])
def test_span_delete_vs_append_ordered(delete_first) -> None:
    span = make_span(INT, 0, 10)

    def delete() -> Any:
        INT.span.objects.get(pk=span.pk).delete()

    if delete_first:
        a, b = ordered(delete, append_to(span.pk, 15))
        assert a.error is None
        assert isinstance(b.error, SegmentOperationError)
        assert "is deleted" in str(b.error)
        gone = [(0, 10)]
    else:
        a, b = ordered(append_to(span.pk, 15), delete)
        assert (a.error, b.error) == (None, None)
        gone = [(0, 10), (10, 15)]
    problems, read = independent_audit(INT)
    assert problems == {}
    found = read(span.pk)
    assert active_of(found) == []
    assert sorted((lo, hi) for _, lo, hi, is_deleted in found if is_deleted) == gone
    assert INT.span.all_objects.get(pk=span.pk).is_deleted


# --- split vs merge --------------------------------------------------------------------


@pytest.mark.parametrize("split_first", [True, False], ids=["split-first", "merge-first"])
def test_split_vs_merge_ordered(split_first) -> None:
    span = make_span(INT, 0, 10, (5,))
    second = span.last_segment.pk

    def split() -> Any:
        return INT.segment.objects.get(pk=second).split(7).pk

    def merge() -> Any:
        return INT.segment.objects.get(pk=second).merge_into_lower().pk

    if split_first:
        a, b = ordered(split, merge)
        assert (a.error, b.error) == (None, None)
        expected = ([(0, 7), (7, 10)], [(5, 7)], (0, 10))
    else:
        a, b = ordered(merge, split)
        assert a.error is None
        assert isinstance(b.error, SegmentOperationError)
        assert "does not exist or is deleted" in str(b.error)
        expected = ([(0, 10)], [(5, 10)], (0, 10))
    assert_span_state(span.pk, expected)


# --- raw SQL: two transactions valid alone, invalid together ---------------------------


def build(rt, bounds: tuple[int, int], segments: list[tuple[int, int]]) -> Any:
    """A span of a model with span gaps allowed, holding exactly ``segments``."""
    span = rt.span.objects.create(current_range=rt.r(*bounds))
    for lo, hi in segments:
        rt.segment.objects.create(span=span, segment_range=rt.r(lo, hi))
    return span


RAW_RACES = {
    # DecimalSpan [0, 2.0) with segments up to 1.0 (no segment gaps): one transaction
    # removes the last segment, the other adds one right after it.
    "decimal-gap": (
        DECIMAL,
        ((0, 8), [(0, 1), (1, 2), (2, 3), (3, 4)]),
        'UPDATE "testapp_decimalsegment" SET deleted_at = now()'
        " WHERE span_id = %(span)s AND lower(segment_range) = 0.75",
        "INSERT INTO \"testapp_decimalsegment\" (span_id, segment_range) VALUES (%(span)s, '[1.0,1.25)')",
        "testapp_decimalsegment_gaps",
    ),
    # BigIntSpan (gaps allowed) with one segment at its start: one transaction shrinks the
    # span, the other adds a segment inside the old range but beyond the new end.
    "bigint-containment": (
        BIGINT,
        ((0, 12), [(0, 4)]),
        'UPDATE "testapp_bigintspan" SET current_range ='
        " int8range(lower(current_range), lower(current_range) + 8) WHERE id = %(span)s",
        'INSERT INTO "testapp_bigintsegment" (span_id, segment_range, label)'
        " VALUES (%(span)s, int8range(1000000000009, 1000000000011), '')",
        "testapp_bigintsegment_containment",
    ),
}


@pytest.mark.parametrize("isolation", ["READ COMMITTED", "REPEATABLE READ"])
@pytest.mark.parametrize("name", sorted(RAW_RACES))
def test_raw_sql_race_never_commits_an_invalid_state(name, isolation) -> None:
    """The second writer of a span waits for the first (its statement touches the span
    row the first one holds), then fails: at its commit (READ COMMITTED, the check sees
    the first one's rows) or at once (REPEATABLE READ, the span row changed under it)."""
    rt, setup, first_sql, second_sql, constraint = RAW_RACES[name]
    span = build(rt, *setup)
    before = committed_state(rt, span.pk)
    conns = [psycopg.connect(**conninfo()) for _ in range(2)]
    try:
        for conn in conns:
            conn.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
        conns[0].execute(first_sql, {"span": span.pk})  # valid on its own, not committed

        def second() -> str:
            conns[1].execute(second_sql, {"span": span.pk})  # valid on its own, too
            conns[1].commit()
            return "committed"

        worker = Worker(second)
        worker.start()
        wait_until_blocked()
        conns[0].commit()
        worker.join(TIMEOUT)
        assert not worker.is_alive(), "worker hung"
    finally:
        for conn in conns:
            conn.close()
    if isolation == "REPEATABLE READ":
        assert isinstance(worker.error, psycopg.errors.SerializationFailure), worker.error
    else:
        assert isinstance(worker.error, psycopg.errors.CheckViolation), worker.error
        assert worker.error.diag.constraint_name == constraint
    assert independent_audit(rt)[0] == {}
    assert committed_state(rt, span.pk) != before, "the first writer's change is committed"


def test_raw_sql_race_each_side_alone_is_valid() -> None:
    """The control: either transaction of the race commits when it runs alone."""
    for name in sorted(RAW_RACES):
        rt, setup, first_sql, second_sql, _ = RAW_RACES[name]
        for sql in (first_sql, second_sql):
            span = build(rt, *setup)
            with psycopg.connect(**conninfo()) as conn:
                conn.execute(sql, {"span": span.pk})
                conn.commit()
            assert independent_audit(rt)[0] == {}


def test_gap_race_through_the_library() -> None:
    """The same race through operations: delete the last segment vs append after it."""
    span = build(DECIMAL, (0, 4), [(0, 1), (1, 2), (2, 3), (3, 4)])
    last = span.last_segment.pk

    def delete_last() -> Any:
        DECIMAL.segment.objects.get(pk=last).delete()

    def append() -> Any:
        return DECIMAL.span.objects.get(pk=span.pk).append(to_value=DECIMAL.v(8)).pk

    a, b = ordered(delete_last, append)
    assert a.error is None
    assert isinstance(b.error, GapError)
    problems, read = independent_audit(DECIMAL)
    assert problems == {}
    assert active_of(read(span.pk)) == [(0, 1), (1, 2), (2, 3)]
