"""Set-based refresh of a user segment's membership, inside Postgres.

One refresh is one transaction on the writer database:

1. ``pg_advisory_xact_lock`` serializes refreshes of the same segment (transaction level:
   a session lock would survive a rollback); the change stamp is read after the lock.
2. The ids the definitions select are collected into a temporary table: SQL results are
   streamed from the exec connection in batches into one ``COPY``; static ids travel as one
   array parameter; method and conditions querysets are inlined as subqueries. Ids of
   rows that do not exist in the member table are dropped.
3. One statement closes the periods of members no longer selected and opens periods for
   new ones. Unchanged members are not written at all.
4. The segment's state and a `RefreshRun` are written in the same transaction.

Any failure rolls the transaction back (membership and ``last_success`` untouched), then
records ``failed`` with the error in a new transaction, and raises `RefreshError`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import Error as DatabaseErrorBase
from django.db import connections, models, router, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from django_segments import conf
from django_segments.exceptions import ArchivedSegmentError, RefreshError, SegmentDefinitionError
from django_segments.membership import members as member_ids
from django_segments.membership import safe_sql
from django_segments.membership.models import (
    Membership,
    RefreshRun,
    RefreshState,
    UserSegment,
)
from django_segments.membership.registry import get_segment_method
from django_segments.signals import user_segment_refreshed

logger = logging.getLogger("django_segments.membership")

#: First key of the two-key advisory lock; the second is the segment id.
LOCK_NAMESPACE = 0x5E6D0001
_SHOWN = 10
#: The relation of selected ids when nothing is selected (and for `archive`); its column
#: has the key column's type.
NOTHING_SELECTED = "(SELECT member_id FROM django_segments_membership WHERE false)"


@dataclass(frozen=True)
class RefreshResult:
    """Outcome of one successful refresh."""

    segment_id: int
    entered: int
    exited: int
    member_count: int
    duration: timedelta
    stamp: datetime
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PreviewResult:
    """What a refresh would select now: ``count`` and the first ``members``."""

    count: int
    members: list[models.Model]
    warnings: list[str] = field(default_factory=list)


def writer_alias() -> str:
    """Database alias that membership is written to (the router's choice for `Membership`)."""
    return router.db_for_write(Membership) or "default"


def _set_work_mem(cursor: CursorWrapper) -> None:
    """Give the refresh's hash joins ``SEGMENTS_REFRESH_WORK_MEM`` (this transaction only)."""
    value = conf.refresh_work_mem()
    if value:
        cursor.execute("SELECT set_config('work_mem', %s, true)", [value])


def _lock_key(segment_id: int) -> tuple[int, int]:
    # NOTE - the two-key form of advisory locks takes signed int4 keys.
    key = segment_id & 0xFFFFFFFF
    return LOCK_NAMESPACE, key - (1 << 32) if key >= 1 << 31 else key


def _lock(cursor: CursorWrapper, segment_id: int) -> datetime:
    """Take the segment's transaction-level lock; return the change stamp."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", _lock_key(segment_id))
    # NOTE - clock_timestamp(), not now(): the transaction may have started before a
    # concurrent refresh committed; stamps must grow in lock order.
    cursor.execute("SELECT clock_timestamp()")
    return cursor.fetchone()[0]


def try_lock(cursor: CursorWrapper, segment_id: int) -> bool:
    """Take the segment's refresh lock if no other transaction holds it; never wait.

    True when this transaction now holds it (a refresh in it takes it again at once).
    """
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", _lock_key(segment_id))
    return bool(cursor.fetchone()[0])


class _Collector:
    """Builds the temporary table of selected member ids for one segment."""

    def __init__(self, cursor: CursorWrapper, segment: UserSegment, alias: str) -> None:
        self.cursor = cursor
        self.segment = segment
        self.alias = alias
        self.model = member_ids.get_member_model()
        connection = connections[alias]
        self.pk_type = member_ids.pk_db_type(self.model, connection)
        qn = connection.ops.quote_name
        pk = self.model._meta.pk
        assert pk is not None  # noqa: S101
        self.member_table = qn(self.model._meta.db_table)
        self.pk_column = qn(str(pk.column))
        suffix = uuid.uuid4().hex[:10]
        self.stage = f"segments_stage_{suffix}"
        self.desired = f"segments_desired_{suffix}"
        self.warnings: list[str] = []

    def collect(self) -> str:
        """Return a relation (a temp table, or a subquery over the streamed ids) of the ids
        the definitions select, as ``member_id``: an id may repeat and need not be a
        member's (`existing` narrows it to distinct members; the diff keeps only those of
        the entering ids)."""
        parts: list[str] = []
        params: list[Any] = []
        if self.segment.sql.strip():
            parts.append(self._stage_sql())
        for sql, part_params in (self._static(), self._method(), self._conditions()):
            if sql:
                parts.append(sql)
                params.extend(part_params)
        if not parts:
            return NOTHING_SELECTED
        union = " UNION ".join(f"({part})" for part in parts)
        selected = f"SELECT u.id AS member_id FROM ({union}) AS u(id)"
        if not params:
            # E.g. SQL only (the common case): the diff reads the streamed rows once.
            return f"({selected})"
        # Parameters (static ids, queryset values) cannot travel inside the diff statement,
        # which has named parameters of its own: materialize the ids once.
        # NOTE - no primary key: the diff joins by hash; a btree over a million rows cost
        # more than the diff itself.
        self.cursor.execute(f"CREATE TEMP TABLE {self.desired} (member_id {self.pk_type})")
        self.cursor.execute(f"INSERT INTO {self.desired} (member_id) {selected}", params)
        self.cursor.execute(f"ANALYZE {self.desired}")
        return self.desired

    def existing(self, selected: str) -> str:
        """The distinct ids of existing members in relation ``selected``, as ``member_id``."""
        # NOTE - a semi-join from the member table: each member comes out once, without a
        # DISTINCT over a million ids (half the time of DISTINCT + EXISTS).
        return (
            f"(SELECT m.{self.pk_column} AS member_id FROM {self.member_table} AS m "
            f"WHERE m.{self.pk_column} IN (SELECT s.member_id FROM {selected} AS s))"
        )

    def drop(self) -> None:
        """Drop the temporary tables (also dropped with the session)."""
        self.cursor.execute(f"DROP TABLE IF EXISTS {self.stage}, {self.desired}")

    def _stage_sql(self) -> str:
        self.cursor.execute(f"CREATE TEMP TABLE {self.stage} (member_id {self.pk_type})")
        batches = safe_sql.stream_ids(
            self.segment.sql, pk_type=self.pk_type, batch_size=conf.refresh_batch_size()
        )
        # The query starts (on a standby: after it caught up with the writer, which asks
        # this thread's writer connection) before the COPY takes that connection.
        # closing(): on a writer error the exec connection closes now, in this thread. One
        # COPY takes every batch: a COPY per batch cost a statement each.
        with closing(batches):
            first = next(batches, [])
            with self.cursor.copy(f"COPY {self.stage} (member_id) FROM STDIN") as copy:
                skipped = self._copy(copy, first)
                for batch in batches:
                    skipped += self._copy(copy, batch)
        if skipped:
            self.warnings.append(
                f"{skipped} row(s) of the SQL skipped: the first column is not a valid key ({self.pk_type})."
            )
        self.cursor.execute(f"ANALYZE {self.stage}")
        return f"SELECT member_id FROM {self.stage}"

    def _copy(self, copy: Any, batch: list[str | None]) -> int:
        """Write the valid ids of ``batch``; return how many were not valid keys (None)."""
        # The ids are the canonical text of an integer or a UUID (the wrapper casts them),
        # so they hold no tab, newline or backslash: one block per batch, not a row at a time.
        ids = [member_id for member_id in batch if member_id is not None]
        if ids:
            copy.write("\n".join(ids) + "\n")
        return len(batch) - len(ids)

    def _static(self) -> tuple[str, list[Any]]:
        valid, invalid = member_ids.parse_static_ids(self.segment.static_ids, self.model)
        if invalid:
            self.warnings.append(_listing("invalid static id", invalid))
        if not valid:
            return "", []
        self.cursor.execute(
            f"SELECT x FROM unnest(%s::text[]) AS x WHERE NOT EXISTS (SELECT 1 FROM "
            f"{self.member_table} m WHERE m.{self.pk_column} = x::{self.pk_type})",
            [valid],
        )
        unknown = [row[0] for row in self.cursor.fetchall()]
        if unknown:
            self.warnings.append(_listing("unknown static id", unknown))
        return f"SELECT unnest(%s::text[])::{self.pk_type}", [valid]

    def _method(self) -> tuple[str, list[Any]]:
        if not self.segment.method:
            return "", []
        base = self.model._default_manager.all()
        return self._subquery(get_segment_method(self.segment.method).queryset(base))

    def _conditions(self) -> tuple[str, list[Any]]:
        q = self.segment.conditions_q()
        if q is None:
            return "", []
        return self._subquery(self.model._default_manager.filter(q))

    def _subquery(self, queryset: models.QuerySet) -> tuple[str, list[Any]]:
        sql, params = queryset.values("pk").query.get_compiler(using=self.alias).as_sql()
        return f"SELECT q.id FROM ({sql}) AS q(id)", list(params)


def _listing(what: str, values: list[str]) -> str:
    shown = ", ".join(values[:_SHOWN]) + (" ..." if len(values) > _SHOWN else "")
    return f"{len(values)} {what}(s) skipped: {shown}"


_APPLY = """
WITH current AS (
    -- member_id alone: an index-only scan of the partial unique index; a row's id would
    -- read the heap for every current member (1M members, nothing changed: 0.3-0.4 s
    -- against 0.8-0.9 s). Leavers' rows are found again by that index.
    SELECT member_id FROM {membership}
    WHERE segment_id = %(segment)s AND upper_inf(period)
), diff AS MATERIALIZED (
    -- One full join finds both who enters and who leaves (one pass over each side).
    -- In key order: the periods are then closed in about the order they lie in the
    -- table and its indexes, whichever way the statement is planned (in the order the
    -- join gives, closing 500,000 took twice as long).
    SELECT d.member_id AS entering, c.member_id AS leaving
    FROM {desired} d FULL JOIN current c ON c.member_id = d.member_id
    WHERE d.member_id IS NULL OR c.member_id IS NULL
    ORDER BY leaving, entering
), closed AS (
    UPDATE {membership} AS m SET period = tstzrange(lower(m.period), %(stamp)s, '[)')
    FROM diff
    WHERE diff.leaving IS NOT NULL
      AND m.segment_id = %(segment)s AND m.member_id = diff.leaving AND upper_inf(m.period)
    RETURNING 1
), opened AS (
    INSERT INTO {membership} (segment_id, member_id, period)
    {opened}
    RETURNING 1
)
SELECT (SELECT count(*) FROM opened), (SELECT count(*) FROM closed),
       (SELECT count(*) FROM current)
