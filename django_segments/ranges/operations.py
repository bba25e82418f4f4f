"""Set-based range operations.

Each operation is one string (segment shifts: two): the span's lock, one writing statement
that reads the locked span row and computes what to write (``sql/operations.sql``), and
the check, framed by the operation's own transaction (`wire.Frame`): a savepoint inside a
transaction, the string itself in autocommit. A violation surfaces here as a typed
exception and nothing is half-applied. When an operation does not apply, its statement
writes nothing and the error says why from the lock's row.

Signals: the operation's own, around the change (general pre, specific pre, the change,
specific post, general post); ``segment_pre/post_create`` for a segment it creates and
``segment_pre/post_delete_or_soft_delete`` with ``delete`` / ``soft_delete`` for one it
removes. Rows the statement picks itself (segments a bound shift or an insert removes, the
piece an insert cuts off) are only known once it ran: their pre and post signals are both
sent after it. Django's model signals (``pre_save``, ...) belong to Django's ``save()`` and
``delete()``, which operations do not call; connecting them changes nothing here.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Literal

from django.db import connections, models, router, transaction
from django.db.models.expressions import DatabaseDefault

from django_segments import signals
from django_segments.exceptions import (
    IncorrectSegmentRangeError,
    IncorrectSpanRangeError,
    RangeValueError,
    SegmentOperationError,
)
from django_segments.ranges import wire
from django_segments.ranges.compiler import OperationSQL, RowShape, operations
from django_segments.ranges.errors import typed_errors
from django_segments.ranges.kinds import RangeKind

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
        with transaction.atomic(using=using):
            yield
            _DEFERRED.set(None)
            for model in sorted(touched, key=lambda m: m._meta.label):
                with typed_errors(model):
                    finalize(model)
    finally:
        _DEFERRED.reset(token)


def checks(segment_model: Any) -> list[str]:
    """The statements that run this model's deferred checks now (none inside
    `defer_checks`, which records the model and checks it at its end).

    NOTE - ``SET CONSTRAINTS ... IMMEDIATE`` fires pending deferred trigger events at once;
    ``DEFERRED`` puts the triggers back in their declared mode. The exclusion constraint
    is ``INITIALLY IMMEDIATE`` and stays so.
    """
    deferred = _DEFERRED.get()
    if deferred is not None:
        deferred.add(segment_model)
        return []
    return [operations(segment_model)["check"]]


def finalize(segment_model: Any, using: str | None = None) -> None:
    """Check this model's deferred constraints now (inside `defer_checks`: at its end)."""
    statements = checks(segment_model)
    if statements:
        wire.execute(connections[using or router.db_for_write(segment_model)], statements, {})


def lock_span(segment_model: Any, span_id: Any, using: str) -> None:
    """Lock the span row of a segment's plain ``save()`` or ``delete()`` before the write.

    Operations lock the span first, and every writing statement on the segment table locks
    the spans it touched once its rows are written (`ddl.TouchSpansTrigger`); a plain write
    that locked its segment row first would take the two locks in the opposite order and
    could deadlock with them. A missing span is left to the foreign key.
    """
    if span_id is not None:
        wire.execute(connections[using], [operations(segment_model)["lock"]], {"span": span_id})


def lock_span_for_delete(segment_model: Any, span_id: Any, using: str) -> wire.Rows:
    """Lock a span row before its hard delete (see `lock_span`); the segments the delete
    will remove through ``span_on_delete=CASCADE`` (none for another ``on_delete``), for
    `cascaded`. One string: the lock, then the segments as the lock lets it see them."""
    sql = operations(segment_model)
    if segment_model._segment_options().span_on_delete is not models.CASCADE:
        lock_span(segment_model, span_id, using)
        return []
    _, rows = wire.execute(connections[using], [sql["lock"], sql["span_segments"]], {"span": span_id})
    return rows or []


def cascaded(segment_model: Any, using: str, rows: wire.Rows) -> None:
    """The delete signals of the segments a span's hard delete removed (``rows`` from
    `lock_span_for_delete`), sent once Django's delete ran."""
    _removed(segment_model, using, rows, soft=False)


def _bounds(locked: wire.Rows | None, span_id: Any) -> tuple[Any, Any]:
    """The span's bounds from the lock's row; a missing or deleted span is an error."""
    if not locked:
        raise SegmentOperationError(f"span {span_id} does not exist")
    lower, upper, deleted_at = locked[0]
    if deleted_at is not None:
        raise SegmentOperationError(f"span {span_id} is deleted")
    return lower, upper


