"""`operations.atomic`: an operation's savepoint travels with its first statement.

Every test here runs inside the test's transaction, so each block is a savepoint. What
psycopg actually sent is read from the query log (with client-side binding Django logs
the string psycopg executed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import DataError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from psycopg._queries import _query2pg_client

from django_segments.exceptions import SegmentsError
from django_segments.ranges import operations
from tests.ranges_helpers import BIGINT, INT, assert_valid
from tests.test_ranges_statements import build

pytestmark = pytest.mark.django_db

SAVEPOINT = re.compile(r'^SAVEPOINT "([^"]+)"')

#: ``transaction.savepoint`` was renamed ``savepoint_create`` in Django 6.1.
savepoint = getattr(transaction, "savepoint_create", transaction.savepoint)


def strings(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries]


def one(sql: str) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def fail_after(sql: str, on_commit: Callable[[], None] | None = None) -> None:
    """In an `operations.atomic` block: run ``sql``, register ``on_commit``, then raise."""
    with operations.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)
        if on_commit is not None:
            transaction.on_commit(on_commit)
        raise RuntimeError("after the write")


@pytest.fixture
def scratch() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE scratch (n integer)")


@pytest.mark.parametrize("rt", [INT, BIGINT], ids=str)
def test_an_operation_sends_its_savepoint_with_its_first_statement(rt) -> None:
    span = build(rt, 5)
    segment = span.first_segment
    with CaptureQueriesContext(connection) as ctx:
        segment.split(rt.v(1))
    sent = strings(ctx)
    assert len(sent) == 2, sent  # [savepoint, lock, split, check], [release]
    assert sent[0].startswith('SAVEPOINT "django_segments_0"; SELECT lower(current_range)'), sent
    assert sent[1] == 'RELEASE SAVEPOINT "django_segments_0"'
    assert_valid(rt)


def test_an_operation_sends_the_same_string_every_time() -> None:
    """Django names every savepoint anew; the held one has one name, so psycopg parses
    the operation's string once and serves it from its cache afterwards."""
    span = build(BIGINT, 5)
    segments = list(span.get_active_segments())
    segments[0].split(BIGINT.v(1))
    before = _query2pg_client.cache_info()
    segments[2].split(BIGINT.v(5))
    after = _query2pg_client.cache_info()
    assert after.misses == before.misses
    assert after.hits > before.hits


def test_a_block_that_sends_nothing_sends_no_savepoint(scratch) -> None:
    with CaptureQueriesContext(connection) as ctx:
        with operations.atomic():
            pass
        with pytest.raises(ValueError, match="before any SQL"), operations.atomic():
            raise ValueError("before any SQL")
    assert strings(ctx) == []
    with connection.cursor() as cursor:  # the transaction is still usable
        cursor.execute("INSERT INTO scratch VALUES (1)")
    assert one("SELECT count(*) FROM scratch") == 1


def test_a_failing_block_is_rolled_back_and_the_transaction_goes_on(scratch) -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO scratch VALUES (1)")
    with pytest.raises(RuntimeError, match="after the write"):
        fail_after("INSERT INTO scratch VALUES (2)")
    assert one("SELECT count(*) FROM scratch") == 1


