"""The change feed (``user_segment_refreshed``) and archived segments."""

from __future__ import annotations

import datetime as dt
import threading
import time
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.dispatch import receiver

from django_segments import signals
from django_segments.exceptions import ArchivedSegmentError, RefreshError
from django_segments.membership import refresh as refresh_module
from django_segments.membership import tasks
from django_segments.models import RefreshRun, UserSegment
from tests.memberapp.models import IntMember
from tests.membership_helpers import current_ids, make_segment, membership_rows, transactional

pytestmark = [pytest.mark.member_model("memberapp.IntMember"), pytest.mark.usefixtures("segments_reader")]


@pytest.fixture
def members(settings) -> list[IntMember]:
    return IntMember.objects.bulk_create(IntMember(email=f"m{i}@example.org", level=i) for i in range(4))


@pytest.fixture
def feed() -> Any:
    """Every ``user_segment_refreshed`` sent, as ``(segment pk, run, result, archived, in a transaction)``."""
    sent: list[tuple[Any, ...]] = []

    @receiver(signals.user_segment_refreshed, weak=False)
    def record(sender: Any, segment: Any, run: Any, result: Any, archived: bool, **kwargs: Any) -> None:
        assert sender is UserSegment
        sent.append((segment.pk, run, result, archived, connection.in_atomic_block))

    yield sent
    signals.user_segment_refreshed.disconnect(record)


def _ids(memberships: Any) -> set[Any]:
    return set(memberships.values_list("member_id", flat=True))


@transactional
def test_each_successful_refresh_is_sent_after_it_commits(members, feed) -> None:
    a, b, c, _ = members
    segment = make_segment(static_ids=f"{a.pk} {b.pk}")
    first = segment.refresh()
    segment.static_ids = f"{b.pk} {c.pk}"
    segment.save()
    second = segment.refresh()
    assert [(pk, archived, in_transaction) for pk, _, _, archived, in_transaction in feed] == [
        (segment.pk, False, False),
        (segment.pk, False, False),
    ]
    (_, run1, result1, _, _), (_, run2, result2, _, _) = feed
    assert (result1, result2) == (first, second)
    assert isinstance(run2, RefreshRun)
    assert run2.pk == segment.refresh_runs.latest("started_at").pk
    assert _ids(run1.entries()) == {a.pk, b.pk}
    assert _ids(run2.entries()) == {c.pk}
    assert _ids(run2.exits()) == {a.pk}


@transactional
def test_nothing_is_sent_for_a_failure_or_a_rolled_back_refresh(members, feed) -> None:
    segment = make_segment(sql="SELECT 1 / 0")
    with pytest.raises(RefreshError):
        segment.refresh()
    segment.sql, segment.static_ids = "", str(members[0].pk)
    segment.save()
    with transaction.atomic():
        segment.refresh()
        assert feed == []  # not before the outer transaction commits
        transaction.set_rollback(True)
    assert feed == []
    with transaction.atomic():
        segment.refresh()
    assert len(feed) == 1


@transactional
def test_archive_closes_every_membership_and_keeps_the_history(members, feed) -> None:
    a, b, _, _ = members
    segment = make_segment(static_ids=f"{a.pk} {b.pk}", refresh_interval=dt.timedelta(minutes=5))
    segment.refresh()
    while_members = segment.last_success
    result = segment.archive()
    segment.refresh_from_db()
    assert (result.entered, result.exited, result.member_count) == (0, 2, 0)
    assert segment.archived_at == result.stamp
    assert (segment.member_count, segment.state) == (0, "ok")
    assert current_ids(segment) == set()
    assert not segment.has_member(a)
    assert not a.is_member(segment)
    assert list(segment.members) == []
    assert set(segment.members_at(while_members)) == {a, b}
    _, run, _, archived, _ = feed[-1]
    assert archived is True
    assert _ids(run.exits()) == {a.pk, b.pk}
    assert (
        not UserSegment.objects.due(segment.archived_at + dt.timedelta(days=1)).filter(pk=segment.pk).exists()
    )
    assert not UserSegment.objects.stale(max_age=dt.timedelta(0)).filter(pk=segment.pk).exists()
    assert not UserSegment.objects.active().filter(pk=segment.pk).exists()


@transactional
def test_an_archived_segment_is_never_refreshed(members, feed) -> None:
    segment = make_segment(static_ids=str(members[0].pk), refresh_interval=dt.timedelta(minutes=5))
    segment.refresh()
    segment.archive()
    before = membership_rows(segment), segment.refresh_runs.count()
    with pytest.raises(ArchivedSegmentError, match="archived"):
        segment.refresh()
    with pytest.raises(ArchivedSegmentError):
        segment.archive()
    assert tasks.refresh_due_segments(now=segment.archived_at + dt.timedelta(days=1)) == {
        "ok": [],
        "failed": [],
        "passed": [],
    }
    out = StringIO()
    call_command("refresh_segments", "--all", verbosity=0, stdout=out, stderr=out)
    segment.refresh_from_db()
    assert segment.state == "ok"  # refused, not recorded as a failure
    assert (membership_rows(segment), segment.refresh_runs.count()) == before
    assert len(feed) == 2


@transactional
def test_a_refresh_that_waited_for_an_archive_is_refused(members) -> None:
    segment = make_segment(static_ids=str(members[0].pk))
    segment.refresh()
    archived = threading.Event()

    def archive_elsewhere() -> None:
        # Another process archives while this one's refresh waits for the segment's lock.
        # (This thread's own connection of the test database.)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", refresh_module._lock_key(segment.pk))
                cursor.execute(
                    "UPDATE django_segments_usersegment SET archived_at = now() WHERE id = %s", [segment.pk]
                )
                archived.set()
                time.sleep(0.5)
        finally:
            connection.close()

    thread = threading.Thread(target=archive_elsewhere)
    thread.start()
    archived.wait(10)
    segment.static_ids = f"{members[0].pk} {members[1].pk}"
    with pytest.raises(ArchivedSegmentError):
        refresh_module.refresh(segment)
    thread.join()
    assert current_ids(segment) == {str(members[0].pk)}
    assert segment.archived_at is not None


@transactional
def test_delete_erases_the_history(members) -> None:
    segment = make_segment(static_ids=str(members[0].pk))
    segment.refresh()
    pk = segment.pk
    segment.delete()
    assert not segment.has_member(members[0])
    assert not RefreshRun.objects.filter(segment_id=pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_segments_membership WHERE segment_id = %s", [pk])
        assert cursor.fetchone() == (0,)
