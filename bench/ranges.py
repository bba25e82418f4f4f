"""Range operations as users call them, next to hand-written SQL, on spans of several sizes.

For each model (tiling: ``IntSpan``/``IntSegment``, no gaps, soft delete; free:
``BigIntSpan``/``BigIntSegment``, gaps allowed, hard delete) and each span size, one span
of N segments is built with SQL (segment i covers ``[10 i, 10 i + 10)``).

Every call is made the way an application makes it: outside any transaction
(autocommit), on an instance fetched with the ORM just before (not timed), and it commits;
the time includes the commit and its deferred checks. An undo step in SQL (not timed) then
puts the fixture back. The sides of one round run back to back, in alternating order:

- ``library``: the operation;
- ``library_receivers``: the same with a receiver connected to every signal of the
  library and to Django's ``pre/post_save`` and ``pre/post_delete``;
- ``baseline``: the hand-written SQL (``sql/bench/ranges_baseline.sql``), one string;
- ``library_sql`` / ``library_receivers_sql`` / ``baseline_sql``: the strings each side
  sent, recorded at psycopg's connection (so ``BEGIN`` / ``COMMIT`` that psycopg sends
  for Django's transactions are in them) and sent again from a bare psycopg cursor:
  "SQL alone". The library's time beyond its SQL is its Python.

Before timing, one recorded run of each side counts its round trips (libpq's trace: one
``ReadyForQuery`` per round trip) and statements, and the run stops if the library, the
baseline and the replay of the library's strings did not make the same change, or the
undo did not restore the fixture.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psycopg
from django.db import connection, transaction

from bench import db
from bench.measure import Timer, median, ms, ratio, statement_count, vacuum

SQL_FILE = "ranges_baseline.sql"
WIDTH = 10
CREATED = 10**6


@dataclass(frozen=True)
class RangeModel:
    """One span/segment model pair and the SQL names its baselines need."""

    key: str
    span_model: Any
    segment_model: Any
    span_fields: dict[str, Any]
    names: dict[str, str]

    @property
    def soft(self) -> bool:
        """Whether deleting soft-deletes (``deleted_at``) rather than removing rows."""
        return bool(self.span_model._span_options_value.soft_delete)

    @property
    def tiling(self) -> bool:
        """Whether the span forbids gaps (a new span gets one covering segment)."""
        return not self.span_model._span_options_value.allow_span_gaps

    def section(self, name: str) -> str:
        """One string of the statements of section ``name`` with this model's names."""
        return "; ".join(db.statements(SQL_FILE, name, **self.names))


def models() -> list[RangeModel]:
    """The two benchmarked configurations."""
    from tests.testapp.models import BigIntSegment, BigIntSpan, IntSegment, IntSpan

    def names(span: Any, seg: Any, *, rng: str, span_extra: str, extra: str, vals: str) -> dict[str, str]:
        return {
            "span": connection.ops.quote_name(span._meta.db_table),
            "seg": connection.ops.quote_name(seg._meta.db_table),
            "range": rng,
            "span_cols": span_extra,
            "span_vals": ", ''" if span_extra else "",
            "cols": extra,
            "vals": vals,
        }

    return [
        RangeModel(
            "tiling",
            IntSpan,
            IntSegment,
            {"name": ""},
            names(
                IntSpan,
                IntSegment,
                rng="int4range",
                span_extra=", name",
                extra=", label, weight",
                vals=", '', 1",
            ),
        ),
        RangeModel(
            "free",
            BigIntSpan,
            BigIntSegment,
            {},
            names(BigIntSpan, BigIntSegment, rng="int8range", span_extra="", extra=", label", vals=", ''"),
        ),
    ]


