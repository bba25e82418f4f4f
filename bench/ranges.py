"""Range operations: the library next to hand-written SQL, on spans of several sizes.

For each model (tiling: ``IntSpan``/``IntSegment``, no gaps, soft delete; free:
``BigIntSpan``/``BigIntSegment``, gaps allowed, hard delete) and each span size, one span
of N segments is built with SQL (segment i covers ``[10 i, 10 i + 10)``). Every
repetition of an operation runs inside a transaction that is rolled back, so each one
starts from the same state; the library and the baseline alternate which goes first.

Next to them, the strings each side sent (bound, as psycopg sent them) are sent again
from a bare psycopg cursor: "SQL alone". Its ratio is the cost of the library's SQL next
to the baseline's; the rest of the library's time is its Python (model instances,
Django's cursor and transaction handling, reading the results back). Before timing, one
untimed run of each side records its strings and what it changed in both tables, and the
run stops if the library, the baseline and the replay of the library's strings did not
make the same change.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import connection, transaction

from bench import db
from bench.measure import StatementLog, Timer, counting, median, ms, ratio, vacuum

SQL_FILE = "ranges_baseline.sql"
WIDTH = 10


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


def models() -> list[RangeModel]:
    """The two benchmarked configurations."""
    from tests.testapp.models import BigIntSegment, BigIntSpan, IntSegment, IntSpan

    def names(span: Any, seg: Any, *, rng: str, span_extra: str, extra: str, vals: str) -> dict[str, str]:
        span_vals = ", ''" if span_extra else ""
        return {
            "span": connection.ops.quote_name(span._meta.db_table),
            "seg": connection.ops.quote_name(seg._meta.db_table),
            "range": rng,
            "span_cols": span_extra,
            "span_vals": span_vals,
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
    """A span of ``size`` segments and the ids of the segments the operations touch."""

    model: RangeModel
    size: int
    span_id: int
    first_id: int
    second_id: int
    lower_id: int
    mid_id: int

    @property
    def mid(self) -> int:
        """Index of the middle segment."""
        return self.size // 2

    def span(self) -> Any:
        """A fresh instance of the span."""
        return self.model.span_model.objects.get(pk=self.span_id)

    def segment(self) -> Any:
        """A fresh instance of the middle segment."""
        return self.model.segment_model.objects.get(pk=self.mid_id)


def build(model: RangeModel, size: int) -> Fixture:
    """Create (and commit) one span of ``size`` segments with SQL."""
    with transaction.atomic(), connection.cursor() as cursor:
        (span_id,) = db.execute(
            cursor, db.statement(SQL_FILE, "build_span", **model.names), {"upper": WIDTH * size}
        )[0]
        cursor.execute(
            db.statement(SQL_FILE, "build_segments", **model.names), {"span_id": span_id, "count": size}
        )
        mid = size // 2
        rows = db.execute(
            cursor,
            f"SELECT lower(segment_range) / {WIDTH}, id FROM {model.names['seg']}"
            " WHERE span_id = %s AND lower(segment_range) / %s IN (0, 1, %s, %s)",
            [span_id, WIDTH, mid - 1, mid],
        )
    ids = dict(rows)
    return Fixture(model, size, span_id, ids[0], ids[1], ids[mid - 1], ids[mid])


# --- operations: (library call, baseline section, baseline parameters) -----------------


@dataclass(frozen=True)
class Operation:
    """One operation: how the library does it and how the baseline does it."""

    name: str
    #: Fetches the instances (not measured) and returns the call that is measured.
    library: Callable[[Fixture], Callable[[], Any]]
    section: Callable[[RangeModel], str]
    params: Callable[[Fixture], dict[str, Any]]
    applies: Callable[[RangeModel], bool] = field(default=lambda model: True)


def _hi(fx: Fixture) -> int:
    return WIDTH * fx.mid + WIDTH


def _soft(name: str) -> Callable[[RangeModel], str]:
    return lambda model: f"{name}.{'soft' if model.soft else 'hard'}"


def _create(fx: Fixture) -> Callable[[], Any]:
    model = fx.model
    return partial(model.span_model.objects.create, current_range=(10**6, 10**6 + 100), **model.span_fields)


def _insert(fx: Fixture) -> Callable[[], Any]:
    start = WIDTH * fx.mid
    return partial(fx.model.segment_model.insert, span=fx.span(), segment_range=(start + 3, start + 7))


OPERATIONS = [
    Operation(
        "create_span",
        _create,
        lambda model: f"create_span.{'tiling' if model.tiling else 'free'}",
        lambda fx: {"lower": 10**6, "upper": 10**6 + 100},
    ),
    Operation(
        "append",
        lambda fx: partial(fx.span().append, delta_value=WIDTH),
        lambda model: "append",
        lambda fx: {"span_id": fx.span_id, "upper": WIDTH * fx.size, "new_upper": WIDTH * fx.size + WIDTH},
    ),
    Operation(
        "insert",
        _insert,
        lambda model: "insert",
        lambda fx: {
            "span_id": fx.span_id,
            "seg_id": fx.mid_id,
            "a": WIDTH * fx.mid + 3,
            "b": WIDTH * fx.mid + 7,
            "hi": _hi(fx),
        },
    ),
    Operation(
        "split",
        lambda fx: partial(fx.segment().split, WIDTH * fx.mid + 5),
        lambda model: "split",
        lambda fx: {"span_id": fx.span_id, "seg_id": fx.mid_id, "at": WIDTH * fx.mid + 5, "hi": _hi(fx)},
    ),
    Operation(
        "merge",
        lambda fx: fx.segment().merge_into_lower,
        _soft("merge"),
        lambda fx: {"seg_id": fx.mid_id, "lower_id": fx.lower_id, "hi": _hi(fx)},
    ),
    Operation(
        "shift_by_value",
        lambda fx: partial(fx.span().shift_by_value, 5),
        lambda model: "shift_by_value",
        lambda fx: {"span_id": fx.span_id, "delta": 5},
    ),
    Operation(
        "shift_lower_to_value",
        lambda fx: partial(fx.span().shift_lower_to_value, WIDTH + 5),
        _soft("shift_lower_to_value"),
        lambda fx: {
            "span_id": fx.span_id,
            "to": WIDTH + 5,
            "first_id": fx.first_id,
            "second_id": fx.second_id,
        },
    ),
    Operation(
        "delete",
        lambda fx: fx.span().delete,
        _soft("delete"),
        lambda fx: {"span_id": fx.span_id},
    ),
    Operation(
        "delete_segment",
        lambda fx: fx.segment().delete,
        lambda model: "delete_segment.hard",
        lambda fx: {"seg_id": fx.mid_id},
        # NOTE - a span that forbids gaps refuses removing one segment (merge instead).
        applies=lambda model: not model.tiling,
    ),
]


Side = Callable[["Operation", Fixture], tuple[float, StatementLog | None]]


def _library(op: Operation, fx: Fixture, sent: list[str] | None = None) -> tuple[float, StatementLog]:
    call = op.library(fx)
    with Timer() as timer, _recording(sent):
        with counting() as log:
            call()
        _commit_stand_in()
    return timer.seconds, log


def _commit_stand_in() -> None:
    """Run pending deferred constraint triggers now, as COMMIT would (not counted)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


