"""Database objects that enforce span invariants: constraints and pgtrigger triggers.

Everything here is generated from the model classes and installed by the user's ordinary
migrations (Django constraints; django-pgtrigger triggers).

How the checks work, per segment model:

* ``no_overlap`` - exclusion constraint ``(span_id WITH =, segment_range WITH &&)`` over
  active rows, ``DEFERRABLE INITIALLY IMMEDIATE``: checked at the end of each statement,
  so one ``UPDATE`` that shifts many touching ranges passes.
* ``range_valid`` - check constraint: non-empty, bounded, ``[)`` bounds, and both bounds
  finite values Django can read back (`finite_bounds`).
* ``segments_check_insert`` / ``_update`` / ``_delete`` - statement-level triggers on the
  segment table. From the statement's transition table they collect the spans whose
  segments were written (for updates: whose span, range or deletion changed) and touch
  those span rows once: ``segments_revision = segments_revision + 1``.
  Where the span forbids segment gaps, the touch also records on the span row the ranges
  the statement wrote, merged (``segments_changed``).
* ``segments_span_upd_<model>`` / ``segments_span_ins_<model>`` - deferred constraint
  triggers on the span table, queued by a change of the span's ``segments_revision`` (a
  touch), range or deletion, and by a new span. At commit (or ``SET CONSTRAINTS ...
  IMMEDIATE``) each checks its span: containment and the span's ends (two index probes:
  first and last segment by lower bound) and, where segment gaps are forbidden, gaps
  around the ranges the event's statement wrote (each part of its region with the active
  segment before and after it, through the navigation index). A bulk write of N segments
  into S spans queues S events, not N, and no check reads more than the segments written
  and their neighbours (a new span: all its segments, all written in this transaction).
* Containment and ends are checked once per span and firing: an event whose row version
  no longer shows the span's current ``(current_range, deleted_at, segments_revision)``
  skips them, because the change that came after it queued an event of its own, which
  checks them. The last such change always matches, so it checks. The gap check of an
  event never skips: it covers its own statement's writes, which no other event
  covers. Nothing a session may set decides either: an event reads the span row version
  its own write created.
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
import textwrap
from typing import Any

import pgtrigger
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import lookups
from pgtrigger import compiler as pgtrigger_compiler
from pgtrigger import features as pgtrigger_features

from django_segments.migrations_ops import ensure_btree_gist
from django_segments.ranges.compiler import REGION, REVISION, names, qn, templates  # noqa: F401 - REGION, REVISION: public here
from django_segments.ranges.kinds import RangeKind


def pgid(table: str, suffix: str, limit: int = 63) -> str:
    """A predictable object name ``<table>_<suffix>``, hashed down to ``limit`` characters."""
    name = f"{table}_{suffix}".lower()
    if len(name) <= limit:
        return name
    digest = hashlib.sha1(table.encode()).hexdigest()[:5]  # noqa: S324 - a name, not security
    return f"{table[: limit - len(suffix) - 8]}_{digest}_{suffix}".lower()


def finite_bounds(field: str, kind: RangeKind) -> list[Any]:
    """Conditions that both bounds of ``field`` are finite values within ``kind``'s limits.

    A bounded range may still hold ``'infinity'`` / ``'-infinity'`` (date, timestamptz) or
    ``'NaN'`` / ``'Infinity'`` (numeric, PostgreSQL 14 and newer) as a bound; psycopg
    cannot load an infinite date or timestamp, and a NaN bound breaks every computation on
    the range. Dates and timestamps past Python's year 9999 (or before year 1) cannot be
    loaded either, so those bounds are checked against the kind's limits too.
    """
    lower = models.Func(models.F(field), function="lower", output_field=kind.field_class.base_field())
    upper = models.Func(models.F(field), function="upper", output_field=kind.field_class.base_field())
    if kind.name == "decimal":
        # NOTE - Postgres sorts numeric NaN above every number, Infinity included. The
        # literals are untyped (a numeric Value would be refused by DecimalField): Postgres
        # reads them as the other side's type, numeric.
        return [
            lookups.GreaterThan(lower, models.Value("-Infinity")),
            lookups.LessThan(upper, models.Value("Infinity")),
        ]
    if kind.name not in ("date", "datetime") or kind.limits is None:
        return []
    lowest, highest = kind.limits
    finite = [
        models.Func(bound, function="isfinite", output_field=models.BooleanField())
        for bound in (lower, upper)
    ]
    return [
        *finite,
        lookups.GreaterThanOrEqual(lower, models.Value(lowest)),
        lookups.LessThanOrEqual(upper, models.Value(highest)),
    ]


def range_constraints(table: str, field: str, kind: RangeKind) -> list[models.CheckConstraint]:
    """Check constraint: the range is non-empty, bounded, uses ``[)`` bounds, and its bounds
    are finite values of ``kind`` (`finite_bounds`)."""
    shape = sorted(
        {
            f"{field}__isempty": False,
            f"{field}__lower_inf": False,
            f"{field}__upper_inf": False,
            f"{field}__lower_inc": True,
            f"{field}__upper_inc": False,
        }.items()
    )
    q = models.Q(*shape, *finite_bounds(field, kind))
    return [models.CheckConstraint(condition=q, name=pgid(table, f"{field}_valid"))]


class SegmentExclusionConstraint(ExclusionConstraint):
    """The no-overlap constraint; it creates ``btree_gist`` first if the database lacks it.

    NOTE - ``span_id WITH =`` in a GiST index needs btree_gist's operator classes.
    ``makemigrations`` makes a migration that creates this constraint depend on our
    ``0001_btree_gist`` (`django_segments.autodetector`); migrations written before that,
    or by hand, may lack the dependency, so the constraint makes sure of the extension.
    """

    def constraint_sql(self, model: Any, schema_editor: Any) -> Any:
        """Inline form, used by CREATE TABLE."""
        ensure_btree_gist(schema_editor)
        return super().constraint_sql(model, schema_editor)

    def create_sql(self, model: Any, schema_editor: Any) -> Any:
        """ALTER TABLE form, used by AddConstraint."""
        ensure_btree_gist(schema_editor)
        return super().create_sql(model, schema_editor)


def segment_constraints(table: str, kind: RangeKind) -> list[Any]:
    """Constraints of a segment table: valid range, and no overlap among active segments."""
    return [
        *range_constraints(table, "segment_range", kind),
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
        declared = [
            ("_sid", key_type),
            ("_span_range", kind.range_sql_type),
            ("_span_deleted", "timestamptz"),
            ("_revision", "bigint"),
            ("_first", kind.range_sql_type),
            ("_last", kind.range_sql_type),
            # NOTE - %TYPE resolves when the function is created; the span's triggers may be
            # created before the segment table exists (segment model in another app).
            ("_bad_id", "text"),
            ("_bad_range", kind.range_sql_type),
        ]
        # _gap: the first gap found, NULL where segment gaps are allowed.
        declared.append(("_gap", kind.range_sql_type))
        if not self.segment_model._span_options().allow_segment_gaps:
            declared.append(("_changed", kind.range_sql_type))
        return declared

    def get_func(self, model: Any) -> str:
        """The PL/pgSQL body; see the module docstring."""
        return check_body(self.segment_model)


def check_body(segment_model: Any) -> str:
    """Render the check of the firing span (``NEW``) for ``segment_model``."""
    options = segment_model._span_options()
    n = names(segment_model)
    sql = templates("triggers.sql")
    gaps = not options.allow_segment_gaps
    return n.format(
        sql["check_span"],
        gaps=n.format(sql["gaps"]) if gaps else "",
        containment=textwrap.indent(n.format(sql["containment"]), "    ").lstrip(),
        tiling="" if options.allow_span_gaps else textwrap.indent(n.format(sql["tiling"]), "    ").lstrip(),
        gap_raise=n.format(sql["gap_raise"]) if gaps else "",
    )


class TouchSpansTrigger(LibraryTrigger):
    """After each writing statement: mark every span whose segments changed for checking.

    Statement-level, over the transition table: one ``UPDATE`` of the touched span rows
    (``segments_revision + 1``, a HOT update: the column has no index; where the span
    forbids segment gaps, also the ranges written, ``segments_changed``), which queues the
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
        """Collect the spans (and ranges) from the transition table(s) and touch the spans."""
        n = names(self.segment_model)
        sql = templates("triggers.sql")
        operation = (
            "insert"
            if self.operation == pgtrigger.Insert
            else "delete"
            if self.operation == pgtrigger.Delete
            else "update"
        )
        changed = n.format(sql[f"changed_{operation}"])
        regions = not self.segment_model._span_options().allow_segment_gaps
        return n.format(sql["touch_with_region" if regions else "touch"], changed=changed)


class SeedRegionTrigger(LibraryTrigger):
    """Before the insert of a span that forbids segment gaps: its ``segments_changed`` is
    the ranges of its segments written earlier in the transaction (the foreign key is
    deferred), so that the new span's deferred check looks at those only."""

    level = pgtrigger.Row
    when = pgtrigger.Before
    operation = pgtrigger.Insert

    def __init__(self, *, segment_model: Any, **kwargs: Any) -> None:
        self.segment_model = segment_model
        super().__init__(**kwargs)

    def get_func(self, model: Any) -> str:
        """Set ``NEW.segments_changed`` from the span's active segments."""
        return names(self.segment_model).format(templates("triggers.sql")["seed_region"])


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
        return names(self.segment_model).format(templates("triggers.sql")["truncate_guard"])


#: The triggers without which Postgres does not check span invariants (see W002).
ENFORCING = (SpanCheckTrigger, TouchSpansTrigger, TruncateGuard, SeedRegionTrigger)


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
        *(
            []
            if segment_model._span_options().allow_segment_gaps
            else [SeedRegionTrigger(name=f"segments_span_seed_{label}", segment_model=segment_model)]
        ),
    ]
