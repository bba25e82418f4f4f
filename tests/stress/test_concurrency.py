"""Eight writers, each on its own connection, run random range operations on shared spans.

Afterwards (and every few hundred milliseconds during the run) the independent audit in
`tests.stress.audit` must find nothing wrong. Deadlocks and serialization failures are
retried a bounded number of times; refusals arrive as typed `SegmentsError`s; anything
else is an unexpected error and fails the test.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from django_segments.exceptions import RetryableTransactionError, SegmentsError
from tests.stress.audit import Finding, audit
from tests.stress.conftest import TRANSIENT, Worker, count, raw_connection, scaled, sqlstate, tables_of
from tests.testapp.models import (
    BigIntSegment,
    BigIntSpan,
    DecimalSegment,
    DecimalSpan,
    IntSegment,
    IntSpan,
)

pytestmark = [pytest.mark.stress, pytest.mark.django_db(transaction=True)]

WORKERS = 8
DURATION = scaled(3.0, 60.0)
SPANS_PER_MODEL = 2
MAX_RETRIES = 5
AUDIT_EVERY = 0.3
#: Isolation level of each worker's transactions, per run: the library's own transactions
#: (READ COMMITTED), every operation wrapped in a stricter transaction, or both at once
#: (see also test_mixed_isolation_levels_keep_segment_gaps_closed).
MIXES = {
    "read committed": [None] * WORKERS,
    "repeatable read + serializable": ["REPEATABLE READ", "SERIALIZABLE"] * (WORKERS // 2),
    "mixed": [None, "REPEATABLE READ", None, "SERIALIZABLE"] * (WORKERS // 4),
}

MODELS = [(IntSpan, IntSegment), (DecimalSpan, DecimalSegment), (BigIntSpan, BigIntSegment)]
AUDITED = [tables_of(span) for span, _ in MODELS]


def _value(span_model: Any, rng: random.Random, lo: Any, hi: Any) -> Any:
    """A random bound between ``lo`` and ``hi`` (tenths for decimal spans)."""
    lo, hi = int(lo), int(hi)
    if span_model is DecimalSpan:
        return Decimal(rng.randint(lo * 10, hi * 10)) / 10
    return rng.randint(lo, hi)


def _make_spans() -> list[tuple[Any, Any, int]]:
    """Two spans per model, cut into segments; ``(span model, segment model, span id)``."""
    spans = []
    for _ in range(SPANS_PER_MODEL):
        tiled = IntSpan.objects.create(current_range=(0, 1000))
        segment = tiled.first_segment
        for cut in range(900, 0, -100):
            segment.split(cut)
        contiguous = DecimalSpan.objects.create(current_range=(0, 1000))
        for lower in range(100, 900, 100):
            DecimalSegment.objects.create(span=contiguous, segment_range=(lower, lower + 100))
        free = BigIntSpan.objects.create(current_range=(0, 1000))
        for lower in range(0, 1000, 150):
            BigIntSegment.objects.create(span=free, segment_range=(lower, lower + 100))
        spans += [
            (IntSpan, IntSegment, tiled.pk),
            (DecimalSpan, DecimalSegment, contiguous.pk),
            (BigIntSpan, BigIntSegment, free.pk),
        ]
    return spans


# --- operations -------------------------------------------------------------------------


def _save_moved(segment: Any, delta: Any) -> None:
    """A plain ORM write of a moved range: no library operation involved."""
    lo, hi = segment.segment_range.lower, segment.segment_range.upper
    segment.segment_range = (lo + delta, hi + delta)
    segment.save()


def _segment_op(name: str, span_model: Any, rng: random.Random, segment: Any) -> Callable[[], Any]:
    lo, hi = segment.segment_range.lower, segment.segment_range.upper
    v = lambda a, b: _value(span_model, rng, a, b)  # noqa: E731
    actions: dict[str, Callable[[], Any]] = {
        "split": lambda: segment.split(v(lo - 2, hi + 2)),
        "merge_into_lower": segment.merge_into_lower,
        "merge_into_upper": segment.merge_into_upper,
        "segment.shift_by_value": lambda: segment.shift_by_value(v(-10, 10)),
        "segment.shift_lower_to_value": lambda: segment.shift_lower_to_value(v(lo - 20, lo + 20)),
        "segment.shift_upper_by_value": lambda: segment.shift_upper_by_value(v(-20, 20)),
        "delete": segment.delete,
        "save": lambda: _save_moved(segment, v(-15, 15)),
    }
    return actions[name]


def _span_op(
    name: str, span_model: Any, segment_model: Any, rng: random.Random, span: Any
) -> Callable[[], Any]:
    lo, hi = span.current_range.lower, span.current_range.upper
    v = lambda a, b: _value(span_model, rng, a, b)  # noqa: E731
    if name == "append":
        if rng.random() < 0.5:
            return lambda: span.append(delta_value=v(1, 40))
        return lambda: span.append(to_value=v(hi - 5, hi + 40))
    if name == "span.shift_by_value":
        return lambda: span.shift_by_value(v(-20, 20))
    if name == "span.shift_lower_to_value":
        return lambda: span.shift_lower_to_value(v(lo - 30, lo + 30))
    if name == "span.shift_upper_to_value":
        return lambda: span.shift_upper_to_value(v(hi - 30, hi + 30))
    # "insert"
    a = v(lo - 5, hi)
    b = a + v(1, 150)
    return lambda: segment_model.insert(span=span, segment_range=(a, b))


SEGMENT_OPS = [
    "split",
    "merge_into_lower",
    "merge_into_upper",
    "segment.shift_by_value",
    "segment.shift_lower_to_value",
    "segment.shift_upper_by_value",
    "delete",
    "save",
]
SPAN_OPS = [
    "append",
    "insert",
    "span.shift_by_value",
    "span.shift_lower_to_value",
    "span.shift_upper_to_value",
]
#: Relative frequency: splits and merges keep the number of segments moving both ways.
WEIGHTS = {"split": 4, "merge_into_lower": 2, "merge_into_upper": 2, "insert": 2, "save": 1}


def _choose(rng: random.Random, spans: list[tuple[Any, Any, int]]) -> tuple[str, str, Callable[[], Any]]:
    """Pick a span, an operation and its target; ``(model, operation, build)``.

    ``build()`` reads the target's current row and returns the operation to run, or None
    if the target is gone. Each attempt builds afresh: a retry repeats the whole unit of
    work, reads included, since a rolled-back transaction leaves instances stale.
    """
    span_model, segment_model, span_id = rng.choice(spans)
    names = SEGMENT_OPS + SPAN_OPS
    name = rng.choices(names, weights=[WEIGHTS.get(n, 1) for n in names])[0]
    ids = list(segment_model.objects.filter(span_id=span_id).values_list("pk", flat=True))
    if name in SPAN_OPS or not ids:
        name = name if name in SPAN_OPS else "insert"

        def build_span_op() -> Callable[[], Any] | None:
            span = span_model.objects.filter(pk=span_id).first()
            return span and _span_op(name, span_model, segment_model, rng, span)

        return span_model.__name__, name, build_span_op
    segment_id = rng.choice(ids)

    def build_segment_op() -> Callable[[], Any] | None:
        segment = segment_model.objects.filter(pk=segment_id).first()
        return segment and _segment_op(name, span_model, rng, segment)

    return span_model.__name__, name, build_segment_op


def _in_isolation(fn: Callable[[], Any], isolation: str | None) -> None:
    if isolation is None:
        fn()
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
        fn()


class Tally:
    """Outcomes of one worker, merged into the summary at the end."""

    def __init__(self, area: str) -> None:
        self.area = area
        self.rows: dict[tuple[str, str], dict[str, int]] = {}
        self.unexpected: list[str] = []

    def add(self, model: str, op: str, column: str) -> None:
        for case in (f"op {op}", f"model {model}"):
            self.bump(case, column)

    def bump(self, case: str, column: str) -> None:
        row = self.rows.setdefault((self.area, case), {})
        row[column] = row.get(column, 0) + 1


#: Suffixes of the constraint names the library gives its checks.
CHECK_SUFFIXES = ("_no_overlap", "_containment", "_tiling", "_gaps", "_valid")


def _deferred_refusal(exc: IntegrityError) -> bool:
    """A span check refused the change at the COMMIT of the caller's own transaction.

    ``save()`` leaves its checks deferred, so inside an outer ``atomic()`` they run at
    that block's COMMIT, outside the library, and arrive as a plain ``IntegrityError``.
    """
    diag = getattr(exc.__cause__, "diag", None)
    name = getattr(diag, "constraint_name", None) or ""
    return sqlstate(exc) in {"23514", "23P01"} and name.endswith(CHECK_SUFFIXES)


TRANSIENT_NAMES = {"40P01": "40P01 deadlock", "40001": "40001 serialization failure"}


def _classify(exc: Exception) -> str:
    """``rejected`` (typed refusal), ``transient`` (retry), or ``unexpected``."""
    if isinstance(exc, RetryableTransactionError):
        return "transient"
    if isinstance(exc, SegmentsError):
        return "rejected"
    if isinstance(exc, IntegrityError) and _deferred_refusal(exc):
        return "rejected_at_commit"
    if isinstance(exc, DatabaseError) and sqlstate(exc) in TRANSIENT:
        return "transient"
    return "unexpected"


def _attempt(
    build: Callable[[], Any], isolation: str | None, rng: random.Random
) -> tuple[str, list[str], str]:
    """Run one operation with bounded retries; ``(outcome column, retried SQLSTATEs, message)``."""
    retried: list[str] = []
    for _ in range(MAX_RETRIES + 1):
        fn = build()
        if fn is None:
            return "vanished", retried, ""
        try:
            _in_isolation(fn, isolation)
        except Exception as exc:  # classified; unexpected ones fail the test
            outcome = _classify(exc)
            if outcome == "unexpected":
                return outcome, retried, f"{type(exc).__name__}: {exc}"
            if outcome != "transient":
                return outcome, retried, ""
            retried.append(str(sqlstate(exc)))
            time.sleep(rng.uniform(0, 0.005 * len(retried)))
        else:
            return "ok", retried, ""
    return "gave_up", retried[:-1], ""


def _work(
    seed: int, isolation: str | None, spans: list[tuple[Any, Any, int]], stop: threading.Event, tally: Tally
) -> None:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    while not stop.is_set():
        model, op, build = _choose(rng, spans)
        outcome, retried, message = _attempt(build, isolation, rng)
        if outcome == "rejected_at_commit":
            outcome = "rejected"
            tally.bump("refused at the caller's COMMIT, untyped", "rejected")
        if outcome == "vanished":
            outcome = "rejected"
            tally.bump("target removed by another writer first", "rejected")
        tally.add(model, op, outcome)
        for state in retried:
            tally.add(model, op, "retried")
            tally.bump(f"retried after {TRANSIENT_NAMES.get(state, state)}", "retried")
        if message:
            tally.unexpected.append(f"{model} {op} [{isolation or 'READ COMMITTED'}]: {message}")


def _watch(stop: threading.Event, findings: list[Finding], audits: list[int]) -> None:
    """Audit committed state repeatedly while the writers run."""
    while not stop.wait(AUDIT_EVERY):
        with connection.cursor() as cursor:
            findings.extend(audit(cursor, AUDITED))
        audits.append(1)


@pytest.mark.parametrize("mix", list(MIXES))
def test_random_operations_from_eight_connections_keep_every_invariant(mix: str) -> None:
    area = f"concurrency ({mix})"
    levels = MIXES[mix]
    spans = _make_spans()
    with connection.cursor() as cursor:
        assert audit(cursor, AUDITED) == []
    seed = random.SystemRandom().randrange(1 << 30)
    stop = threading.Event()
    tallies = [Tally(area) for _ in range(WORKERS)]
    findings: list[Finding] = []
    audits: list[int] = []
    workers = [
        Worker(lambda i=i: _work(seed + i, levels[i], spans, stop, tallies[i]), name=f"writer-{i}")
        for i in range(WORKERS)
    ]
    watcher = Worker(lambda: _watch(stop, findings, audits), name="auditor")
    for thread in [*workers, watcher]:
        thread.start()
    time.sleep(DURATION)
    stop.set()
    for thread in [*workers, watcher]:
        thread.outcome(timeout=60)
    connection.close()
    with connection.cursor() as cursor:
        findings.extend(audit(cursor, AUDITED))

    unexpected = [message for tally in tallies for message in tally.unexpected]
    for tally in tallies:
        for (area, case), columns in tally.rows.items():
            count(area, case, **columns)
    count(area, "audit", ok=len(audits) + 1, corrupted=len(findings), note=f"seed {seed}")
    ok = sum(t.rows.get((area, f"model {m.__name__}"), {}).get("ok", 0) for t in tallies for m, _ in MODELS)
    assert findings == [], "\n".join(str(f) for f in findings[:20])
    assert unexpected == [], "\n".join(unexpected[:20])
    assert ok > 0, "no operation completed"


def test_an_operation_reads_its_result_before_it_commits() -> None:
    """A writer acting right after the merge's string cannot change what the merge returns.

    The merge returns the rows it wrote from its own statement (``RETURNING``); nothing
    is read after its string, which in autocommit is its whole transaction: another
    writer may move the rows at once, and the merge still returns what it wrote.
    """
    span = DecimalSpan.objects.create(current_range=(0, 100))
    kept = DecimalSegment.objects.create(span=span, segment_range=(0, 10))
    merged = DecimalSegment.objects.create(span=span, segment_range=(10, 20))
    table = DecimalSegment._meta.db_table
    sent: list[str] = []
    acted: list[bool] = []

    def meddle(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append(sql)
        result = execute(sql, params, many, context)
        # Right after the merge's string, another connection removes the merged-into
        # segment: the string committed, so nothing holds it back.
        if " gone AS (" in sql and not acted:
            with raw_connection() as other, contextlib.suppress(psycopg.errors.LockNotAvailable):
                other.execute("SET lock_timeout = '200ms'")
                other.execute(f'UPDATE "{table}" SET deleted_at = now() WHERE id = %s', [kept.pk])
                acted.append(True)
        return result

    with connection.execute_wrapper(meddle):
        result = merged.merge_into_lower()

    assert acted == [True], "the other writer was blocked: the merge's string had not committed"
    write = next(i for i, sql in enumerate(sent) if " gone AS (" in sql)
    # The lock and the write travel as one string, the operation's transaction (in
    # autocommit its commit runs the checks); nothing is read after it.
    assert "FOR NO KEY UPDATE; WITH me AS" in sent[write]
    assert sent[write + 1 :] == []
    assert result.pk == kept.pk
    assert (result.segment_range.lower, result.segment_range.upper) == (0, 20)
    assert result.deleted_at is None  # what the merge wrote, not the other writer's change
    count("concurrency", "result read inside the operation", ok=1)


def test_mixed_isolation_levels_keep_segment_gaps_closed() -> None:
    """A READ COMMITTED insert and a REPEATABLE READ delete must not leave a gap together.

    The REPEATABLE READ transaction takes its snapshot, then a READ COMMITTED one appends
    [30, 40) after [20, 30) and commits; then the first one soft-deletes [20, 30), which is
    the last segment in its snapshot. Each change is valid alone; together they leave the
    gap [20, 30) in a span that forbids segment gaps. The stricter transaction must fail
    (with a serialization failure, to be retried) instead of committing.
    """
    span = DecimalSpan.objects.create(current_range=(0, 100))
    for lower in (0, 10, 20):
        DecimalSegment.objects.create(span=span, segment_range=(lower, lower + 10))
    last = DecimalSegment.objects.get(span=span, segment_range=(20, 30))
    snapshot_taken, go_on = threading.Event(), threading.Event()

    def strict_delete() -> None:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("SELECT count(*) FROM testapp_decimalsegment")
            snapshot_taken.set()
            assert go_on.wait(10)
            last.delete()

    worker = Worker(strict_delete, name="repeatable-read")
    worker.start()
    assert snapshot_taken.wait(10)
    DecimalSegment.insert(span=span, segment_range=(30, 40))
    go_on.set()
    error: BaseException | None = None
    try:
        worker.outcome()
    except DatabaseError as exc:
        error = exc
    assert error is None or sqlstate(error) in TRANSIENT, error
    with connection.cursor() as cursor:
        findings = audit(cursor, [tables_of(DecimalSpan)])
    count("concurrency", "mixed isolation levels", corrupted=len(findings))
    assert findings == [], "\n".join(str(f) for f in findings)