BASELINE_SAVEPOINT = "bench_baseline"


def _baseline(op: Operation, fx: Fixture, sent: list[str] | None = None) -> tuple[float, StatementLog]:
    # All of a section's statements in one round trip, as the library sends its own
    # (client-side binding: one string, the simple query protocol).
    sql = "; ".join(db.statements(SQL_FILE, op.section(fx.model), **fx.model.names))
    params = op.params(fx)
    with Timer() as timer, _recording(sent):
        # Its own (nested) transaction, like the library's operation: in the harness both
        # pay a SAVEPOINT / RELEASE where a top-level call would pay BEGIN / COMMIT. The
        # library sends its SAVEPOINT in front of its first string, so the baseline does too.
        with counting() as log, connection.cursor() as cursor:
            cursor.execute(f'SAVEPOINT "{BASELINE_SAVEPOINT}"; {sql}', params)
            cursor.execute(f'RELEASE SAVEPOINT "{BASELINE_SAVEPOINT}"')
        _commit_stand_in()
    return timer.seconds, log


@contextmanager
def _recording(sent: list[str] | None) -> Iterator[None]:
    """Append every string the psycopg connection sends inside the block to ``sent``,
    with its parameters bound as the client-side cursor binds them (``mogrify``); no-op
    when ``sent`` is None.

    NOTE - recorded below Django, at psycopg's cursor, so that the savepoints the library
    sends in front of its first string are in it too.
    """
    if sent is None:
        yield
        return
    raw = connection.connection
    factory = raw.cursor_factory

    class Recording(factory):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            sent.append(query if params is None else self.mogrify(query, params))
            return super().execute(query, params, **kwargs)

    raw.cursor_factory = Recording
    try:
        yield
    finally:
        raw.cursor_factory = factory


