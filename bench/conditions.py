"""Conditions: one tree compiled to SQL (one COUNT) next to evaluating it per user in Python;
then trees with NOT and ``!=`` over indexed, nullable columns, compiled, next to the
``WHERE`` a developer would write by hand for the same predicate.

The Python side is what an application without the compiler would do: iterate over the
users (fetched in chunks) and call ``tree.evaluate(user)``. The time of evaluation alone,
over users already in memory, is reported too.

The hand-written side runs the statements of ``sql/bench/conditions.sql``; the compiled
side runs the SQL Django compiles for ``User.objects.filter(tree.as_q())``, wrapped in the
same ``SELECT count(*) FROM (...)``, on the same cursor, alternating, so the ratio is the
cost of the compiled SQL itself (the plan each side gets is recorded too).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.db.models import Q

from bench import db
from bench.measure import Timer, counting, median, ms, ratio, vacuum

SQL_FILE = "conditions.sql"
TREE = {
    "all": [
        "EMAIL_DOMAIN gmail.com",
        "NOT IS_STAFF",
        {"any": ["ID_PARITY even", "USERNAME_LENGTH >= 9", "JOINED_YEAR == 2020"]},
    ]
}


def _timed(call: Callable[[], int], reps: int) -> tuple[float, int, int]:
    times, results, counts = [], set(), set()
    for _ in range(reps):
        with counting() as log, Timer() as timer:
            results.add(call())
        times.append(timer.seconds)
        counts.add(log.count)
    (result,) = results
    return median(times), result, max(counts)


#: Trees over nullable, indexed columns and the parameters of their hand-written WHERE.
SEEN = datetime.datetime(2024, 12, 1, tzinfo=datetime.UTC)
LATE = datetime.datetime(2024, 12, 28, tzinfo=datetime.UTC)
INDEX_TREES: dict[str, tuple[Any, dict[str, Any]]] = {
    "hand_not_score": ("NOT PSCORE < 990", {"score": 990}),
    "hand_not_any": (
        {"NOT": {"any": ["PSCORE < 990", f"PSEEN <= {SEEN.isoformat()}"]}},
        {"score": 990, "seen": SEEN},
    ),
    "hand_any": ({"any": ["PSCORE >= 999", f"NOT PSEEN <= {LATE.isoformat()}"]}, {"high": 999, "late": LATE}),
    "hand_not_equal": ("PSCORE != 500", {"middle": 500}),
}


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Both parts: compiled against the Python loop, compiled against hand-written SQL."""
    results = run_python_loop(quick=quick, log=log)
    results["index"] = run_index(quick=quick, log=log)
    return results