def _run(model: Any, statements: list[str], params: dict[str, Any], *, check: bool = True) -> list[Any]:
    """Send the lock and ``statements`` of ``model`` in one frame (and the check, unless
    ``check`` is false); the rows of each statement, the lock's first."""
    with wire.Frame(model, checks(model) if check else []) as frame:
        return frame.send([operations(model)["lock"], *statements], params, last=True)


def _delta(kind: RangeKind, delta: Any) -> Any:
    """A checked delta as the statements take it (whole days for a date)."""
    return delta.days if isinstance(delta, dt.timedelta) and kind.name == "date" else delta


def _target(kind: RangeKind, to: Any, delta: Any, what: str) -> tuple[Any, Any]:
    """``(to, delta)`` of ``what``, checked: exactly one given, of the range's type."""
    if (to is None) == (delta is None):
        raise RangeValueError(f"{what}: give exactly one of to_value or delta_value")
    if to is not None:
        return kind.check_value(to, f"{what} to_value"), None
    return None, _delta(kind, kind.check_delta(delta, f"{what} delta_value"))


def _new_row(
    segment: Any, sql: OperationSQL, how: dict[str, str] | None = None
) -> tuple[RowShape, bool, dict]:
    """The shape, given key and parameters of a new segment's row: the model's own fields
    as Django's save would write them (defaults, field ``pre_save``); a field left to its
    database default is left out. ``how`` names the fields copied from another row."""
    connection = connections[router.db_for_write(type(segment))]
    shape, params = [], {}
    for f in sql.names.own_fields:
        if how is not None and how.get(f.name) == "copy":
            shape.append("copy")
            continue
        value = f.pre_save(segment, add=True)
        if isinstance(value, DatabaseDefault):
            shape.append("default")
            continue
        if hasattr(value, "resolve_expression"):
            raise RangeValueError(f"{f.name}: a new segment takes plain values, not {value!r}")
        shape.append("param")
        params[f"new_{f.attname}"] = f.get_db_prep_save(value, connection)
    keyed = segment.pk is not None
    if keyed:
        params["new_pk"] = segment._meta.pk.get_db_prep_save(segment.pk, connection)
    return tuple(shape), keyed, params


def coerce_range(kind: RangeKind, value: Any, what: str, *, span: bool = False) -> Any:
    """``value`` as a checked range of ``kind``; `IncorrectSpanRangeError` (``span``) or
    `IncorrectSegmentRangeError` naming ``what`` if it is not one. The one check of a
    range given to ``save()``, ``objects.create()`` and ``insert()``."""
    try:
        return kind.coerce(value, what)
    except RangeValueError as exc:
        cls = IncorrectSpanRangeError if span else IncorrectSegmentRangeError
        raise cls(str(exc)) from exc


def _using(instance: Any) -> str:
    return router.db_for_write(type(instance), instance=instance)


def _picked(model: Any, using: str, rows: wire.Rows, general: str, specific: str | None = None) -> None:
    """The signals of segments a statement picked itself (only known once it ran): pre and
    post, with instances of the rows it returned; nothing to build when nobody listens."""
    events = [general] if specific is None else [general, specific]
    listened = any(
        getattr(signals, f"segment_{when}_{event}").has_listeners(model)
        for event in events
        for when in ("pre", "post")
    )
    if not rows or not listened:
        return
    for segment in wire.instances(model, using, rows):
        with signals.nested(segment, "segment", general, specific):
            pass


def _removed(model: Any, using: str, rows: wire.Rows, *, soft: bool) -> None:
    """Signals of segments a statement picked and removed."""
    _picked(model, using, rows, "delete_or_soft_delete", "soft_delete" if soft else "delete")


# --- span operations ------------------------------------------------------------------


def append(span: Any, to_value: Any, delta_value: Any, fields: dict[str, Any]) -> Any:
    """`AbstractSpan.append`: one statement reads the locked span row, extends it and
    inserts the new last segment."""
    model = span.segment_model()
    sql = operations(model)
    kind = sql.kind
    to, delta = _target(kind, to_value, delta_value, "append()")
    segment = model(span=span, **fields)
    segment.segment_range = _appended(kind, span, to, delta)
    shape, keyed, params = _new_row(segment, sql)
    statement = sql.with_row("append", shape, keyed=keyed)
    with ExitStack() as stack:
        stack.enter_context(typed_errors(model, computed="append(): the span's new current_range"))
        stack.enter_context(signals.nested(span, "span", "update", operation="append"))
        stack.enter_context(signals.nested(segment, "segment", "create"))
        locked, written = _run(model, [statement], {"span": span.pk, "to": to, "delta": delta, **params})
        lower, upper = _bounds(locked, span.pk)
        if not written:
            new = _moved(kind, upper, to, delta)
            msg = f"append(): the new upper bound {new} must be above the span's upper bound {upper}"
            raise IncorrectSpanRangeError(msg)
        wire.adopt(segment, _using(segment), written[0])
        span.current_range = kind.make(lower, segment.segment_range.upper, "current_range")
    return segment


