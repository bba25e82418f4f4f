"""User segments, their membership history and their refresh runs.

`UserSegment` defines a set of members (rows of ``SEGMENTS_MEMBER_MODEL``) as the union
of up to four definitions: ``sql``, ``static_ids``, a registered ``method`` and a
``conditions`` tree. `Membership` keeps one row per (segment, member, period): current
members have an open-ended period, former members a closed one; a unique index allows
one open period per member and segment, and statement triggers forbid overlapping ones.
`CurrentMembership` maps the ``django_segments_current_membership`` view (current rows
only). `RefreshRun` records each refresh attempt; its change feed (who entered, who
left) is derived from the period bounds it stamped, so no per-member change row is
written twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pgtrigger
from django.contrib.postgres.fields import DateTimeRangeField
from django.core.exceptions import ValidationError
from django.db import connections, models, router, transaction
from django.db.models import F, Func, Q
from django.utils import timezone

from django_segments import conf
from django_segments.conditions.fields import ConditionsField
from django_segments.exceptions import (
    ConditionError,
    NeverRefreshedError,
    RangeValueError,
    SegmentDefinitionError,
)
from django_segments.membership import members as member_ids
from django_segments.membership.registry import get_segment_method
from django_segments.ranges.ddl import LibraryTrigger

if TYPE_CHECKING:
    from django_segments.membership.refresh import PreviewResult, RefreshResult

logger = logging.getLogger("django_segments.membership")

CURRENT_VIEW = "django_segments_current_membership"
#: Whether a member is current: one probe of the unique index of open periods. Written
#: out rather than built by the ORM, which took two thirds of the call's time.
HAS_MEMBER_SQL = f"SELECT EXISTS (SELECT 1 FROM {CURRENT_VIEW} WHERE segment_id = %s AND member_id = %s)"
#: The definitions held as text (the fourth, ``conditions``, is JSON).
_TEXT_DEFINITIONS = ("sql", "static_ids", "method")


class RefreshState(models.TextChoices):
    """Outcome of a segment's latest refresh attempt."""

    NEVER = "never", "never refreshed"
    OK = "ok", "ok"
    FAILED = "failed", "failed"


class UserSegmentQuerySet(models.QuerySet["UserSegment"]):
    """Queries over user segments."""

    def active(self) -> UserSegmentQuerySet:
        """Segments that are not archived."""
        return self.filter(archived_at=None)

    def stale(self, *, max_age: timedelta | None = None) -> UserSegmentQuerySet:
        """Active segments never refreshed, failed, edited since, or older than ``max_age``."""
        condition = (
            Q(last_success__isnull=True) | Q(state=RefreshState.FAILED) | Q(updated_at__gt=F("last_success"))
        )
        if max_age is not None:
            condition |= Q(last_success__lt=timezone.now() - max_age)
        return self.active().filter(condition)

    def due(self, now: datetime | None = None) -> UserSegmentQuerySet:
        """Active segments with a ``refresh_interval`` whose last attempt is that old at
        ``now`` (default: now), or that were never attempted; oldest attempt first."""
        when = timezone.now() if now is None else now
        next_due = F("last_attempt") + F("refresh_interval")
        due = Q(refresh_interval__isnull=False) & (Q(last_attempt__isnull=True) | Q(next_due__lte=when))
        return (
            self.active()
            .alias(next_due=next_due)
            .filter(due)
            .order_by(F("last_attempt").asc(nulls_first=True), "pk")
        )


