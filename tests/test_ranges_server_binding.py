"""Operations with server-side binding (the ``server_side_binding`` database option).

With client-side binding, Django's default with psycopg 3, an operation sends its lock,
writing statement and check as one string. A server-side binding cursor cannot run a
string of several statements with parameters, so each is sent on its own: every
operation must give the same result either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor

from bench.measure import statement_count
from tests.ranges_helpers import RangeType, active, assert_valid
from tests.test_ranges_statements import CASES, run

pytestmark = pytest.mark.django_db
SIZE = 5


@contextmanager
def server_side_binding() -> Iterator[None]:
    """Cursors created inside the block bind parameters on the server, and the option says
    so, as with ``OPTIONS = {"server_side_binding": True}``."""
    connection.ensure_connection()
    raw = connection.connection
    before = raw.cursor_factory
    options = connection.settings_dict.setdefault("OPTIONS", {})
    raw.cursor_factory = ServerBindingCursor
    options["server_side_binding"] = True
    try:
        yield
    finally:
        raw.cursor_factory = before
        del options["server_side_binding"]


def outcome(rt: RangeType, name: str) -> tuple[list[Any], type | None, list[str]]:
    """Operation ``name`` on a new span: its active segments afterwards, error and SQL."""
    span, error, strings = run(rt, name, SIZE)
    return active(rt, span), error, strings


def test_the_switch_gives_server_binding_cursors() -> None:
    with server_side_binding(), connection.cursor() as cursor:
        assert not isinstance(cursor.cursor, psycopg.ClientCursor)
        with pytest.raises(Exception, match="multiple commands"):
            cursor.execute("SELECT %s; SELECT %s", [1, 2])
    with connection.cursor() as cursor:
        assert isinstance(cursor.cursor, psycopg.ClientCursor)


@pytest.mark.parametrize(("rt", "name"), CASES)
def test_both_bindings_give_the_same_result(rt, name) -> None:
    client = outcome(rt, name)
    with server_side_binding():
        server = outcome(rt, name)
    assert server[:2] == client[:2]
    if server[1] is None:
        assert_valid(rt)
    # Server side, only finalize's parameterless pair of SET CONSTRAINTS shares a string.
    shared = [sql for sql in server[2] if statement_count(sql) > 1]
    assert all(sql.startswith("SET CONSTRAINTS") and sql.count(";") == 1 for sql in shared), shared
    assert len(server[2]) >= len(client[2])