@dataclass
class Fixture:
    """A span of ``size`` segments; its segments' keys are ``first_id + i`` in range order."""

    model: RangeModel
    size: int
    span_id: int
    first_id: int

    @property
    def mid(self) -> int:
        """Index of the middle segment."""
        return self.size // 2

    def params(self) -> dict[str, Any]:
        """The parameters of every baseline and undo section."""
        lo = WIDTH * self.mid
        return {
            "span_id": self.span_id,
            "count": self.size,
            "upper": WIDTH * self.size,
            "new_upper": WIDTH * self.size + WIDTH,
            "created": CREATED,
            "first_id": self.first_id,
            "second_id": self.first_id + 1,
            "lower_id": self.first_id + self.mid - 1,
            "seg_id": self.first_id + self.mid,
            "next_id": self.first_id + self.mid + 1,
            "lower_lo": lo - WIDTH,
            "lo": lo,
            "hi": lo + WIDTH,
            "a": lo + 3,
            "b": lo + 7,
            "at": lo + 5,
            "to": WIDTH + 5,
            "delta": 5,
        }

    def span(self) -> Any:
        """A fresh instance of the span, fetched as an application would."""
        return self.model.span_model.objects.get(pk=self.span_id)

    def segment(self) -> Any:
        """A fresh instance of the middle segment."""
        return self.model.segment_model.objects.get(pk=self.first_id + self.mid)


def build(model: RangeModel, size: int) -> Fixture:
    """Create (and commit) one span of ``size`` segments with SQL."""
    with transaction.atomic(), connection.cursor() as cursor:
        (span_id,) = db.execute(
            cursor, db.statement(SQL_FILE, "build_span", **model.names), {"upper": WIDTH * size}
        )[0]
        cursor.execute(
            db.statement(SQL_FILE, "build_segments", **model.names), {"span_id": span_id, "count": size}
        )
        cursor.execute(
            f"SELECT min(id), max(id) - min(id) + 1, count(*) FROM {model.names['seg']} WHERE span_id = %s",
            [span_id],
        )
        first_id, spread, count = cursor.fetchone()
    assert spread == count == size, "the fixture's segment keys are not consecutive"
    return Fixture(model, size, span_id, first_id)


# --- operations ------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One operation: how the library does it, how the baseline does it, how to undo it."""

    name: str
    #: Fetches the instances (not measured) and returns the call that is measured.
    library: Callable[[Fixture], Callable[[], Any]]
    section: Callable[[RangeModel], str]
    params: Callable[[Fixture], dict[str, Any]] = field(default=Fixture.params)
    applies: Callable[[RangeModel], bool] = field(default=lambda model: True)
    #: Changes every segment of the span: not measured at the largest size, and not held
    #: to the size target.
    whole_span: bool = False

    def undo(self, model: RangeModel) -> str:
        """The section that puts the fixture back after this operation."""
        name = (
            self.section(model)
            .replace("create_span.tiling", "create_span")
            .replace("create_span.free", "create_span")
        )
        return f"undo.{name}"


def _soft(name: str) -> Callable[[RangeModel], str]:
    return lambda model: f"{name}.{'soft' if model.soft else 'hard'}"


def _create(fx: Fixture) -> Callable[[], Any]:
    model = fx.model
    return partial(
        model.span_model.objects.create, current_range=(CREATED, CREATED + 100), **model.span_fields
    )


def _insert(fx: Fixture) -> Callable[[], Any]:
    p = fx.params()
    return partial(fx.model.segment_model.insert, span=fx.span(), segment_range=(p["a"], p["b"]))


OPERATIONS = [
    Operation("create_span", _create, lambda model: f"create_span.{'tiling' if model.tiling else 'free'}"),
    Operation("append", lambda fx: partial(fx.span().append, delta_value=WIDTH), lambda model: "append"),
    Operation("insert", _insert, lambda model: "insert"),
    Operation("split", lambda fx: partial(fx.segment().split, fx.params()["at"]), lambda model: "split"),
    Operation("merge", lambda fx: fx.segment().merge_into_lower, _soft("merge")),
    Operation(
        "shift_segment", lambda fx: partial(fx.segment().shift_upper_by_value, 3), lambda m: "shift_segment"
    ),
    Operation(
        "shift_by_value",
        lambda fx: partial(fx.span().shift_by_value, 5),
        lambda m: "shift_by_value",
        whole_span=True,
    ),
    Operation(
        "shift_lower_to_value",
        lambda fx: partial(fx.span().shift_lower_to_value, WIDTH + 5),
        _soft("shift_lower_to_value"),
    ),
    Operation("delete", lambda fx: fx.span().delete, _soft("delete"), whole_span=True),
    Operation(
        "delete_segment",
        lambda fx: fx.segment().delete,
        lambda model: "delete_segment.hard",
        # NOTE - a span that forbids gaps refuses removing one segment (merge instead).
        applies=lambda model: not model.tiling,
    ),
]


