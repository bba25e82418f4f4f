"""Testing SQL segments inside a test's transaction (`segment_sql_on_writer`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def segment_sql_on_writer() -> Iterator[None]:
    """Run user-written segment SQL on the writer's own connection while the block lasts.

    A refresh, ``preview()`` or ``matches()`` then sees the rows the test wrote and has
    not committed (a Django ``TestCase`` or a pytest ``db`` test), which the separate exec
    connection cannot. The query keeps its wrapper, its validation and its timeouts; it
    runs in a read-only savepoint (a read-only transaction outside a transaction) that
    is rolled back, so it writes nothing and leaves no setting behind.

    For tests only: the query runs with the writer's privileges, not those of
    ``SEGMENTS_EXEC_CONNECTION``. Use as a context manager or a decorator; in a
    ``TestCase``, ``self.enterContext(segment_sql_on_writer())`` in ``setUp``.
    """
    from django_segments.membership import safe_sql  # noqa: PLC0415 - needs Django set up

    token = safe_sql.ON_WRITER.set(True)
    try:
        yield
    finally:
        safe_sql.ON_WRITER.reset(token)