def _replay(strings: list[str]) -> Side:
    """A side that sends ``strings`` from a bare psycopg cursor, one execute each."""

    def side(op: Operation, fx: Fixture) -> tuple[float, None]:
        with connection.connection.cursor() as cursor, Timer() as timer:
            for sql in strings:
                cursor.execute(sql)
        return timer.seconds, None

    return side


def _fingerprint(fx: Fixture) -> tuple[Any, ...]:
    """What both tables of the fixture's model hold (counts and bound sums: enough to
    tell two different changes apart)."""
    names = fx.model.names
    with connection.cursor() as cursor:
        spans = "count(*), count(deleted_at), sum(lower(current_range)), sum(upper(current_range))"
        cursor.execute(
            "SELECT count(*), count(deleted_at), sum(lower(segment_range)), sum(upper(segment_range)),"
            f" (SELECT array[{spans}] FROM {names['span']}) FROM {names['seg']}"
        )
        return tuple(cursor.fetchone())


def _sent(side: Callable[..., Any], op: Operation, fx: Fixture) -> tuple[list[str], tuple[Any, ...]]:
    """One untimed run of ``side``: the strings it sent and the tables' fingerprint after it."""
    sent: list[str] = []
    with _rolled_back():
        side(op, fx, sent)
        return sent, _fingerprint(fx)


def _same_change(op: Operation, fx: Fixture) -> dict[str, list[str]]:
    """Record both sides' strings; raise if the library, the baseline and the library's
    strings sent again do not leave the tables alike."""
    library, after_library = _sent(_library, op, fx)
    baseline, after_baseline = _sent(_baseline, op, fx)
    with _rolled_back():
        _replay(library)(op, fx)
        after_replay = _fingerprint(fx)
    if not after_library == after_baseline == after_replay:
        msg = (
            f"{fx.model.key} {op.name} n={fx.size}: library, baseline and replay changed the tables"
            f" differently: {after_library} / {after_baseline} / {after_replay}"
        )
        raise AssertionError(msg)
    return {"library": library, "baseline": baseline}