# --- sides -----------------------------------------------------------------------------

#: Prepares a side's call (fetching instances, not measured) and returns the call.
Side = Callable[["Operation", Fixture], Callable[[], Any]]


def _library(op: Operation, fx: Fixture) -> Callable[[], Any]:
    return op.library(fx)


def _ignore(*args: Any, **kwargs: Any) -> None:
    """A receiver that does nothing: what connecting one costs."""


@contextmanager
def receivers() -> Iterator[None]:
    """A receiver on every signal of the library and on Django's save and delete signals."""
    from django.db.models import signals as model_signals
    from django.dispatch import Signal

    from django_segments import signals

    connected = [s for s in vars(signals).values() if isinstance(s, Signal)]
    connected += [
        model_signals.pre_save,
        model_signals.post_save,
        model_signals.pre_delete,
        model_signals.post_delete,
    ]
    for signal in connected:
        signal.connect(_ignore, weak=False, dispatch_uid="bench-receiver")
    try:
        yield
    finally:
        for signal in connected:
            signal.disconnect(dispatch_uid="bench-receiver")


def _baseline(op: Operation, fx: Fixture) -> Callable[[], Any]:
    sql = fx.model.section(op.section(fx.model))
    params = op.params(fx)

    def call() -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    return call


def _replay(strings: list[str]) -> Side:
    """A side that sends ``strings`` from a bare psycopg cursor, one execute each."""

    def call() -> None:
        with connection.connection.cursor() as cursor:
            for sql in strings:
                cursor.execute(sql)

    return lambda op, fx: call


#: The sides whose receivers are connected while they run.
LISTENED = {"library_receivers"}


def _once(name: str, side: Side, op: Operation, fx: Fixture) -> float:
    """Seconds of one call of ``side`` (receivers connected for a listened side)."""
    with receivers() if name in LISTENED else contextlib.nullcontext():
        call = side(op, fx)
        with Timer() as timer:
            call()
    return timer.seconds


def _undo(op: Operation, fx: Fixture) -> None:
    """Put the fixture back (one transaction; rolled back, and the error raised, if it fails)."""
    with connection.cursor() as cursor:
        try:
            cursor.execute(f"BEGIN; {fx.model.section(op.undo(fx.model))}; COMMIT", fx.params())
        except Exception:
            cursor.execute("ROLLBACK")
            raise


# --- recording -------------------------------------------------------------------------

_CONTROL = re.compile(r'^F\t\d+\tQuery\t "(BEGIN|COMMIT|ROLLBACK)"$')


@dataclass
class Recorded:
    """What one run of a side sent."""

    strings: list[str]
    round_trips: int

    @property
    def statements(self) -> int:
        """SQL statements, transaction control left out."""
        return sum(statement_count(sql) for sql in self.strings)


@contextmanager
def recording() -> Iterator[Recorded]:
    """Record every string the psycopg connection sends inside the block, bound as the
    client-side cursor binds them, with psycopg's own ``BEGIN`` / ``COMMIT`` in order, and
    count the round trips (libpq's trace)."""
    connection.ensure_connection()
    raw = connection.connection
    factory = raw.cursor_factory
    sent: list[str] = []

    class Recording(factory):  # type: ignore[misc, valid-type]
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            sent.append(query if params is None else self.mogrify(query, params))
            return super().execute(query, params, **kwargs)

    found = Recorded([], 0)
    with tempfile.TemporaryFile("w+") as trace:
        raw.cursor_factory = Recording
        raw.pgconn.trace(trace.fileno())
        raw.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield found
        finally:
            raw.pgconn.untrace()
            raw.cursor_factory = factory
        trace.seek(0)
        lines = trace.read().splitlines()
    at = 0  # the next string a cursor sent; a query that is not it is psycopg's own
    for line in lines:
        if line.startswith("F\t") and "\tQuery\t" in line:
            control = _CONTROL.match(line)
            if control and (at == len(sent) or sent[at] != control[1]):
                found.strings.append(control[1])
            else:
                found.strings.append(sent[at])
                at += 1
    found.round_trips = sum(1 for line in lines if line.startswith("B\t") and "\tReadyForQuery\t" in line)


