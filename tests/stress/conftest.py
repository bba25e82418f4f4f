"""Shared helpers of the reliability suite, and the summary table printed at the end.

Every test here is marked ``stress`` and runs in ``make test`` in a quick form (a few
seconds); ``SEGMENTS_STRESS=full`` (``make stress``) makes durations and example counts
long. Tests record what they did with `count`; `pytest_terminal_summary` prints it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import psycopg
from django.db import connection, connections

from tests.stress.audit import Tables

#: True under ``make stress``.
FULL = os.environ.get("SEGMENTS_STRESS") == "full"

#: SQLSTATEs that mean "try the whole transaction again": deadlock, serialization failure.
TRANSIENT = frozenset({"40P01", "40001"})


def scaled(quick: Any, full: Any) -> Any:
    """``full`` under ``make stress``, else ``quick``."""
    return full if FULL else quick


#: Tests that restart the database server. They run last in the session: a restart
#: changes server-wide state that other tests may observe (e.g. the order of backends in
#: pg_stat_activity).
RUN_LAST = ("test_server_restart_between_two_operations",)


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Move `RUN_LAST` tests to the end of the session."""
    last = [item for item in items if item.originalname in RUN_LAST]
    if last:
        items[:] = [item for item in items if item.originalname not in RUN_LAST] + last


# --- counters and the summary table ---------------------------------------------------


@dataclass
class Row:
    """Counters of one line of the summary table."""

    ok: int = 0
    rejected: int = 0
    retried: int = 0
    gave_up: int = 0
    unexpected: int = 0
    corrupted: int = 0


_COLUMNS = [f.name for f in fields(Row)]
_STATS: dict[tuple[str, str], Row] = {}
_NOTES: dict[tuple[str, str], str] = {}
_LOCK = threading.Lock()


def count(area: str, case: str, note: str | None = None, **increments: int) -> None:
    """Add ``increments`` (column name -> number) to the line ``(area, case)``."""
    with _LOCK:
        row = _STATS.setdefault((area, case), Row())
        for name, value in increments.items():
            setattr(row, name, getattr(row, name) + value)
        if note is not None:
            _NOTES[(area, case)] = note


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the counters of this run (only if a reliability test ran)."""
    if not _STATS:
        return
    mode = "full" if FULL else "quick"
    terminalreporter.write_sep("=", f"reliability summary ({mode})")
    header = ["area", "case", *_COLUMNS, "note"]
    rows = [
        [area, case, *(str(getattr(row, c)) for c in _COLUMNS), _NOTES.get((area, case), "")]
        for (area, case), row in sorted(_STATS.items())
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for line in [header, ["-" * w for w in widths], *rows]:
        cells = [
            cell.ljust(w) if i < 2 or i == len(header) - 1 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ]
        terminalreporter.write_line("  ".join(cells).rstrip())


# --- models and connections -----------------------------------------------------------


def tables_of(span_model: Any, label: str | None = None) -> Tables:
    """Audit description of a test-app span model, read from its declared ``SpanConfig``."""
    config = span_model.SpanConfig
    segment_model = span_model.segments.rel.related_model
    return Tables(
        label=label or span_model.__name__,
        span_table=span_model._meta.db_table,
        segment_table=segment_model._meta.db_table,
        allow_span_gaps=bool(config.allow_span_gaps),
        allow_segment_gaps=bool(config.allow_segment_gaps),
    )


def sqlstate(exc: BaseException | None) -> str | None:
    """The SQLSTATE of ``exc`` or of the database error that caused it."""
    seen = 0
    while exc is not None and seen < 10:
        state = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "diag", None), "sqlstate", None)
        if state:
            return str(state)
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


@contextmanager
def raw_connection() -> Iterator[psycopg.Connection]:
    """A separate autocommit connection to the test database (blockers, killers, audits)."""
    sd = connection.settings_dict
    params = {
        "dbname": sd["NAME"],
        "user": sd["USER"],
        "password": sd["PASSWORD"] or None,
        "host": sd["HOST"] or None,
        "port": sd["PORT"] or None,
        **sd.get("OPTIONS", {}),
    }
    conn = psycopg.connect(**{k: v for k, v in params.items() if v is not None}, autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


class Worker(threading.Thread):
    """Run ``target`` in a thread with its own Django connections, closed at the end."""

    def __init__(self, target: Callable[[], Any], name: str = "worker") -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._target_fn()
        except BaseException as exc:  # reported to the test thread
            self.error = exc
        finally:
            connections.close_all()

    def outcome(self, timeout: float = 30) -> Any:
        """Join; re-raise the thread's exception, or return its result."""
        self.join(timeout)
        assert not self.is_alive(), f"{self.name} did not finish within {timeout} s"
        if self.error is not None:
            raise self.error
        return self.result


def in_new_thread(target: Callable[[], Any], timeout: float = 30) -> Any:
    """Run ``target`` on a new connection (a new thread) and return its result."""
    worker = Worker(target)
    worker.start()
    return worker.outcome(timeout)