def run_python_loop(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Count the users matching `TREE` both ways; return times and the ratio."""
    from django.contrib.auth.models import User

    from django_segments.conditions import conditions_from_module, parse

    users = 10_000 if quick else 100_000
    with connection.cursor() as cursor:
        for sql in db.statements(SQL_FILE, "users"):
            cursor.execute(sql, {"count": users})
    vacuum("auth_user")
    tree = parse(TREE, definitions=conditions_from_module("tests.conditions_defs"))

    def compiled_count() -> int:
        return User.objects.filter(tree.as_q()).count()

    def python_count() -> int:
        return sum(1 for user in User.objects.iterator(chunk_size=2_000) if tree.evaluate(user))

    # Interleaved rounds: a slow spell of a shared machine falls on both sides.
    rounds = 1 if quick else 3
    compiled_runs, python_runs = [], []
    for _ in range(rounds):
        compiled_runs.append(_timed(compiled_count, 7))
        python_runs.append(_timed(python_count, 1))
    compiled = median([run[0] for run in compiled_runs])
    python = median([run[0] for run in python_runs])
    (sql_count,) = {run[1] for run in compiled_runs}
    (py_count,) = {run[1] for run in python_runs}
    sql_statements = max(run[2] for run in compiled_runs)
    py_statements = max(run[2] for run in python_runs)
    log(f"  compiled: {sql_count} of {users} users in {ms(compiled):.2f} ms ({sql_statements} statement)")
    log(f"  python loop: {py_count} in {ms(python):.0f} ms ({py_statements} statements)")
    loaded = list(User.objects.all())
    evaluate_only, eval_count, _ = _timed(lambda: sum(1 for user in loaded if tree.evaluate(user)), 3)
    assert sql_count == py_count == eval_count, (sql_count, py_count, eval_count)
    sql_text = str(User.objects.filter(tree.as_q()).only("pk").query)
    return {
        "users": users,
        "tree": TREE,
        "matching": sql_count,
        "compiled_ms": ms(compiled),
        "compiled_statements": sql_statements,
        "python_loop_ms": ms(python),
        "python_loop_statements": py_statements,
        "python_evaluate_only_ms": ms(evaluate_only),
        "ratio_python_compiled": ratio(python, compiled),
        "ratio_evaluate_only_compiled": ratio(evaluate_only, compiled),
        "where": sql_text.split(" WHERE ", 1)[-1],
    }


def _count_sql(sql: str) -> str:
    return f"SELECT count(*) FROM ({sql}) AS matching"


def _compiled(q: Any) -> tuple[str, list[Any]]:
    """The SQL (and parameters) Django compiles for the queryset of ids matching ``q``."""
    from django.contrib.auth.models import User

    sql, params = User.objects.filter(q).values("pk").query.sql_with_params()
    return _count_sql(sql), list(params)


def _plan(cursor: Any, sql: str, params: Any) -> str:
    """The node types of the plan, e.g. ``Aggregate < Hash Join < Bitmap Heap Scan``."""
    cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
    (document,) = cursor.fetchone()
    node = document[0]["Plan"] if isinstance(document, list) else document["Plan"]
    names: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop(0)
        names.append(current["Node Type"])
        stack.extend(current.get("Plans", []))
    return " < ".join(names)


def _timed_pair(cursor: Any, left: tuple[str, Any], right: tuple[str, Any], reps: int) -> dict[str, Any]:
    """Run two statements alternately ``reps`` times; medians, and the one count each gave."""
    times: dict[str, list[float]] = {"left": [], "right": []}
    counts: dict[str, set[int]] = {"left": set(), "right": set()}
    for _ in range(reps):
        for side, (sql, params) in (("left", left), ("right", right)):
            with Timer() as timer:
                cursor.execute(sql, params)
                counts[side].add(cursor.fetchone()[0])
            times[side].append(timer.seconds)
    (left_count,) = counts["left"]
    (right_count,) = counts["right"]
    return {
        "left_ms": ms(median(times["left"])),
        "right_ms": ms(median(times["right"])),
        "left_count": left_count,
        "right_count": right_count,
    }


def _measure_tree(cursor: Any, name: str, tree: Any, params: dict[str, Any], reps: int) -> dict[str, Any]:
    return _measure_q(cursor, name, tree.as_q(), shown=tree.encode(), params=params, reps=reps)


def _measure_q(
    cursor: Any, name: str, q: Any, *, shown: Any, params: dict[str, Any], reps: int
) -> dict[str, Any]:
    compiled = _compiled(q)
    hand = (_count_sql(db.statement(SQL_FILE, name)), params)
    pair = _timed_pair(cursor, compiled, hand, reps)
    return {
        "name": name,
        "tree": shown,
        "matching": pair["left_count"],
        "hand_matching": pair["right_count"],
        "compiled_ms": pair["left_ms"],
        "hand_ms": pair["right_ms"],
        "ratio": ratio(pair["left_ms"], pair["right_ms"]),
        "compiled_plan": _plan(cursor, *compiled),
        "hand_plan": _plan(cursor, *hand),
        "compiled_where": compiled[0].split(" WHERE ", 1)[-1],
    }


def run_index(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Each tree of `INDEX_TREES`, compiled, against its hand-written WHERE."""
    from django_segments.conditions import conditions_from_module, parse

    rows = 20_000 if quick else 1_000_000
    with connection.cursor() as cursor:
        for sql in db.statements(SQL_FILE, "profiles"):
            cursor.execute(sql, {"count": rows})
    vacuum("auth_user", "condapp_profile")
    defs = conditions_from_module("tests.conditions_defs")
    reps = 5 if quick else 15
    trees = []
    with connection.cursor() as cursor:
        for name, (data, params) in INDEX_TREES.items():
            row = _measure_tree(cursor, name, parse(data, definitions=defs), params, reps)
            assert row["matching"] == row["hand_matching"], row
            log(f"  {name}: compiled {row['compiled_ms']:.2f} ms, by hand {row['hand_ms']:.2f} ms")
            trees.append(row)
        # For reference, not a target: Django's two-valued ~Q of the same comparison,
        # NOT (score < 990 AND score IS NOT NULL ...), which also selects NULL scores and
        # users without a profile (so its count differs).
        negation = ~Q(condition_profile__score__lt=990)
        two_valued = _measure_q(
            cursor, "hand_not_score", negation, shown="~Q(score < 990)", params={"score": 990}, reps=reps
        )
    ratios = [row["ratio"] for row in trees if row["ratio"] is not None]
    return {
        "rows": rows,
        "repetitions": reps,
        "trees": trees,
        "worst_ratio": max(ratios) if ratios else None,
        "two_valued_not": two_valued,
    }