def _fingerprint(fx: Fixture) -> tuple[Any, ...]:
    """What both tables of the fixture's model hold (counts and bound sums: enough to tell
    two different changes apart)."""
    names = fx.model.names
    with connection.cursor() as cursor:
        spans = "count(*), count(deleted_at), sum(lower(current_range)), sum(upper(current_range))"
        cursor.execute(
            "SELECT count(*), count(deleted_at), sum(lower(segment_range)), sum(upper(segment_range)),"
            f" (SELECT array[{spans}] FROM {names['span']}) FROM {names['seg']}"
        )
        return tuple(cursor.fetchone())


def _recorded(name: str, side: Side, op: Operation, fx: Fixture) -> tuple[Recorded, tuple[Any, ...]]:
    """One recorded run of ``side``: what it sent and the tables' fingerprint after it (the
    caller undoes it)."""
    with receivers() if name in LISTENED else contextlib.nullcontext():
        call = side(op, fx)
        with recording() as found:
            call()
    return found, _fingerprint(fx)


def _same_change(op: Operation, fx: Fixture) -> dict[str, Recorded]:
    """Record every side once; raise if the library (with and without receivers), the
    baseline and the library's strings sent again do not leave the tables alike, or the
    undo does not restore them."""
    before = _fingerprint(fx)
    sent: dict[str, Recorded] = {}
    after: dict[str, tuple[Any, ...]] = {}
    for name, side in (("library", _library), ("library_receivers", _library), ("baseline", _baseline)):
        sent[name], after[name] = _recorded(name, side, op, fx)
        if after[name] != after["library"]:
            msg = (
                f"{fx.model.key} {op.name} n={fx.size}: library, baseline and replay changed the tables"
                f" differently: {name} {after[name]} / library {after['library']}"
            )
            raise AssertionError(msg)
        _undo(op, fx)
    _replay(sent["library"].strings)(op, fx)()
    replayed = _fingerprint(fx)
    _undo(op, fx)
    if replayed != after["library"]:
        msg = f"{fx.model.key} {op.name} n={fx.size}: the library's strings sent again made another change"
        raise AssertionError(msg)
    if _fingerprint(fx) != before:
        raise AssertionError(f"{fx.model.key} {op.name} n={fx.size}: the undo did not restore the fixture")
    return sent


#: Seconds of measuring per side that decide the repetitions of a fast operation.
BUDGET_S = 0.04
#: At most this many repetitions per side.
MAX_REPS = 31


def repetitions(least: int, warm_up_s: float, most: int = MAX_REPS) -> int:
    """Repetitions per side: ``least`` for slow operations, more (up to ``most``) for fast
    ones, whose medians a few slow rounds of a noisy machine would otherwise decide."""
    if warm_up_s <= 0:
        return most
    return max(least, min(most, int(BUDGET_S / warm_up_s)))