class UserSegment(models.Model):
    """A named set of members, materialized into `Membership` by `refresh`.

    Definitions combine as a union; at least one is required. Membership questions about
    a segment that was never refreshed raise `NeverRefreshedError` rather than answering
    "not a member"; `matches` answers live for one member.
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    priority = models.IntegerField(
        default=0, help_text="A member's segments are listed by ascending priority."
    )
    sql = models.TextField(
        "SQL",
        blank=True,
        help_text="One SELECT whose first column is the member id. It runs read-only with a "
        "time limit on the segments execution connection.",
    )
    static_ids = models.TextField(
        "static ids",
        blank=True,
        help_text="Member ids separated by spaces, commas or new lines.",
    )
    method = models.CharField(
        max_length=100, blank=True, help_text="A registered segment method (see the docs)."
    )
    conditions = ConditionsField(null=True, blank=True, help_text="A condition tree on the member model.")

    state = models.CharField(
        max_length=10, choices=RefreshState.choices, default=RefreshState.NEVER, editable=False
    )
    last_attempt = models.DateTimeField(null=True, blank=True, editable=False)
    last_success = models.DateTimeField(null=True, blank=True, editable=False)
    last_duration = models.DurationField(null=True, blank=True, editable=False)
    member_count = models.PositiveIntegerField(default=0, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_warnings = models.TextField(blank=True, editable=False)
    refresh_interval = models.DurationField(
        null=True,
        blank=True,
        help_text="Scheduled refreshes (refresh_due) refresh this segment this long after its "
        "last attempt, e.g. 01:00:00 for hourly. Empty: only when asked.",
    )
    refresh_queued_at = models.DateTimeField(
        "refresh queued",
        null=True,
        blank=True,
        editable=False,
        help_text="When a refresh was queued that has not run yet.",
    )
    archived_at = models.DateTimeField(
        "archived",
        null=True,
        blank=True,
        editable=False,
        help_text="When archive() closed every membership; an archived segment is never refreshed.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserSegmentQuerySet.as_manager()

    class Meta:
        ordering = ("priority", "name")
        verbose_name = "user segment"

    def __str__(self) -> str:
        return self.name

    def __bool__(self) -> bool:
        """Always True: a segment object is truthy even when it has no members."""
        return True

    def __len__(self) -> int:
        """Number of current members (one COUNT query)."""
        return self.count()

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Refuse invalid definitions, save, then refresh if ``SEGMENTS_REFRESH_ON_SAVE``."""
        self.validate_definitions()
        super().save(*args, **kwargs)
        mode = conf.refresh_on_save()
        if mode and self.archived_at is None:
            from django_segments.membership.tasks import schedule_refresh  # noqa: PLC0415

            pk = self.pk
            transaction.on_commit(lambda: schedule_refresh(pk, mode), using=self._state.db)

    # --- definitions ------------------------------------------------------------------

    def has_definition(self) -> bool:
        """Whether any of the four definitions is given."""
        has_conditions = self.conditions is not None  # {} and [] are malformed, not absent
        texts = (self.definition_text(field) for field in _TEXT_DEFINITIONS)
        return any(text.strip() for text in texts) or has_conditions

    def definition_text(self, field: str) -> str:
        """The text of definition ``field`` (``sql``, ``static_ids`` or ``method``); ``""``
        when it holds no text (`definition_problems` reports a value that is not text)."""
        value = getattr(self, field)
        return value if isinstance(value, str) else ""

    def conditions_q(self) -> Q | None:
        """The conditions tree compiled to a ``Q`` on the member model (None if absent).

        `ConditionError` for a malformed tree (``{}`` and ``[]`` included),
        `PythonOnlyConditionError` naming each condition without SQL and its path.
        """
        if self.conditions is None:
            return None
        from django_segments.conditions import default_definitions, parse  # noqa: PLC0415

        return parse(self.conditions, definitions=default_definitions()).as_q()

    def definition_problems(self) -> dict[str, Exception]:
        """Field name (or ``__all__``) -> exception for every invalid definition.

        Needs no database access; the SQL is parsed, not run. Static ids are not checked
        here: a refresh skips and reports invalid or unknown ones (see `clean`).
        """
        from django_segments.membership.safe_sql import validate_sql  # noqa: PLC0415

        problems: dict[str, Exception] = {}
        for field in _TEXT_DEFINITIONS:
            value = getattr(self, field)
            if not isinstance(value, str):
                problems[field] = SegmentDefinitionError(
                    f"The {field} definition must be text ('' for none); got {type(value).__name__}."
                )
        if not problems and not self.has_definition():
            problems["__all__"] = SegmentDefinitionError(
                "Give at least one definition: SQL, static ids, method or conditions."
            )
        checks: list[tuple[str, Callable[[], object]]] = []
        if self.definition_text("sql").strip():
            checks.append(("sql", lambda: validate_sql(self.sql)))
        if self.definition_text("method"):
            checks.append(("method", lambda: get_segment_method(self.method)))
        checks.append(("conditions", self.conditions_q))
        for field, check in checks:
            try:
                check()
            except (SegmentDefinitionError, ConditionError) as exc:
                problems[field] = exc
        return problems

    def _check_static_ids(self) -> None:
        _, invalid = member_ids.parse_static_ids(self.static_ids, member_ids.get_member_model())
        if invalid:
            shown = ", ".join(invalid[:10]) + (" ..." if len(invalid) > 10 else "")
            msg = f"{len(invalid)} invalid id(s): {shown}"
            raise SegmentDefinitionError(msg)

    def validate_definitions(self) -> None:
        """Raise the first problem of `definition_problems` (a `SegmentsError`)."""
        for exc in self.definition_problems().values():
            raise exc

    def clean(self) -> None:
        """Report invalid definitions, and malformed static ids, as form errors."""
        super().clean()
        problems = self.definition_problems()
        try:
            self._check_static_ids()
        except SegmentDefinitionError as exc:
            problems["static_ids"] = exc
        if problems:
            raise ValidationError({field: str(exc) for field, exc in problems.items()})

    # --- refresh ----------------------------------------------------------------------

    def refresh(self) -> RefreshResult:
        """Recompute membership now; see `django_segments.membership.refresh.refresh`."""
        from django_segments.membership.refresh import refresh  # noqa: PLC0415

        return refresh(self)

    def archive(self) -> RefreshResult:
        """End the segment and keep its history: close every current membership now (the
        run's exits are the former members), set ``archived_at``, send `user_segment_refreshed`
        with ``archived=True``. An archived segment is never refreshed again (refresh
        raises `ArchivedSegmentError`; schedules and ``--all`` skip it) and has no
        members; ``members_at`` and the runs still answer who was a member when.
        ``delete()`` instead erases the segment with its whole history.
        """
        from django_segments.membership.refresh import archive  # noqa: PLC0415

        return archive(self)

    def preview(self, *, limit: int = 20) -> PreviewResult:
        """Count and first ``limit`` members the definitions select now, writing nothing."""
        from django_segments.membership.refresh import preview  # noqa: PLC0415

        return preview(self, limit=limit)

    # --- membership -------------------------------------------------------------------

    def _require_refreshed(self) -> None:
        if self.last_success is None:
            msg = (
                f"User segment {self.slug!r} has never been refreshed, so its membership is "
                f"unknown. Run `manage.py refresh_segments {self.slug}`, or use "
                "segment.matches(member) for a live answer."
            )
            raise NeverRefreshedError(msg)

    def has_member(self, member: Any) -> bool:
        """Whether ``member`` (instance or primary key) is a current member.

        False without a query for an unsaved instance and for a deleted segment;
        `NeverRefreshedError` when the segment was never refreshed; `InvalidMemberError` for
        a value that is neither a member nor a member's key.
        """
        model = member_ids.get_member_model()
        member_id = member_ids.member_key_of(model, member)
        if member_id is None or (self.pk is None and self.last_success is not None):
            return False
        self._require_refreshed()
        alias = router.db_for_read(CurrentMembership, instance=self)
        with connections[alias].cursor() as cursor:
            cursor.execute(HAS_MEMBER_SQL, [self.pk, member_id])
            return bool(cursor.fetchone()[0])

    def matches(self, member: Any) -> bool:
        """Live check: would a refresh now include ``member``? Writes nothing."""
        from django_segments.membership.refresh import matches  # noqa: PLC0415

        return matches(self, member)

    @property
    def members(self) -> models.QuerySet:
        """Current members as a queryset of the member model."""
        self._require_refreshed()
        return member_queryset(CurrentMembership.objects.filter(segment=self))

    def count(self) -> int:
        """Number of current members (one COUNT query)."""
        self._require_refreshed()
        return CurrentMembership.objects.filter(segment=self).count()

    def members_at(self, when: datetime) -> models.QuerySet:
        """Members at instant ``when`` (an aware datetime), from the recorded history."""
        if not isinstance(when, datetime) or timezone.is_naive(when):
            got = "a naive datetime" if isinstance(when, datetime) else f"a {type(when).__name__}"
            msg = f"members_at(when) needs an aware datetime; got {got}."
            raise RangeValueError(msg)
        self._require_refreshed()
        return member_queryset(self.memberships.at(when))


