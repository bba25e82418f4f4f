"""The one owner of the SQL of span and segment models.

`names` gives the quoted identifiers and SQL types of a concrete segment model (and its
span model), computed once. `operations` renders the statements of the range operations
(``sql/operations.sql``) for that model once; ``ddl.py`` renders the trigger bodies
(``sql/triggers.sql``) and ``errors.py`` its lookup from the same names. Identifiers are
formatted into the templates; values always travel as parameters (``%(name)s``).

``make sql`` writes the rendered statements of the test app's models to
``sql/testapp_operations.sql``, next to the DDL, and a test fails when it drifts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from django_segments.ranges.kinds import RangeKind

#: The span column the database increments with every statement that writes the span's segments.
REVISION = "segments_revision"
#: The span column where that statement's touch records the ranges it wrote (spans that
#: forbid segment gaps only).
REGION = "segments_changed"
#: The savepoint an operation sends in its own string when called inside a transaction.
SAVEPOINT = '"django_segments_operation"'

_SECTION = re.compile(r"^-- name: (\S+)\s*$", re.MULTILINE)


def qn(name: str) -> str:
    """Quote an SQL identifier. NOTE - Postgres folds unquoted names to lowercase."""
    return '"' + name.replace('"', '""') + '"'


@cache
def templates(filename: str) -> dict[str, str]:
    """The ``-- name:`` sections of ``sql/<filename>``, without their comment lines."""
    text = resources.files("django_segments.ranges").joinpath("sql", filename).read_text()
    parts = _SECTION.split(text)
    found = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("--")]
        found[name] = "\n".join(lines)
    return found


def _delta_type(kind: RangeKind) -> str:
    """The SQL type a bound of ``kind`` is shifted by (a date by whole days)."""
    return {"date": "integer", "datetime": "interval"}.get(kind.name, kind.sql_type)


@dataclass(frozen=True)
class Names:
    """Quoted identifiers, SQL types and object names of one concrete segment model."""

    seg: str
    span: str
    seg_pk: str
    seg_pk_type: str
    span_pk: str
    fk: str
    rng: str
    range: str
    elem: str
    delta: str
    multirange: str
    revision: str
    region: str
    columns: str
    returning: str
    copy_cols: str
    copy_vals: str
    remove: str
    containment_name: str
    tiling_name: str
    gaps_name: str
    immediate: str
    deferred: str
    #: The model's own fields a new segment gets values for (not key, span, range, deletion).
    own_fields: tuple[Any, ...] = field(compare=False)

    def format(self, template: str, **extra: str) -> str:
        """``template`` with this model's names (and ``extra``) formatted in."""
        return template.format(**{**self.__dict__, **extra})


def own_fields(segment_model: Any) -> list[Any]:
    """The segment model's own concrete fields: not its key, span, range or deletion."""
    reserved = {"span", "segment_range", "deleted_at"}
    meta = segment_model._meta.concrete_model._meta
    return [f for f in meta.concrete_fields if f.name not in reserved and not f.primary_key]


def _trigger_names(segment_model: Any) -> list[str]:
    """The span's deferred check triggers of this segment model (what SET CONSTRAINTS names)."""
    from django_segments.ranges.ddl import SpanCheckTrigger, span_triggers  # noqa: PLC0415

    span_model = segment_model._meta.get_field("span").related_model
    return [
        trigger.get_pgid(span_model)
        for trigger in span_triggers(segment_model)
        if isinstance(trigger, SpanCheckTrigger)
    ]


_NAMES: dict[Any, Names] = {}
_OPERATIONS: dict[Any, OperationSQL] = {}


def names(segment_model: Any) -> Names:
    """The `Names` of a segment model, computed once; a proxy's are its concrete model's."""
    concrete = segment_model._meta.concrete_model
    if concrete not in _NAMES:
        _NAMES[concrete] = _names(concrete)
    return _NAMES[concrete]