def _timed(sides: dict[str, Side], op: Operation, fx: Fixture, reps: int, most: int) -> tuple[dict, int]:
    """Times of every side, one list each (the first round warms caches, not kept)."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    rounds, rep = reps, 0
    while rep <= rounds:
        order = list(sides) if rep % 2 else list(reversed(sides))
        warm_up = 0.0
        for name in order:
            seconds = _once(name, sides[name], op, fx)
            _undo(op, fx)
            warm_up = max(warm_up, seconds)
            if rep:
                times[name].append(seconds)
        if not rep:
            rounds = repetitions(reps, warm_up, most)
        rep += 1
    return times, rounds


def measure(op: Operation, fx: Fixture, reps: int, most: int = MAX_REPS) -> dict[str, Any]:
    """Median times of ``op`` on ``fx``: the library (with and without receivers), the
    baseline, and the strings of each sent again on their own ("SQL alone")."""
    assert not connection.in_atomic_block, "the bench calls operations outside a transaction"
    sent = _same_change(op, fx)
    sides: dict[str, Side] = {
        "library": _library,
        "library_receivers": _library,
        "baseline": _baseline,
        "library_sql": _replay(sent["library"].strings),
        "library_receivers_sql": _replay(sent["library_receivers"].strings),
        "baseline_sql": _replay(sent["baseline"].strings),
    }
    times, rounds = _timed(sides, op, fx, reps, most)
    med = {name: median(values) for name, values in times.items()}
    lib, base = med["library"], med["baseline"]
    paired = [one / other for one, other in zip(times["library"], times["baseline"], strict=True) if other]
    quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else [None, None, None]
    return {
        "model": fx.model.key,
        "op": op.name,
        "segments": fx.size,
        "library_statements": sent["library"].statements,
        "baseline_statements": sent["baseline"].statements,
        "library_round_trips": sent["library"].round_trips,
        "baseline_round_trips": sent["baseline"].round_trips,
        "receivers_same_sql": sent["library"].strings == sent["library_receivers"].strings,
        "library_ms": ms(lib),
        "library_receivers_ms": ms(med["library_receivers"]),
        "baseline_ms": ms(base),
        "ratio": ratio(lib, base),
        "ratio_quartiles": [None if q is None else round(q, 3) for q in (quartiles[0], quartiles[2])],
        "library_sql_ms": ms(med["library_sql"]),
        "library_receivers_sql_ms": ms(med["library_receivers_sql"]),
        "baseline_sql_ms": ms(med["baseline_sql"]),
        "sql_ratio": ratio(med["library_sql"], med["baseline_sql"]),
        "beyond_sql_ms": ms(lib - med["library_sql"]),
        "beyond_sql_receivers_ms": ms(med["library_receivers"] - med["library_receivers_sql"]),
        "repetitions": rounds,
        "library_sent": sent["library"].strings,
        "whole_span": op.whole_span,
    }


@contextmanager
def _commits_without_flush_wait() -> Iterator[None]:
    """``synchronous_commit = off`` for the session: a commit does not wait for its WAL to
    reach the disk. Every side commits once per call, so the wait is the same for all; on
    a shared disk it varies by milliseconds and would drown the differences measured here."""
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Run every operation on every model and size; return the ``ranges`` results."""
    with _commits_without_flush_wait():
        return _run(quick=quick, log=log)


def _run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    sizes = [10, 100] if quick else [10, 1_000, 100_000]
    reps = 3 if quick else 7
    most = reps if quick else MAX_REPS
    rows: list[dict[str, Any]] = []
    for model in models():
        fixtures = [build(model, size) for size in sizes]
        vacuum(model.names["span"], model.names["seg"])
        for fx in fixtures:
            for op in OPERATIONS:
                if not op.applies(model) or (op.whole_span and fx.size == sizes[-1] and not quick):
                    continue
                try:
                    row = measure(op, fx, reps, most)
                except Exception as exc:  # report, keep benchmarking the rest
                    row = {"model": model.key, "op": op.name, "segments": fx.size, "error": repr(exc)}
                rows.append(row)
                log(_line(row))
            vacuum(model.names["span"], model.names["seg"])
    return {
        "sizes": sizes,
        "repetitions": reps,
        "max_repetitions": most,
        "rows": rows,
        "constant": constant_counts(rows),
    }


def constant_counts(rows: list[dict[str, Any]]) -> dict[str, bool]:
    """``model.op`` -> whether the library's statement and round-trip counts are the same
    at every size."""
    seen: dict[str, set[Any]] = {}
    for row in rows:
        counts = (row.get("library_statements"), row.get("library_round_trips"))
        seen.setdefault(f"{row['model']}.{row['op']}", set()).add(counts)
    return {key: len(found) == 1 and None not in next(iter(found)) for key, found in seen.items()}


def _line(row: dict[str, Any]) -> str:
    head = f"  ranges {row['model']:6} {row['op']:21} n={row['segments']:<6}"
    if "error" in row:
        return f"{head} ERROR {row['error']}"
    return (
        f"{head} lib {row['library_statements']} st {row['library_round_trips']} rt"
        f" {row['library_ms']:8.3f} ms (receivers {row['library_receivers_ms']:.3f})"
        f"  base {row['baseline_statements']} st {row['baseline_round_trips']} rt"
        f" {row['baseline_ms']:8.3f} ms"
        f"  x{row['ratio']}  (SQL alone {row['library_sql_ms']:.3f} / {row['baseline_sql_ms']:.3f} ms"
        f" x{row['sql_ratio']}, beyond {row['beyond_sql_ms']:+.3f} / {row['beyond_sql_receivers_ms']:+.3f})"
    )