def _moved(kind: RangeKind, old: Any, to: Any, delta: Any) -> Any:
    """A bound moved to ``to`` or by ``delta`` (as `_target` gives them); for messages and
    signals, so a bound Python cannot hold is the text ``out of range``."""
    if to is not None:
        return to
    try:
        return old + (dt.timedelta(days=delta) if kind.name == "date" else delta)
    except OverflowError:  # past a date's or datetime's year 1 or 9999
        return "out of range"


def _appended(kind: RangeKind, span: Any, to: Any, delta: Any) -> Any:
    """The range an append adds to the span as this instance holds it, for the pre
    signals; None when the instance holds no range or the append would be refused. The
    statement computes the range from the span row itself."""
    current = span.__dict__.get("current_range")
    if current is None:
        return None
    try:
        return kind.make(current.upper, _moved(kind, current.upper, to, delta))
    except RangeValueError:
        return None


def shift_span(span: Any, delta_value: Any) -> None:
    """`AbstractSpan.shift_by_value`: two UPDATEs (span, its active segments)."""
    model = span.segment_model()
    sql = operations(model)
    kind = sql.kind
    delta = _delta(kind, kind.check_delta(delta_value, "shift_by_value() delta_value"))
    computed = "shift_by_value(): the new current_range of the span or segment_range of its segments"
    with (
        typed_errors(model, computed=computed),
        signals.nested(span, "span", "update", operation="shift_by_value"),
    ):
        locked, moved, _ = _run(
            model, [sql["shift_span"], sql["shift_segments"]], {"span": span.pk, "delta": delta}
        )
        _bounds(locked, span.pk)
        ((lower, upper),) = moved or []
        span.current_range = kind.make(lower, upper, "current_range")


def shift_span_bound(
    span: Any, bound: Literal["lower", "upper"], *, to: Any = None, delta: Any = None
) -> None:
    """Move one bound of a span; segments follow (removed, clipped or extended), in one
    statement that computes the new bound from the locked span row."""
    model = span.segment_model()
    sql = operations(model)
    kind = sql.kind
    name = f"shift_{bound}_{'to' if to is not None else 'by'}_value()"
    to, delta = _target(kind, to, delta, name)
    computed = f"{name}: the span's new current_range"
    with typed_errors(model, computed=computed), signals.nested(span, "span", "update", operation=name):
        locked, rows = _run(model, [sql[f"shift_{bound}"]], {"span": span.pk, "to": to, "delta": delta})
        lower, upper = _bounds(locked, span.pk)
        if not rows:
            new = _moved(kind, lower if bound == "lower" else upper, to, delta)
            new_lower, new_upper = (new, upper) if bound == "lower" else (lower, new)
            raise IncorrectSpanRangeError(f"{name}: the span would become empty: [{new_lower}, {new_upper})")
        span.current_range = kind.make(rows[0][0], rows[0][1], "current_range")
        removed = [row[2:] for row in rows if row[2 + sql.pk_index] is not None]
        _removed(model, _using(span), removed, soft=model._segment_options().soft_delete)


def soft_delete_span(span: Any) -> None:
    """Soft-delete a span and its active segments (lock, two UPDATEs, check: one string);
    each segment's ``segment_pre/post_delete_or_soft_delete`` and ``..._soft_delete``
    signals are sent after the statement, inside the span's."""
    model = span.segment_model()
    sql = operations(model)
    locked, removed, deleted = _run(
        model, [sql["soft_delete_segments"], sql["soft_delete_span"]], {"span": span.pk}
    )
    _bounds(locked, span.pk)
    _removed(model, _using(span), removed or [], soft=True)
    span.deleted_at = deleted[0][0] if deleted else span.deleted_at


# --- segment operations ---------------------------------------------------------------


