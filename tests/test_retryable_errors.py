"""Deadlocks (40P01) and serialization failures (40001) of range operations are typed.

Both mean "a concurrent transaction was in the way; run the whole transaction again":
`RetryableTransactionError` (also Django's ``OperationalError``), with
`DeadlockError` and `SerializationFailureError` beneath it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection, transaction

from django_segments.exceptions import (
    DeadlockError,
    RetryableTransactionError,
    SegmentsError,
    SerializationFailureError,
    retryable,
)
from tests.ranges_helpers import INT, active, make_span
from tests.test_ranges_concurrency import conninfo, wait_until_blocked
from tests.test_readme import python_blocks

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def other_writer() -> Iterator[psycopg.Connection]:
    """A second session, as another program would write (rolled back and closed at the end)."""
    with psycopg.connect(**conninfo()) as other:
        other.execute("SET deadlock_timeout = '10s'")  # this test's own session detects it
        try:
            yield other
        finally:
            other.rollback()


def _in_thread(body: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def test_a_deadlock_with_another_writer_is_a_typed_retryable_error() -> None:
    span = make_span(INT, 0, 10, (5,))
    first = INT.segment.objects.filter(span=span).order_by("segment_range").first()
    with other_writer() as other, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL deadlock_timeout = '50ms'")
        INT.segment.objects.select_for_update().get(pk=first.pk)
        other.execute(f'SELECT 1 FROM "{INT.span_table}" WHERE id = %s FOR UPDATE', [span.pk])
        # The other session waits for our segment row while holding the span row.
        blocked = _in_thread(
            lambda: other.execute(f'UPDATE "{INT.seg_table}" SET label = %s WHERE id = %s', ["x", first.pk])
        )
        wait_until_blocked()
        with pytest.raises(DeadlockError) as caught:
            span.shift_by_value(1)  # locks the span row first: a cycle
    blocked.join(10)
    error = caught.value
    assert isinstance(error, RetryableTransactionError)
    assert isinstance(error, OperationalError)
    assert isinstance(error, SegmentsError)
    assert error.sqlstate == "40P01"
    assert str(error) == "deadlock detected (SQLSTATE 40P01); run the whole transaction again"
    assert isinstance(error.__cause__, OperationalError)
    assert isinstance(error.__cause__.__cause__, psycopg.errors.DeadlockDetected)
    assert active(INT, span) == [(0, 5), (5, 10)]
    span.refresh_from_db()
    span.shift_by_value(1)  # the retry
    assert active(INT, span) == [(1, 6), (6, 11)]


def test_a_serialization_failure_is_a_typed_retryable_error() -> None:
    span = make_span(INT, 0, 10, (5,))
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        span.refresh_from_db()  # the snapshot is taken here
        with other_writer() as other:
            other.execute(f'UPDATE "{INT.span_table}" SET name = %s WHERE id = %s', ["renamed", span.pk])
            other.commit()
        with pytest.raises(SerializationFailureError) as caught:
            span.shift_by_value(1)
    error = caught.value
    assert isinstance(error, RetryableTransactionError)
    assert isinstance(error, OperationalError)
    assert error.sqlstate == "40001"
    assert str(error) == (
        "could not serialize access due to concurrent update (SQLSTATE 40001); "
        "run the whole transaction again"
    )
    assert active(INT, span) == [(0, 5), (5, 10)]


def test_other_operational_errors_stay_as_they_are() -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 1")
        with pytest.raises(OperationalError) as caught:
            cursor.execute("SELECT pg_sleep(1)")
    assert retryable(caught.value) is caught.value


OPERATIONS_DOC = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


def test_the_retry_example_of_the_operations_page_runs(monkeypatch) -> None:
    section = OPERATIONS_DOC.read_text().split("### Retrying after a deadlock", 1)[1]
    namespace: dict = {}
    exec(python_blocks(section)[0], namespace)  # noqa: S102 - the docs' own example
    span = make_span(INT, 0, 10, (5,))
    shift = type(span).shift_by_value
    calls: list[int] = []

    def deadlocked_once(self: Any, delta: Any) -> Any:
        calls.append(delta)
        if len(calls) == 1:
            raise DeadlockError("deadlock detected (SQLSTATE 40P01); run the whole transaction again")
        return shift(self, delta)

    monkeypatch.setattr(type(span), "shift_by_value", deadlocked_once)
    namespace["shift_with_retries"](span, 2)
    assert calls == [2, 2]
    assert active(INT, span) == [(2, 7), (7, 12)]
    calls.clear()  # the next call fails again, and one attempt is all it gets
    with pytest.raises(DeadlockError):
        namespace["shift_with_retries"](span, 1, attempts=1)
