"""Validation and sandboxed execution of user-written segment SQL.

Layers, each sufficient against a different mistake (none relies on the others):

1. `validate_sql` refuses a text over ``SEGMENTS_SQL_MAX_LENGTH`` characters before
   parsing it, then parses with pglast: exactly one plain ``SELECT``; no ``SELECT INTO``,
   no ``FOR UPDATE/SHARE``, no data-modifying CTE, no parameters (``$1``), no function
   outside the allow-list of `django_segments.membership.sql_functions` (built-ins that
   neither change state nor run SQL text); a trailing ``;`` is dropped, one followed by
   comments refused. It exists to give the admin a clear error; parsing is never the
   security boundary.
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

import re
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar

import pglast
import psycopg
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from pglast import ast, visitors

from django_segments import conf
from django_segments.exceptions import SegmentSQLError, UnsafeSQLError
from django_segments.membership import replica, sql_functions

#: Alias of the first output column of user SQL inside the wrapper.
ID_COLUMN = "segments_member_id"

_WRITES = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)

#: Bytes of stack the parser thread gets per character the length cap allows. pglast
#: builds its tree by recursion in C: the deepest tree per character (a chain of ``+``)
#: took 182 bytes of stack per character, and an 8 MiB stack overflowed (ending the
#: process) at 25,000 chained terms, 50 KB of text. 1 KiB is five times that.
_STACK_PER_CHARACTER = 1024
_MIN_STACK = 8 * 1024 * 1024
_STACK_SIZE_LOCK = threading.Lock()


class _Checker(visitors.Visitor):
    """Collects the first reason a parsed SELECT is not a plain read-only query."""

    def __init__(self) -> None:
        self.problem: str | None = None
        self.extra_functions = conf.sql_extra_functions()

    def _flag(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem

    def visit_SelectStmt(self, ancestors: object, node: ast.SelectStmt) -> None:  # noqa: N802
        if node.intoClause is not None:
            self._flag("SELECT INTO creates a table; write a plain SELECT.")
        if node.lockingClause:
            self._flag("FOR UPDATE / FOR SHARE locks rows; segment SQL may only read.")

    def visit_FuncCall(self, ancestors: object, node: ast.FuncCall) -> None:  # noqa: N802
        name = tuple(str(getattr(part, "sval", "")) for part in node.funcname or ())
        if not sql_functions.is_allowed(name, self.extra_functions):
            self._flag(
                f"function {'.'.join(name)}() is not allowed in segment SQL: only PostgreSQL's "
                "built-in functions that neither change state nor run SQL text may be called "
                "(name functions of your own or of an extension in SEGMENTS_SQL_EXTRA_FUNCTIONS)."
            )

    def visit_ParamRef(self, ancestors: object, node: ast.ParamRef) -> None:  # noqa: N802
        self._flag(
            f"${node.number} is a parameter, and segment SQL is run without any: write the "
            "value into the SQL itself."
        )

    def visit(self, ancestors: object, node: object) -> None:
        if isinstance(node, _WRITES):
            kind = type(node).__name__.removesuffix("Stmt").upper()
            self._flag(f"{kind} is not allowed; segment SQL may only read.")


def validate_sql(sql: str) -> None:
    """Raise `UnsafeSQLError` unless ``sql`` is exactly one read-only ``SELECT`` that calls
    only allowed functions, has no parameters and is at most ``SEGMENTS_SQL_MAX_LENGTH``
    characters long."""
    if not isinstance(sql, str):
        msg = f"Segment SQL must be a string; got {type(sql).__name__}."
        raise UnsafeSQLError(msg)
    limit = conf.sql_max_length()
    if len(sql) > limit:
        msg = (
            f"The SQL is {len(sql):,} characters long; segment SQL may have at most {limit:,} "
            "(SEGMENTS_SQL_MAX_LENGTH). Give long lists of ids as static ids."
        )
        raise UnsafeSQLError(msg)
    sql = strip_terminator(sql)
    if not sql:
        raise UnsafeSQLError("The SQL definition is empty.")
    problem = _on_parser_thread(_problem, sql, stack=max(_MIN_STACK, limit * _STACK_PER_CHARACTER))
    if problem:
        raise UnsafeSQLError(problem)


def _problem(sql: str) -> str | None:
    """The first reason ``sql`` (non-empty, without a terminator) is refused, or None."""
    try:
        statements = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        return f"The SQL does not parse: {exc}"
    if len(statements) != 1:
        return f"Write exactly one SELECT statement; found {len(statements)} statements."
    statement = statements[0].stmt
    if not isinstance(statement, ast.SelectStmt):
        return f"Write a SELECT statement; found {type(statement).__name__.removesuffix('Stmt')}."
    if statements[0].stmt_len:
        # The statement ends before the text: a ";" is left, with comments after it.
        return "The SQL cannot be used as a subquery: remove the ';' before the trailing comment."
    checker = _Checker()
    checker(statements[0])
    return checker.problem


def _on_parser_thread(fn: Callable[[str], str | None], sql: str, *, stack: int) -> str | None:
    """``fn(sql)`` on a thread of its own with a ``stack`` of that many bytes.

    The caller's thread may have a small stack (3,000 chained terms, 6 KB of text,
    overflowed one of 1 MiB): the parse and the tree's traversal run where the deepest
    tree a text within the length cap can produce fits. The stack is virtual memory,
    used only as deep as the tree goes.

    NOTE - ``threading.stack_size`` applies to threads created after it, by anyone: the
    lock keeps two checks from resetting each other's size; another thread started in
    that instant gets the larger stack, which costs it nothing.
    """
    outcome: list[str | None] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(fn(sql))
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    with _STACK_SIZE_LOCK:
        previous = threading.stack_size(stack)
        try:
            thread = threading.Thread(target=run, name="django-segments-sql-check", daemon=True)
            thread.start()
        finally:
            threading.stack_size(previous)
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def strip_terminator(sql: str) -> str:
    """``sql`` without trailing semicolons and whitespace (``SELECT ...;`` is common)."""
    text = sql.rstrip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


#: The integer key types and the first value past each one's range.
_INTEGER_KEYS = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}
#: OIDs (``pg_type``) of the integer column types, to the first value past their range.
_INTEGER_OIDS = {21: 2**15, 23: 2**31, 20: 2**63}
_UUID_OID = 2950
#: Text that the cast to an integer key accepts, range aside (POSIX classes: no backslash
#: for ``standard_conforming_strings`` to read).
_INTEGER_TEXT = "^[[:space:]]*[+-]?[0-9]+[[:space:]]*$"
#: Text that the cast to ``uuid`` accepts: 32 hex digits, a hyphen allowed after any group
#: of four, the whole optionally in braces.
_UUID_TEXT = "^([{][0-9a-f]{4}(-?[0-9a-f]{4}){7}[}]|[0-9a-f]{4}(-?[0-9a-f]{4}){7})$"


def describe_query(sql: str) -> str:
    """``sql`` planned without running it: the type of its first column is read from it."""
    return f"SELECT * FROM (\n{sql}\n) AS t LIMIT 0"


def first_column_type(cursor: psycopg.Cursor, sql: str) -> int | None:
    """Type OID of the first column of ``sql`` (run by `describe_query`), None without one.

    Results in binary ask for the extended query protocol (the simple one has no binary
    results), which refuses a string of several statements instead of running them one
    after another, as it does for every other statement of user SQL.
    """
    cursor.execute(describe_query(sql), binary=True)
    return cursor.description[0].type_code if cursor.description else None


def id_expression(pk_type: str, column_type: int | None) -> str:
    """SQL for the canonical text of the key in ``ID_COLUMN``, a column of type OID
    ``column_type``, or NULL where it is not a valid ``pk_type`` key.

    A column of the key's own type (or a narrower integer) is written as text, nothing
    more. Text and other types are tested before the cast, in a nested ``CASE`` so the cast
    runs only on text that passed: a bad row becomes NULL, never the error of the query.
    """
    column = ID_COLUMN
    text = f"{column}::text"
    if pk_type in _INTEGER_KEYS:
        bound = _INTEGER_KEYS[pk_type]
        if column_type in _INTEGER_OIDS:
            if _INTEGER_OIDS[column_type] <= bound:
                return text
            return f"CASE WHEN {column} >= {-bound} AND {column} < {bound} THEN {text} END"
        in_range = f"{text}::numeric >= {-bound} AND {text}::numeric < {bound}"
        cast = f"{text}::{pk_type}::text"
        return f"CASE WHEN {text} ~ '{_INTEGER_TEXT}' THEN CASE WHEN {in_range} THEN {cast} END END"
    if pk_type == "uuid":
        if column_type == _UUID_OID:
            return text
        return f"CASE WHEN {text} ~* '{_UUID_TEXT}' THEN {text}::uuid::text END"
    return f"{text}::{pk_type}::text"  # pragma: no cover - exotic primary keys


def wrap_ids(sql: str, pk_type: str, column_type: int | None = None) -> str:
    """``sql`` as a subquery yielding the canonical text id of its first column, NULL for a
    row whose first column is not a valid key (see `id_expression`).

    The user SQL stands on lines of its own, so a trailing ``--`` comment cannot swallow
    the closing parenthesis. ``t(col)`` renames only the first output column.
    """
    return (
        f"SELECT {id_expression(pk_type, column_type)} FROM (\n{sql}\n) AS t({ID_COLUMN}) "
        f"WHERE {ID_COLUMN} IS NOT NULL"
    )


def wrap_contains(sql: str, pk_type: str, column_type: int | None = None) -> str:
    """``sql`` as ``EXISTS`` of one member id (a ``%s`` parameter), for live checks.

    A column of the key's type is compared with the key as it is (an index on it can
    answer); any other is compared through `id_expression`, so bad rows never match.
    ``%`` in the user SQL is doubled: with parameters, psycopg reads ``%`` as a
    placeholder marker and turns ``%%`` back into ``%``.
    """
    escaped = sql.replace("%", "%%")
    same_kind = (column_type in _INTEGER_OIDS and pk_type in _INTEGER_KEYS) or (
        column_type == _UUID_OID and pk_type == "uuid"
    )
    test = f"{ID_COLUMN} = %s::{pk_type}" if same_kind else f"{id_expression(pk_type, column_type)} = %s"
    return f"SELECT EXISTS (SELECT 1 FROM (\n{escaped}\n) AS t({ID_COLUMN}) WHERE {test})"


#: True inside `django_segments.testing.segment_sql_on_writer`: user SQL runs on the
#: writer's own connection (for tests, whose rows other connections cannot see).
ON_WRITER: ContextVar[bool] = ContextVar("django_segments_sql_on_writer", default=False)
_TEST_SAVEPOINT = "django_segments_sql"


@contextmanager
def read_only_session(alias: str | None = None) -> Iterator[psycopg.Connection]:
    """A fresh connection of the exec alias inside ``BEGIN READ ONLY`` with timeouts.

    The connection is private to the caller (never the thread's shared one, so it cannot
    be the writer's), rolled back and closed on exit. Under `ON_WRITER` it is the
    writer's own connection instead, in a read-only savepoint rolled back on exit.
    """
    if ON_WRITER.get():
        with _on_writer() as writer:
            yield writer
        return
    wrapper = connections.create_connection(alias or conf.exec_connection())
    try:
        wrapper.ensure_connection()
        raw: psycopg.Connection = wrapper.connection
        raw.autocommit = True
        replica.wait_for_writer(raw)  # a standby first replays what the writer committed
        with psycopg.Cursor(raw) as cursor:
            cursor.execute("BEGIN TRANSACTION READ ONLY")
            _set_timeouts(cursor)
        yield raw
    finally:
        _discard(wrapper)


def _set_timeouts(cursor: psycopg.Cursor) -> None:
    """``statement_timeout``, ``lock_timeout`` and the idle-in-transaction timeout, local
    to the (sub)transaction."""
    cursor.execute(
        "SELECT set_config('statement_timeout', %s, true), "
        "set_config('lock_timeout', %s, true), "
        "set_config('idle_in_transaction_session_timeout', %s, true)",
        [str(conf.statement_timeout_ms()), str(conf.lock_timeout_ms()), str(conf.statement_timeout_ms())],
    )


@contextmanager
def _on_writer() -> Iterator[psycopg.Connection]:
    """The writer's connection in a read-only savepoint (inside a transaction) or a
    read-only transaction (outside one), with the timeouts, always rolled back.

    NOTE - PostgreSQL lets a subtransaction become read-only (not the reverse), and undoes
    the settings made in it when it is rolled back.
    """
    from django_segments.membership.refresh import writer_alias  # noqa: PLC0415 - cycle

    connection = connections[writer_alias()]
    connection.ensure_connection()
    raw: psycopg.Connection = connection.connection
    # Django leaves autocommit on outside atomic blocks; inside one, psycopg has begun
    # (or will begin) the transaction, and a savepoint nests in it.
    begin, end = (
        ("BEGIN TRANSACTION READ ONLY", ["ROLLBACK"])
        if raw.autocommit
        else (
            f"SAVEPOINT {_TEST_SAVEPOINT}",
            [f"ROLLBACK TO SAVEPOINT {_TEST_SAVEPOINT}", f"RELEASE SAVEPOINT {_TEST_SAVEPOINT}"],
        )
    )
    with psycopg.Cursor(raw) as cursor:
        cursor.execute(begin)
        try:
            cursor.execute("SET TRANSACTION READ ONLY")
            _set_timeouts(cursor)
            yield raw
        finally:
            for statement in end:
                cursor.execute(statement)


def _discard(wrapper: BaseDatabaseWrapper) -> None:
    """Roll back (undoing any ``set_config``) and close; a dead connection just closes."""
    raw = wrapper.connection
    if raw is not None and not raw.closed:
        with suppress(psycopg.Error):
            raw.execute("ROLLBACK")
    wrapper.close()


#: SQLSTATE classes whose message is shown when the error points into the SQL (it has a
#: position): Postgres raised it while it parsed and analysed the text, so the message
#: quotes only that text and names from the catalog. Without a position the same codes
#: come from running the query: ``'<a value>'::regclass`` fails with 42P01, relation
#: "<the value>" does not exist, ``current_setting(<a value>)`` with 42704.
_LOCATED_CLASSES = frozenset({"42", "0A"})
#: SQLSTATE classes and codes whose message Postgres writes from fixed text, names of
#: catalog objects and settings only: connection (08), cardinality (21), transaction
#: state (25, e.g. read-only), rollback (40: serialization failure, deadlock),
#: resources (53), operator intervention (57: timeouts, cancel), 42501 (permission
#: denied for <object>), 55P03 (lock not available, lock timeout), 22012 (always
#: "division by zero"; the rest of class 22 quotes values).
_FIXED_CLASSES = frozenset({"08", "21", "25", "40", "53", "57"})
_FIXED_CODES = frozenset({"22012", "42501", "55P03"})


def _failure(exc: psycopg.Error, query: str, sql: str | None = None) -> SegmentSQLError:
    """The error to report for ``exc``, raised by ``query`` (a wrapper around ``sql``).

    Every message not listed above, and every message raised inside a function, is
    replaced by its SQLSTATE and class: data errors (22: ``invalid input syntax for type
    integer: "<a value>"``), errors of files, functions and extensions (58, 38, P0, HV,
    XX) and the rest may quote what the query read. DETAIL and CONTEXT lines are never
    kept (they quote keys and values); HINT only with a located message. The full error
    stays the exception's ``__cause__``.
    """
    diag = exc.diag
    code = diag.sqlstate
    if not code:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return SegmentSQLError(f"Segment SQL failed: the connection failed ({first})", sqlstate=None)
    start = query.index("\n") + 1  # the wrappers put the user SQL on the lines after the first
    user_sql = query[start : query.rindex("\n)")] if sql is None else sql
    position = _position(diag.statement_position, start, len(user_sql))
    where = _where(user_sql, position)
    name = f"SQLSTATE {code} {_condition(code)}"
    located = code[:2] in _LOCATED_CLASSES and bool(diag.statement_position)
    # CONTEXT is set when the error came from inside a function (or the SQL one ran),
    # whose code may raise any SQLSTATE with any message: RAISE ... USING ERRCODE.
    fixed = code[:2] in _FIXED_CLASSES or code in _FIXED_CODES
    if (located or fixed) and not diag.context:
        hint = f" Hint: {diag.message_hint}" if located and diag.message_hint else ""
        message = f"Segment SQL failed: {diag.message_primary} ({name}){where}.{hint}"
    else:
        message = (
            f"Segment SQL failed with {name} (class {code[:2]}, {_condition(code[:2] + '000')})"
            f"{where}; the database's message is not shown, as it may quote values the query read."
        )
    return SegmentSQLError(message, sqlstate=code, position=position)


def _position(statement_position: str | None, start: int, length: int) -> int | None:
    """1-based character of the user SQL that a 1-based ``statement_position`` of the
    wrapped query points at; None outside the user SQL."""
    if not statement_position:
        return None
    position = int(statement_position) - start
    return position if 1 <= position <= length else None


def _where(sql: str, position: int | None) -> str:
    if position is None:
        return ""
    line = sql.count("\n", 0, position - 1) + 1
    column = position - (sql.rfind("\n", 0, position - 1) + 1)
    return f", at line {line}, column {column} of the SQL"


def _condition(code: str) -> str:
    """PostgreSQL's condition name of ``code``, e.g. ``invalid_text_representation``."""
    try:
        cls_name = psycopg.errors.lookup(code).__name__
    except KeyError:
        return "unknown_condition"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls_name.rstrip("_")).lower()