def member_queryset(memberships: models.QuerySet) -> models.QuerySet:
    """Member-model queryset of the members of ``memberships``."""
    model = member_ids.get_member_model()
    return model._default_manager.filter(pk__in=memberships.values("member_id"))


class MembershipQuerySet(models.QuerySet["Membership"]):
    """Queries over membership periods."""

    def current(self) -> MembershipQuerySet:
        """Rows with an open-ended period."""
        return self.filter(period__upper_inf=True)

    def at(self, when: datetime) -> MembershipQuerySet:
        """Rows whose period contains ``when``."""
        return self.filter(period__contains=when)

    def for_member(self, member: Any) -> MembershipQuerySet:
        """Rows of one member (instance or primary key)."""
        model = member_ids.get_member_model()
        return self.filter(member_id=member_ids.member_key_of(model, member))


def forget_member(member: Any) -> int:
    """Erase the whole membership history of ``member`` (instance or primary key) in every
    segment; return the number of periods deleted.

    For a request to erase what is recorded about a person who stays a member: the member
    row is kept, and the next refresh of a segment the member still matches starts a new
    period. Deleting the member erases the same rows by itself (``ON DELETE CASCADE``).
    """
    deleted, _ = Membership.objects.for_member(member).delete()
    return deleted


class _NoOverlap(LibraryTrigger):
    """After each INSERT / UPDATE statement: no two periods of one member in one segment overlap.

    One set-based query per statement over the written rows (a transition table), so a
    refresh that writes a million rows pays one join, not a million probes.
    """

    level = pgtrigger.Statement
    when = pgtrigger.After
    referencing = pgtrigger.Referencing(new="written")
    func = """
        IF EXISTS (
            SELECT 1 FROM written w JOIN django_segments_membership m
              ON m.segment_id = w.segment_id AND m.member_id = w.member_id
             AND m.id <> w.id AND m.period && w.period
        ) THEN
            RAISE EXCEPTION USING ERRCODE = '23P01', CONSTRAINT = 'segments_membership_no_overlap',
                MESSAGE = 'periods of one member in one segment must not overlap';
        END IF;
        RETURN NULL;
    """


