"""Set-based range operations.

Each operation runs in one transaction (a savepoint when nested): it locks the span row
(``FOR NO KEY UPDATE``), issues a constant number of statements whatever the number of
segments, then `finalize` makes Postgres run the deferred checks of this model
immediately, so a violation surfaces here as a typed exception and the savepoint
rolls back: nothing is half-applied.

Statements that do not need each other's results travel together (`send`): the lock,
the writing statement and the check are usually one round trip. Postgres still runs them
one after the other, each with its own snapshot, so the writing statement reads what was
committed before the lock was granted.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal, cast

import psycopg
from django.db import DEFAULT_DB_ALIAS, DataError, IntegrityError, connections, router, transaction
from django.db.models import QuerySet
from django.db.models import signals as model_signals
from django.db.models.deletion import CASCADE, Collector, get_candidate_relations_to_delete
from django.db.models.expressions import DatabaseDefault
from django.db.models.sql import DeleteQuery
from django.utils import timezone
from psycopg import pq

from django_segments import signals
from django_segments.exceptions import (
    ContainmentError,
    IncorrectSegmentRangeError,
    IncorrectSpanRangeError,
    RangeIntegrityError,
    RangeValueError,
    SegmentOperationError,
    SegmentsError,
)
from django_segments.ranges.ddl import SpanCheckTrigger, pgid, qn
from django_segments.ranges.errors import typed_errors
from django_segments.ranges.kinds import RangeKind


@dataclass(frozen=True)
class Tables:
    """Quoted names and SQL fragments for one segment model."""

    seg: str
    span: str
    seg_pk: str
    span_pk: str
    fk: str
    rng: str
    kind: RangeKind
    copy_columns: tuple[str, ...]
    copy_fields: tuple[Any, ...]
    soft: bool
    span_soft: bool
    immediate: str
    deferred: str
    columns: str

    def rng_of(self, lo: str, hi: str) -> str:
        """SQL that builds a ``[lo, hi)`` range of this kind."""
        return f"{self.kind.range_sql_type}({lo}, {hi}, '[)')"

    @property
    def val(self) -> str:
        """A value placeholder cast to the element type."""
        return f"%s::{self.kind.sql_type}"


_TABLES: dict[Any, Tables] = {}


def tables(segment_model: Any) -> Tables:
    """Names used by the operations of ``segment_model`` (computed once per model; a proxy
    model's are its concrete model's)."""
    if segment_model not in _TABLES:
        concrete = segment_model._meta.concrete_model
        if concrete not in _TABLES:
            _TABLES[concrete] = _tables(concrete)
        _TABLES[segment_model] = _TABLES[concrete]
    return _TABLES[segment_model]


def _tables(segment_model: Any) -> Tables:
    import pgtrigger  # noqa: PLC0415

    meta = segment_model._meta
    span_model = meta.get_field("span").related_model
    own = [
        f
        for f in meta.concrete_fields
        if f.name not in {"id", "span", "segment_range", "deleted_at"} and not f.primary_key
    ]
    trigger_names = [
        trigger.get_pgid(model)
        for model, trigger in pgtrigger.registered()
        if isinstance(trigger, SpanCheckTrigger) and trigger.segment_model is segment_model
    ]
    exclusion = qn(pgid(meta.db_table, "no_overlap"))
    quoted_triggers = [qn(name) for name in trigger_names]
    return Tables(
        seg=qn(meta.db_table),
        span=qn(span_model._meta.db_table),
        seg_pk=qn(meta.pk.column),
        span_pk=qn(span_model._meta.pk.column),
        fk=qn(meta.get_field("span").column),
        rng=qn("segment_range"),
        kind=span_model._span_options_value.kind,
        copy_columns=tuple(qn(f.column) for f in own),
        copy_fields=tuple(own),
        soft=segment_model._segment_options().soft_delete,
        span_soft=span_model._span_options_value.soft_delete,
        immediate=", ".join([exclusion, *quoted_triggers]),
        deferred=", ".join(quoted_triggers),
        columns=", ".join(qn(f.column) for f in meta.concrete_fields),
    )


def _cursor(model: Any) -> Any:
    return connections[router.db_for_write(model)].cursor()


@contextmanager
def atomic(using: str | None = None) -> Iterator[None]:
    """``transaction.atomic(using)`` whose savepoints travel with the next statement.

    Inside a transaction, Django opens the block's savepoint in a round trip of its own.
    Nothing before the block's first statement needs protecting, so `_HeldSavepoint` holds
    the ``SAVEPOINT`` back and sends it in front of that statement, in one string (so too
    the savepoints of blocks nested in this one). Django keeps its bookkeeping (savepoint
    ids, ``on_commit`` callbacks, rollback on error); a block that sent nothing sends
    neither its savepoint nor its ``RELEASE`` / ``ROLLBACK TO``. Outside a transaction the
    block is ``transaction.atomic`` as it is.
    """
    connection = connections[using or DEFAULT_DB_ALIAS]
    if not connection.in_atomic_block or _HeldSavepoint.METHODS[0] in vars(connection):
        with transaction.atomic(using=using):
            yield
        return
    with _HeldSavepoint(connection).installed(), transaction.atomic(using=using):
        yield


class _HeldSavepoint:
    """`atomic`'s savepoints: the connection's savepoint methods hold every savepoint
    opened in the block back, and an execute wrapper sends them in front of the next
    statement. A savepoint released or rolled back before any statement was never sent:
    nothing is sent for it.

    A savepoint sent here is named by its depth in the block (``"django_segments_0"``
    for the block's own, ``_1`` for one nested in it, ...), not by Django's name, which is
    new every time: so an operation sends the same string every time, and psycopg's cache
    of parsed queries keeps serving it. Savepoints open at the same time have different
    names, so releasing or rolling back one acts on it as it would under Django's name.

    NOTE - Django opens, releases and rolls back savepoints through the connection's
    ``_savepoint`` / ``_savepoint_commit`` / ``_savepoint_rollback``; they are replaced on the
    instance for the block only. Should Django stop calling them, its savepoints are sent
    on their own, as without this class.
    """

    METHODS = ("_savepoint", "_savepoint_commit", "_savepoint_rollback")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.names: dict[str, str] = {}  # Django's name -> ours, of every open savepoint
        self.held: list[str] = []  # opened, not sent yet

    @contextmanager
    def installed(self) -> Iterator[None]:
        connection = self.connection
        for name, method in zip(self.METHODS, (self.open, self.release, self.roll_back), strict=True):
            setattr(connection, name, method)
        # Innermost: the other wrappers see what Django sends, and the cursor is back on
        # the statement's own result before they read it.
        connection.execute_wrappers.append(self)
        try:
            yield
        finally:
            connection.execute_wrappers.remove(self)
            for name in self.METHODS:
                delattr(connection, name)

    def open(self, sid: str) -> None:
        self.names[sid] = self.connection.ops.quote_name(f"django_segments_{len(self.names)}")
        self.held.append(sid)

    def release(self, sid: str) -> None:
        name = self.names.pop(sid, None)
        if sid in self.held:
            self.held.remove(sid)
        elif name is not None:
            self._send(f"RELEASE SAVEPOINT {name}")
        else:
            type(self.connection)._savepoint_commit(self.connection, sid)

    def roll_back(self, sid: str) -> None:
        if sid in self.held:
            return  # nothing was sent since it opened: nothing to undo (Django releases it next)
        if sid in self.names:
            self._send(f"ROLLBACK TO SAVEPOINT {self.names[sid]}")
        else:
            type(self.connection)._savepoint_rollback(self.connection, sid)

    def _send(self, sql: str) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not self.held:
            return execute(sql, params, many, context)
        count = len(self.held)
        savepoints = "; ".join(f"SAVEPOINT {self.names[sid]}" for sid in self.held)
        self.held.clear()
        cursor = context["cursor"]
        if many or not _one_string(cursor):
            self._send(savepoints)
            return execute(sql, params, many, context)
        out = execute(f"{savepoints}; {sql}", params, many, context)
        _leading_rows(cursor, count)  # past the savepoints, to the statement's own result
        return out


_DEFERRED: contextvars.ContextVar[set[Any] | None] = contextvars.ContextVar("segments_deferred", default=None)


@contextmanager
def defer_checks(using: str | None = None) -> Iterator[None]:
    """Run the block in one transaction and check span invariants once, at its end.

    Inside the block, saves and operations skip their immediate checks, so a sequence of
    writes may pass through states that break the invariants (e.g. moving two segments
    of a tiled span one after the other). At the end every touched segment model is
    checked; a violation raises the typed exception and the whole block rolls back.
    Overlaps are still refused per statement unless the exclusion constraint is
    deferred too (``SET CONSTRAINTS <name> DEFERRED``).
    """
    if _DEFERRED.get() is not None:  # nested: the outermost block checks
        yield
        return
    touched: set[Any] = set()
    token = _DEFERRED.set(touched)
    try:
        with atomic(using=using):
            yield
            _DEFERRED.set(None)
            for model in sorted(touched, key=lambda m: m._meta.label):
                with typed_errors(model):
                    finalize(model)
    finally:
        _DEFERRED.reset(token)


def finalize(segment_model: Any) -> None:
    """Check this model's deferred constraints now, then defer them again.

    Inside `defer_checks` this only records the model; the block checks at its end.

    NOTE - ``SET CONSTRAINTS ... IMMEDIATE`` fires pending deferred trigger events at once;
    the exclusion constraint is ``INITIALLY IMMEDIATE`` and stays so.
    """
    with _cursor(segment_model) as cursor:
        send(cursor, _check(segment_model))


def _check(segment_model: Any) -> list[Statement]:
    """`finalize` as statements to send with others (none inside `defer_checks`)."""
    deferred = _DEFERRED.get()
    if deferred is not None:
        deferred.add(segment_model)
        return []
    t = tables(segment_model)
    # One entry: without parameters psycopg sends the string with the simple query
    # protocol, which runs both statements (and stops at the first error).
    sql = f"SET CONSTRAINTS {t.immediate} IMMEDIATE"
    if t.deferred:
        sql += f"; SET CONSTRAINTS {t.deferred} DEFERRED"
    return [(sql, None)]


_TUPLES_OK = pq.ExecStatus.TUPLES_OK

#: One statement and its parameters (None: no parameters, the SQL is sent as is).
Statement = tuple[str, "list[Any] | None"]


def send(cursor: Any, statements: list[Statement]) -> list[list[tuple[Any, ...]] | None]:
    """Run ``statements`` in order; return the rows of each statement (None if it returns
    none). Callers read the leading results: an entry that holds several statements
    (finalize's two ``SET CONSTRAINTS``) gives one result per statement when joined.

    With client-side binding (Django's default with psycopg 3) they go in one round trip:
    one string, sent with the simple query protocol, which runs the statements one after
    the other (each with its own snapshot) and stops at the first error. Otherwise (the
    ``server_side_binding`` option) each is sent on its own.
    """
    if not statements:
        return []
    if len(statements) > 1 and _one_string(cursor):
        sql, params = _joined(statements)
        cursor.execute(sql, params or None)
        results = [_rows(cursor)]
        while cursor.nextset():
            results.append(_rows(cursor))
        return results
    out = []
    for sql, ps in statements:
        cursor.execute(sql, ps)
        out.append(_rows(cursor))
    return out


def _rowcounts(cursor: Any, statements: Sequence[Statement]) -> list[int]:
    """Send ``statements`` as one string (client-side binding only, see `send`); return
    the row count of each statement, in order."""
    sql, params = _joined(statements)
    cursor.execute(sql, params or None)
    counts = [cursor.rowcount]
    while cursor.nextset():
        counts.append(cursor.rowcount)
    return counts


def _joined(statements: Sequence[Statement]) -> tuple[str, list[Any]]:
    """One string of ``statements`` and all their parameters, in order.

    NOTE - with parameters every statement's % is a placeholder; ours contain no other
    percent sign (values always travel as parameters), and Django escapes its own.
    """
    return "; ".join(sql for sql, _ in statements), [p for _, ps in statements for p in ps or []]


def _rows(cursor: Any) -> list[tuple[Any, ...]] | None:
    """The current result's rows; None for a statement that returns none.

    Read from psycopg's cursor under Django's: its result is in memory already (client
    cursors), and asking for ``description`` would build a column object per column."""
    raw = cursor.cursor
    result = raw.pgresult
    return raw.fetchall() if result is not None and result.status == _TUPLES_OK else None


def _leading_rows(cursor: Any, count: int) -> list[list[tuple[Any, ...]] | None]:
    """The rows of the first ``count`` statements of a string sent in front of another's,
    leaving the cursor on that statement's own result, where its caller reads."""
    leading = []
    for _ in range(count):
        leading.append(_rows(cursor))
        cursor.nextset()
    return leading


def _span_row(t: Tables, span_id: Any) -> Statement:
    """Read the span's bounds and deletion (check them with `_locked`)."""
    return (
        f"SELECT lower(current_range), upper(current_range), deleted_at FROM {t.span} WHERE {t.span_pk} = %s",
        [span_id],
    )


def _lock(t: Tables, span_id: Any) -> Statement:
    """Lock the span row and read its bounds (send it first; check it with `_locked`)."""
    sql, params = _span_row(t, span_id)
    return f"{sql} FOR NO KEY UPDATE", params


def _plain_lock(t: Tables, span_id: Any) -> list[Statement]:
    """Lock the span row without reading it, for a segment's own save or delete (a missing
    span is left to the foreign key); none when the segment names no span."""
    if span_id is None:
        return []
    return [(f"SELECT 1 FROM {t.span} WHERE {t.span_pk} = %s FOR NO KEY UPDATE", [span_id])]


def _locked(rows: Any, span_id: Any) -> tuple[Any, Any]:
    """The span's bounds from `_lock`'s rows; a missing or deleted span is an error.

    When the lock traveled with writing statements, raising here rolls them back with the
    operation's savepoint; they find nothing to write for a deleted span anyway (its
    segments are deleted too, and span updates require ``deleted_at IS NULL``).
    """
    if not rows:
        raise SegmentOperationError(f"span {span_id} does not exist")
    lower, upper, deleted_at = rows[0]
    if deleted_at is not None:
        raise SegmentOperationError(f"span {span_id} is deleted")
    return lower, upper


def _lock_span(cursor: Any, t: Tables, span_id: Any) -> tuple[Any, Any]:
    (rows,) = send(cursor, [_lock(t, span_id)])
    return _locked(rows, span_id)


@contextmanager
def checked_write(segment_model: Any, span_id: Any, *, check: bool = True) -> Iterator[None]:
    """Around a plain ``save()`` or ``delete()`` of one segment: lock its span row before
    the write and check after it (``check=False``: leave the check to the deferred
    triggers), in the write's round trip where the driver allows it (`_carried`).

    Operations lock the span first, and every writing statement on the segment table locks
    the spans it touched once its rows are written (`TouchSpansTrigger`); a plain save or
    delete that locked its segment row first would take the two locks in the opposite
    order and could deadlock with them. A missing span is left to the foreign key.
    """
    t = tables(segment_model)
    lock = _plain_lock(t, span_id)
    with _carried(segment_model, before=lock, after=_check(segment_model) if check else []):
        yield


@contextmanager
def _operation(segment_model: Any) -> Iterator[Any]:
    """The frame of every operation: typed errors and one transaction (a savepoint when
    nested). Yields a cursor; the operation sends `_lock` first."""
    with (
        typed_errors(segment_model),
        atomic(using=router.db_for_write(segment_model)),
        _cursor(segment_model) as cursor,
    ):
        yield cursor


def _delta_sql(t: Tables) -> str:
    if t.kind.name == "date":
        return "%s::integer"
    if t.kind.name == "datetime":
        return "%s::interval"
    return f"%s::{t.kind.sql_type}"


def _delta_param(t: Tables, delta: Any) -> Any:
    return delta.days if isinstance(delta, dt.timedelta) and t.kind.name == "date" else delta


def _remove_sql(t: Tables, where: str) -> str:
    if t.soft:
        return f"UPDATE {t.seg} SET deleted_at = now() WHERE deleted_at IS NULL AND {where}"
    return f"DELETE FROM {t.seg} WHERE deleted_at IS NULL AND {where}"


def _instances(model: Any, using: str, rows: list[tuple[Any, ...]]) -> list[Any]:
    """Model instances from rows of all concrete columns in field order (what ``RETURNING``
    gives back), with Django's field converters applied as a queryset would."""
    names, compiler, converters = _converters(model, using)
    values = compiler.apply_converters(rows, converters) if converters else rows
    return [model.from_db(using, names, tuple(row)) for row in values]


def _converters(
    model: Any, using: str, fields: Sequence[Any] | None = None
) -> tuple[list[str], Any, dict[int, Any]]:
    """Field names, compiler and converters of ``fields`` of ``model`` (default: all its
    concrete fields, `_instances`' rows) on ``using``, built once per connection
    (converters are bound to it; connections are per thread)."""
    cache: dict[Any, tuple[list[str], Any, dict[int, Any]]]
    cache = connections[using].__dict__.setdefault("_segments_converters", {})
    key = (model, None if fields is None else tuple(fields))
    if key not in cache:
        fields = model._meta.concrete_fields if fields is None else fields
        compiler = model._base_manager.db_manager(using).all().query.get_compiler(using)
        converters = compiler.get_converters([f.get_col(model._meta.db_table) for f in fields])
        cache[key] = ([f.attname for f in fields], compiler, converters)
    return cache[key]


def _adopt(instance: Any, rows: list[tuple[Any, ...]] | None) -> Any:
    """The rows an operation's statement wrote and returned (``RETURNING``): the one that
    is ``instance`` updates its fields in place; the other one is returned as an instance.
    None, and ``instance`` left as it is, if no other row was written (the operation is
    then refused and its savepoint takes back what the statement wrote)."""
    if not rows:
        return None
    model = type(instance)
    written = _instances(model, instance._state.db or router.db_for_write(model), rows)
    others = [row for row in written if row.pk != instance.pk]
    if not others:
        return None
    for row in written:
        if row.pk == instance.pk:
            for field in instance._meta.concrete_fields:
                setattr(instance, field.attname, getattr(row, field.attname))
    (other,) = others
    return other


# --- span operations ------------------------------------------------------------------


class _StaleBoundsError(Exception):
    """The span row read under the lock does not hold the bounds an operation assumed."""


def _assuming_bounds(span: Any, model: Any, attempt: Callable[[tuple[Any, Any] | None], Any]) -> Any:
    """Run an operation that needs the span's bounds, assuming the instance holds them.

    ``attempt(bounds)`` computes its statements from ``bounds`` and sends the lock with
    them, in one round trip; the span row read under the lock must show the same bounds,
    or it raises `_StaleBoundsError` and its savepoint takes the writes back.
    ``attempt(None)`` locks and reads the bounds first, in a round trip of its own: it
    runs when the instance does not hold the bounds (deferred, never saved), when they
    were stale, and when the first attempt was refused while the row's bounds were not
    the assumed ones (the refusal may have come from them). A refusal with the assumed
    bounds is the operation's own.
    """
    current = span.__dict__.get("current_range")
    lower, upper = getattr(current, "lower", None), getattr(current, "upper", None)
    if lower is None or upper is None:
        return attempt(None)
    try:
        return attempt((lower, upper))
    except _StaleBoundsError:
        pass
    except (SegmentsError, IntegrityError, DataError):
        if _bounds_now(model, span.pk) == (lower, upper):
            raise
    return attempt(None)


def _bounds_now(model: Any, span_id: Any) -> tuple[Any, Any] | None:
    """The span's bounds as committed now; None if it is missing or deleted."""
    with _cursor(model) as cursor:
        (rows,) = send(cursor, [_span_row(tables(model), span_id)])
    try:
        return _locked(rows, span_id)
    except SegmentOperationError:
        return None


def _as_assumed(span_id: Any, bounds: tuple[Any, Any], locked: Any) -> None:
    """Raise `_StaleBoundsError` unless the rows of `_lock` show ``bounds`` (see `_assuming_bounds`)."""
    if _locked(locked, span_id) != bounds:
        raise _StaleBoundsError


def _target(kind: RangeKind, to: Any, delta: Any, what: str) -> Callable[[Any], Any]:
    """Check ``to_value`` / ``delta_value`` of ``what`` now (exactly one, of the range's
    type); the returned function gives the new bound from the current one."""
    if (to is None) == (delta is None):
        raise RangeValueError(f"{what}: give exactly one of to_value or delta_value")
    if to is not None:
        value = kind.check_value(to, f"{what} to_value")
        return lambda current: value
    step = kind.check_delta(delta, f"{what} delta_value")
    return lambda current: current + step


def _bounds_first(
    cursor: Any, t: Tables, span_id: Any, assumed: tuple[Any, Any] | None
) -> tuple[tuple[Any, Any], list[Statement]]:
    """The span's bounds and the lock still to send: the assumed bounds and the lock, to
    travel with the writes, or (``assumed`` None) the bounds read under the lock now."""
    if assumed is None:
        return _lock_span(cursor, t, span_id), []
    return assumed, [_lock(t, span_id)]


def append(span: Any, to_value: Any, delta_value: Any, fields: dict[str, Any]) -> Any:
    """`AbstractSpan.append`: extend the span and insert the new last segment, with the
    lock in the same round trip when the instance's bounds are current (`_assuming_bounds`)."""
    model = span.segment_model()
    target = _target(tables(model).kind, to_value, delta_value, "append()")
    return _assuming_bounds(span, model, lambda assumed: _append(span, assumed, target, fields))


def _append(
    span: Any, assumed: tuple[Any, Any] | None, target: Callable[[Any], Any], fields: dict[str, Any]
) -> Any:
    model = span.segment_model()
    t = tables(model)
    kind = t.kind
    with _operation(model) as cursor:
        (lower, upper), lock = _bounds_first(cursor, t, span.pk, assumed)
        new_upper = target(upper)
        if not new_upper > upper:
            msg = f"append(): the new upper bound {new_upper} must be above the span's upper bound {upper}"
            raise IncorrectSpanRangeError(msg)
        with signals.nested(span, "span", "update", operation="append"):
            segment = model(
                span=span, segment_range=kind.make(upper, new_upper, "appended segment"), **fields
            )
            # Not segment.save(): the span is locked already and one check suffices. The
            # span is extended after the insert, with the check: the checks are deferred,
            # so the order does not matter, and it saves a round trip.
            extend = (
                f"UPDATE {t.span} SET current_range = {t.rng_of('lower(current_range)', t.val)}"
                f" WHERE {t.span_pk} = %s",
                [new_upper, span.pk],
            )
            verify = None if assumed is None else (lambda rows: _as_assumed(span.pk, assumed, rows[0]))
            _create_checked(segment, extend, before=lock, verify=verify, cursor=cursor)
            span.current_range = kind.make(lower, new_upper, "current_range")
    return segment


def shift_span(span: Any, delta_value: Any) -> None:
    """`AbstractSpan.shift_by_value`: two UPDATEs (span, its active segments)."""
    model = span.segment_model()
    t = tables(model)
    delta = _delta_param(t, t.kind.check_delta(delta_value, "shift_by_value() delta_value"))
    shifted = t.rng_of(f"lower({{c}}) + {_delta_sql(t)}", f"upper({{c}}) + {_delta_sql(t)}")
    with _operation(model) as cursor:
        with signals.nested(span, "span", "update", operation="shift_by_value"):
            # One round trip: lock, span (returning its new range), segments, check.
            locked, moved, *_ = send(
                cursor,
                [
                    _lock(t, span.pk),
                    (
                        f"UPDATE {t.span} SET current_range = {shifted.format(c='current_range')}"
                        f" WHERE {t.span_pk} = %s AND deleted_at IS NULL"
                        " RETURNING lower(current_range), upper(current_range)",
                        [delta, delta, span.pk],
                    ),
                    (
                        f"UPDATE {t.seg} SET {t.rng} = {shifted.format(c=t.rng)}"
                        f" WHERE {t.fk} = %s AND deleted_at IS NULL",
                        [delta, delta, span.pk],
                    ),
                    *_check(model),
                ],
            )
            _locked(locked, span.pk)
            # RETURNING gives rows: one, since the span is locked and not deleted.
            ((lower, upper),) = cast("list[tuple[Any, ...]]", moved)
        span.current_range = t.kind.make(lower, upper, "current_range")


def shift_span_bound(
    span: Any, bound: Literal["lower", "upper"], *, to: Any = None, delta: Any = None
) -> None:
    """Move one bound of a span; segments follow (removed, clipped or extended). One round
    trip when the instance's bounds are current (`_assuming_bounds`)."""
    model = span.segment_model()
    name = f"shift_{bound}_{'to' if to is not None else 'by'}_value()"
    target = _target(tables(model).kind, to, delta, name)
    _assuming_bounds(span, model, lambda assumed: _shift_bound(span, bound, assumed, name, target))


def _shift_bound(
    span: Any, bound: str, assumed: tuple[Any, Any] | None, name: str, target: Callable[[Any], Any]
) -> None:
    model = span.segment_model()
    t = tables(model)
    with _operation(model) as cursor:
        (lower, upper), lock = _bounds_first(cursor, t, span.pk, assumed)
        old = lower if bound == "lower" else upper
        value = target(old)
        new_lower, new_upper = (value, upper) if bound == "lower" else (lower, value)
        if not new_lower < new_upper:
            msg = f"{name}: the span would become empty: [{new_lower}, {new_upper})"
            raise IncorrectSpanRangeError(msg)
        with signals.nested(span, "span", "update", operation=name):
            results = send(
                cursor,
                [
                    *lock,
                    (
                        f"UPDATE {t.span} SET current_range = {t.rng_of(t.val, t.val)}"
                        f" WHERE {t.span_pk} = %s",
                        [new_lower, new_upper, span.pk],
                    ),
                    _follow_bound(t, span.pk, bound, old=old, new=value),
                    *_check(model),
                ],
            )
            if assumed is not None:
                _as_assumed(span.pk, assumed, results[0])
            span.current_range = t.kind.make(new_lower, new_upper, "current_range")


def _follow_bound(t: Tables, span_id: Any, bound: str, *, old: Any, new: Any) -> Statement:
    """One statement: remove segments beyond the new bound, and clip the one straddling it
    (shrinking) or extend the one at the old bound (growing).

    The predicates are ones the navigation index (``lower(segment_range)``) or the GiST
    exclusion index (``@>``, ``-|-``) answer, so the cost does not grow with the span.
    """
    v = t.val
    active = f"{t.fk} = %s AND deleted_at IS NULL"
    straddles = f"{t.rng} @> {v} AND lower({t.rng}) < {v}"
    if bound == "lower":
        beyond, beyond_params = f"lower({t.rng}) < {v} AND upper({t.rng}) <= {v}", [new, new]
        moved = t.rng_of(v, f"upper({t.rng})")
        if new > old:
            edge, edge_params = straddles, [new, new]
        else:
            edge, edge_params = f"lower({t.rng}) = {v}", [old]
    else:
        beyond, beyond_params = f"lower({t.rng}) >= {v}", [new]
        moved = t.rng_of(f"lower({t.rng})", v)
        if new < old:
            edge, edge_params = straddles, [new, new]
        else:
            edge, edge_params = f"{t.rng} -|- {t.rng_of(v, v)} AND upper({t.rng}) = {v}", [old, new, old]
    return (
        f"WITH removed AS ({_remove_sql(t, f'{active} AND {beyond}')} RETURNING 1)"
        f" UPDATE {t.seg} SET {t.rng} = {moved} WHERE {active} AND {edge}",
        [span_id, *beyond_params, new, span_id, *edge_params],
    )


def hard_delete_span(
    span: Any, using: str | None = None, keep_parents: bool = False
) -> tuple[int, dict[str, int]]:
    """``Model.delete()`` of a span whose rows go away (``soft_delete=False``).

    Django's collector deletes the segments (and other rows that cascade without signals)
    with one ``DELETE`` each, then the span, each in a round trip of its own. When that is
    all it would do (no other instance collected, no ``SET_NULL`` / ``SET_DEFAULT`` update),
    the same statements travel in one string; Django's ``pre_delete`` / ``post_delete`` of
    the span are sent around it, and the result is Django's ``(total, {label: count})``.
    Otherwise the collector deletes as usual. When the segments are the span's only
    relation and cascade without signals (`_segments_alone`), both ``DELETE``s are written
    by hand and the collector is not consulted.
    """
    model = type(span)
    if span.pk is None:
        raise ValueError(
            f"{model._meta.object_name} object can't be deleted because its pk attribute is set to None."
        )
    using = using or router.db_for_write(model, instance=span)
    connection = connections[using]
    pk = model._meta.pk
    with connection.cursor() as cursor:
        statements: list[Statement] = []
        labels = []
        one_string = _one_string(cursor)
        fk = _segments_alone(model, using, span) if one_string else None
        if fk is not None:
            segment_model = fk.model
            statements.append(
                (
                    f"DELETE FROM {qn(segment_model._meta.db_table)} WHERE {qn(fk.column)} = %s",
                    [fk.target_field.get_db_prep_value(span.pk, connection)],
                )
            )
            labels.append(segment_model._meta.label)
        else:
            collector = Collector(using=using, origin=span)
            collector.collect([span], keep_parents=keep_parents)
            alone = (
                one_string
                and list(collector.data) == [model]
                and list(collector.data[model]) == [span]
                and not collector.field_updates
                and all(isinstance(qs, QuerySet) for qs in collector.fast_deletes)
            )
            if not alone:
                return collector.delete()
            for qs in collector.fast_deletes:
                query = qs.query.clone()
                query.__class__ = DeleteQuery
                sql, params = query.get_compiler(using).as_sql()
                statements.append((sql, list(params)))
                labels.append(qs.model._meta.label)
        statements.append(
            (
                f"DELETE FROM {qn(model._meta.db_table)} WHERE {qn(pk.column)} = %s",
                [pk.get_db_prep_value(span.pk, connection)],
            )
        )
        labels.append(model._meta.label)
        model_signals.pre_delete.send(sender=model, instance=span, using=using, origin=span)
        counts = _rowcounts(cursor, statements)
    deleted: dict[str, int] = {}
    for label, count in zip(labels, counts, strict=True):
        if count:
            deleted[label] = deleted.get(label, 0) + count
    model_signals.post_delete.send(sender=model, instance=span, using=using, origin=span)
    span.pk = None
    return sum(deleted.values()), deleted


def _segments_alone(model: Any, using: str, span: Any) -> Any:
    """The segments' foreign key when Django's collector would do nothing but fast-delete
    the span's segments by that key and then delete the span: the span model has no
    parents and no other relation to follow (reverse foreign keys, many-to-many tables,
    generic relations), the key cascades, and the segment model can be fast-deleted (no
    delete signal listeners, no relations of its own). None otherwise."""
    meta = model._meta
    if meta.parents or any(hasattr(f, "bulk_related_objects") for f in meta.private_fields):
        return None
    relations = list(get_candidate_relations_to_delete(meta))
    if len(relations) != 1:
        return None
    field = cast(Any, relations[0]).field
    segment_model = getattr(model, "_segment_model", None)
    if field.model is not segment_model or field.remote_field.on_delete is not CASCADE:
        return None
    segments = segment_model._base_manager.using(using).all()
    if not Collector(using=using, origin=span).can_fast_delete(segments, from_field=field):
        return None
    return field


def soft_delete_span(span: Any) -> None:
    """Soft-delete a span and its active segments (lock, two UPDATEs, check: one round trip)."""
    model = span.segment_model()
    t = tables(model)
    with _cursor(model) as cursor:
        locked, *_ = send(
            cursor,
            [
                _lock(t, span.pk),
                (
                    f"UPDATE {t.seg} SET deleted_at = now() WHERE {t.fk} = %s AND deleted_at IS NULL",
                    [span.pk],
                ),
                (
                    f"UPDATE {t.span} SET deleted_at = now() WHERE {t.span_pk} = %s AND deleted_at IS NULL",
                    [span.pk],
                ),
                *_check(model),
            ],
        )
        _locked(locked, span.pk)
    span.deleted_at = timezone.now()


# --- segment operations ---------------------------------------------------------------


def removal_checked(segment_model: Any) -> bool:
    """Whether removing a segment needs the check: only where gaps are forbidden.

    Removing segments cannot put one outside its span, so with both kinds of gaps allowed
    the check cannot fail and is left to the deferred triggers.
    """
    options = segment_model._span_options()
    return not (options.allow_span_gaps and options.allow_segment_gaps)


def hard_delete_segment(
    segment: Any, using: str | None = None, keep_parents: bool = False
) -> tuple[int, dict[str, int]] | None:
    """``Model.delete()`` of a segment whose row goes away, where Django would take its
    fast path (no delete signal listeners, no relations to follow, no parents): the span's
    lock, the ``DELETE`` of the row by key and the check travel in one string, the
    ``DELETE`` written by hand rather than compiled by Django's query classes. Returns
    Django's ``(count, {label: count})`` and clears the instance's key, as Django does;
    None where Django must delete it (then `checked_write` frames Django's delete)."""
    model = type(segment)
    if segment.pk is None or model._meta.parents:
        return None
    using = using or router.db_for_write(model, instance=segment)
    if not Collector(using=using, origin=segment).can_fast_delete(segment):
        return None
    connection = connections[using]
    t = tables(model)
    statements = _plain_lock(t, segment.span_id)
    at = len(statements)
    statements.append(
        (
            f"DELETE FROM {t.seg} WHERE {t.seg_pk} = %s",
            [model._meta.pk.get_db_prep_value(segment.pk, connection)],
        )
    )
    statements.extend(_check(model) if removal_checked(model) else [])
    with connection.cursor() as cursor:
        if not _one_string(cursor):
            return None
        count = _rowcounts(cursor, statements)[at]
    segment.pk = None
    return count, {model._meta.label: count}


def soft_delete_segment(segment: Any) -> None:
    """Soft-delete one segment."""
    model = type(segment)
    t = tables(model)
    with _cursor(model) as cursor:
        locked, *_ = send(
            cursor,
            [
                _lock(t, segment.span_id),
                (
                    f"UPDATE {t.seg} SET deleted_at = now() WHERE {t.seg_pk} = %s AND deleted_at IS NULL",
                    [segment.pk],
                ),
                *(_check(model) if removal_checked(model) else []),
            ],
        )
        _locked(locked, segment.span_id)
    segment.deleted_at = timezone.now()


def _copy_lists(
    t: Tables, fields_to_copy: list[str] | None, connection: Any
) -> tuple[list[str], list[str], list[Any]]:
    """Columns and SELECT expressions for a copied row, plus parameters for defaults."""
    columns, exprs, params = [], [], []
    names = None if fields_to_copy is None else set(fields_to_copy)
    known = {f.name for f in t.copy_fields}
    if names is not None and names - known:
        msg = f"fields_to_copy names unknown fields: {sorted(names - known)}; copyable: {sorted(known)}"
        raise RangeValueError(msg)
    for field, column in zip(t.copy_fields, t.copy_columns, strict=True):
        columns.append(column)
        if names is None or field.name in names:
            exprs.append(f"s.{column}")
        else:
            exprs.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    return columns, exprs, params


def split(segment: Any, split_value: Any, fields_to_copy: list[str] | None) -> Any:
    """`AbstractSegment.split`: one statement shrinks the segment and inserts the upper part."""
    model = type(segment)
    t = tables(model)
    value = t.kind.check_value(split_value, "split_value")
    columns, exprs, defaults = _copy_lists(t, fields_to_copy, connections[router.db_for_write(model)])
    extra_cols = "".join(f", {c}" for c in columns)
    extra_vals = "".join(f", {e}" for e in exprs)
    v = t.val
    sql = (
        f"WITH old AS (SELECT {t.seg_pk} AS id, upper({t.rng}) AS up FROM {t.seg}"
        f" WHERE {t.seg_pk} = %s AND deleted_at IS NULL AND lower({t.rng}) < {v} AND upper({t.rng}) > {v}),"
        f" shrunk AS (UPDATE {t.seg} SET {t.rng} = {t.rng_of(f'lower({t.rng})', v)}"
        f" FROM old WHERE {t.seg}.{t.seg_pk} = old.id RETURNING {t.seg}.*, old.up AS segments_up),"
        f" added AS (INSERT INTO {t.seg} ({t.fk}, {t.rng}{extra_cols})"
        f" SELECT s.{t.fk}, {t.rng_of(v, 'shrunk.segments_up')}{extra_vals} FROM {t.seg} AS s, shrunk"
        f" WHERE s.{t.seg_pk} = %s RETURNING *)"
        f" SELECT {t.columns} FROM shrunk UNION ALL SELECT {t.columns} FROM added"
    )
    params = [segment.pk, value, value, value, value, *defaults, segment.pk]
    with _operation(model) as cursor:
        with signals.nested(segment, "segment", "update", "split", split_value=value):
            new = _write_returning(cursor, segment, (sql, params))
            if new is None:
                raise _not_inside(cursor, t, segment, value)
        return new


def _write_returning(cursor: Any, segment: Any, write: Statement) -> Any:
    """One round trip: lock the segment's span, ``write`` (which returns the rows it wrote),
    check. ``segment`` is updated from its own row; the other written row is returned
    (None if nothing was written)."""
    model = type(segment)
    locked, written, *_ = send(cursor, [_lock(tables(model), segment.span_id), write, *_check(model)])
    _locked(locked, segment.span_id)
    return _adopt(segment, written)


def _not_inside(cursor: Any, t: Tables, segment: Any, value: Any) -> Exception:
    cursor.execute(
        f"SELECT {t.rng}::text, deleted_at IS NOT NULL FROM {t.seg} WHERE {t.seg_pk} = %s",
        [segment.pk],
    )
    row = cursor.fetchone()
    if row is None or row[1]:
        return SegmentOperationError(f"segment {segment.pk} does not exist or is deleted")
    return IncorrectSegmentRangeError(
        f"split value {value} must lie strictly inside segment {segment.pk}'s range {row[0]}"
    )


def merge(segment: Any, into: Literal["lower", "upper"]) -> Any:
    """Remove ``segment`` and stretch its lower or upper neighbour over it (one statement)."""
    model = type(segment)
    t = tables(model)
    if into == "lower":
        pick = f"lower(s.{t.rng}) < lower(gone.r) ORDER BY lower(s.{t.rng}) DESC"
        stretched = t.rng_of(f"lower({t.seg}.{t.rng})", "upper(gone.r)")
    else:
        pick = f"lower(s.{t.rng}) > lower(gone.r) ORDER BY lower(s.{t.rng}) ASC"
        stretched = t.rng_of("lower(gone.r)", f"upper({t.seg}.{t.rng})")
    mine = f"{t.seg_pk} = %s AND {t.fk} = %s AND deleted_at IS NULL"
    columns = ", ".join(f"{t.seg}.{qn(f.column)}" for f in model._meta.concrete_fields)
    # NOTE - the neighbour is a scalar subquery on the removed row's bound, with the span
    # id a parameter: one ordered probe of the navigation index. The statement does not
    # look for it before removing the segment: without a neighbour nothing is stretched,
    # and the operation is refused (its savepoint takes the removal back).
    stretch = (
        f"UPDATE {t.seg} SET {t.rng} = {stretched} FROM gone"
        f" WHERE {t.seg}.{t.seg_pk} = (SELECT s.{t.seg_pk} FROM {t.seg} AS s"
        f" WHERE s.{t.fk} = %s AND s.deleted_at IS NULL AND {pick} LIMIT 1)"
        f" RETURNING {columns}"
    )
    if t.soft:
        # The removed row comes back too, with its deleted_at, so the caller's instance
        # is updated from the same statement.
        sql = (
            f"WITH gone AS (UPDATE {t.seg} SET deleted_at = now() WHERE {mine}"
            f" RETURNING {columns}, {t.rng} AS r), stretched AS ({stretch})"
            f" SELECT {t.columns} FROM gone UNION ALL SELECT {t.columns} FROM stretched"
        )
    else:
        sql = f"WITH gone AS (DELETE FROM {t.seg} WHERE {mine} RETURNING {t.rng} AS r) {stretch}"
    try:
        with _operation(model) as cursor:
            with signals.nested(segment, "segment", "update", "merge", into=into):
                neighbour = _write_returning(
                    cursor, segment, (sql, [segment.pk, segment.span_id, segment.span_id])
                )
                if neighbour is None:
                    raise _NothingStretchedError
            return neighbour
    except (_NothingStretchedError, RangeIntegrityError) as exc:
        # Refused, and the savepoint took the removal back. Without a neighbour the
        # removal alone may have failed the check that traveled with it (a gap): say
        # what was wrong, from the segment as it is again.
        with _cursor(model) as cursor:
            reason = _no_neighbour(cursor, t, segment, into)
        if reason is not None:
            raise reason from None
        if isinstance(exc, _NothingStretchedError):  # pragma: no cover - a neighbour now, none then
            raise SegmentOperationError(
                f"segment {segment.pk}: the {into} neighbour went away; try again"
            ) from None
        raise


class _NothingStretchedError(Exception):
    """`merge` stretched no neighbour: it is refused (`_no_neighbour` says why)."""


def _no_neighbour(cursor: Any, t: Tables, segment: Any, into: str) -> Exception | None:
    """Why ``segment`` cannot be merged into its ``into`` neighbour; None if it can."""
    side = "<" if into == "lower" else ">"
    cursor.execute(
        f"SELECT me.deleted_at IS NOT NULL, EXISTS (SELECT 1 FROM {t.seg} AS s WHERE s.{t.fk} = me.{t.fk}"
        f" AND s.deleted_at IS NULL AND lower(s.{t.rng}) {side} lower(me.{t.rng}))"
        f" FROM {t.seg} AS me WHERE me.{t.seg_pk} = %s",
        [segment.pk],
    )
    row = cursor.fetchone()
    if row is None or row[0]:
        return SegmentOperationError(f"segment {segment.pk} does not exist or is deleted")
    if row[1]:
        return None
    position = "first" if into == "lower" else "last"
    return SegmentOperationError(
        f"segment {segment.pk} is the {position} segment of span {segment.span_id}: "
        f"there is no {into} neighbour to merge into"
    )


def shift_segment(
    segment: Any,
    *,
    to_lower: Any = None,
    to_upper: Any = None,
    delta_lower: Any = None,
    delta_upper: Any = None,
) -> None:
    """Move a segment's bounds; touching (or newly overlapped) neighbours follow."""
    model = type(segment)
    t = tables(model)
    kind = t.kind
    name = _shift_name(to_lower, to_upper, delta_lower, delta_upper)
    with _operation(model) as cursor:
        me, prev, nxt = _neighbourhood(cursor, t, segment)
        lo = _new_bound(kind, me[1], to_lower, delta_lower, "lower")
        hi = _new_bound(kind, me[2], to_upper, delta_upper, "upper")
        if not lo < hi:
            raise IncorrectSegmentRangeError(f"{name}: segment {segment.pk} would become empty: [{lo}, {hi})")
        updates = [(me[0], lo, hi)]
        if prev and (prev[2] == me[1] or lo < prev[2]):
            updates.append(_follow(prev, prev[1], lo, segment, "preceding"))
        if nxt and (nxt[1] == me[2] or hi > nxt[1]):
            updates.append(_follow(nxt, hi, nxt[2], segment, "following"))
        with signals.nested(segment, "segment", "update", operation="shift"):
            values = ", ".join(f"(%s, {t.val}, {t.val})" for _ in updates)
            update = (
                f"UPDATE {t.seg} SET {t.rng} = {t.rng_of('v.lo', 'v.hi')}"
                f" FROM (VALUES {values}) AS v(id, lo, hi) WHERE {t.seg}.{t.seg_pk} = v.id",
                [p for row in updates for p in row],
            )
            send(cursor, [update, *_check(model)])
        segment.segment_range = kind.make(lo, hi, "segment_range")


def _shift_name(to_lower: Any, to_upper: Any, delta_lower: Any, delta_upper: Any) -> str:
    """The public method a segment shift came from, for error messages."""
    if delta_lower is not None and delta_upper is not None:
        return "shift_by_value()"
    if to_lower is None and to_upper is None and delta_lower is None and delta_upper is None:
        # Every public method passes its one argument on; None here is the caller's None.
        raise RangeValueError("segment shift: delta_value / to_value must not be None")
    bound = "lower" if to_lower is not None or delta_lower is not None else "upper"
    how = "to" if to_lower is not None or to_upper is not None else "by"
    return f"shift_{bound}_{how}_value()"


def _neighbourhood(cursor: Any, t: Tables, segment: Any) -> tuple[Any, Any, Any]:
    """Lock the span, then read (id, lower, upper) of the segment and of its active
    neighbours (one round trip; the read is one query of three probes: the segment by key,
    its neighbours through the navigation index)."""
    active = f"{t.fk} = %s AND deleted_at IS NULL"
    cols = f"{t.seg_pk}, lower({t.rng}), upper({t.rng})"
    # NOTE - the bound as a scalar subquery, like merge's, keeps each neighbour one ordered
    # probe of the navigation index.
    here = "(SELECT lo FROM me)"
    read = (
        f"WITH me AS (SELECT {t.seg_pk} AS id, lower({t.rng}) AS lo, upper({t.rng}) AS hi FROM {t.seg}"
        f" WHERE {t.seg_pk} = %s AND {active})"
        f" (SELECT 0, id, lo, hi FROM me)"
        f" UNION ALL (SELECT -1, {cols} FROM {t.seg} WHERE {active} AND lower({t.rng}) < {here}"
        f" ORDER BY lower({t.rng}) DESC LIMIT 1)"
        f" UNION ALL (SELECT 1, {cols} FROM {t.seg} WHERE {active} AND lower({t.rng}) > {here}"
        f" ORDER BY lower({t.rng}) ASC LIMIT 1)",
        [segment.pk, segment.span_id, segment.span_id, segment.span_id],
    )
    locked, rows = send(cursor, [_lock(t, segment.span_id), read])
    _locked(locked, segment.span_id)
    me = prev = nxt = None
    for which, row_id, lo, hi in rows or []:
        if which == 0:
            me = (row_id, lo, hi)
        elif which < 0:
            prev = (row_id, lo, hi)
        else:
            nxt = (row_id, lo, hi)
    if me is None:
        raise SegmentOperationError(f"segment {segment.pk} does not exist or is deleted")
    return me, prev, nxt


def _new_bound(kind: RangeKind, current: Any, to: Any, delta: Any, which: str) -> Any:
    if to is not None:
        return kind.check_value(to, f"new {which} bound")
    if delta is not None:
        return current + kind.check_delta(delta, f"{which} delta_value")
    return current


def _follow(neighbour: Any, lo: Any, hi: Any, segment: Any, which: str) -> tuple[Any, Any, Any]:
    if not lo < hi:
        msg = (
            f"moving segment {segment.pk} would empty its {which} neighbour {neighbour[0]} "
            f"[{neighbour[1]}, {neighbour[2]}); merge it first"
        )
        raise SegmentOperationError(msg)
    return (neighbour[0], lo, hi)


def insert(model: Any, span: Any, segment_range: Any, fields: dict[str, Any]) -> Any:
    """`AbstractSegment.insert`: one statement removes covered segments, clips overlapped
    ones and cuts a straddling one in two; then the new segment is inserted."""
    t = tables(model)
    rng = t.kind.coerce(segment_range, "segment_range")
    new = model(span=span, segment_range=rng, **fields)
    try:
        _insert(model, span, new)
    except ContainmentError as exc:
        # The check ran in the same round trip as the lock, so a range outside the span,
        # or a deleted span, is refused by it first; say which, as a check before writing
        # would have (the savepoint rolled back, so the span is read again).
        raise _refused_insert(model, t, span.pk, rng.lower, rng.upper) or exc from exc
    return new


def _insert(model: Any, span: Any, new: Any) -> None:
    t = tables(model)
    a, b = new.segment_range.lower, new.segment_range.upper
    with _operation(model) as cursor:
        params = [span.pk, a, b, b, span.pk, a, b, a, b, a, a, b, span.pk, a, b, a, b]
        ran: list[Any] = []  # the result of the lock, once it is in
        _create_checked(
            new,
            before=[_lock(t, span.pk)],
            prefix=(_insert_sql(t), params),
            verify=ran.extend,
            specific="insert",
            cursor=cursor,
        )
        lower, upper = _locked(ran[0], span.pk)
        if not (lower <= a and b <= upper):  # inside defer_checks: no check ran yet
            raise _outside(span.pk, a, b, lower, upper)


@functools.cache
def _insert_sql(t: Tables) -> str:
    """`insert`'s ``WITH`` clause that removes, cuts and clips what the new range covers
    (built once per model); the new segment's ``INSERT`` is the statement it belongs to
    (`_create_checked`'s ``prefix``).

    The parts write disjoint rows, so one statement can hold them; every predicate is one
    the GiST exclusion index answers (@>, <@, &&), so the cost does not grow with the span.
    In one statement the inserts share one firing of the statement-level insert trigger,
    and the exclusion constraint (deferrable) is checked once the statement has written
    every part. The lock, this statement and the check travel in one round trip.
    """
    columns, exprs, _ = _copy_lists(t, None, None)
    extra_cols = "".join(f", {c}" for c in columns)
    extra_vals = "".join(f", {e}" for e in exprs)
    v = t.val
    removed = _remove_sql(t, f"{t.fk} = %s AND {t.rng} <@ {t.rng_of(v, v)}")
    cut = (
        f"WITH removed AS ({removed} RETURNING 1),"
        f" cut AS (INSERT INTO {t.seg} ({t.fk}, {t.rng}{extra_cols})"
        f" SELECT s.{t.fk}, {t.rng_of(v, f'upper(s.{t.rng})')}{extra_vals} FROM {t.seg} AS s"
        f" WHERE s.{t.fk} = %s AND s.deleted_at IS NULL"
        f" AND s.{t.rng} @> {t.rng_of(v, v)}"
        f" AND lower(s.{t.rng}) < {v} AND upper(s.{t.rng}) > {v}"
        " RETURNING 1)"
    )
    clip = (
        f"clip AS (UPDATE {t.seg} SET {t.rng} = CASE WHEN lower({t.rng}) < {v}"
        f" THEN {t.rng_of(f'lower({t.rng})', v)} ELSE {t.rng_of(v, f'upper({t.rng})')} END"
        f" WHERE {t.fk} = %s AND deleted_at IS NULL AND {t.rng} && {t.rng_of(v, v)}"
        f" AND NOT {t.rng} <@ {t.rng_of(v, v)} RETURNING 1)"
    )
    return f"{cut}, {clip}"


def _row_values(
    instance: Any, connection: Any, *, omit: Any = None
) -> tuple[list[str], list[str], list[Any]] | None:
    """Columns, placeholders and parameters of a new row as Django's save would insert it
    (defaults, field ``pre_save``), for an ``INSERT`` written by hand (``omit``: a field
    left out, e.g. the span key of a segment whose statement supplies it). None where
    Django must save it: something listens to its ``pre_save`` or ``post_save``, it has
    parent models, its key is given, or a value is an expression.

    A field left to its database default (``db_default``) is left out of the columns, as
    ``DEFAULT`` is in a one-row ``INSERT``; the caller reads it back with ``RETURNING``.
    """
    model = type(instance)  # Django sends the save signals for it, a proxy too
    meta = model._meta.concrete_model._meta  # and saves its concrete model's row
    if meta.parents or any(s.has_listeners(model) for s in (model_signals.pre_save, model_signals.post_save)):
        return None
    # As Django's save: refuse an unsaved related object, take the key of one saved since.
    instance._prepare_related_fields_for_save(
        operation_name="save", fields=[f for f in meta.concrete_fields if f is not omit]
    )
    columns, placeholders, params = [], [], []
    for field in meta.local_concrete_fields:
        if field is omit or getattr(field, "generated", False):
            continue
        if field is meta.auto_field:
            if getattr(instance, field.attname) is None:
                continue  # the database assigns it
            return None  # a key given for a new row: Django decides between UPDATE and INSERT
        value = field.pre_save(instance, add=True)
        if isinstance(value, DatabaseDefault):
            continue
        if hasattr(value, "resolve_expression"):  # an expression: Django compiles it
            return None
        value = field.get_db_prep_save(value, connection=connection)
        columns.append(qn(field.column))
        placeholders.append(
            field.get_placeholder(value, None, connection) if hasattr(field, "get_placeholder") else "%s"
        )
        params.append(value)
    return columns, placeholders, params


def insert_new(
    instance: Any,
    *,
    force_insert: Any = False,
    force_update: bool = False,
    using: str | None = None,
    update_fields: Any = None,
) -> bool:
    """Insert a new ``instance`` (a span) with an ``INSERT`` written here, where Django's
    ``save()`` would take its plain path (`_row_values`; a database-assigned key; no
    ``update_fields``, ``force_update`` or ``order_with_respect_to``): the same statement,
    the same returned columns (``RETURNING`` the key, database defaults and generated
    fields) and the same instance state, without the insert query's machinery. False, and
    nothing done, where Django must save it.
    """
    meta = instance._meta.concrete_model._meta
    if (
        force_update
        or update_fields is not None
        or not instance._state.adding
        or meta.order_with_respect_to is not None
        or meta.pk is not meta.auto_field
    ):
        return False
    using = using or router.db_for_write(type(instance), instance=instance)
    connection = connections[using]
    row = _row_values(instance, connection)
    if row is None:
        return False
    columns, placeholders, params = row
    returning = meta.db_returning_fields
    values = f"({', '.join(columns)}) VALUES ({', '.join(placeholders)})" if columns else "DEFAULT VALUES"
    sql = (
        f"INSERT INTO {qn(meta.db_table)} {values}"
        f" RETURNING {', '.join(qn(field.column) for field in returning)}"
    )
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchone()
    _saved(instance, using, [returned], returning)
    return True


def _saved(instance: Any, using: str, rows: Any, fields: Sequence[Any] | None = None) -> None:
    """Update a new ``instance`` from the row an ``INSERT ... RETURNING`` wrote, as Django's
    save would (its key, the state of a saved instance); ``fields``: the returned columns'
    fields, when not all concrete ones."""
    names, compiler, converters = _converters(type(instance), using, fields)
    (row,) = compiler.apply_converters(rows, converters) if converters else rows
    for name, value in zip(names, row, strict=True):
        setattr(instance, name, value)
    instance._state.adding = False
    instance._state.db = using


def _outside(span_id: Any, a: Any, b: Any, lower: Any, upper: Any) -> IncorrectSegmentRangeError:
    return IncorrectSegmentRangeError(
        f"insert(): range [{a}, {b}) must lie inside span {span_id}'s range [{lower}, {upper})"
    )


def _refused_insert(model: Any, t: Tables, span_id: Any, a: Any, b: Any) -> Exception | None:
    """Why an insert's check refused it, if the span row tells: None for another reason."""
    with _cursor(model) as cursor:
        (rows,) = send(cursor, [_span_row(t, span_id)])
    try:
        lower, upper = _locked(rows, span_id)
    except SegmentOperationError as exc:
        return exc
    return None if lower <= a and b <= upper else _outside(span_id, a, b, lower, upper)


@contextmanager
def first_segment(span: Any, *, check: bool = True) -> Iterator[None]:
    """Around Django's save of a new span that forbids gaps: create the segment covering it
    (``check=False``: leave its check to the deferred triggers, see `AbstractSpan.save`).

    When the database assigns the span's key and nothing listens to the segment's save
    signals (Django's ``pre_save`` / ``post_save``, ``segment_pre/post_create``), the
    segment's ``INSERT`` travels inside the span's: Django's statement becomes the first
    part of one statement that inserts both (`_with_first_segment`). Otherwise the segment
    is inserted after the span, in a round trip of its own (`create_first_segment`).
    """
    model = span.segment_model()
    connection = connections[router.db_for_write(model)]
    values = None
    listened = (signals.segment_pre_create, signals.segment_post_create)
    if span.pk is None and not check and not any(s.has_listeners(model) for s in listened):
        values = _row_values(
            model(span=span, segment_range=span.current_range), connection, omit=model._meta.get_field("span")
        )
    if values is None:
        yield
        create_first_segment(span, check=check)
        return
    carried: list[bool] = []
    wrapper = _with_first_segment(model, values, carried)
    connection.execute_wrappers.insert(0, wrapper)
    try:
        yield
    finally:
        connection.execute_wrappers.remove(wrapper)
    if not carried:  # Django's statement was not the one expected: save it as usual
        create_first_segment(span, check=check)


def _with_first_segment(
    model: Any, values: tuple[list[str], list[str], list[Any]], carried: list[bool]
) -> Any:
    """An execute wrapper that turns Django's ``INSERT`` of the span into one statement that
    inserts the span and its covering segment: ``WITH s AS (<Django's INSERT ...
    RETURNING>), g AS (INSERT INTO <segments> (<span key>, ...) SELECT s.<key>, ... FROM s)
    SELECT * FROM s``. Django reads the span's returned columns as from its own statement;
    Postgres runs a writing ``WITH`` part whether or not the query reads it."""
    t = tables(model)
    columns, placeholders, params = values
    head = f"INSERT INTO {t.span} "
    extra = "".join(f", {c}" for c in columns)
    extra_values = "".join(f", {p}" for p in placeholders)

    def carry(execute: Any, sql: str, sql_params: Any, many: bool, context: Any) -> Any:
        if carried or many or not sql.startswith(head) or " RETURNING " not in sql:
            return execute(sql, sql_params, many, context)
        carried.append(True)
        joined = (
            f"WITH s AS ({sql}),"
            f" g AS (INSERT INTO {t.seg} ({t.fk}{extra}) SELECT s.{t.span_pk}{extra_values} FROM s)"
            " SELECT * FROM s"
        )
        return execute(joined, [*(sql_params or []), *params], many, context)

    return carry


def create_first_segment(span: Any, *, check: bool = True) -> Any:
    """The segment covering a new span that forbids gaps, checked once with the span
    (``check=False``: left to the deferred checks, see `AbstractSpan.save`).

    Not ``segment.save()``: the span row was inserted by this transaction, so no other
    transaction can see it, and locking it or opening another savepoint buys nothing.
    """
    segment = span.segment_model()(span=span, segment_range=span.current_range)
    _create_checked(segment, check=check)
    return segment


def _create_checked(
    segment: Any,
    *then: Statement,
    check: bool = True,
    before: Sequence[Statement] = (),
    verify: Callable[[list[Any]], None] | None = None,
    specific: str | None = None,
    cursor: Any = None,
    prefix: Statement | None = None,
) -> None:
    """Insert a new segment whose span is locked (or new, or locked by ``before``), with
    its create signals; ``before``, ``then`` and the check travel with the ``INSERT``
    (ours, or Django's where it must save the segment: `_row_values`; ours on ``cursor``,
    the operation's, when given). ``verify`` gets the results of ``before`` once they are
    in. ``prefix`` is a ``WITH`` clause of data-modifying statements: our ``INSERT`` is
    its statement; before Django's save it runs as a statement of its own (``SELECT 1``)."""
    model = type(segment)
    using = router.db_for_write(model)
    after = [*then, *(_check(model) if check else [])]
    with signals.nested(segment, "segment", "create", specific):
        row = _row_values(segment, connections[using])
        if row is None:
            if prefix is not None:
                before = [*before, (f"{prefix[0]} SELECT 1", prefix[1])]
            with _carried(model, before=before, after=after, verify=verify):
                _base_save(segment)
            return
        t = tables(model)
        columns, placeholders, values = row
        head, head_values = (f"{prefix[0]} ", prefix[1] or []) if prefix is not None else ("", [])
        insert = (
            f"{head}INSERT INTO {t.seg} ({', '.join(columns)})"
            f" VALUES ({', '.join(placeholders)}) RETURNING {t.columns}",
            [*head_values, *values],
        )
        with nullcontext(cursor) if cursor is not None else _cursor(model) as on:
            results = send(on, [*before, insert, *after])
        if verify is not None and before:
            verify(results[: len(before)])
        _saved(segment, using, results[len(before)])


@contextmanager
def _carried(
    segment_model: Any,
    *,
    before: Sequence[Statement] = (),
    after: Sequence[Statement] = (),
    verify: Callable[[list[Any]], None] | None = None,
) -> Iterator[list[Any]]:
    """Send ``before`` and ``after`` in the round trip of the ORM's write of one segment
    inside the block. Yields the results of ``before`` (single statements), filled once
    it ran; ``verify`` gets them then, before Django reads its own result (so an error it
    raises comes before ``post_save``).

    The segment is saved or deleted by Django (field ``pre_save``, signals, returned
    columns, the delete collector); an execute wrapper, outermost so that other wrappers
    and the query log see what is sent, joins ``before`` to the block's first statement
    when it writes the segment table, and leaves the cursor on that statement's result,
    where Django reads the returned key or the row count. ``after`` joins an ``INSERT``,
    the last statement of Django's save of a new row; after an ``UPDATE`` (a save may
    insert next) or a ``DELETE`` it is sent when the block ends. Without client-side
    binding, or when the first statement is something else (a ``pre_save`` receiver that
    queries), ``before`` is sent on its own first.

    NOTE - a check in ``after`` runs before ``post_save`` receivers: what they write is
    checked by the deferred triggers (at commit or the next check), not by this operation.
    """
    connection = connections[router.db_for_write(segment_model)]
    table = tables(segment_model).seg
    heads = (f"INSERT INTO {table} ", f"UPDATE {table} SET ", f"DELETE FROM {table} WHERE ")
    results: list[Any] = []
    state = {"first": True, "after": bool(after)}

    def ran(rows: list[Any]) -> None:
        results.extend(rows)
        if verify is not None and before:
            verify(results)

    def carry(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        cursor = context["cursor"]
        if not state["first"]:
            return execute(sql, params, many, context)
        state["first"] = False
        if many or not sql.startswith(heads) or not _one_string(cursor):
            ran(send(cursor, list(before)))
            return execute(sql, params, many, context)
        tail = list(after) if sql.startswith(heads[0]) else []
        if not before and not tail:
            return execute(sql, params, many, context)
        joined, values = _joined([*before, (sql, list(params or [])), *tail])
        out = execute(joined, values, many, context)
        ran(_leading_rows(cursor, len(before)))
        state["after"] = state["after"] and not tail
        return out

    connection.execute_wrappers.insert(0, carry)
    try:
        yield results
    finally:
        connection.execute_wrappers.remove(carry)
    if state["first"] and before:  # nothing was written: the lock is still taken
        with connection.cursor() as cursor:
            ran(send(cursor, list(before)))
    if state["after"]:
        with connection.cursor() as cursor:
            send(cursor, list(after))


def _one_string(cursor: Any) -> bool:
    """Whether ``cursor`` (Django's) can send several statements with parameters at once."""
    return isinstance(getattr(cursor, "cursor", None), psycopg.ClientCursor)


def _base_save(instance: Any) -> None:
    """Save without the segment's own signals (the operation sends its own)."""
    from django_segments.ranges.models import AbstractSegment  # noqa: PLC0415

    super(AbstractSegment, instance).save()