def _names(segment_model: Any) -> Names:
    from django.db import connection  # noqa: PLC0415 - only its type mapping is used

    from django_segments.ranges.ddl import pgid  # noqa: PLC0415

    meta = segment_model._meta
    span_model = meta.get_field("span").related_model
    options = span_model._span_options_value
    kind: RangeKind = options.kind
    seg = qn(meta.db_table)
    own = own_fields(segment_model)
    triggers = ", ".join(qn(name) for name in _trigger_names(segment_model))
    soft = segment_model._segment_options().soft_delete
    return Names(
        seg=seg,
        span=qn(span_model._meta.db_table),
        seg_pk=qn(meta.pk.column),
        seg_pk_type=meta.pk.rel_db_type(connection),
        span_pk=qn(span_model._meta.pk.column),
        fk=qn(meta.get_field("span").column),
        rng=qn("segment_range"),
        range=kind.range_sql_type,
        elem=kind.sql_type,
        delta=_delta_type(kind),
        multirange=kind.multirange_sql_type,
        revision=qn(REVISION),
        region=qn(REGION),
        columns=", ".join(qn(f.column) for f in meta.concrete_fields),
        returning=", ".join(f"{seg}.{qn(f.column)}" for f in meta.concrete_fields),
        copy_cols="".join(f", {qn(f.column)}" for f in own),
        copy_vals="".join(f", s.{qn(f.column)}" for f in own),
        remove=f"UPDATE {seg} SET deleted_at = now() FROM" if soft else f"DELETE FROM {seg} USING",
        containment_name=pgid(meta.db_table, "containment"),
        tiling_name=pgid(meta.db_table, "tiling"),
        gaps_name=pgid(meta.db_table, "gaps"),
        immediate=", ".join([qn(pgid(meta.db_table, "no_overlap")), triggers]),
        deferred=triggers,
        own_fields=tuple(own),
    )


#: Columns of a new row: how each of the model's own fields gets its value, in field
#: order: ``"param"`` (a parameter), ``"copy"`` (from the row ``s`` it is copied from) or
#: ``"default"`` (left out: the column's database default).
RowShape = tuple[str, ...]


class OperationSQL:
    """The operation statements of one segment model, rendered once (see ``sql/operations.sql``).

    A statement that inserts a new segment takes the shape of its row (`RowShape`, and
    whether its key is given); each shape is rendered once, when first used.
    """

    NEW_ROW = ("append", "insert", "split")

    def __init__(self, segment_model: Any) -> None:
        self.names = names(segment_model)
        self.kind: RangeKind = segment_model._span_options().kind
        #: Where the key is in a row of all concrete columns.
        self.pk_index = list(segment_model._meta.concrete_fields).index(segment_model._meta.pk)
        holes = {"cols": "{cols}", "vals": "{vals}"}
        self.statements = {
            name: self.names.format(template, **holes)
            for name, template in templates("operations.sql").items()
        }
        self._shaped: dict[tuple[str, RowShape, bool], str] = {}

    def __getitem__(self, name: str) -> str:
        """The statement ``name`` (one without a new row)."""
        return self.statements[name]

    def with_row(self, name: str, shape: RowShape, *, keyed: bool = False) -> str:
        """The statement ``name`` whose new row has ``shape`` (and a given key if ``keyed``)."""
        key = (name, shape, keyed)
        if key not in self._shaped:
            own = self.names.own_fields
            cols, vals = [], []
            if keyed:
                cols.append(self.names.seg_pk)
                vals.append("%(new_pk)s")
            for f, how in zip(own, shape, strict=True):
                if how == "default":
                    continue
                cols.append(qn(f.column))
                vals.append(f"s.{qn(f.column)}" if how == "copy" else f"%(new_{f.attname})s")
            text = self.statements[name].replace("{cols}", "".join(f", {c}" for c in cols))
            self._shaped[key] = text.replace("{vals}", "".join(f", {v}" for v in vals))
        return self._shaped[key]


def operations(segment_model: Any) -> OperationSQL:
    """The operation statements of a segment model, rendered once; a proxy's are its
    concrete model's."""
    concrete = segment_model._meta.concrete_model
    if concrete not in _OPERATIONS:
        _OPERATIONS[concrete] = OperationSQL(concrete)
    return _OPERATIONS[concrete]


def render_model(segment_model: Any) -> str:
    """Every operation statement of ``segment_model``, for ``make sql``: a new row takes the
    shape of a new segment whose fields all have values (copied, for a split)."""
    sql = operations(segment_model)
    own = len(sql.names.own_fields)
    parts = []
    for name in sql.statements:
        if name in OperationSQL.NEW_ROW:
            text = sql.with_row(name, ("copy" if name == "split" else "param",) * own)
        else:
            text = sql[name]
        parts.append(f"-- name: {name}\n{text};\n")
    return "\n".join(parts)
