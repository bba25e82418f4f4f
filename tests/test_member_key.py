"""Membership.member: a foreign key of the member's primary-key type.

Each test runs in the run of every member model (auth.User with an integer key,
IntMember with bigint, UuidMember with uuid), except the migration test, which converts a
text column of auth.User keys.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Model

import django_segments as ds
from django_segments.models import CurrentMembership, Membership
from tests.membership_helpers import current_ids, make_segment, set_definition

EVERY_MEMBER_MODEL = pytest.mark.member_model("auth.User", "memberapp.IntMember", "memberapp.UuidMember")
KEY_TYPES = {"auth.User": "integer", "memberapp.IntMember": "bigint", "memberapp.UuidMember": "uuid"}


def _member_model() -> type[Model]:
    return apps.get_model(settings.SEGMENTS_MEMBER_MODEL)


def _members(count: int) -> list[Any]:
    model = _member_model()
    if settings.SEGMENTS_MEMBER_MODEL == "auth.User":
        return [model.objects.create(username=f"m{i}", email=f"m{i}@example.org") for i in range(count)]
    return [model.objects.create(email=f"m{i}@example.org") for i in range(count)]


def _static(*members: Any) -> str:
    return " ".join(str(m.pk) for m in members)


def _periods_of(member: Any) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_segments_membership WHERE member_id = %s", [member.pk])
        return cursor.fetchone()[0]


@EVERY_MEMBER_MODEL
@pytest.mark.django_db
def test_the_column_has_the_key_type_and_a_cascading_deferred_foreign_key() -> None:
    model = _member_model()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'django_segments_membership'::regclass AND attname = 'member_id'"
        )
        assert cursor.fetchone()[0] == KEY_TYPES[settings.SEGMENTS_MEMBER_MODEL]
        cursor.execute(
            "SELECT confrelid::regclass::text, confdeltype, condeferrable, condeferred FROM pg_constraint "
            "WHERE conrelid = 'django_segments_membership'::regclass AND contype = 'f' "
            "AND conkey = ARRAY[(SELECT attnum FROM pg_attribute"
            " WHERE attrelid = conrelid AND attname = 'member_id')]"
        )
        assert cursor.fetchall() == [(model._meta.db_table, "c", True, True)]
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'segments_membership_member'")
        definition = cursor.fetchone()[0]
    assert definition.endswith("(member_id, segment_id)"), "over every row, history included"


@EVERY_MEMBER_MODEL
@pytest.mark.django_db
def test_members_are_filtered_by_their_segments_through_the_relation() -> None:
    model = _member_model()
    a, b, c = _members(3)
    vip = make_segment("vip", static_ids=_static(a, b))
    other = make_segment("other", static_ids=_static(c))
    vip.refresh()
    other.refresh()
    set_definition(vip, static_ids=_static(b))
    vip.refresh()
    assert set(model.objects.filter(current_segment_memberships__segment=vip)) == {b}
    assert set(model.objects.filter(segment_memberships__segment=vip).distinct()) == {a, b}
    assert set(a.segment_memberships.values_list("segment__slug", flat=True)) == {"vip"}
    assert [row.member for row in CurrentMembership.objects.filter(segment=other)] == [c]
    assert set(vip.members) == {b}


@EVERY_MEMBER_MODEL
@pytest.mark.django_db
def test_deleting_a_member_erases_its_history_through_the_orm_and_raw_sql() -> None:
    a, b, c = _members(3)
    segment = make_segment(static_ids=_static(a, b, c))
    segment.refresh()
    set_definition(segment, static_ids=_static(a, c))
    segment.refresh()  # b has a closed period, a and c open ones
    set_definition(segment, static_ids=_static(a, b, c))
    segment.refresh()
    assert (_periods_of(a), _periods_of(b)) == (1, 2)
    a.delete()
    assert _periods_of(a) == 0
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {b._meta.db_table} WHERE {b._meta.pk.column} = %s", [b.pk])
    assert _periods_of(b) == 0
    assert current_ids(segment) == {str(c.pk)}
    assert segment.refresh().member_count == 1, "the deleted members' ids are no longer selected"


@EVERY_MEMBER_MODEL
@pytest.mark.django_db
def test_forget_member_erases_one_members_history_and_keeps_the_member() -> None:
    a, b = _members(2)
    first = make_segment("first", static_ids=_static(a, b))
    second = make_segment("second", static_ids=_static(a))
    for segment in (first, second):
        segment.refresh()
    set_definition(second, static_ids=_static(b))
    second.refresh()
    assert ds.forget_member(a) == 2  # open in first, closed in second
    assert _periods_of(a) == 0
    assert _periods_of(b) == 2
    a.refresh_from_db()
    assert not first.has_member(a)
    assert ds.forget_member(a.pk) == 0
    first.refresh()
    assert first.has_member(a), "a member the definition still selects enters again"
    assert list(Membership.objects.for_member(a).values_list("segment__slug", flat=True)) == ["first"]


@EVERY_MEMBER_MODEL
@pytest.mark.django_db
def test_membership_refers_only_to_existing_members() -> None:
    (a,) = _members(1)
    segment = make_segment(static_ids=_static(a))
    missing: Any = uuid.UUID(int=0) if settings.SEGMENTS_MEMBER_MODEL == "memberapp.UuidMember" else -1
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_segments_membership (segment_id, member_id, period) "
            "VALUES (%s, %s, tstzrange(now(), NULL))",
            [segment.pk, missing],
        )
        with pytest.raises(IntegrityError):  # the foreign key is checked at commit
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        transaction.set_rollback(True)


# --- the data migration from text keys ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_migration_converts_text_keys_and_drops_the_history_of_missing_members() -> None:
    user_model = _member_model()
    kept, gone = (user_model.objects.create(username=name) for name in ("kept", "gone"))
    segment = make_segment(static_ids=_static(kept))
    executor = MigrationExecutor(connection)
    typed = [("django_segments", "0007_typed_member_key")]
    executor.migrate([("django_segments", "0006_segment_archive")])
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO django_segments_membership (segment_id, member_id, period) VALUES "
                "(%(s)s, %(kept)s, tstzrange('2026-01-01', '2026-02-01')),"
                "(%(s)s, %(kept)s, tstzrange('2026-03-01', NULL)),"
                "(%(s)s, %(gone)s, tstzrange('2026-01-01', NULL)),"
                "(%(s)s, '0' || %(kept)s, tstzrange('2026-01-01', NULL)),"
                "(%(s)s, 'not a key', tstzrange('2026-01-01', NULL))",
                {"s": segment.pk, "kept": str(kept.pk), "gone": str(gone.pk)},
            )
            cursor.execute("DELETE FROM auth_user WHERE id = %s", [gone.pk])  # no foreign key at 0006
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(typed)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT member_id, period::text FROM django_segments_membership ORDER BY lower(period)"
        )
        rows = cursor.fetchall()
    assert rows == [
        (kept.pk, '["2026-01-01 00:00:00+00","2026-02-01 00:00:00+00")'),
        (kept.pk, '["2026-03-01 00:00:00+00",)'),
    ]
    assert CurrentMembership.objects.get(segment=segment).member == kept
    assert set(user_model.objects.filter(current_segment_memberships__segment=segment)) == {kept}
