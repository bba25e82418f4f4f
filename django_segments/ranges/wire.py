"""What an operation sends: its statements in one string, framed by its own transaction,
and the rows that come back as model instances.

This is the one place that knows how statements reach Postgres. It uses Django's cursor
(so execute wrappers, the query log and Django's error classes see every string) and only
public names of Django and psycopg: ``nextset()`` and ``pgresult`` of the cursor, the
connection's ``in_atomic_block`` / ``get_autocommit()``, and the database's
``OPTIONS["server_side_binding"]``.

**One string.** With client-side binding (Django's default with psycopg 3) a string of
several statements with parameters goes in one round trip, with the simple query
protocol: Postgres runs the statements one after the other, each with a snapshot of its
own, and stops at the first error. With ``server_side_binding`` a statement with
parameters must travel alone; the same statements are then sent one by one, in the same
order and frame.

**The frame.** Inside a transaction the operation's string starts with ``SAVEPOINT`` and
ends with its check (``SET CONSTRAINTS ... IMMEDIATE``, then ``DEFERRED`` again) and
``RELEASE SAVEPOINT``; if a statement fails, ``ROLLBACK TO SAVEPOINT`` takes back what it
wrote and the surrounding transaction stays usable. Outside a transaction (autocommit) a
one-string operation is its own transaction: Postgres runs a string of statements as one
implicit transaction, rolled back at the first error, and its commit runs the deferred
checks; an operation of several strings (segment shifts) sends ``BEGIN`` with its first
and ``COMMIT`` with its last. Between the strings of one operation only the library's
own Python runs (no signal receiver), so nothing else uses the connection meanwhile.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Sequence
from typing import Any

from django.db import DatabaseError, connections, router
from psycopg import pq

from django_segments.ranges import compiler

Rows = list[tuple[Any, ...]]


def joins_statements(connection: Any) -> bool:
    """Whether ``connection`` sends several statements with parameters in one string
    (client-side binding)."""
    return not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")


_TUPLES_OK = pq.ExecStatus.TUPLES_OK


def results(cursor: Any) -> list[Rows | None]:
    """The rows of every statement the last ``execute`` ran (None for one without rows).

    NOTE - whether a result has rows is read from psycopg's ``pgresult``: its
    ``description`` would build a column object per column of every result."""
    found: list[Rows | None] = []
    while True:
        result = cursor.pgresult
        found.append(cursor.fetchall() if result is not None and result.status == _TUPLES_OK else None)
        if not cursor.nextset():
            return found


def execute(connection: Any, statements: Sequence[str], params: dict[str, Any]) -> list[Rows | None]:
    """Run ``statements`` (with their shared ``params``) in order on ``connection``; the
    rows of each. One string where the driver allows it."""
    with connection.cursor() as cursor:
        if joins_statements(connection):
            cursor.execute("; ".join(statements), params)
            return results(cursor)
        found: list[Rows | None] = []
        for sql in statements:
            cursor.execute(sql, params if "%(" in sql else None)
            found.extend(results(cursor))
        return found


class Frame:
    """One operation's transaction on the alias its segment model writes to.

    ``send(statements, params, last=...)`` sends a string; the first carries the opening
    (``SAVEPOINT`` or ``BEGIN``, none for a one-string operation in autocommit), the last
    ``checks`` (inside a transaction; in autocommit ``COMMIT`` runs them) and the closing.
    A failure, in Postgres or in between, rolls back what the frame wrote and is raised
    again.
    """

    def __init__(self, segment_model: Any, checks: Sequence[str], *, using: str | None = None) -> None:
        self.using = using or router.db_for_write(segment_model)
        self.connection = connections[self.using]
        self.checks = list(checks)
        self.top = False
        self.opened = False  # a transaction or savepoint of ours is open on the server
        self.closed = False

    def __enter__(self) -> Frame:
        self.top = not self.connection.in_atomic_block and self.connection.get_autocommit()
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if error is not None and self.opened and not self.closed:
            self._roll_back()

    def send(
        self, statements: Sequence[str], params: dict[str, Any], *, last: bool = False
    ) -> list[Rows | None]:
        """Send ``statements``; return the rows of each (None for one without rows)."""
        head: list[str] = []
        if not self.opened:
            if not self.top:
                head = [f"SAVEPOINT {compiler.SAVEPOINT}"]
            elif not (last and joins_statements(self.connection)):
                head = ["BEGIN"]
        tail: list[str] = []
        if last:
            if self.top:
                tail = ["COMMIT"] if (head or self.opened) else []
            else:
                tail = [*self.checks, f"RELEASE SAVEPOINT {compiler.SAVEPOINT}"]
        self.opened = self.opened or bool(head)
        try:
            found = execute(self.connection, [*head, *statements, *tail], params)
        except BaseException:
            if self.opened:
                self._roll_back()
            self.closed = True
            raise
        self.closed = last
        return found[len(head) : len(head) + len(statements)]

    def _roll_back(self) -> None:
        """Take back what the frame wrote. A failure here (a broken connection) is not
        raised: the error that made the frame roll back is."""
        self.closed = True
        if self.top:
            undo = ["ROLLBACK"]
        else:
            undo = [f"ROLLBACK TO SAVEPOINT {compiler.SAVEPOINT}", f"RELEASE SAVEPOINT {compiler.SAVEPOINT}"]
        with contextlib.suppress(DatabaseError):
            execute(self.connection, undo, {})


# --- rows back into instances --------------------------------------------------------

_CONVERTERS: weakref.WeakKeyDictionary[Any, dict[Any, tuple[list[str], Any, dict[int, Any]]]]
_CONVERTERS = weakref.WeakKeyDictionary()


def _converters(model: Any, connection: Any) -> tuple[list[str], Any, dict[int, Any]]:
    """Attribute names, compiler and field converters of all concrete fields of ``model``,
    as a queryset on ``connection`` applies them (built once per connection: converters
    are bound to it, and connections are per thread)."""
    cache = _CONVERTERS.setdefault(connection, {})
    if model not in cache:
        fields = model._meta.concrete_fields
        query_compiler = (
            model._base_manager.db_manager(connection.alias).all().query.get_compiler(connection.alias)
        )
        converters = query_compiler.get_converters([f.get_col(model._meta.db_table) for f in fields])
        cache[model] = ([f.attname for f in fields], query_compiler, converters)
    return cache[model]


def converted(model: Any, using: str, rows: Rows) -> tuple[list[str], Rows]:
    """``rows`` of all concrete columns of ``model`` in field order (what ``RETURNING``
    gives), through the fields' converters; with the attribute names."""
    names, query_compiler, converters = _converters(model, connections[using])
    if converters:
        rows = [tuple(row) for row in query_compiler.apply_converters(rows, converters)]
    return names, rows


def instances(model: Any, using: str, rows: Rows) -> list[Any]:
    """Model instances from rows of all concrete columns, as a queryset builds them."""
    names, values = converted(model, using, rows)
    return [model.from_db(using, names, row) for row in values]


def adopt(instance: Any, using: str, row: tuple[Any, ...]) -> None:
    """Set every concrete field of ``instance`` from ``row`` (all concrete columns) and mark
    it saved on ``using``, as a save that returned the row would."""
    names, (values,) = converted(type(instance), using, [row])
    for name, value in zip(names, values, strict=True):
        setattr(instance, name, value)
    instance._state.adding = False
    instance._state.db = using
