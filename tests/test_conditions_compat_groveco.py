"""django_segments.compat.segments and the router alias: groveco's names on this library."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import User

from django_segments.compat import segments as compat
from django_segments.compat.router import SegmentsRouter
from django_segments.exceptions import NeverRefreshedError, SegmentsError
from django_segments.membership.router import SegmentsExecRouter
from django_segments.models import Membership, UserSegment

pytestmark = pytest.mark.usefixtures("segments_reader")

DATABASES = ["default", "segments_exec"]


@pytest.fixture
def users(settings) -> list[User]:
    settings.SEGMENTS_MEMBER_MODEL = "auth.User"
    return [User.objects.create(username=name, email=f"{name}@example.org") for name in ("ann", "bob", "cy")]


def sql_of(*names: str) -> str:
    quoted = ", ".join(f"'{name}'" for name in names)
    return f"SELECT id FROM auth_user WHERE username IN ({quoted})"


@pytest.mark.django_db
def test_segment_takes_groveco_field_names() -> None:
    segment = compat.Segment(name="S", slug="s", definition="SELECT 1")
    assert segment.sql == "SELECT 1"
    assert segment.definition == "SELECT 1"
    segment.definition = None
    assert segment.sql == ""
    segment.static_ids = "1"
    segment.save()
    stored = UserSegment.objects.get()
    assert stored.pk == segment.pk
    assert (segment.members_count, segment.recalculated_date) == (0, None)
    assert segment.created_date == stored.created_at
    assert segment.updated_date == stored.updated_at
    assert isinstance(compat.Segment.objects.get(), compat.Segment)


@pytest.mark.django_db(transaction=True, databases=DATABASES)
def test_live_methods_answer_now_and_write_nothing(users) -> None:
    ann, bob, _ = users
    segment = compat.Segment.objects.create(name="S", slug="s", definition=sql_of("ann"))
    with pytest.raises(NeverRefreshedError):
        segment.has_member(ann)
    assert segment.has_member_live(ann)
    assert not segment.has_member_live(bob)
    assert compat.SegmentMixin.is_member_live(ann, segment)
    assert [user.username for user in segment.members_live] == ["ann"]
    assert not Membership.objects.exists()


@pytest.mark.django_db(transaction=True, databases=DATABASES)
def test_refresh_segments_refreshes_every_segment(users) -> None:
    # The mixin's methods called on a plain User: they need only the member.
    ann, bob, _ = users
    first = compat.Segment.objects.create(name="A", slug="a", definition=sql_of("ann", "bob"), priority=2)
    second = UserSegment.objects.create(name="B", slug="b", static_ids=str(bob.pk), priority=1)
    compat.SegmentMixin.refresh_segments(bob)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.has_member(ann)
    assert second.has_member(bob)
    # user.segments (Segment proxies, by priority) runs on the docs page, on a real model.


@pytest.mark.django_db
def test_refresh_segments_async_schedules_one_task_per_segment(users, monkeypatch) -> None:
    for slug in ("a", "b"):
        UserSegment.objects.create(name=slug, slug=slug, static_ids="1")
    scheduled = []
    monkeypatch.setattr(compat, "schedule_refresh", lambda pk, mode: scheduled.append((pk, mode)))
    compat.SegmentMixin.refresh_segments_async(users[0])
    pks = UserSegment.objects.values_list("pk", flat=True)
    assert sorted(scheduled) == sorted((pk, "task") for pk in pks)


@pytest.mark.django_db(transaction=True, databases=DATABASES)
@pytest.mark.parametrize(("value", "refreshed"), [(True, True), (False, False)])
def test_refresh_on_save_takes_groveco_booleans(users, settings, caplog, value, refreshed) -> None:
    settings.SEGMENTS_REFRESH_ON_SAVE = value
    with caplog.at_level(logging.WARNING, logger="django_segments.membership"):
        segment = compat.Segment.objects.create(name="S", slug="s", definition=sql_of("ann"))
    segment.refresh_from_db()
    assert (segment.last_success is not None) is refreshed
    assert not caplog.records  # neither value is "not 'sync', 'task' or None"


def test_exceptions_and_router_keep_their_names() -> None:
    assert compat.SegmentExecutionError is SegmentsError
    assert compat.SegmentException is SegmentsError
    assert SegmentsRouter is SegmentsExecRouter