"""


# The rows `opened` inserts, from `diff`, when ``desired`` holds distinct members only.
_OPEN_MEMBERS = """
    SELECT %(segment)s, diff.entering, tstzrange(%(stamp)s, NULL, '[)') FROM diff
    WHERE diff.entering IS NOT NULL
"""
# ... when ``desired`` is the selection as it came: a semi-join from the member table gives
# each entering member once and leaves out ids that name no member.
_OPEN_SELECTED = """
    SELECT %(segment)s, k.{key}, tstzrange(%(stamp)s, NULL, '[)') FROM {members} AS k
    WHERE k.{key} IN (SELECT diff.entering FROM diff WHERE diff.entering IS NOT NULL)
    ORDER BY k.{key}
"""


def _apply(
    cursor: CursorWrapper, segment_id: int, desired: str, stamp: datetime, *, members_only: bool
) -> tuple[int, int, int]:
    """Close and open periods in one statement; return ``(entered, exited, count)``.

    ``members_only``: ``desired`` holds distinct ids of existing members; otherwise any ids.
    """
    qn = connections[writer_alias()].ops.quote_name
    model = member_ids.get_member_model()
    members, key = qn(model._meta.db_table), qn(str(model._meta.pk.column))
    opened = _OPEN_MEMBERS if members_only else _OPEN_SELECTED.format(members=members, key=key)
    statement = _APPLY.format(membership=qn(Membership._meta.db_table), desired=desired, opened=opened)
    cursor.execute(statement, {"stamp": stamp, "segment": segment_id})
    entered, exited, before = cursor.fetchone()
    # NOTE - every part of one statement sees the same snapshot: "current" is as it was.
    return int(entered), int(exited), int(before) + int(entered) - int(exited)


def refresh(segment: UserSegment) -> RefreshResult:
    """Recompute ``segment``'s membership; raise `RefreshError` (recorded) on failure.

    An archived segment is refused with `ArchivedSegmentError`, which is not recorded.
    """
    _require_saved(segment, "refreshing")
    if segment.archived_at is not None:
        raise _archived(segment)
    alias = writer_alias()
    attempt = timezone.now()
    started = time.monotonic()
    try:
        segment.validate_definitions()
        result = _refresh_in_transaction(segment, alias, attempt, started)
    except ArchivedSegmentError:
        raise
    except Exception as exc:
        duration = timedelta(seconds=time.monotonic() - started)
        message = str(exc).strip() or type(exc).__name__
        logger.warning("Refresh of segment %r failed: %s", segment.slug, message, exc_info=True)
        _record_failure(segment, alias, attempt, duration, message)
        raise RefreshError(f"Refresh of segment {segment.slug!r} failed: {message}") from exc
    logger.info(
        "Refreshed segment %r: +%d -%d = %d in %.3fs",
        segment.slug,
        result.entered,
        result.exited,
        result.member_count,
        result.duration.total_seconds(),
    )
    return result


def archive(segment: UserSegment) -> RefreshResult:
    """Close every open period of ``segment`` now and mark it archived, in one transaction.

    Recorded as a successful `RefreshRun` whose exits are the former members, and sent as
    `user_segment_refreshed` with ``archived=True``. Archiving an archived segment changes
    nothing and raises `ArchivedSegmentError`.
    """
    _require_saved(segment, "archiving")
    if segment.archived_at is not None:
        raise _archived(segment)
    alias = writer_alias()
    attempt = timezone.now()
    started = time.monotonic()
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        stamp = _lock(cursor, segment.pk)
        entered, exited, count = _apply(cursor, segment.pk, NOTHING_SELECTED, stamp, members_only=True)
        result = _record_success(
            segment, alias, attempt, started, (stamp, entered, exited, count), warnings=[], archived=True
        )
    logger.info("Archived segment %r: -%d", segment.slug, result.exited)
    return result


def _require_saved(segment: UserSegment, doing: str) -> None:
    if segment.pk is None:
        msg = f"Save the user segment before {doing} it; preview() works unsaved."
        raise SegmentDefinitionError(msg)


def _archived(segment: UserSegment) -> ArchivedSegmentError:
    return ArchivedSegmentError(
        f"User segment {segment.slug!r} was archived at {segment.archived_at}; it is not refreshed again."
    )


def _refresh_in_transaction(
    segment: UserSegment, alias: str, attempt: datetime, started: float
) -> RefreshResult:
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        _set_work_mem(cursor)
        stamp = _lock(cursor, segment.pk)
        collector = _Collector(cursor, segment, alias)
        # NOTE - a segment with members diffs the selection as it came and checks only the
        # entering ids (1M members, 1% changed: 1.1 s against 1.7 s narrowing it first);
        # one without (a first refresh, where every id enters) narrows it first (a pass
        # over the member table, 1.5 s less than checking 1M entering ids one by one).
        # Either is exact; the stored count only chooses the cheaper.
        selected = collector.collect()
        members_only = not segment.member_count
        desired = collector.existing(selected) if members_only else selected
        entered, exited, count = _apply(cursor, segment.pk, desired, stamp, members_only=members_only)
        collector.drop()
        return _record_success(
            segment, alias, attempt, started, (stamp, entered, exited, count), warnings=collector.warnings
        )


def _record_success(
    segment: UserSegment,
    alias: str,
    attempt: datetime,
    started: float,
    applied: tuple[datetime, int, int, int],
    *,
    warnings: list[str],
    archived: bool = False,
) -> RefreshResult:
    """In the refresh's transaction: the run, the segment's state, and `user_segment_refreshed`
    once the transaction commits. ``applied`` is ``(stamp, entered, exited, count)``."""
    stamp, entered, exited, count = applied
    duration = timedelta(seconds=time.monotonic() - started)
    run = RefreshRun.objects.using(alias).create(
        segment=segment,
        state=RefreshState.OK,
        started_at=attempt,
        stamp=stamp,
        duration=duration,
        entered=entered,
        exited=exited,
        member_count=count,
        warnings="\n".join(warnings),
    )
    with connections[alias].cursor() as cursor:
        _prune_runs(cursor, segment.pk)
    values = {
        "state": RefreshState.OK,
        "last_attempt": attempt,
        "last_success": stamp,
        "last_duration": duration,
        "member_count": count,
        "last_error": "",
        "last_warnings": run.warnings,
        **({"archived_at": stamp} if archived else {}),
    }
    # An archive that committed while this refresh waited for the lock leaves no row to
    # update: the refresh is refused and rolled back.
    if not UserSegment.objects.using(alias).filter(pk=segment.pk, archived_at=None).update(**values):
        segment.archived_at = (
            UserSegment.objects.using(alias).values_list("archived_at", flat=True).get(pk=segment.pk)
        )
        raise _archived(segment)
    for name, value in values.items():
        setattr(segment, name, value)
    result = RefreshResult(segment.pk, entered, exited, count, duration, stamp, list(warnings))
    transaction.on_commit(
        lambda: user_segment_refreshed.send(
            sender=UserSegment, segment=segment, run=run, result=result, archived=archived
        ),
        using=alias,
    )
    return result


def _prune_runs(cursor: Any, segment_pk: Any) -> None:
    """Delete the segment's runs beyond the newest ``SEGMENTS_REFRESH_RUNS_KEEP`` (one statement)."""
    keep = conf.refresh_runs_keep()
    if keep is None:
        return
    table = cursor.db.ops.quote_name(RefreshRun._meta.db_table)
    cursor.execute(
        f"DELETE FROM {table} WHERE segment_id = %s AND id NOT IN"
        f" (SELECT id FROM {table} WHERE segment_id = %s ORDER BY started_at DESC, id DESC LIMIT %s)",
        [segment_pk, segment_pk, keep],
    )


