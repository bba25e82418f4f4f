"""The user-segment admin, the membership inline and ``manage.py refresh_segments``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core import checks
from django.core.management import CommandError, call_command
from django.urls import reverse

from django_segments.admin import SegmentMembershipInline
from django_segments.models import UserSegment
from tests.memberapp.models import IntMember
from tests.membership_helpers import make_segment, set_definition, transactional

pytestmark = [pytest.mark.member_model("memberapp.IntMember"), pytest.mark.usefixtures("segments_reader")]


@pytest.fixture
def members(settings) -> list[IntMember]:
    return IntMember.objects.bulk_create(IntMember(email=f"m{i}@example.org", level=i) for i in range(10))


def _form(**overrides: str) -> dict[str, str]:
    data = {
        "name": "VIP",
        "slug": "vip",
        "priority": "0",
        "sql": "",
        "static_ids": "",
        "method": "",
        "conditions": "null",
    }
    data.update(overrides)
    return data


# --- admin -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_changelist_shows_state_count_and_error(admin_client, members) -> None:
    ok = make_segment("ok", static_ids=str(members[0].pk))
    ok.refresh()
    broken = make_segment("broken", method="high_level")
    set_definition(broken, method="create")
    with pytest.raises(Exception, match="not a registered"):
        broken.refresh()
    response = admin_client.get(reverse("admin:django_segments_usersegment_changelist"))
    content = response.content.decode()
    assert response.status_code == 200
    assert '<td class="field-state">ok</td>' in content
    assert '<td class="field-state">failed</td>' in content
    assert "&#x27;create&#x27; is not a registered" in content
    members_url = reverse("admin:django_segments_usersegment_members", args=[ok.pk])
    assert f'<td class="field-members_link"><a href="{members_url}">1</a></td>' in content


@pytest.mark.django_db
def test_add_form_reports_definition_errors_on_fields(admin_client, members) -> None:
    url = reverse("admin:django_segments_usersegment_add")
    response = admin_client.post(url, _form(sql="SELECT 1; DROP TABLE x", static_ids="1 x"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["sql"] == ["Write exactly one SELECT statement; found 2 statements."]
    assert errors["static_ids"] == ["1 invalid id(s): x"]
    response = admin_client.post(url, _form(method="create"))
    assert "Select a valid choice" in str(response.context["adminform"].form.errors["method"])
    response = admin_client.post(url, _form())
    assert "Give at least one definition" in str(response.context["adminform"].form.errors)
    assert not UserSegment.objects.exists()
    response = admin_client.post(url, _form(method="high_level"))
    assert response.status_code == 302
    assert UserSegment.objects.get().method == "high_level"


@pytest.mark.django_db
def test_change_form_offers_preview_and_registered_methods(admin_client, members) -> None:
    segment = make_segment(method="high_level")
    response = admin_client.get(reverse("admin:django_segments_usersegment_change", args=[segment.pk]))
    content = response.content.decode()
    preview = reverse("admin:django_segments_usersegment_preview_change", args=[segment.pk])
    assert f'formaction="{preview}"' in content
    assert '<option value="high_level" selected>Level 5 and above (high_level)</option>' in content


@transactional
def test_preview_counts_and_lists_without_saving(admin_client, members) -> None:
    url = reverse("admin:django_segments_usersegment_preview")
    data = _form(sql="SELECT id FROM memberapp_intmember WHERE level >= 3", static_ids="999999")
    response = admin_client.post(url, data)
    content = response.content.decode()
    assert response.status_code == 200
    assert response.context["result"].count == 7
    assert "<strong>7</strong> members would be in" in content
    assert "m3@example.org" in content
    assert "1 unknown static id(s) skipped: 999999" in content
    assert not UserSegment.objects.exists()
    bad = admin_client.post(url, _form(sql="DELETE FROM memberapp_intmember"))
    assert "found Delete" in bad.content.decode()
    failing = admin_client.post(url, _form(sql="SELECT 1/0"))
    assert "division by zero" in failing.content.decode()
    assert admin_client.get(url).status_code == 405
    assert IntMember.objects.count() == 10


@transactional
def test_preview_of_an_existing_segment_keeps_it_unchanged(admin_client, members) -> None:
    segment = make_segment("gold", static_ids=str(members[0].pk))
    segment.refresh()
    url = reverse("admin:django_segments_usersegment_preview_change", args=[segment.pk])
    response = admin_client.post(url, _form(name="Gold", slug="gold", method="high_level"))
    assert response.context["form"].errors == {}
    assert response.context["result"].count == 5
    segment.refresh_from_db()
    assert (segment.method, segment.member_count) == ("", 1)
    missing = reverse("admin:django_segments_usersegment_preview_change", args=[999])
    assert admin_client.post(missing, _form()).status_code == 404
    add = reverse("admin:django_segments_usersegment_add")
    assert (
        'formaction="/admin/django_segments/usersegment/preview/"' in admin_client.get(add).content.decode()
    )


@pytest.mark.django_db
def test_refresh_action_keeps_going_past_failures(admin_client, members) -> None:
    good = make_segment("good", static_ids=str(members[0].pk))
    bad = make_segment("bad", method="high_level")
    set_definition(bad, method="create")
    response = admin_client.post(
        reverse("admin:django_segments_usersegment_changelist"),
        {"action": "refresh_selected", "_selected_action": [good.pk, bad.pk]},
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert "Refreshed 1 segment(s)." in texts
    assert any("'create' is not a registered" in t for t in texts)
    good.refresh_from_db()
    assert good.state == "ok"


@pytest.mark.django_db
def test_archive_action_closes_memberships_and_the_filter_finds_them(admin_client, members) -> None:
    ended = make_segment("ended", static_ids=f"{members[0].pk} {members[1].pk}")
    ended.refresh()
    kept = make_segment("kept", static_ids=str(members[0].pk))
    kept.refresh()
    changelist = reverse("admin:django_segments_usersegment_changelist")
    response = admin_client.post(
        changelist, {"action": "archive_selected", "_selected_action": [ended.pk]}, follow=True
    )
    assert "Archived 1 segment(s): their members left now, their history stays." in [
        str(m) for m in response.context["messages"]
    ]
    ended.refresh_from_db()
    assert ended.archived_at is not None
    assert ended.member_count == 0
    assert ended.refresh_runs.latest("started_at").exits().count() == 2
    again = admin_client.post(
        changelist, {"action": "archive_selected", "_selected_action": [ended.pk, kept.pk]}, follow=True
    )
    again_texts = [str(m) for m in again.context["messages"]]
    assert "Already archived: ended." in again_texts
    assert "Archived 1 segment(s): their members left now, their history stays." in again_texts
    fresh = make_segment("fresh", static_ids=str(members[2].pk))
    archived_only = admin_client.get(changelist, {"archived_at__isempty": "0"})
    assert sorted(s.slug for s in archived_only.context["cl"].result_list) == ["ended", "kept"]
    active_only = admin_client.get(changelist, {"archived_at__isempty": "1"})
    assert [s.slug for s in active_only.context["cl"].result_list] == [fresh.slug]


@pytest.mark.django_db
def test_membership_inline_on_the_member_admin(admin_client, members) -> None:
    segment = make_segment("gold", static_ids=f"{members[0].pk} {members[1].pk}")
    segment.refresh()
    set_definition(segment, static_ids=str(members[1].pk))
    segment.refresh()
    url = reverse("admin:memberapp_intmember_change", args=[members[0].pk])
    response = admin_client.get(url)
    content = response.content.decode()
    assert response.status_code == 200
    assert "Segment memberships" in content
    assert content.count('<td class="field-segment">') == 1
    other = admin_client.get(reverse("admin:memberapp_intmember_change", args=[members[1].pk]))
    assert "(current)" in other.content.decode()
    post = admin_client.post(
        url,
        {
            "email": "changed@example.org",
            "level": "3",
            "active": "on",
            "segment_memberships-TOTAL_FORMS": "1",
            "segment_memberships-INITIAL_FORMS": "1",
            "segment_memberships-MIN_NUM_FORMS": "0",
            "segment_memberships-MAX_NUM_FORMS": "0",
            "segment_memberships-0-id": str(segment.memberships.get(member_id=str(members[0].pk)).pk),
        },
    )
    assert post.status_code == 302
    assert IntMember.objects.get(pk=members[0].pk).email == "changed@example.org"
    assert segment.memberships.count() == 2


def test_inline_passes_admin_checks() -> None:
    from django.contrib import admin

    inline = SegmentMembershipInline(IntMember, admin.site)
    assert inline.check() == []
    assert [m for m in checks.run_checks() if m.id.startswith("admin")] == []


# --- management command --------------------------------------------------------------------


def _call(*args: str) -> str:
    out = StringIO()
    call_command("refresh_segments", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_command_refreshes_named_segments_with_a_summary(members) -> None:
    make_segment("alpha", static_ids=str(members[0].pk))
    make_segment("beta", method="high_level")
    output = _call("beta", "alpha")
    assert "[########################] 2/2 done" in output
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("segment"))
    assert lines[header].split() == ["segment", "state", "members", "entered", "exited", "seconds", "error"]
    assert lines[header + 2].split()[:5] == ["alpha", "ok", "1", "+1", "-0"]
    assert lines[header + 3].split()[:5] == ["beta", "ok", "5", "+5", "-0"]


@pytest.mark.django_db
def test_command_keeps_going_past_a_failing_segment(members) -> None:
    bad = make_segment("bad", priority=-1, method="high_level")
    set_definition(bad, method="create")
    make_segment("good", static_ids=str(members[0].pk))
    out = StringIO()
    with pytest.raises(CommandError, match="1 of 2 segment"):
        call_command("refresh_segments", "--all", stdout=out)
    assert "bad      failed" in out.getvalue()
    assert UserSegment.objects.get(slug="good").state == "ok"


@pytest.mark.django_db
def test_command_stale_and_argument_errors(members) -> None:
    fresh = make_segment("fresh", static_ids=str(members[0].pk))
    fresh.refresh()
    make_segment("never", static_ids=str(members[1].pk))
    output = _call("--stale")
    assert "never" in output
    assert "fresh" not in output.split("done")[1]
    assert _call("--stale") == "No segments to refresh.\n"
    assert "fresh" in _call("--stale", "--max-age", "0")
    with pytest.raises(CommandError, match="Unknown segment slug"):
        _call("nope")
    with pytest.raises(CommandError, match="Name segment slugs"):
        _call()