@contextmanager
def _rolled_back() -> Iterator[None]:
    """A transaction that is rolled back at the end of the block (so the next run starts
    from the same state)."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def _once(side: Side, op: Operation, fx: Fixture) -> tuple[float, StatementLog | None]:
    with _rolled_back():
        return side(op, fx)


#: Seconds of measuring per side that decide the repetitions of a fast operation.
BUDGET_S = 0.05
#: At most this many repetitions per side.
MAX_REPS = 41


def repetitions(least: int, warm_up_s: float, most: int = MAX_REPS) -> int:
    """Repetitions per side: ``least`` for slow operations, more (up to ``most``) for fast
    ones, whose medians a few slow rounds of a noisy machine would otherwise decide."""
    if warm_up_s <= 0:
        return most
    return max(least, min(most, int(BUDGET_S / warm_up_s)))


def measure(op: Operation, fx: Fixture, reps: int, most: int = MAX_REPS) -> dict[str, Any]:
    """Median time and statement counts of ``op`` on ``fx``, library next to baseline,
    and the strings of each sent again on their own ("SQL alone").

    ``reps`` is the least number of repetitions per side; `repetitions` adds more for
    fast operations (up to ``most``), from the time of the warm-up round.
    """
    strings = _same_change(op, fx)
    sides: dict[str, Side] = {
        "library": _library,
        "baseline": _baseline,
        "library_sql": _replay(strings["library"]),
        "baseline_sql": _replay(strings["baseline"]),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    counts: dict[str, set[int]] = {"library": set(), "baseline": set()}
    trips: dict[str, set[int]] = {"library": set(), "baseline": set()}
    sample: dict[str, list[str]] = {}
    rounds, rep = reps, 0
    while rep <= rounds:  # the first round warms caches and is not recorded
        order = list(sides) if rep % 2 else list(reversed(sides))
        warm_up = 0.0
        for name in order:
            seconds, log = _once(sides[name], op, fx)
            if log is not None:
                counts[name].add(log.count)
                trips[name].add(log.round_trips)
                sample[name] = log.statements
                warm_up = max(warm_up, seconds)
            if rep:
                times[name].append(seconds)
        if not rep:
            rounds = repetitions(reps, warm_up, most)
        rep += 1
    med = {name: median(values) for name, values in times.items()}
    lib, base = med["library"], med["baseline"]
    # Library and baseline of one round ran back to back: their ratio shows how much the
    # machine's noise moves the ratio (the middle half of these, next to the medians').
    paired = [one / other for one, other in zip(times["library"], times["baseline"], strict=True) if other]
    quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else [None, None, None]
    return {
        "model": fx.model.key,
        "op": op.name,
        "segments": fx.size,
        "library_statements": max(counts["library"]),
        "baseline_statements": max(counts["baseline"]),
        "library_round_trips": max(trips["library"]),
        "baseline_round_trips": max(trips["baseline"]),
        "statements_stable": len(counts["library"]) == 1 and len(trips["library"]) == 1,
        "library_ms": ms(lib),
        "baseline_ms": ms(base),
        "ratio": ratio(lib, base),
        "ratio_quartiles": [None if q is None else round(q, 3) for q in (quartiles[0], quartiles[2])],
        "library_sql_ms": ms(med["library_sql"]),
        "baseline_sql_ms": ms(med["baseline_sql"]),
        "sql_ratio": ratio(med["library_sql"], med["baseline_sql"]),
        "repetitions": rounds,
        "library_sql": sample["library"],
        "library_sent": strings["library"],
    }


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Run every operation on every model and size; return the ``ranges`` results."""
    sizes = [10, 100] if quick else [10, 1_000, 10_000]
    reps = 3 if quick else 5
    most = reps if quick else MAX_REPS
    rows: list[dict[str, Any]] = []
    for model in models():
        fixtures = [build(model, size) for size in sizes]
        vacuum(model.names["span"], model.names["seg"])
        for fx in fixtures:
            for op in OPERATIONS:
                if not op.applies(model):
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
        f" {row['library_ms']:9.3f} ms  base {row['baseline_statements']} st"
        f" {row['baseline_round_trips']} rt {row['baseline_ms']:9.3f} ms  x{row['ratio']}"
        f"  (SQL alone {row['library_sql_ms']:.3f} / {row['baseline_sql_ms']:.3f} ms x{row['sql_ratio']})"
    )
