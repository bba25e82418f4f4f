"""The admin with a refresh queue: the action enqueues and never refreshes in the request,
says so, and the segment shows "refresh queued"; a save in task mode says a refresh was queued."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_segments.models import RefreshRun, UserSegment
from tests.membership_helpers import transactional

QUEUED: list[int] = []

pytestmark = pytest.mark.usefixtures("segments_reader")


def record_enqueue(segment_id: int) -> None:
    """A queue for the tests (``SEGMENTS_REFRESH_QUEUE``): remembers what was enqueued."""
    QUEUED.append(segment_id)


def failing_enqueue(segment_id: int) -> None:
    raise ConnectionError("broker down")


@pytest.fixture
def test_queue(settings) -> list[int]:
    settings.SEGMENTS_REFRESH_QUEUE = f"{__name__}.record_enqueue"
    QUEUED.clear()
    return QUEUED


def make(slug: str) -> UserSegment:
    return UserSegment.objects.create(name=slug.title(), slug=slug, sql="SELECT id FROM auth_user")


CHANGELIST = "admin:django_segments_usersegment_changelist"


@transactional  # an admin action runs outside a transaction: it sends at once
def test_the_action_enqueues_and_the_segments_show_refresh_queued(admin_client, test_queue) -> None:
    gold, silver = make("gold"), make("silver")
    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "refresh_selected", "_selected_action": [gold.pk, silver.pk]},
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert texts == [
        'Queued a refresh of 2 segment(s); they show "refresh queued" until a worker has refreshed them.'
    ]
    assert sorted(test_queue) == sorted([gold.pk, silver.pk])
    assert not RefreshRun.objects.exists()  # nothing refreshed inside the request
    assert set(UserSegment.objects.values_list("state", flat=True)) == {"never"}
    content = response.content.decode()
    assert content.count('<td class="field-queue_state">refresh queued</td>') == 2
    change = admin_client.get(reverse("admin:django_segments_usersegment_change", args=[gold.pk]))
    assert "Refresh queued:" in change.content.decode()
    assert UserSegment.objects.get(pk=gold.pk).refresh_queued_at is not None


@transactional  # an admin action runs outside a transaction: it sends at once
def test_the_action_reports_a_segment_it_could_not_queue(admin_client, settings) -> None:
    settings.SEGMENTS_REFRESH_QUEUE = f"{__name__}.failing_enqueue"
    gold = make("gold")
    response = admin_client.post(
        reverse(CHANGELIST), {"action": "refresh_selected", "_selected_action": [gold.pk]}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == [
        "Could not queue a refresh of Gold: broker down"
    ]
    assert UserSegment.objects.get(pk=gold.pk).refresh_queued_at is None


@transactional
def test_saving_in_task_mode_says_a_refresh_was_queued(admin_client, settings, test_queue) -> None:
    settings.SEGMENTS_REFRESH_ON_SAVE = "task"
    data = {
        "name": "VIP",
        "slug": "vip",
        "priority": "0",
        "refresh_interval": "01:00:00",
        "sql": "SELECT id FROM auth_user",
        "static_ids": "",
        "method": "",
        "conditions": "null",
    }
    response = admin_client.post(reverse("admin:django_segments_usersegment_add"), data, follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert "A refresh of VIP was queued; its members change when a worker has run it." in texts
    segment = UserSegment.objects.get(slug="vip")
    assert test_queue == [segment.pk]
    assert segment.refresh_queued_at is not None
    assert segment.refresh_interval.total_seconds() == 3600
    assert not RefreshRun.objects.exists()


@pytest.mark.django_db
def test_saving_outside_task_mode_says_nothing_of_a_queue(admin_client, test_queue) -> None:
    gold = make("gold")
    data = {"name": "Gold", "slug": "gold", "priority": "0", "refresh_interval": "", "sql": gold.sql}
    data |= {"static_ids": "", "method": "", "conditions": "null", "_save": "Save"}
    url = reverse("admin:django_segments_usersegment_change", args=[gold.pk])
    response = admin_client.post(url, data, follow=True)
    assert not any("queued" in str(m) for m in response.context["messages"])
    assert test_queue == []