def removal_checked(segment_model: Any) -> bool:
    """Whether removing a segment needs the check: only where gaps are forbidden.

    Removing segments cannot put one outside its span, so with both kinds of gap allowed
    the check cannot fail and is left to the deferred triggers (at commit at the latest).
    """
    options = segment_model._span_options()
    return not (options.allow_span_gaps and options.allow_segment_gaps)


def soft_delete_segment(segment: Any) -> None:
    """Soft-delete one segment (lock, UPDATE, check where needed: one string)."""
    model = type(segment)
    params = {"span": segment.span_id, "segment": segment.pk}
    statement = operations(model)["soft_delete_segment"]
    locked, deleted = _run(model, [statement], params, check=removal_checked(model))
    _bounds(locked, segment.span_id)
    if deleted:
        segment.deleted_at = deleted[0][0]


def _copy_how(sql: OperationSQL, fields_to_copy: list[str] | None) -> dict[str, str]:
    """Which own fields a split's new piece copies (``None``: all); the others take their
    defaults. An unknown name is an error."""
    known = {f.name for f in sql.names.own_fields}
    names = known if fields_to_copy is None else set(fields_to_copy)
    if names - known:
        msg = f"fields_to_copy names unknown fields: {sorted(names - known)}; copyable: {sorted(known)}"
        raise RangeValueError(msg)
    return dict.fromkeys(names, "copy")


def split(segment: Any, split_value: Any, fields_to_copy: list[str] | None) -> Any:
    """`AbstractSegment.split`: one statement shrinks the segment and inserts the upper part."""
    model = type(segment)
    sql = operations(model)
    kind = sql.kind
    value = kind.check_value(split_value, "split_value")
    how = _copy_how(sql, fields_to_copy)
    copied = {f.attname: getattr(segment, f.attname) for f in sql.names.own_fields if f.name in how}
    piece = model(span_id=segment.span_id, **copied)
    current = segment.__dict__.get("segment_range")
    if current is not None and current.lower < value < current.upper:
        piece.segment_range = kind.make(value, current.upper)
    shape, keyed, params = _new_row(piece, sql, how)
    params.update(span=segment.span_id, segment=segment.pk, value=value)
    with ExitStack() as stack:
        stack.enter_context(typed_errors(model))
        stack.enter_context(signals.nested(segment, "segment", "update", "split", split_value=value))
        stack.enter_context(signals.nested(piece, "segment", "create"))
        locked, rows = _run(model, [sql.with_row("split", shape, keyed=keyed)], params)
        _bounds(locked, segment.span_id)
        if not rows:
            raise _not_inside(model, segment, value)
        parts = _parts(rows)
        using = _using(segment)
        wire.adopt(segment, using, parts[0][0])
        wire.adopt(piece, using, parts[1][0])
    return piece


def _parts(rows: wire.Rows) -> dict[int, wire.Rows]:
    """Rows of a statement that returns several kinds of row, by their leading ``part``."""
    found: dict[int, wire.Rows] = {}
    for part, *row in rows:
        found.setdefault(part, []).append(tuple(row))
    return found


def _not_inside(model: Any, segment: Any, value: Any) -> Exception:
    (rows,) = wire.execute(
        connections[_using(segment)], [operations(model)["split_refused"]], {"segment": segment.pk}
    )
    if not rows or rows[0][1]:
        return SegmentOperationError(f"segment {segment.pk} does not exist or is deleted")
    return IncorrectSegmentRangeError(
        f"split value {value} must lie strictly inside segment {segment.pk}'s range {rows[0][0]}"
    )


def merge(segment: Any, into: Literal["lower", "upper"]) -> Any:
    """Remove ``segment`` and stretch its lower or upper neighbour over it (one statement)."""
    model = type(segment)
    soft = model._segment_options().soft_delete
    with ExitStack() as stack:
        stack.enter_context(typed_errors(model))
        stack.enter_context(signals.nested(segment, "segment", "update", "merge", into=into))
        stack.enter_context(
            signals.nested(segment, "segment", "delete_or_soft_delete", "soft_delete" if soft else "delete")
        )
        params = {"span": segment.span_id, "segment": segment.pk}
        locked, rows = _run(model, [operations(model)[f"merge_into_{into}"]], params)
        _bounds(locked, segment.span_id)
        if not rows:
            raise _no_neighbour(model, segment, into)
        parts = _parts(rows)
        using = _using(segment)
        (neighbour,) = wire.instances(model, using, parts[0])
        if soft:
            wire.adopt(segment, using, parts[1][0])
    return neighbour


