"""User segments: definitions, refresh, history, state, the member-side API."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from django_segments import conf
from django_segments.exceptions import (
    ConditionError,
    NeverRefreshedError,
    PythonOnlyConditionError,
    RefreshError,
    SegmentDefinitionError,
    UnregisteredMethodError,
    UnsafeSQLError,
)
from django_segments.membership import members as member_ids
from django_segments.membership import refresh as refresh_module
from django_segments.membership import safe_sql, tasks
from django_segments.membership.registry import (
    get_segment_method,
    register_segment_method,
    registered_methods,
    unregister_segment_method,
)
from django_segments.membership.router import SegmentsExecRouter
from django_segments.models import CurrentMembership, Membership, RefreshRun, UserSegment
from tests.memberapp.models import IntMember, UuidMember
from tests.membership_helpers import (
    current_ids,
    make_segment,
    membership_rows,
    set_definition,
    transactional,
)

pytestmark = pytest.mark.usefixtures("segments_reader")


@pytest.fixture
def member_model(settings) -> type[Model]:
    """The member model of this run (tests marked with both run in each model's run)."""
    return apps.get_model(settings.SEGMENTS_MEMBER_MODEL)


@pytest.fixture
def int_members(settings) -> list[IntMember]:
    """Ten integer-keyed members with levels 0..9."""
    return IntMember.objects.bulk_create(
        IntMember(email=f"m{i}@{'example.org' if i % 2 else 'test.com'}", level=i) for i in range(10)
    )


def _members(model: type[Model], count: int = 10) -> list:
    return model._default_manager.bulk_create(model(email=f"m{i}@example.org", level=i) for i in range(count))


def _level_sql(model: type[Model], level: int = 5) -> str:
    return f"SELECT id FROM {model._meta.db_table} WHERE level >= {level}"


# --- refresh of each definition ----------------------------------------------------------


@pytest.mark.member_model("memberapp.IntMember", "memberapp.UuidMember")
@transactional
def test_sql_definition_for_integer_and_uuid_members(member_model) -> None:
    members = _members(member_model)
    segment = make_segment(sql=_level_sql(member_model))
    result = segment.refresh()
    expected = {str(m.pk) for m in members[5:]}
    assert (result.entered, result.exited, result.member_count) == (5, 0, 5)
    assert current_ids(segment) == expected
    assert {str(m.pk) for m in segment.members} == expected
    assert segment.count() == len(segment) == segment.member_count == 5
    assert segment.has_member(members[7])
    assert not segment.has_member(members[2])
    assert segment.has_member(members[7].pk)
    assert segment.has_member(str(members[7].pk))
    assert members[7].is_member(segment)
    assert members[7].is_member("seg")
    assert not members[2].is_member(segment)


@pytest.mark.member_model("memberapp.UuidMember")
@pytest.mark.django_db
def test_uuid_ids_are_stored_canonically(settings) -> None:
    member = UuidMember.objects.create(email="u@example.org")
    upper = str(member.pk).upper().replace("-", "")
    segment = make_segment(static_ids=f"{{{upper}}}")
    segment.refresh()
    assert current_ids(segment) == {str(member.pk)}
    assert segment.has_member(member)


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_static_ids_are_strict_and_bad_ones_are_reported_not_fatal(int_members) -> None:
    good = int_members[3].pk
    segment = make_segment(static_ids=f"{good}, 99999999\n12abc 1_000 {2**70}")
    result = segment.refresh()
    assert current_ids(segment) == {str(good)}
    assert result.member_count == 1
    assert segment.state == "ok"
    assert result.warnings == [
        f"3 invalid static id(s) skipped: 12abc, 1_000, {2**70}",
        "1 unknown static id(s) skipped: 99999999",
    ]
    assert segment.last_warnings == "\n".join(result.warnings)
    with pytest.raises(ValidationError) as excinfo:
        segment.full_clean()
    assert "3 invalid id(s): 12abc, 1_000" in str(excinfo.value.message_dict["static_ids"])


@pytest.mark.member_model("memberapp.IntMember")
def test_an_unsaved_segment_cannot_be_refreshed_but_can_be_previewed(db, int_members) -> None:
    segment = UserSegment(name="New", slug="new", method="high_level")
    with pytest.raises(SegmentDefinitionError, match="Save the user segment"):
        segment.refresh()
    preview = segment.preview(limit=2)
    assert preview.count == 5
    assert [m.level for m in preview.members] == [5, 6]
    assert not Membership.objects.exists()


@pytest.mark.member_model("memberapp.IntMember", "memberapp.UuidMember")
def test_parse_static_ids_keeps_first_seen_order_without_duplicates() -> None:
    valid, invalid = member_ids.parse_static_ids(" 3,1;3\n\t-2 x ", IntMember)
    assert valid == ["3", "1", "-2"]
    assert invalid == ["x"]
    valid, invalid = member_ids.parse_static_ids("not-a-uuid", UuidMember)
    assert (valid, invalid) == ([], ["not-a-uuid"])


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_registered_method_definition(int_members) -> None:
    segment = make_segment(method="high_level")
    segment.refresh()
    assert current_ids(segment) == {str(m.pk) for m in int_members if m.level >= 5}
    assert get_segment_method("high_level").label == "Level 5 and above"
    assert "high_level" in [m.name for m in registered_methods()]


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
@pytest.mark.parametrize("name", ["create", "delete", "not_registered", "update"])
def test_unregistered_methods_are_impossible(int_members, name) -> None:
    with pytest.raises(UnregisteredMethodError, match="is not a registered segment method"):
        make_segment(method=name)
    segment = make_segment(static_ids=str(int_members[0].pk))
    set_definition(segment, method=name)
    with pytest.raises(RefreshError, match="not a registered segment method"):
        segment.refresh()
    assert IntMember.objects.count() == 10
    assert segment.state == "failed"


def test_registry_rejects_bad_or_duplicate_names() -> None:
    def spenders(queryset):
        return queryset

    with pytest.raises(SegmentDefinitionError, match="must be an identifier"):
        register_segment_method(name="drop table")(spenders)
    register_segment_method(name="spenders_test")(spenders)
    try:

        def other(queryset):
            return queryset

        with pytest.raises(SegmentDefinitionError, match="already registered"):
            register_segment_method(name="spenders_test")(other)
        register_segment_method(name="spenders_test")(spenders)  # the same function again
    finally:
        unregister_segment_method("spenders_test")


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_method_must_return_a_queryset_of_the_member_model(int_members) -> None:
    @register_segment_method(name="returns_a_list")
    def returns_a_list(queryset):
        return list(queryset)

    try:
        segment = make_segment(method="returns_a_list")
        with pytest.raises(RefreshError, match=r"must return a QuerySet of memberapp\.IntMember"):
            segment.refresh()
    finally:
        unregister_segment_method("returns_a_list")


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_conditions_definition(int_members, settings) -> None:
    settings.SEGMENTS_CONDITIONS = "tests.conditions_defs"
    # Emails alternate with the keys, so one parity of the example.org keys has members.
    parity = "even" if int_members[1].pk % 2 == 0 else "odd"
    segment = make_segment(conditions={"all": ["EMAIL_DOMAIN example.org", f"ID_PARITY {parity}"]})
    segment.refresh()
    expected = {
        str(m.pk)
        for m in int_members
        if m.email.endswith("example.org") and m.pk % 2 == int_members[1].pk % 2
    }
    assert expected
    assert current_ids(segment) == expected
    assert all(segment.matches(m) == (str(m.pk) in expected) for m in int_members)


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_python_only_conditions_cannot_define_a_segment(int_members, settings) -> None:
    settings.SEGMENTS_CONDITIONS = "tests.conditions_defs"
    with pytest.raises(PythonOnlyConditionError, match="only be evaluated in Python"):
        make_segment(conditions={"all": ["PALINDROME"]})
    with pytest.raises(ConditionError, match=r"\$\.all\[0\]"):
        make_segment(conditions={"all": ["NO_SUCH_CONDITION"]})
    assert not UserSegment.objects.exists()


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_definitions_combine_as_a_union(int_members, settings) -> None:
    settings.SEGMENTS_CONDITIONS = "tests.conditions_defs"
    by_level = {m.level: m for m in int_members}
    segment = make_segment(
        sql=f"SELECT id FROM memberapp_intmember WHERE level IN (0, 1, 5)",  # noqa: F541
        static_ids=f"{by_level[1].pk} {by_level[2].pk}",
        method="high_level",
        conditions={"all": ["EMAIL_DOMAIN example.org"]},
    )
    result = segment.refresh()
    # sql {0,1,5} + static {1,2} + method {5..9} + odd levels (example.org) {1,3,5,7,9}
    expected = {str(by_level[i].pk) for i in (0, 1, 2, 3, 5, 6, 7, 8, 9)}
    assert current_ids(segment) == expected
    assert result.member_count == 9
    assert all(segment.matches(m) == (str(m.pk) in expected) for m in int_members)


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_ids_of_missing_members_are_dropped(int_members) -> None:
    segment = make_segment(sql="SELECT id FROM memberapp_intmember UNION SELECT -5")
    assert segment.refresh().member_count == 10
    assert "-5" not in current_ids(segment)


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_null_and_duplicate_ids_from_sql(int_members) -> None:
    segment = make_segment(
        sql="SELECT id, 'extra' AS other FROM memberapp_intmember "
        "UNION ALL SELECT id, 'x' FROM memberapp_intmember UNION ALL SELECT NULL, 'y'"
    )
    assert segment.refresh().member_count == 10


# --- validation -------------------------------------------------------------------------


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_clean_reports_each_definition_on_its_field(int_members, settings) -> None:
    settings.SEGMENTS_CONDITIONS = "tests.conditions_defs"
    segment = UserSegment(
        name="Bad",
        slug="bad",
        sql="DELETE FROM memberapp_intmember",
        static_ids="1 x",
        method="create",
        conditions={"all": ["PALINDROME"]},
    )
    with pytest.raises(ValidationError) as excinfo:
        segment.full_clean()
    errors = excinfo.value.message_dict
    assert errors["sql"] == ["Write a SELECT statement; found Delete."]
    assert errors["static_ids"] == ["1 invalid id(s): x"]
    assert "'create' is not a registered segment method" in errors["method"][0]
    assert "only be evaluated in Python" in errors["conditions"][0]
    with pytest.raises(ValidationError, match="Give at least one definition"):
        UserSegment(name="Empty", slug="empty").full_clean()
    with pytest.raises(SegmentDefinitionError, match="Give at least one definition"):
        make_segment("empty")
    with pytest.raises(UnsafeSQLError):
        make_segment(sql="SELECT 1; SELECT 2")


# --- state, failures, never refreshed ---------------------------------------------------


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_failed_refresh_keeps_membership_and_last_success(int_members) -> None:
    segment = make_segment(sql=_level_sql(IntMember))
    segment.refresh()
    before = membership_rows(segment)
    last_success = segment.last_success
    IntMember.objects.update(level=9)  # a refresh would now change membership
    set_definition(segment, sql="SELECT id / 0 FROM memberapp_intmember WHERE level >= 5")
    with pytest.raises(RefreshError, match="division by zero"):
        segment.refresh()
    segment.refresh_from_db()
    assert segment.state == "failed"
    assert "division by zero" in segment.last_error
    assert segment.last_success == last_success
    assert segment.last_attempt > last_success
    assert segment.member_count == 5
    assert membership_rows(segment) == before
    failed = segment.refresh_runs.latest()
    assert (failed.state, failed.stamp, list(failed.entries())) == ("failed", None, [])
    assert "division by zero" in failed.error
    set_definition(segment, sql=_level_sql(IntMember))
    segment.refresh()
    assert (segment.state, segment.last_error, segment.member_count) == ("ok", "", 10)


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_state_of_a_new_segment(int_members, django_assert_num_queries) -> None:
    segment = make_segment(static_ids=str(int_members[0].pk))
    assert (segment.state, segment.last_attempt, segment.last_success) == ("never", None, None)
    for ask in (
        lambda: segment.has_member(int_members[0]),
        lambda: segment.members,
        lambda: len(segment),
        segment.count,
        lambda: int_members[0].is_member(segment),
        lambda: segment.members_at(timezone.now()),
    ):
        with pytest.raises(NeverRefreshedError, match="has never been refreshed"):
            ask()
    with django_assert_num_queries(0):
        assert bool(segment) is True
        assert segment.has_member(IntMember(email="new@example.org")) is False
    assert segment.matches(int_members[0]) is True  # the live answer
    assert list(int_members[0].segments) == []


@pytest.mark.member_model("memberapp.UuidMember")
@pytest.mark.django_db
def test_unsaved_members_are_never_members(settings, django_assert_num_queries) -> None:
    segment = make_segment(static_ids=str(UuidMember.objects.create(email="a@b.c").pk))
    segment.refresh()
    unsaved = UuidMember(email="x@example.org")  # its pk is already set by the default
    with django_assert_num_queries(0):
        assert segment.has_member(unsaved) is False
        assert segment.matches(unsaved) is False
        assert list(unsaved.segments) == []
    assert bool(make_segment("empty", static_ids="1")) is True


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_member_of_another_model_is_a_type_error(int_members) -> None:
    segment = make_segment(static_ids="1")
    segment.refresh()
    with pytest.raises(TypeError, match=r"The member must be a memberapp\.IntMember"):
        segment.has_member(UuidMember.objects.create(email="u@example.org"))


# --- member-side API --------------------------------------------------------------------


@pytest.mark.member_model("memberapp.IntMember", "memberapp.UuidMember")
@transactional
def test_segment_mixin(member_model) -> None:
    members = _members(member_model)
    low = make_segment("low", priority=5, sql=_level_sql(member_model, 0))
    high = make_segment("high", priority=1, sql=_level_sql(member_model, 5))
    tie = make_segment("alpha", priority=5, sql=_level_sql(member_model, 8))
    for segment in (low, high, tie):
        segment.refresh()
    assert list(members[9].segments) == [high, tie, low]
    assert members[9].segment_ids == [high.pk, tie.pk, low.pk]
    assert list(members[2].segments) == [low]
    assert members[9].is_member("alpha")
    assert not members[2].is_member(high)


# --- history and the change feed --------------------------------------------------------


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_history_records_entries_and_exits(int_members) -> None:
    a, b, c = (str(m.pk) for m in int_members[:3])
    segment = make_segment(static_ids=f"{a} {b}")
    first = segment.refresh()
    set_definition(segment, static_ids=f"{b} {c}")
    second = segment.refresh()
    set_definition(segment, static_ids=f"{a} {b} {c}")
    third = segment.refresh()
    assert [(r.entered, r.exited) for r in (first, second, third)] == [(2, 0), (1, 1), (1, 0)]
    assert first.stamp < second.stamp < third.stamp
    periods = {(str(m.member_id), m.period.lower, m.period.upper) for m in Membership.objects.all()}
    assert periods == {
        (a, first.stamp, second.stamp),
        (a, third.stamp, None),
        (b, first.stamp, None),
        (c, second.stamp, None),
    }
    runs = list(segment.refresh_runs.order_by("started_at"))
    assert [r.state for r in runs] == ["ok", "ok", "ok"]
    assert {str(m.member_id) for m in runs[1].entries()} == {c}
    assert {str(m.member_id) for m in runs[1].exits()} == {a}
    assert {str(m.member_id) for m in runs[2].entries()} == {a}
    between = first.stamp + (second.stamp - first.stamp) / 2
    assert {str(m.pk) for m in segment.members_at(between)} == {a, b}
    assert {str(m.pk) for m in segment.members_at(third.stamp)} == {a, b, c}
    assert set(Membership.objects.for_member(int_members[0]).values_list("member_id", flat=True)) == {int(a)}
    current = CurrentMembership.objects.filter(segment=segment).values_list("member_id", flat=True)
    assert {str(key) for key in current} == {a, b, c}


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_database_forbids_overlapping_periods(int_members) -> None:
    segment = make_segment(static_ids=str(int_members[0].pk))
    result = segment.refresh()
    member = str(int_members[0].pk)
    # A closed period overlapping the open one: refused by the statement trigger.
    with pytest.raises(IntegrityError, match="segments_membership_no_overlap"), transaction.atomic():
        Membership.objects.create(
            segment=segment,
            member_id=member,
            period=(result.stamp - timedelta(days=1), result.stamp + timedelta(seconds=1)),
        )
    # A second open period: refused by the unique index on current rows.
    with pytest.raises(IntegrityError, match="segments_membership_current"), transaction.atomic():
        Membership.objects.create(segment=segment, member_id=member, period=(result.stamp, None))
    # An UPDATE that makes two periods overlap: refused too.
    old = Membership.objects.create(
        segment=segment,
        member_id=member,
        period=(result.stamp - timedelta(days=3), result.stamp - timedelta(days=2)),
    )
    with pytest.raises(IntegrityError, match="segments_membership_no_overlap"), transaction.atomic():
        Membership.objects.filter(pk=old.pk).update(
            period=(result.stamp - timedelta(days=3), result.stamp + timedelta(seconds=1))
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'django_segments_membership'::regclass"
            " AND tgname LIKE 'pgtrigger_segments_membership_no_overlap_%%'"
        )
        (triggers,) = cursor.fetchone()
        cursor.execute("SELECT pg_get_viewdef('django_segments_current_membership'::regclass)")
        view = cursor.fetchone()[0]
    assert triggers == 2
    # NOTE - PostgreSQL 15 qualifies the column in pg_get_viewdef, 16+ does not.
    assert re.search(r"upper_inf\((\w+\.)?period\)", view), view


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_unchanged_members_are_not_rewritten(int_members) -> None:
    segment = make_segment(sql=_level_sql(IntMember))
    segment.refresh()
    before = membership_rows(segment)
    result = segment.refresh()
    assert (result.entered, result.exited) == (0, 0)
    assert membership_rows(segment) == before  # same xmin: no row was written


# --- live checks -------------------------------------------------------------------------


@pytest.mark.member_model("memberapp.IntMember", "memberapp.UuidMember")
@transactional
def test_live_check_agrees_with_a_full_refresh(member_model) -> None:
    members = _members(member_model, 12)
    table = member_model._meta.db_table
    segment = make_segment(
        sql=f"SELECT id FROM {table} WHERE level % 3 = 0 AND email LIKE '%example%'",
        static_ids=str(members[1].pk),
        method="high_level",
    )
    live = {str(m.pk) for m in members if segment.matches(m)}
    segment.refresh()
    assert live == current_ids(segment)
    assert live == {str(m.pk) for m in members if m.level % 3 == 0 or m.level >= 5 or m.level == 1}
    member_model._default_manager.filter(pk=members[9].pk).delete()
    assert segment.matches(members[9]) is False


# --- streaming -----------------------------------------------------------------------------


@pytest.fixture
def copied_batches(monkeypatch) -> list[tuple[Any, int]]:
    """Every batch a refresh writes into its COPY: (the COPY, the batch's length). The COPY
    objects are held, so that no object's id is reused."""
    copied: list[tuple[Any, int]] = []
    original = refresh_module._Collector._copy

    def spy(self, copy, batch):
        copied.append((copy, len(batch)))
        return original(self, copy, batch)

    monkeypatch.setattr(refresh_module._Collector, "_copy", spy)
    return copied


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_ids_stream_in_batches(int_members, settings, copied_batches) -> None:
    settings.SEGMENTS_REFRESH_BATCH_SIZE = 3
    batches = list(safe_sql.stream_ids("SELECT id FROM memberapp_intmember", pk_type="bigint", batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert {member_id for b in batches for member_id in b} == {str(m.pk) for m in int_members}
    segment = make_segment(sql="SELECT id FROM memberapp_intmember")
    assert segment.refresh().member_count == 10
    # never more than one batch in Python at a time
    assert [size for _, size in copied_batches] == [3, 3, 3, 1]
    first = copied_batches[0][0]
    assert all(copy is first for copy, _ in copied_batches)  # every batch goes into one COPY


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_a_failure_after_batches_were_copied_keeps_membership(int_members, settings, copied_batches) -> None:
    """The exec connection fails after batches went into the COPY: the refresh raises
    the query's error, and the membership and the last success are untouched."""
    settings.SEGMENTS_REFRESH_BATCH_SIZE = 3
    segment = make_segment(sql=_level_sql(IntMember))
    segment.refresh()
    before = membership_rows(segment)
    last_success = segment.last_success
    copied_batches.clear()
    seventh = sorted(m.pk for m in int_members)[6]
    set_definition(
        segment,
        sql=f"SELECT CASE WHEN id >= {seventh} THEN id / 0 ELSE id END FROM memberapp_intmember",
    )
    with pytest.raises(RefreshError, match="division by zero"):
        segment.refresh()
    # (rows come in the table's order: two batches, usually)
    assert [size for _, size in copied_batches][:1] == [3]
    segment.refresh_from_db()
    assert segment.state == "failed"
    assert segment.last_success == last_success
    assert membership_rows(segment) == before


# --- triggers: refresh on save, router ------------------------------------------------------


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db(transaction=True)
def test_refresh_on_save_sync(int_members, settings) -> None:
    settings.SEGMENTS_REFRESH_ON_SAVE = "sync"
    segment = make_segment(static_ids=str(int_members[0].pk))
    segment.refresh_from_db()
    assert (segment.state, segment.member_count) == ("ok", 1)
    segment.static_ids = f"{int_members[0].pk} {int_members[1].pk}"
    segment.save()
    segment.refresh_from_db()
    assert segment.member_count == 2


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db(transaction=True)
def test_refresh_on_save_is_off_by_default(int_members) -> None:
    segment = make_segment(static_ids=str(int_members[0].pk))
    segment.refresh_from_db()
    assert segment.state == "never"


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db(transaction=True)
def test_refresh_on_save_task_falls_back_to_sync_without_django_tasks(
    int_members, settings, caplog, monkeypatch
) -> None:
    monkeypatch.setattr(tasks, "refresh_segment", tasks.refresh_segment_by_id)  # no .enqueue
    settings.SEGMENTS_REFRESH_ON_SAVE = "task"
    with caplog.at_level(logging.WARNING, logger="django_segments.membership"):
        segment = make_segment(static_ids=str(int_members[0].pk))
    assert "django.tasks is not available" in caplog.text
    segment.refresh_from_db()
    assert segment.state == "ok"
    assert tasks.schedule_refresh(segment.pk, "later") == "sync"
    assert "is not 'sync', 'task' or None" in caplog.text


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db(transaction=True)
def test_refresh_on_save_task_enqueues_through_django_tasks(int_members, settings, monkeypatch) -> None:
    queued: list[int] = []

    class FakeTask:
        def enqueue(self, segment_id: int) -> None:
            queued.append(segment_id)

    monkeypatch.setattr(tasks, "refresh_segment", FakeTask())
    settings.SEGMENTS_REFRESH_ON_SAVE = "task"
    segment = make_segment(static_ids=str(int_members[0].pk))
    assert queued == [segment.pk]
    segment.refresh_from_db()
    assert segment.state == "never"  # the worker refreshes it
    assert tasks.refresh_segment_by_id(segment.pk) == {
        "segment": segment.pk,
        "state": "ok",
        "entered": 1,
        "exited": 0,
        "member_count": 1,
    }
    assert tasks.refresh_segment_by_id(-1) is None


def test_tasks_framework_is_detected() -> None:
    import django

    framework = tasks.tasks_framework()
    # Django 6 has django.tasks; on 5.2 the test extra installs the django-tasks backport.
    assert framework is not None
    assert framework.__name__ == ("django.tasks" if django.VERSION >= (6, 0) else "django_tasks")
    assert hasattr(tasks.refresh_segment, "enqueue")


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db(transaction=True)
def test_refresh_on_save_failure_is_recorded_not_raised(int_members, settings, caplog) -> None:
    settings.SEGMENTS_REFRESH_ON_SAVE = "sync"
    settings.SEGMENTS_EXEC_CONNECTION = "default"
    segment = make_segment(sql="SELECT 1 / 0")
    segment.refresh_from_db()
    assert segment.state == "failed"
    assert "division by zero" in caplog.text


def test_router_keeps_migrations_off_the_exec_alias(settings) -> None:
    router = SegmentsExecRouter()
    assert router.allow_migrate("segments_exec", "django_segments") is False
    assert router.allow_migrate("default", "django_segments") is None
    assert router.db_for_read(UserSegment) is None
    assert router.db_for_write(UserSegment) is None
    assert router.allow_relation(None, None) is None
    settings.SEGMENTS_EXEC_CONNECTION = "default"
    assert router.allow_migrate("default", "django_segments") is None


@pytest.mark.django_db
def test_default_member_model_is_the_user_model() -> None:
    user = get_user_model().objects.create(username="ann")
    segment = make_segment(static_ids=str(user.pk))
    segment.refresh()
    assert segment.has_member(user)
    assert list(segment.members) == [user]


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_stale_segments(int_members) -> None:
    fresh = make_segment("fresh", static_ids="1")
    fresh.refresh()
    never = make_segment("never", static_ids="1")
    edited = make_segment("edited", static_ids="1")
    edited.refresh()
    edited.name = "Edited again"
    edited.save()
    old = make_segment("old", static_ids="1")
    old.refresh()
    UserSegment.objects.filter(pk=old.pk).update(
        last_success=timezone.now() - timedelta(days=2), updated_at=timezone.now() - timedelta(days=3)
    )
    assert set(UserSegment.objects.stale()) == {never, edited}
    assert set(UserSegment.objects.stale(max_age=timedelta(days=1))) == {never, edited, old}
    assert RefreshRun.objects.filter(segment=fresh).count() == 1


# --- pruning refresh runs ----------------------------------------------------------------


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_refresh_keeps_only_the_newest_runs(int_members, settings) -> None:
    settings.SEGMENTS_REFRESH_RUNS_KEEP = 3
    segment = make_segment(static_ids=str(int_members[0].pk))
    other = make_segment("other", static_ids=str(int_members[1].pk))
    other.refresh()
    for _ in range(5):
        segment.refresh()
    set_definition(segment, sql="SELECT id / 0 FROM memberapp_intmember")
    with pytest.raises(RefreshError):
        segment.refresh()  # a failed run is recorded, and pruned like the others
    runs = list(segment.refresh_runs.order_by("started_at", "id"))
    assert [run.state for run in runs] == ["ok", "ok", "failed"]
    assert runs[-1] == segment.refresh_runs.latest()
    assert other.refresh_runs.count() == 1, "another segment's runs are left alone"
    # Membership history does not depend on the runs: the member is still in.
    assert [row.member_id for row in CurrentMembership.objects.filter(segment=segment)] == [int_members[0].pk]


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_refresh_runs_are_all_kept_when_the_setting_is_none(int_members, settings) -> None:
    settings.SEGMENTS_REFRESH_RUNS_KEEP = None
    segment = make_segment(static_ids=str(int_members[0].pk))
    for _ in range(4):
        segment.refresh()
    assert segment.refresh_runs.count() == 4


@pytest.mark.parametrize("value", [0, -1, "10", 2.5, True])
def test_refresh_runs_keep_must_be_a_positive_integer(settings, value) -> None:
    settings.SEGMENTS_REFRESH_RUNS_KEEP = value
    with pytest.raises(ImproperlyConfigured, match="SEGMENTS_REFRESH_RUNS_KEEP must be None or a positive"):
        conf.refresh_runs_keep()
