"""Timing and statement counting."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pglast
from django.db import connection

#: Transaction control: an operation's own frame (``SAVEPOINT`` ... ``RELEASE``, or
#: ``BEGIN`` ... ``COMMIT``), which travels in its strings; not counted as statements.
TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


def statements(sql: str) -> list[str]:
    """The SQL statements one string holds (split with pglast's scanner, so a semicolon
    inside a literal does not split), transaction control left out."""
    return [part for part in pglast.split(sql, with_parser=False) if not TRANSACTION_CONTROL.match(part)]


def payload(sql: str) -> str | None:
    """``sql`` without its transaction control statements; None when it is only that."""
    rest = statements(sql)
    return "; ".join(rest) if rest else None


def statement_count(sql: str) -> int:
    """How many SQL statements ``sql`` holds, transaction control left out."""
    return len(statements(sql))


class StatementLog:
    """An execute wrapper that records every SQL string sent through Django."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.statements.append(sql)
        return execute(sql, params, many, context)

    @property
    def round_trips(self) -> int:
        """Strings sent (each one round trip), other than those of transaction control only."""
        return sum(1 for sql in self.statements if payload(sql) is not None)

    @property
    def count(self) -> int:
        """SQL statements in those strings."""
        return sum(statement_count(sql) for sql in self.statements)


@contextmanager
def counting() -> Iterator[StatementLog]:
    """Record the statements run on the default connection inside the block."""
    log = StatementLog()
    with connection.execute_wrapper(log):
        yield log


class StatementTimer:
    """An execute wrapper that records every statement sent through Django with the
    moments (``time.perf_counter``) it started and ended. ``cursor.copy`` does not go
    through it: a ``COPY`` shows as the gap between two statements."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float]] = []

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.calls.append((sql, started, time.perf_counter()))


class Timer:
    """``with Timer() as t: ...``; ``t.seconds`` afterwards."""

    seconds = 0.0

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


def rotated(names: tuple[str, ...], rep: int) -> tuple[str, ...]:
    """``names`` starting at position ``rep`` (the sides alternate their order)."""
    start = rep % len(names)
    return names[start:] + names[:start]


def median(values: list[float]) -> float:
    """Median of ``values`` (0.0 when empty)."""
    return statistics.median(values) if values else 0.0


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator`` rounded to 3 places; None when undefined."""
    if not denominator:
        return None
    return round(numerator / denominator, 3)


def ms(seconds: float) -> float:
    """Seconds to milliseconds, rounded to 3 places."""
    return round(seconds * 1000, 3)


def vacuum(*tables: str) -> None:
    """``VACUUM ANALYZE`` the given (quoted) tables, outside any transaction."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def calibrate() -> dict[str, float]:
    """The machine's speed at the start of a run, so runs on different days can be told
    apart: a fixed pure-Python loop (10**6 additions) and a ``SELECT 1`` round trip through
    Django's cursor, medians of several tries. Ratios hold up better than times across
    runs, but not completely: Python slows down more than the server on a busy machine."""
    loops = []
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for i in range(10**6):
            total += i
        loops.append(time.perf_counter() - started)
    trips = []
    with connection.cursor() as cursor:
        for _ in range(201):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            trips.append(time.perf_counter() - started)
    return {"python_loop_ms": ms(median(loops)), "select_1_ms": ms(median(trips[1:]))}