def _record_failure(
    segment: UserSegment, alias: str, attempt: datetime, duration: timedelta, message: str
) -> None:
    """Mark ``segment`` failed; ``last_success`` and membership stay as they were."""
    connection = connections[alias]
    if not connection.in_atomic_block:
        # NOTE - a terminated backend leaves a dead connection; reconnect to record.
        connection.close_if_unusable_or_obsolete()
    values = {
        "state": RefreshState.FAILED,
        "last_attempt": attempt,
        "last_duration": duration,
        "last_error": message,
    }
    try:
        with transaction.atomic(using=alias):
            RefreshRun.objects.using(alias).create(
                segment=segment,
                state=RefreshState.FAILED,
                started_at=attempt,
                duration=duration,
                error=message,
            )
            with connections[alias].cursor() as cursor:
                _prune_runs(cursor, segment.pk)
            UserSegment.objects.using(alias).filter(pk=segment.pk).update(**values)
    except DatabaseErrorBase:
        logger.exception("Could not record the failed refresh of segment %r", segment.slug)
        return
    for name, value in values.items():
        setattr(segment, name, value)


def preview(segment: UserSegment, *, limit: int = 20) -> PreviewResult:
    """Run the definitions of (possibly unsaved) ``segment`` and roll everything back."""
    segment.validate_definitions()
    alias = writer_alias()
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        collector = _Collector(cursor, segment, alias)
        desired = collector.existing(collector.collect())
        cursor.execute(f"SELECT count(*) FROM {desired} AS d")
        count = int(cursor.fetchone()[0])
        cursor.execute(
            f"SELECT member_id FROM {desired} AS d ORDER BY member_id::{collector.pk_type} LIMIT %s",
            [limit],
        )
        ids = [row[0] for row in cursor.fetchall()]
        transaction.set_rollback(True, using=alias)
    members = list(collector.model._default_manager.filter(pk__in=ids).order_by("pk"))
    return PreviewResult(count, members, collector.warnings)