def _no_neighbour(model: Any, segment: Any, into: str) -> Exception:
    """Why ``segment`` could not be merged into its ``into`` neighbour."""
    connection = connections[_using(segment)]
    (rows,) = wire.execute(connection, [operations(model)["merge_refused"]], {"segment": segment.pk})
    if not rows or rows[0][0]:
        return SegmentOperationError(f"segment {segment.pk} does not exist or is deleted")
    if rows[0][1 if into == "lower" else 2]:  # pragma: no cover - a neighbour now, none under the lock
        return SegmentOperationError(f"segment {segment.pk}: the {into} neighbour went away; try again")
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
    """Move a segment's bounds; touching (or newly overlapped) neighbours follow. Two
    strings: the lock and the neighbourhood, then one UPDATE of the rows that move."""
    model = type(segment)
    sql = operations(model)
    kind = sql.kind
    name = _shift_name(to_lower, to_upper, delta_lower, delta_upper)
    for to, delta, which in ((to_lower, delta_lower, "lower"), (to_upper, delta_upper, "upper")):
        _new_bound(kind, None, to, delta, which, check_only=True)  # refuse bad input before any SQL
    params = {"span": segment.span_id, "segment": segment.pk}
    with typed_errors(model), signals.nested(segment, "segment", "update", operation="shift"):
        with wire.Frame(model, checks(model)) as frame:
            locked, rows = frame.send([sql["lock"], sql["neighbourhood"]], params)
            _bounds(locked, segment.span_id)
            me, prev, nxt = _neighbourhood(rows, segment)
            lo = _new_bound(kind, me[1], to_lower, delta_lower, "lower")
            hi = _new_bound(kind, me[2], to_upper, delta_upper, "upper")
            if not lo < hi:
                raise IncorrectSegmentRangeError(
                    f"{name}: segment {segment.pk} would become empty: [{lo}, {hi})"
                )
            moves = [(me[0], lo, hi)]
            if prev and (prev[2] == me[1] or lo < prev[2]):
                moves.append(_follow(prev, prev[1], lo, segment, "preceding"))
            if nxt and (nxt[1] == me[2] or hi > nxt[1]):
                moves.append(_follow(nxt, hi, nxt[2], segment, "following"))
            ids, lows, highs = (list(column) for column in zip(*moves, strict=True))
            frame.send([sql["move"]], {"ids": ids, "lows": lows, "highs": highs}, last=True)
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


def _neighbourhood(rows: wire.Rows | None, segment: Any) -> tuple[Any, Any, Any]:
    """(id, lower, upper) of the segment and of its active neighbours (None if none)."""
    found: dict[int, Any] = {which: (row_id, lo, hi) for which, row_id, lo, hi in rows or []}
    if 0 not in found:
        raise SegmentOperationError(f"segment {segment.pk} does not exist or is deleted")
    return found[0], found.get(-1), found.get(1)


def _new_bound(
    kind: RangeKind, current: Any, to: Any, delta: Any, which: str, *, check_only: bool = False
) -> Any:
    """A segment's ``which`` bound moved to ``to`` or by ``delta`` (or ``current``), checked
    against the kind's limits; ``check_only``: check ``to`` / ``delta`` alone."""
    if to is not None:
        return kind.check_value(to, f"new {which} bound")
    if delta is not None:
        delta = kind.check_delta(delta, f"{which} delta_value")
        return None if check_only else kind.add(current, delta, f"new {which} bound")
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
    """`AbstractSegment.insert`: one statement removes the segments the range covers, cuts
    one that strictly contains it, clips those it partly covers and inserts the new one."""
    sql = operations(model)
    rng = coerce_range(sql.kind, segment_range, "segment_range")
    new = model(span=span, segment_range=rng, **fields)
    shape, keyed, params = _new_row(new, sql)
    params.update(span=span.pk, a=rng.lower, b=rng.upper)
    with typed_errors(model), signals.nested(new, "segment", "create", "insert"):
        locked, rows = _run(model, [sql.with_row("insert", shape, keyed=keyed)], params)
        lower, upper = _bounds(locked, span.pk)
        if not rows:
            msg = f"insert(): range [{rng.lower}, {rng.upper}) must lie inside span {span.pk}'s range"
            raise IncorrectSegmentRangeError(f"{msg} [{lower}, {upper})")
        parts = _parts(rows)
        using = _using(new)
        wire.adopt(new, using, parts[0][0])
        _picked(model, using, parts.get(1, []), "create")
        _removed(model, using, parts.get(2, []), soft=model._segment_options().soft_delete)
    return new
