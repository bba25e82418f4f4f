"""Database objects that enforce span invariants: constraints and pgtrigger triggers.

Everything here is generated from the model classes and installed by the user's ordinary
migrations (Django constraints; django-pgtrigger triggers).

How the checks work, per segment model:

* ``no_overlap`` - exclusion constraint ``(span_id WITH =, segment_range WITH &&)`` over
  active rows, ``DEFERRABLE INITIALLY IMMEDIATE``: checked at the end of each statement,
  so one ``UPDATE`` that shifts many touching ranges passes.
* ``range_valid`` - check constraint: non-empty, finite, ``[)`` bounds.
* ``segments_check_insert`` / ``_update`` / ``_delete`` - statement-level triggers on the
  segment table. From the statement's transition table they collect the spans whose
  segments were written (for updates: whose span, range or deletion changed) and touch
  those span rows once: ``segments_revision = segments_revision + 1``.
* ``segments_span_upd_<model>`` / ``segments_span_ins_<model>`` - deferred constraint
  triggers on the span table, queued by a change of the span's ``segments_revision`` (a
  touch), range or deletion, and by a new span. At commit (or ``SET CONSTRAINTS ...
  IMMEDIATE``) each checks its span: containment (two index probes: first and last
  segment by lower bound), tiling / no gaps per `SpanConfig` (``range_agg``). A bulk
  write of N segments into S spans queues S events, not N.
* One check per span and firing: an event whose row version no longer shows the span's
  current ``(current_range, deleted_at, segments_revision)`` skips, because the change
  that came after it queued an event of its own, which checks the same rows. The last
  such change always matches, so it checks. Nothing a session may set decides it (an
  earlier version kept this state in custom settings, which any role could forge).
* Every check is queued by this transaction's own write of the span row (the touch, an
  update of the span, its insert), which keeps the row locked until commit. So
  concurrent writers of one span are checked one after the other, each seeing the
  other's committed rows (READ COMMITTED), and a transaction with an older snapshot
  (REPEATABLE READ, SERIALIZABLE, or mixed with READ COMMITTED writers) fails with a
  serialization error at its touch instead of checking a stale state.
* Nothing derived is stored: ``previous_segment`` and the other neighbours are read from
  range order through the navigation index, so a write never has to repair other rows.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import pgtrigger
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from pgtrigger import compiler as pgtrigger_compiler
from pgtrigger import features as pgtrigger_features

from django_segments.migrations_ops import ensure_btree_gist

if TYPE_CHECKING:
    from django_segments.ranges.kinds import RangeKind

#: The span column every statement that writes the span's segments increments.
REVISION = "segments_revision"
CHECK_VIOLATION = "23514"


def qn(name: str) -> str:
    """Quote an SQL identifier. NOTE - Postgres folds unquoted names to lowercase."""
    return '"' + name.replace('"', '""') + '"'


def pgid(table: str, suffix: str, limit: int = 63) -> str:
    """A predictable object name ``<table>_<suffix>``, hashed down to ``limit`` characters."""
    name = f"{table}_{suffix}".lower()
    if len(name) <= limit:
        return name
    digest = hashlib.sha1(table.encode()).hexdigest()[:5]  # noqa: S324 - a name, not security
    return f"{table[: limit - len(suffix) - 8]}_{digest}_{suffix}".lower()


def range_constraints(table: str, field: str) -> list[models.CheckConstraint]:
    """Check constraint: the range is non-empty, finite and uses ``[)`` bounds."""
    q = models.Q(
        **{
            f"{field}__isempty": False,
            f"{field}__lower_inf": False,
            f"{field}__upper_inf": False,
            f"{field}__lower_inc": True,
            f"{field}__upper_inc": False,
        }
    )
    return [models.CheckConstraint(condition=q, name=pgid(table, f"{field}_valid"))]


class SegmentExclusionConstraint(ExclusionConstraint):
    """The no-overlap constraint; it creates ``btree_gist`` first if the database lacks it.

    NOTE - ``span_id WITH =`` in a GiST index needs btree_gist's operator classes. A
    project's migration that creates a segment model does not depend on our
    ``0001_btree_gist`` (Django adds no dependency for abstract bases), so the
    constraint makes sure of the extension itself.
    """

    def constraint_sql(self, model: Any, schema_editor: Any) -> Any:
        """Inline form, used by CREATE TABLE."""
        ensure_btree_gist(schema_editor)
        return super().constraint_sql(model, schema_editor)

    def create_sql(self, model: Any, schema_editor: Any) -> Any:
        """ALTER TABLE form, used by AddConstraint."""
        ensure_btree_gist(schema_editor)
        return super().create_sql(model, schema_editor)


def segment_constraints(table: str) -> list[Any]:
    """Constraints of a segment table: valid range, and no overlap among active segments."""
    return [
        *range_constraints(table, "segment_range"),
        SegmentExclusionConstraint(
            name=pgid(table, "no_overlap"),
            expressions=[
                ("span", RangeOperators.EQUAL),
                ("segment_range", RangeOperators.OVERLAPS),
            ],
            condition=models.Q(deleted_at__isnull=True),
            deferrable=models.Deferrable.IMMEDIATE,
            violation_error_message="Active segments of one span must not overlap.",
        ),
    ]


def segment_indexes(table: str) -> list[models.Index]:
    """Btree on ``(span_id, lower(segment_range))`` for navigation and first/last probes."""
    digest = hashlib.sha1(table.encode()).hexdigest()[:8]  # noqa: S324
    return [
        models.Index(
            models.F("span"),
            models.Func(models.F("segment_range"), function="lower"),
            name=f"seg_{digest}_order",
        )
    ]


#: The ignore check of the current template (`SegmentsTriggerSqlV2`).
IGNORE_FUNCTION = "_segments_may_ignore"


class SegmentsTriggerSql(pgtrigger_compiler.UpsertTriggerSql):
    """Version 1 of our installation template, kept for the migrations that reference it;
    new triggers are compiled with `SegmentsTriggerSqlV2`. Do not edit it.

    django-pgtrigger's own ``_pgtrigger_should_ignore`` reads ``pgtrigger.ignore`` inside
    an ``EXCEPTION`` block. NOTE - every such block is a subtransaction, and ending one
    makes Postgres walk the list of pending deferred trigger events: with one deferred
    event per written row, a transaction writing N segments paid O(N^2) (100,000 rows:
    203 s instead of 5.5 s). This version reads the setting with
    ``current_setting(name, true)``.
    """

    def get_template(self) -> str:
        """The template (version 1)."""
        return """
            CREATE OR REPLACE FUNCTION {ignore_func_name}(trigger_name NAME)
            RETURNS BOOLEAN AS $$
                SELECT coalesce(
                    trigger_name = ANY(nullif(current_setting('pgtrigger.ignore', true), '')::text[]),
                    false
                );
            $$ LANGUAGE sql STABLE;

            CREATE OR REPLACE FUNCTION {pgid}()
            RETURNS TRIGGER AS $$
                {declare}
                BEGIN
                    IF ({ignore_func_name}(TG_NAME) IS TRUE) THEN
                        IF (TG_OP = 'DELETE') THEN
                            RETURN OLD;
                        ELSE
                            RETURN NEW;
                        END IF;
                    END IF;
                    {func}
                END;
            $$ LANGUAGE plpgsql;

            DROP TRIGGER IF EXISTS {pgid} ON {table};
            CREATE {constraint} TRIGGER {pgid}
                {when} {operation} ON {table}
                {timing}
                {referencing}
                FOR EACH {level} {condition}
                EXECUTE PROCEDURE {execute};

            COMMENT ON TRIGGER {pgid} ON {table} IS '{hash}';
        """


class SegmentsTriggerSqlV2(pgtrigger_compiler.UpsertTriggerSql):
    """Our installation template, version 2: checks that a role allowed to write the tables
    cannot switch off. Do not edit it; a change is a new version (migrations reference it).

    - The ignore check opens no subtransaction (see `SegmentsTriggerSql`).
    - ``pgtrigger.ignore`` is a custom setting that any role may set. The ignore check
      honours it only for members of the table owner's role (and superusers): roles that
      may ``ALTER TABLE ... DISABLE TRIGGER`` anyway. NOTE - the check is a one-expression
      SQL function without a sub-query or a ``SET`` clause, so Postgres inlines it into
      the trigger's cached plan (a function it cannot inline is planned on every call);
      the owner lookup is a function of its own, called only when the setting names the
      trigger. Both are parsed under the search path of the trigger function that calls
      them.
    - The trigger function runs with ``search_path`` = ``pg_catalog``, the schemas of the
      migrating session's path, ``pg_temp``. A session's own path puts ``pg_temp`` first,
      so a temporary table named like the span table would otherwise be the one the
      trigger reads and touches. ``pg_catalog`` first keeps built-in functions and
      operators from being shadowed by a session's path. NOTE - the schemas of the path
      must not let untrusted roles create objects (PostgreSQL 15 and newer do not grant
      ``CREATE`` on ``public`` to everyone; on 14, revoke it): an overload with a closer
      argument type wins over a built-in whatever the order.
    """

    def get_template(self) -> str:
        """The template (version 2)."""
        return """
            CREATE OR REPLACE FUNCTION {ignore_func_name}_owner(rel OID)
            RETURNS BOOLEAN AS $$
                SELECT pg_has_role(current_user, c.relowner, 'MEMBER') FROM pg_class c WHERE c.oid = rel;
            $$ LANGUAGE sql STABLE;

            CREATE OR REPLACE FUNCTION {ignore_func_name}(trigger_name NAME, rel OID)
            RETURNS BOOLEAN AS $$
                SELECT CASE
                    WHEN trigger_name = ANY(nullif(current_setting('pgtrigger.ignore', true), '')::text[])
                    THEN coalesce({ignore_func_name}_owner(rel), false)
                    ELSE false
                END;
            $$ LANGUAGE sql STABLE;

            CREATE OR REPLACE FUNCTION {pgid}()
            RETURNS TRIGGER AS $$
                {declare}
                BEGIN
                    IF ({ignore_func_name}(TG_NAME, TG_RELID) IS TRUE) THEN
                        IF (TG_OP = 'DELETE') THEN
                            RETURN OLD;
                        ELSE
                            RETURN NEW;
                        END IF;
                    END IF;
                    {func}
                END;
            $$ LANGUAGE plpgsql;

            DO $segments$ BEGIN
                EXECUTE 'ALTER FUNCTION {pgid}() SET search_path = ' || concat_ws(', ', 'pg_catalog',
                    (SELECT string_agg(quote_ident(s), ', ' ORDER BY n)
                       FROM unnest(current_schemas(false)) WITH ORDINALITY AS path (s, n)),
                    'pg_temp');
            END $segments$;

            DROP TRIGGER IF EXISTS {pgid} ON {table};
            CREATE {constraint} TRIGGER {pgid}
                {when} {operation} ON {table}
                {timing}
                {referencing}
                FOR EACH {level} {condition}
                EXECUTE PROCEDURE {execute};

            COMMENT ON TRIGGER {pgid} ON {table} IS '{hash}';
        """


def _ignore_function_name() -> str:
    schema = pgtrigger_features.schema()
    return f'"{schema}".{IGNORE_FUNCTION}' if schema else IGNORE_FUNCTION


class LibraryTrigger(pgtrigger.Trigger):
    """A pgtrigger trigger installed with `SegmentsTriggerSqlV2`."""

    def compile(self, model: Any) -> pgtrigger_compiler.Trigger:
        """Compile as pgtrigger does, then swap in our installation template."""
        kwargs = dict(super().compile(model).sql.kwargs)
        kwargs["ignore_func_name"] = _ignore_function_name()
        return pgtrigger_compiler.Trigger(name=self.name, sql=SegmentsTriggerSqlV2(**kwargs))


class SpanCheckTrigger(LibraryTrigger):
    """Deferred constraint trigger on the span table that checks the firing span."""

    level = pgtrigger.Row
    when = pgtrigger.After
    timing = pgtrigger.Deferred

    def __init__(self, *, segment_model: Any, **kwargs: Any) -> None:
        self.segment_model = segment_model
        super().__init__(**kwargs)

    def get_declare(self, model: Any) -> list[tuple[str, str]]:
        """Variables of the check."""
        from django.db import connection  # noqa: PLC0415 - only its type mapping is used

        seg = self.segment_model._meta
        span = seg.get_field("span").related_model._meta
        kind = self.segment_model._span_options().kind
        # NOTE - "tbl.col%TYPE[]" needs PostgreSQL 17; the key's SQL type works everywhere.
        key_type = span.pk.rel_db_type(connection)
        return [
            ("_sid", key_type),
            ("_span_range", kind.range_sql_type),
            ("_span_deleted", "timestamptz"),
            ("_revision", "bigint"),
            ("_first", kind.range_sql_type),
            ("_last", kind.range_sql_type),
            ("_agg", kind.multirange_sql_type),
            # NOTE - %TYPE resolves when the function is created; the span's triggers may be
            # created before the segment table exists (segment model in another app).
            ("_bad_id", "text"),
            ("_bad_range", kind.range_sql_type),
        ]

    def get_func(self, model: Any) -> str:
        """The PL/pgSQL body; see the module docstring."""
        return check_body(self.segment_model)


def check_body(segment_model: Any) -> str:
    """Render the check of the firing span (``NEW``) for ``segment_model``."""
    seg = segment_model._meta
    span_model = seg.get_field("span").related_model
    options = segment_model._span_options()
    kind: RangeKind = options.kind
    t = {
        "seg": qn(seg.db_table),
        "span": qn(span_model._meta.db_table),
        "span_pk": qn(span_model._meta.pk.column),
        "seg_pk": qn(seg.pk.column),
        "fk": qn(seg.get_field("span").column),
        "rng": qn("segment_range"),
        "containment": pgid(seg.db_table, "containment"),
        "tiling": pgid(seg.db_table, "tiling"),
        "gaps": pgid(seg.db_table, "gaps"),
        "multirange": kind.multirange_sql_type,
        "range": kind.range_sql_type,
    }
    active = f"{t['fk']} = _sid AND deleted_at IS NULL"
    parts = [
        f"_sid := NEW.{t['span_pk']};",
        # NOTE - no lock here: every check is queued by this transaction's own write of the
        # span row (a touch, an update or the insert), which holds the row until commit.
        # A concurrent writer of the span waits at its touch, and one whose snapshot is
        # older (REPEATABLE READ, SERIALIZABLE) fails there to serialize.
        f"SELECT current_range, deleted_at, {qn(REVISION)} INTO _span_range, _span_deleted, _revision"
        f" FROM {t['span']} WHERE {t['span_pk']} = _sid;",
        # No row: the span was deleted later in this transaction (with its segments, or
        # the deferred foreign key refuses the commit).
        "IF NOT FOUND THEN RETURN NULL; END IF;",
        # A later change of the span's range, deletion or segments queued an event of its
        # own, which runs in this firing too (or ran in an earlier one, with nothing
        # written since) and checks the same rows: one check per span.
        f"IF (_span_range, _span_deleted, _revision) IS DISTINCT FROM"
        f" (NEW.current_range, NEW.deleted_at, NEW.{qn(REVISION)}) THEN RETURN NULL; END IF;",
        f"SELECT {t['rng']} INTO _first FROM {t['seg']} WHERE {active}"
        f" ORDER BY lower({t['rng']}) ASC LIMIT 1;",
        f"SELECT {t['rng']} INTO _last FROM {t['seg']} WHERE {active}"
        f" ORDER BY lower({t['rng']}) DESC LIMIT 1;",
        _containment(t, active),
    ]
    if not options.allow_span_gaps:
        parts.append(_tiling(t))
    if not options.allow_segment_gaps:
        parts.append(_gaps(t, active))
    parts.append("RETURN NULL;")
    return "\n".join(parts)


def _raise(constraint: str, message: str, *args: str) -> str:
    fmt_args = "".join(f", {a}" for a in args)
    return (
        f"RAISE EXCEPTION USING ERRCODE = '{CHECK_VIOLATION}', CONSTRAINT = '{constraint}', "
        f"MESSAGE = format('{message}'{fmt_args});"
    )


def _containment(t: dict[str, str], active: str) -> str:
    return "\n".join(
        [
            "IF _span_deleted IS NOT NULL AND _first IS NOT NULL THEN",
            "  " + _raise(t["containment"], "span %s is deleted but still has active segments", "_sid"),
            "END IF;",
            "IF _first IS NOT NULL AND NOT (_first <@ _span_range AND _last <@ _span_range) THEN",
            f"  SELECT {t['seg_pk']}::text, {t['rng']} INTO _bad_id, _bad_range FROM {t['seg']}"
            f" WHERE {active} AND NOT {t['rng']} <@ _span_range ORDER BY lower({t['rng']}) LIMIT 1;",
            "  "
            + _raise(
                t["containment"],
                "segment %s of span %s has range %s outside the span range %s",
                "_bad_id",
                "_sid",
                "_bad_range",
                "_span_range",
            ),
            "END IF;",
        ]
    )


def _tiling(t: dict[str, str]) -> str:
    return "\n".join(
        [
            "IF _span_deleted IS NULL AND (_first IS NULL OR lower(_first) <> lower(_span_range)"
            " OR upper(_last) <> upper(_span_range)) THEN",
            "  "
            + _raise(
                t["tiling"],
                "segments of span %s must cover its whole range %s (span gaps are not allowed);"
                " they run from %s to %s",
                "_sid",
                "_span_range",
                "coalesce(lower(_first)::text, 'nothing')",
                "coalesce(upper(_last)::text, 'nothing')",
            ),
            "END IF;",
        ]
    )


def _gaps(t: dict[str, str], active: str) -> str:
    gap = (
        f"(SELECT r FROM unnest({t['multirange']}({t['range']}(lower(_agg), upper(_agg))) - _agg) r"
        " ORDER BY r LIMIT 1)"
    )
    return "\n".join(
        [
            f"SELECT range_agg({t['rng']}) INTO _agg FROM {t['seg']} WHERE {active};",
            "IF _agg IS NOT NULL AND (SELECT count(*) FROM unnest(_agg)) > 1 THEN",
            "  "
            + _raise(
                t["gaps"],
                "segments of span %s leave the gap %s (segment gaps are not allowed)",
                "_sid",
                gap,
            ),
            "END IF;",
        ]
    )


class TouchSpansTrigger(LibraryTrigger):
    """After each writing statement: mark every span whose segments changed for checking.

    Statement-level, over the transition table: one ``UPDATE`` of the touched span rows
    (``segments_revision + 1``, a HOT update: the column has no index), which queues the
    span table's deferred check once per span and statement instead of once per written
    segment. The span rows are then locked until commit, so concurrent writers of one
    span queue up at once.
    """

    level = pgtrigger.Statement
    when = pgtrigger.After

    def __init__(self, *, segment_model: Any, **kwargs: Any) -> None:
        self.segment_model = segment_model
        super().__init__(**kwargs)

    def get_func(self, model: Any) -> str:
        """Collect the span ids from the transition table(s) and touch those spans."""
        seg = self.segment_model._meta
        span_model = seg.get_field("span").related_model._meta
        fk = qn(seg.get_field("span").column)
        cols = ", ".join([qn(seg.pk.column), fk, qn("segment_range"), qn("deleted_at")])
        if self.operation == pgtrigger.Insert:
            ids = f"SELECT {fk} FROM new_rows"
        elif self.operation == pgtrigger.Delete:
            ids = f"SELECT {fk} FROM old_rows"
        else:
            # Only rows whose span, range or deletion changed (a transition table cannot be
            # combined with UPDATE OF columns).
            changed = "SELECT {cols} FROM {a} EXCEPT ALL SELECT {cols} FROM {b}"
            ids = (
                f"SELECT {fk} FROM ({changed.format(cols=cols, a='old_rows', b='new_rows')}) AS o UNION"
                f" SELECT {fk} FROM ({changed.format(cols=cols, a='new_rows', b='old_rows')}) AS n"
            )
        span_pk = qn(span_model.pk.column)
        revision = qn(REVISION)
        return f"""
            UPDATE {qn(span_model.db_table)} SET {revision} = {revision} + 1 WHERE {span_pk} IN ({ids});
            RETURN NULL;
        """


class TruncateGuard(LibraryTrigger):
    """After ``TRUNCATE`` of the segment table of spans that forbid gaps: refuse it while
    active spans remain (they would be left without segments).

    NOTE - row and statement triggers do not fire on TRUNCATE, so the checks above never
    see it. ``AFTER``, not ``BEFORE``: all BEFORE TRUNCATE triggers of one statement run
    before any table is emptied, so ``TRUNCATE span, segment`` would look like a
    violation there.
    """

    level = pgtrigger.Statement
    when = pgtrigger.After
    operation = pgtrigger.Truncate

    def __init__(self, *, segment_model: Any, **kwargs: Any) -> None:
        self.segment_model = segment_model
        super().__init__(**kwargs)

    def get_declare(self, model: Any) -> list[tuple[str, str]]:
        """The id of an active span that is left, if any."""
        return [("_left", "text")]

    def get_func(self, model: Any) -> str:
        """Raise under the tiling constraint's name if an active span is left."""
        seg = self.segment_model._meta
        span = seg.get_field("span").related_model._meta
        pk = qn(span.pk.column)
        message = (
            "TRUNCATE of %s would leave active span %s without segments (span gaps are not"
            " allowed); truncate the span table too, or delete the spans first"
        )
        return f"""
            SELECT {pk}::text INTO _left FROM {qn(span.db_table)} WHERE deleted_at IS NULL
                ORDER BY {pk} LIMIT 1;
            IF FOUND THEN
                {_raise(pgid(seg.db_table, "tiling"), message, "TG_TABLE_NAME", "_left")}
            END IF;
            RETURN NULL;
        """