def matches(segment: UserSegment, member: Any) -> bool:
    """Live check for one member: the definitions restricted to its id; writes nothing."""
    segment.validate_definitions()
    model = member_ids.get_member_model()
    member_id = member_ids.member_id_of(model, member)
    if member_id is None:
        return False
    base = model._default_manager.all()
    if not base.filter(pk=member_id).exists():
        return False
    return any(check() for check in _live_checks(segment, model, base, member_id))


def _live_checks(
    segment: UserSegment, model: type[models.Model], base: models.QuerySet, member_id: str
) -> Iterator[Any]:
    """Cheapest first; each is a zero-argument callable answering for ``member_id``."""
    if segment.static_ids.strip():
        valid, _ = member_ids.parse_static_ids(segment.static_ids, model)
        yield lambda: member_id in valid
    if segment.method:
        method = get_segment_method(segment.method)
        # Through a subquery, as a refresh inlines it: the queryset may be sliced.
        yield lambda: base.filter(pk=member_id, pk__in=method.queryset(base).values("pk")).exists()
    q = segment.conditions_q()
    if q is not None:
        yield lambda: base.filter(q).filter(pk=member_id).exists()
    if segment.sql.strip():
        pk_type = member_ids.pk_db_type(model, connections[writer_alias()])
        yield lambda: safe_sql.contains(segment.sql, member_id, pk_type=pk_type)