class Membership(models.Model):
    """One member in one segment during ``period`` (``[entered, left)``; open if current)."""

    # NOTE - no separate index on segment_id: (segment_id, lower(period)) serves it.
    segment = models.ForeignKey(
        UserSegment, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    # NOTE - the database's own constraint is ON DELETE CASCADE (migration 0007), so a
    # member deleted by raw SQL loses its history as one deleted through the ORM does.
    # No index of its own: segments_membership_member below leads with the column.
    member = models.ForeignKey(
        conf.member_model(),
        on_delete=models.CASCADE,
        related_name="segment_memberships",
        db_index=False,
    )
    period = DateTimeRangeField()

    objects = MembershipQuerySet.as_manager()

    class Meta:
        # NOTE - no GiST exclusion constraint on (segment, member_id, period): with a text
        # member_id it made writes ~10x slower (first refresh of 1M members: 85 s). The
        # rules it kept are enforced here instead: at most one open period per (segment,
        # member) by the unique index below (safe under concurrency), and no overlapping
        # periods by set-based statement triggers (`_NoOverlap`).
        constraints = [
            models.CheckConstraint(
                condition=Q(period__lower_inf=False),
                name="segments_membership_period_valid",
            ),
            models.UniqueConstraint(
                fields=["segment", "member"],
                condition=Q(period__upper_inf=True),
                name="segments_membership_current",
            ),
        ]
        triggers = [
            _NoOverlap(name="segments_membership_no_overlap_ins", operation=pgtrigger.Insert),
            _NoOverlap(name="segments_membership_no_overlap_upd", operation=pgtrigger.Update),
        ]
        indexes = [
            models.Index(fields=["segment", "member"], name="segments_membership_history"),
            # Over every row, not only current ones: deleting a member (the ORM's cascade
            # or the foreign key's ON DELETE CASCADE) finds its whole history by it, and
            # "segments of one member" reads it with segment_id.
            models.Index(fields=["member", "segment"], name="segments_membership_member"),
            models.Index(F("segment"), Func("period", function="lower"), name="segments_membership_entered"),
            models.Index(F("segment"), Func("period", function="upper"), name="segments_membership_left"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} in {self.segment_id} during {self.period}"


class CurrentMembership(models.Model):
    """Read-only model of the view of current membership rows (``CURRENT_VIEW``)."""

    id = models.BigIntegerField(primary_key=True)
    segment = models.ForeignKey(
        UserSegment, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    member = models.ForeignKey(
        conf.member_model(),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="current_segment_memberships",
    )
    since = models.DateTimeField()

    class Meta:
        managed = False
        db_table = CURRENT_VIEW

    def __str__(self) -> str:
        return f"{self.member_id} in {self.segment_id} since {self.since}"


class RefreshRun(models.Model):
    """One refresh attempt of a segment.

    A successful run stamps every change it makes with ``stamp``: members who entered
    have ``lower(period) = stamp``, members who left ``upper(period) = stamp``. `entries`
    and `exits` read that change feed back (indexed), without a separate change table.
    """

    segment = models.ForeignKey(UserSegment, on_delete=models.CASCADE, related_name="refresh_runs")
    state = models.CharField(max_length=10, choices=RefreshState.choices)
    started_at = models.DateTimeField()
    stamp = models.DateTimeField(null=True, blank=True)
    duration = models.DurationField()
    entered = models.PositiveIntegerField(default=0)
    exited = models.PositiveIntegerField(default=0)
    member_count = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    warnings = models.TextField(blank=True)

    class Meta:
        ordering = ("-started_at", "-id")
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"{self.segment_id} {self.state} at {self.started_at:%Y-%m-%d %H:%M:%S}"

    def entries(self) -> MembershipQuerySet:
        """Memberships opened by this run (empty for a failed run)."""
        if self.stamp is None:
            return Membership.objects.none()
        return Membership.objects.filter(segment_id=self.segment_id, period__startswith=self.stamp)

    def exits(self) -> MembershipQuerySet:
        """Memberships closed by this run (empty for a failed run)."""
        if self.stamp is None:
            return Membership.objects.none()
        return Membership.objects.filter(segment_id=self.segment_id, period__endswith=self.stamp)