#: The triggers without which Postgres does not check span invariants (see W002).
ENFORCING = (SpanCheckTrigger, TouchSpansTrigger, TruncateGuard)


def segment_check_triggers(segment_model: Any) -> list[pgtrigger.Trigger]:
    """Statement-level triggers that queue the deferred check of every span they touch
    (and, when spans forbid gaps, the guard against emptying the table)."""
    triggers: list[pgtrigger.Trigger] = [
        TouchSpansTrigger(
            name="segments_check_insert",
            segment_model=segment_model,
            operation=pgtrigger.Insert,
            referencing=pgtrigger.Referencing(new="new_rows"),
        ),
        TouchSpansTrigger(
            name="segments_check_update",
            segment_model=segment_model,
            operation=pgtrigger.Update,
            referencing=pgtrigger.Referencing(old="old_rows", new="new_rows"),
        ),
        TouchSpansTrigger(
            name="segments_check_delete",
            segment_model=segment_model,
            operation=pgtrigger.Delete,
            referencing=pgtrigger.Referencing(old="old_rows"),
        ),
    ]
    if not segment_model._span_options().allow_span_gaps:
        triggers.append(TruncateGuard(name="segments_truncate_guard", segment_model=segment_model))
    return triggers


def span_triggers(segment_model: Any) -> list[pgtrigger.Trigger]:
    """Triggers on the span table for one segment model (named after the segment model)."""
    label = segment_model._meta.model_name[:20]
    revision = qn(REVISION)
    return [
        SpanCheckTrigger(
            name=f"segments_span_upd_{label}",
            segment_model=segment_model,
            operation=pgtrigger.Update,
            # A touch by a segment write, or a change of the span's own range or deletion.
            # NOTE - the check's skip rule relies on every change of these three columns
            # queueing an event (see check_body).
            condition=pgtrigger.Condition(
                f"OLD.{revision} IS DISTINCT FROM NEW.{revision}"
                ' OR OLD."current_range" IS DISTINCT FROM NEW."current_range"'
                ' OR OLD."deleted_at" IS DISTINCT FROM NEW."deleted_at"'
            ),
        ),
        # Every new span is checked, also when gaps are allowed: its segments may have been
        # written earlier in the transaction (the span foreign key is deferred), when the
        # touch found no span row to queue the check on.
        SpanCheckTrigger(
            name=f"segments_span_ins_{label}",
            segment_model=segment_model,
            operation=pgtrigger.Insert,
        ),
    ]
