"""Validation and sandboxed execution of user-written segment SQL.

Layers, each sufficient against a different mistake (none relies on the others):

1. `validate_sql` parses with pglast: exactly one plain ``SELECT``; no ``SELECT INTO``,
   no ``FOR UPDATE/SHARE``, no data-modifying CTE, no setting/lock/file functions, and
   the text must still parse once wrapped (a trailing ``;`` is dropped first). It exists
   to give the admin a clear error; parsing is never the security boundary.
2. The query runs on its own connection of ``SEGMENTS_EXEC_CONNECTION`` (a read-only
   login in production), inside ``BEGIN READ ONLY`` with ``statement_timeout`` and
   ``lock_timeout`` set locally, and the transaction is always rolled back, which also
   undoes any ``set_config`` the query may have done.
3. The SQL is wrapped as a single subquery and sent through the extended query protocol
   (psycopg 3 server-side binding), which rejects several statements in one string:
   ``SELECT 1) t; DROP TABLE x; --`` cannot escape the wrapper.

NOTE - ``SET ROLE`` is not a boundary: a query may switch back with
``set_config('role', 'none', true)``. Only a separate login with few privileges is.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager, suppress

import pglast
import psycopg
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from pglast import ast, visitors

from django_segments import conf
from django_segments.exceptions import RefreshError, UnsafeSQLError

#: Alias of the first output column of user SQL inside the wrapper.
ID_COLUMN = "segments_member_id"

_DENIED_FUNCTIONS = frozenset(
    {
        "set_config",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_notify",
        "pg_stat_file",
        "pg_stat_reset",
        "nextval",
        "setval",
        "txid_current",
        "pg_current_xact_id",
    }
)
_DENIED_PREFIXES = (
    "pg_advisory",
    "pg_try_advisory",
    "lo_",
    "pg_read_",
    "pg_ls_",
    "pg_file_",
    "dblink",
    "query_to_xml",
    "cursor_to_xml",
    "table_to_xml",
    "schema_to_xml",
    "database_to_xml",
)
_WRITES = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)


class _Checker(visitors.Visitor):
    """Collects the first reason a parsed SELECT is not a plain read-only query."""

    def __init__(self) -> None:
        self.problem: str | None = None

    def _flag(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem

    def visit_SelectStmt(self, ancestors: object, node: ast.SelectStmt) -> None:  # noqa: N802
        if node.intoClause is not None:
            self._flag("SELECT INTO creates a table; write a plain SELECT.")
        if node.lockingClause:
            self._flag("FOR UPDATE / FOR SHARE locks rows; segment SQL may only read.")

    def visit_FuncCall(self, ancestors: object, node: ast.FuncCall) -> None:  # noqa: N802
        last = (node.funcname or ())[-1:]
        name = str(getattr(last[0], "sval", "")).lower() if last else ""
        if name in _DENIED_FUNCTIONS or name.startswith(_DENIED_PREFIXES):
            self._flag(f"function {name}() is not allowed in segment SQL.")

    def visit(self, ancestors: object, node: object) -> None:
        if isinstance(node, _WRITES):
            kind = type(node).__name__.removesuffix("Stmt").upper()
            self._flag(f"{kind} is not allowed; segment SQL may only read.")


def validate_sql(sql: str) -> None:
    """Raise `UnsafeSQLError` unless ``sql`` is exactly one read-only ``SELECT``."""
    sql = strip_terminator(sql or "")
    if not sql:
        raise UnsafeSQLError("The SQL definition is empty.")
    try:
        statements = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        msg = f"The SQL does not parse: {exc}"
        raise UnsafeSQLError(msg) from exc
    if len(statements) != 1:
        msg = f"Write exactly one SELECT statement; found {len(statements)} statements."
        raise UnsafeSQLError(msg)
    statement = statements[0].stmt
    if not isinstance(statement, ast.SelectStmt):
        kind = type(statement).__name__.removesuffix("Stmt")
        msg = f"Write a SELECT statement; found {kind}."
        raise UnsafeSQLError(msg)
    checker = _Checker()
    checker(statements[0])
    if checker.problem:
        raise UnsafeSQLError(checker.problem)
    try:
        pglast.parse_sql(wrap_ids(sql, "bigint"))
    except pglast.parser.ParseError as exc:
        msg = f"The SQL cannot be used as a subquery (remove trailing comments): {exc}"
        raise UnsafeSQLError(msg) from exc


def strip_terminator(sql: str) -> str:
    """``sql`` without trailing semicolons and whitespace (``SELECT ...;`` is common)."""
    text = sql.rstrip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def wrap_ids(sql: str, pk_type: str) -> str:
    """``sql`` as a subquery yielding the canonical text id of its first column.

    The user SQL stands on lines of its own, so a trailing ``--`` comment cannot swallow
    the closing parenthesis. ``t(col)`` renames only the first output column.
    """
    return (
        f"SELECT ({ID_COLUMN})::text::{pk_type}::text FROM (\n{sql}\n) AS t({ID_COLUMN}) "
        f"WHERE {ID_COLUMN} IS NOT NULL"
    )


def wrap_contains(sql: str, pk_type: str) -> str:
    """``sql`` as ``EXISTS`` of one member id (a ``%s`` parameter), for live checks.

    ``%`` in the user SQL is doubled: with parameters, psycopg reads ``%`` as a
    placeholder marker and turns ``%%`` back into ``%``.
    """
    escaped = sql.replace("%", "%%")
    return (
        f"SELECT EXISTS (SELECT 1 FROM (\n{escaped}\n) AS t({ID_COLUMN}) "
        f"WHERE ({ID_COLUMN})::text::{pk_type} = %s::{pk_type})"
    )


@contextmanager
def read_only_session(alias: str | None = None) -> Iterator[psycopg.Connection]:
    """A fresh connection of the exec alias inside ``BEGIN READ ONLY`` with timeouts.

    The connection is private to the caller (never the thread's shared one, so it cannot
    be the writer's), rolled back and closed on exit.
    """
    wrapper = connections.create_connection(alias or conf.exec_connection())
    try:
        wrapper.ensure_connection()
        raw: psycopg.Connection = wrapper.connection
        raw.autocommit = True
        with psycopg.Cursor(raw) as cursor:
            cursor.execute("BEGIN TRANSACTION READ ONLY")
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true), "
                "set_config('lock_timeout', %s, true), "
                "set_config('idle_in_transaction_session_timeout', %s, true)",
                [
                    str(conf.statement_timeout_ms()),
                    str(conf.lock_timeout_ms()),
                    str(conf.statement_timeout_ms()),
                ],
            )
        yield raw
    finally:
        _discard(wrapper)


def _discard(wrapper: BaseDatabaseWrapper) -> None:
    """Roll back (undoing any ``set_config``) and close; a dead connection just closes."""
    raw = wrapper.connection
    if raw is not None and not raw.closed:
        with suppress(psycopg.Error):
            raw.execute("ROLLBACK")
    wrapper.close()


def _failure(exc: psycopg.Error) -> RefreshError:
    detail = exc.diag.message_primary or str(exc).strip()
    return RefreshError(f"Segment SQL failed: {detail}")


def stream_ids(sql: str, *, pk_type: str, batch_size: int) -> Generator[list[str]]:
    """Run validated ``sql`` on the exec connection; yield batches of member ids (text).

    Rows arrive in chunks of ``batch_size`` (libpq chunked-rows mode) from one statement,
    so ``statement_timeout`` bounds the whole query and memory stays flat.
    """
    validate_sql(sql)
    yield from _stream(wrap_ids(strip_terminator(sql), pk_type), batch_size)


def _stream(query: str, batch_size: int) -> Generator[list[str]]:
    try:
        with read_only_session() as raw, psycopg.Cursor(raw) as cursor:
            batch: list[str] = []
            for (member_id,) in cursor.stream(query, size=batch_size):
                batch.append(member_id)
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
            if batch:
                yield batch
    except psycopg.Error as exc:
        raise _failure(exc) from exc


def contains(sql: str, member_id: str, *, pk_type: str) -> bool:
    """Whether validated ``sql`` returns ``member_id``, run like a refresh but for one id."""
    validate_sql(sql)
    try:
        with read_only_session() as raw, psycopg.Cursor(raw) as cursor:
            query = wrap_contains(strip_terminator(sql), pk_type)
            cursor.execute(query, [member_id], prepare=True)
            row = cursor.fetchone()
    except psycopg.Error as exc:
        raise _failure(exc) from exc
    return bool(row and row[0])