def stream_ids(sql: str, *, pk_type: str, batch_size: int) -> Generator[list[str | None]]:
    """Validate ``sql`` and run it on the exec connection; yield batches of member ids (text),
    None for each row whose first column is not a valid key (the caller counts them).

    Rows arrive in chunks of ``batch_size`` (libpq chunked-rows mode) from one statement,
    so ``statement_timeout`` bounds the whole query and memory stays flat. Under
    `ON_WRITER` every batch is read before this returns: the caller's next statement on
    the writer's connection (a refresh's ``COPY``) must not start while the query runs.
    """
    validate_sql(sql)
    batches = _stream(strip_terminator(sql), pk_type, batch_size)
    if ON_WRITER.get():
        return (batch for batch in list(batches))
    return batches


def _stream(sql: str, pk_type: str, batch_size: int) -> Generator[list[str | None]]:
    query = describe_query(sql)
    try:
        with read_only_session() as raw, psycopg.Cursor(raw) as cursor:
            query = wrap_ids(sql, pk_type, first_column_type(cursor, sql))
            batch: list[str | None] = []
            for (member_id,) in cursor.stream(query, size=batch_size):
                batch.append(member_id)
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
            if batch:
                yield batch
    except psycopg.Error as exc:
        raise _failure(exc, query) from exc


def contains(sql: str, member_id: str, *, pk_type: str) -> bool:
    """Whether validated ``sql`` returns ``member_id``, run like a refresh but for one id."""
    validate_sql(sql)
    sql = strip_terminator(sql)
    query = describe_query(sql)
    try:
        with read_only_session() as raw, psycopg.Cursor(raw) as cursor:
            query = wrap_contains(sql, pk_type, first_column_type(cursor, sql))
            cursor.execute(query, [member_id], prepare=True)
            row = cursor.fetchone()
    except psycopg.Error as exc:
        raise _failure(exc, query, sql) from exc
    return bool(row and row[0])