def test_a_statement_that_fails_in_the_string_with_the_savepoint_is_rolled_back(scratch) -> None:
    with (
        pytest.raises(DataError, match="division by zero"),
        operations.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("INSERT INTO scratch VALUES (1); SELECT 1 / 0")
    assert one("SELECT count(*) FROM scratch") == 0


def test_nested_blocks_send_both_savepoints_with_the_first_statement(scratch) -> None:
    with CaptureQueriesContext(connection) as ctx, operations.atomic():
        with pytest.raises(RuntimeError):
            fail_after("INSERT INTO scratch VALUES (1)")
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO scratch VALUES (2)")
    sent = strings(ctx)
    assert re.match(r'^SAVEPOINT "[^"]+"; SAVEPOINT "[^"]+"; INSERT INTO scratch VALUES \(1\)$', sent[0]), (
        sent
    )
    assert sent[1].startswith("ROLLBACK TO SAVEPOINT")
    assert one("SELECT array_agg(n) FROM scratch") == [2]


def test_the_result_read_is_the_first_statements_own(scratch) -> None:
    with operations.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO scratch VALUES (7), (8) RETURNING n")
        assert cursor.fetchall() == [(7,), (8,)]
        assert cursor.rowcount == 2


def test_executemany_sends_the_savepoint_on_its_own(scratch) -> None:
    with CaptureQueriesContext(connection) as ctx, operations.atomic(), connection.cursor() as cursor:
        cursor.executemany("INSERT INTO scratch VALUES (%s)", [(1,), (2,)])
    assert SAVEPOINT.match(strings(ctx)[0])
    assert ";" not in strings(ctx)[0]
    assert one("SELECT count(*) FROM scratch") == 2


def test_on_commit_callbacks_of_a_rolled_back_block_are_dropped(
    scratch, django_capture_on_commit_callbacks
) -> None:
    done: list[str] = []
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            fail_after("INSERT INTO scratch VALUES (1)", lambda: done.append("rolled back"))
        with operations.atomic():
            transaction.on_commit(lambda: done.append("kept"))
    assert done == ["kept"]
    assert len(callbacks) == 1


def test_the_connections_savepoint_methods_are_restored() -> None:
    wrapper = connections["default"]
    with operations.atomic():
        assert "_savepoint" in vars(wrapper)
    for name in ("_savepoint", "_savepoint_commit", "_savepoint_rollback"):
        assert name not in vars(wrapper)
    assert not [w for w in wrapper.execute_wrappers if type(w).__name__ == "_HeldSavepoint"]


def test_a_refused_operation_leaves_the_span_as_it_was() -> None:
    span = build(INT, 5)
    before = list(INT.segment.objects.filter(span=span).values_list("pk", "segment_range"))
    segment = span.first_segment
    with pytest.raises(SegmentsError):
        segment.merge_into_lower()  # the first segment has no lower neighbour
    with pytest.raises(SegmentsError):
        INT.segment.insert(span=span, segment_range=INT.r(1, 2000))
    assert list(INT.segment.objects.filter(span=span).values_list("pk", "segment_range")) == before
    assert_valid(INT)


def test_a_nested_block_that_sent_nothing_sends_no_rollback(scratch) -> None:
    with CaptureQueriesContext(connection) as ctx, operations.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO scratch VALUES (1)")
        with pytest.raises(RuntimeError, match="nothing sent"), transaction.atomic():
            raise RuntimeError("nothing sent")
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO scratch VALUES (2)")
    sent = strings(ctx)
    assert len(sent) == 3, sent  # [savepoint, insert], [insert], [release]
    assert not any("ROLLBACK" in sql for sql in sent)
    assert one("SELECT count(*) FROM scratch") == 2


def test_rows_written_come_back_through_the_fields_converters() -> None:
    """`_instances` applies Django's converters to the rows an operation returns; they are
    built once per connection and model."""
    span = build(BIGINT, 5)
    wrapper = connections["default"]
    names, compiler, converters = operations._converters(BIGINT.segment, "default")
    assert operations._converters(BIGINT.segment, "default")[1] is compiler
    assert names == [f.attname for f in BIGINT.segment._meta.concrete_fields]
    label = names.index("label")
    expression = BIGINT.segment._meta.get_field("label").get_col(BIGINT.seg_table)
    shout = {label: ([lambda value, expression, connection: f"{value}!"], expression)}
    cache = wrapper.__dict__["_segments_converters"]
    cache[BIGINT.segment, None] = (names, compiler, shout)
    try:
        segment = span.first_segment
        segment.label = "x"
        segment.save()
        upper = segment.split(BIGINT.v(1))
    finally:
        cache[BIGINT.segment, None] = (names, compiler, converters)
    assert (segment.label, upper.label) == ("x!", "x!")


def test_savepoints_open_together_have_their_own_names(scratch) -> None:
    """Rolling back to an outer savepoint undoes what came after it, inner ones included,
    as under Django's names (not the newest savepoint of a shared name)."""
    with CaptureQueriesContext(connection) as ctx, operations.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO scratch VALUES (1)")
        outer = savepoint()
        cursor.execute("INSERT INTO scratch VALUES (2)")
        savepoint()
        cursor.execute("INSERT INTO scratch VALUES (3)")
        transaction.savepoint_rollback(outer)
        assert one("SELECT array_agg(n ORDER BY n) FROM scratch") == [1]
        transaction.savepoint_commit(outer)  # the inner one went with the rollback
    names = [m[1] for sql in strings(ctx) for m in re.finditer(r'SAVEPOINT "([^"]+)"', sql)]
    assert names[:3] == ["django_segments_0", "django_segments_1", "django_segments_2"], names
    assert one("SELECT array_agg(n ORDER BY n) FROM scratch") == [1]
