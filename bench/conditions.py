"""Conditions: one tree compiled to SQL (one COUNT) next to evaluating it per user in Python.

The Python side is what an application without the compiler would do: iterate over the
users (fetched in chunks) and call ``tree.evaluate(user)``. The time of evaluation alone,
over users already in memory, is reported too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection

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


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
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
