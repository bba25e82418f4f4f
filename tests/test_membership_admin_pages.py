"""The user-segment admin's own pages: members (paged, searchable, linked, CSV), a refresh
run's entries and exits, the live count with its never-true hint, the count chart, and
the form's slug and fieldsets."""

from __future__ import annotations

import csv
import datetime as dt
import io
from fractions import Fraction
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from django_segments.admin_chart import build_count_chart
from django_segments.admin_pages import human_duration, member_count_history
from django_segments.conditions import conditions_from_module, parse
from django_segments.conditions.contradictions import never_true
from django_segments.models import RefreshRun, UserSegment
from tests.memberapp.admin import IntMemberAdmin
from tests.memberapp.models import IntMember, UuidMember
from tests.membership_helpers import make_segment, set_definition, transactional

pytestmark = pytest.mark.usefixtures("segments_reader")

CONDITIONS = conditions_from_module("tests.admin_conditions")


@pytest.fixture
def members(settings) -> list[IntMember]:
    settings.SEGMENTS_CONDITIONS = "tests.admin_conditions"
    return IntMember.objects.bulk_create(
        IntMember(email=f"m{i}@{'example.org' if i % 2 else 'test.net'}", level=i) for i in range(60)
    )


def _url(name: str, *args: Any) -> str:
    return reverse(f"admin:django_segments_{name}", args=args)


def _csv(response: Any) -> list[list[str]]:
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def _ids(members: list[IntMember]) -> str:
    return " ".join(str(m.pk) for m in members)


# --- members page ----------------------------------------------------------------------


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_members_page_is_paged_and_links_each_member(admin_client, members) -> None:
    segment = make_segment(static_ids=_ids(members[:55]))
    segment.refresh()
    url = _url("usersegment_members", segment.pk)
    first = admin_client.get(url)
    assert first.status_code == 200
    rows = first.context["rows"]
    assert [member.pk for member, _, _ in rows] == [m.pk for m in members[:50]]
    member, since, link = rows[0]
    assert link == reverse("admin:memberapp_intmember_change", args=[member.pk])
    assert since == segment.memberships.get(member_id=str(member.pk)).period.lower
    assert f'<a href="{link}">{member.email}</a>' in first.content.decode()
    assert "&rsaquo; Members" in first.content.decode()
    second = admin_client.get(url, {"p": 2})
    assert [m.pk for m, _, _ in second.context["rows"]] == [m.pk for m in members[50:55]]
    assert "Page 2 of 2 (55 rows)" in second.content.decode()
    # The changelist's member count links to this page.
    changelist = admin_client.get(_url("usersegment_changelist")).content.decode()
    assert f'<a href="{url}">55</a>' in changelist


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_members_page_reads_one_page_of_rows(admin_client, members) -> None:
    segment = make_segment(static_ids=_ids(members))
    segment.refresh()
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(_url("usersegment_members", segment.pk))
    member_queries = [q["sql"] for q in queries if "memberapp_intmember" in q["sql"]]
    assert any("LIMIT 50" in sql for sql in member_queries)
    assert all("LIMIT" in sql or "COUNT(" in sql for sql in member_queries), member_queries


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_members_search_uses_the_member_admins_search_fields(admin_client, members, monkeypatch) -> None:
    segment = make_segment(static_ids=_ids(members[:20]))
    segment.refresh()
    url = _url("usersegment_members", segment.pk)
    # Without search_fields on the member admin: an exact id.
    by_id = admin_client.get(url, {"q": str(members[3].pk)})
    assert [m.pk for m, _, _ in by_id.context["rows"]] == [members[3].pk]
    assert admin_client.get(url, {"q": "not-an-id"}).context["rows"] == []
    monkeypatch.setattr(IntMemberAdmin, "search_fields", ["email"])
    found = admin_client.get(url, {"q": "example.org"})
    assert [m.pk for m, _, _ in found.context["rows"]] == [m.pk for m in members[1:20:2]]
    # Members outside the segment never show, whatever they match.
    assert admin_client.get(url, {"q": members[30].email}).context["rows"] == []
    rows = _csv(admin_client.get(found.context["csv_url"]))
    assert rows[0] == ["id", "member", "since"]
    assert [int(row[0]) for row in rows[1:]] == [m.pk for m in members[1:20:2]]


@pytest.mark.member_model("memberapp.UuidMember")
@pytest.mark.django_db
def test_members_of_an_unregistered_uuid_member_model(admin_client, settings) -> None:
    people = UuidMember.objects.bulk_create(UuidMember(email=f"u{i}@example.org") for i in range(3))
    segment = make_segment(static_ids=" ".join(str(p.pk) for p in people))
    segment.refresh()
    response = admin_client.get(_url("usersegment_members", segment.pk))
    rows = response.context["rows"]
    assert sorted(m.pk for m, _, _ in rows) == sorted(p.pk for p in people)
    assert all(link is None for _, _, link in rows)  # no member admin: no links
    assert all(since is not None for _, since, _ in rows)
    exported = _csv(admin_client.get(_url("usersegment_members_csv", segment.pk)))
    assert sorted(row[0] for row in exported[1:]) == sorted(str(p.pk) for p in people)


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_members_csv_streams_every_member_and_defuses_formulas(admin_client, members) -> None:
    members[0].email = "=HYPERLINK(1)@example.org"
    members[0].save()
    segment = make_segment(static_ids=_ids(members))
    segment.refresh()
    response = admin_client.get(_url("usersegment_members_csv", segment.pk))
    assert response["Content-Disposition"] == 'attachment; filename="seg-members.csv"'
    rows = _csv(response)
    assert len(rows) == 61
    assert rows[1][:2] == [str(members[0].pk), "'=HYPERLINK(1)@example.org"]
    assert (
        dt.datetime.fromisoformat(rows[1][2])
        == segment.memberships.get(member_id=str(members[0].pk)).period.lower
    )


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_members_pages_need_view_permission(client, django_user_model, members) -> None:
    segment = make_segment(static_ids=_ids(members[:2]))
    segment.refresh()
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    for name in ("usersegment_members", "usersegment_members_csv"):
        assert client.get(_url(name, segment.pk)).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_usersegment"))
    response = client.get(_url("usersegment_members", segment.pk))
    assert response.status_code == 200
    assert all(link is None for _, _, link in response.context["rows"])  # may not view members
    assert client.get(_url("usersegment_members", 999_999)).status_code == 404


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_never_refreshed_segment_says_so(admin_client, members) -> None:
    segment = make_segment(static_ids=_ids(members[:2]))
    content = admin_client.get(_url("usersegment_members", segment.pk)).content.decode()
    assert "never been refreshed" in content


# --- refresh runs ----------------------------------------------------------------------


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_run_drills_down_to_who_entered_and_who_left(admin_client, members) -> None:
    segment = make_segment(static_ids=_ids(members[:3]))
    segment.refresh()
    set_definition(segment, static_ids=_ids(members[2:5]))
    segment.refresh()
    run = RefreshRun.objects.filter(segment=segment).latest()
    url = _url("refreshrun_changes", run.pk)
    entered = admin_client.get(url, {"change": "entered"})
    assert [pk for pk, _, _, _ in entered.context["rows"]] == [members[3].pk, members[4].pk]
    left = admin_client.get(url, {"change": "left"})
    assert [pk for pk, _, _, _ in left.context["rows"]] == [members[0].pk, members[1].pk]
    pk, member, period, link = left.context["rows"][0]
    assert member == members[0]
    assert period.upper == run.stamp
    assert link == reverse("admin:memberapp_intmember_change", args=[pk])
    rows = _csv(admin_client.get(_url("refreshrun_changes_csv", run.pk)))
    assert rows[0] == ["change", "id", "entered", "left"]
    assert [(r[0], int(r[1])) for r in rows[1:]] == [
        ("entered", members[3].pk),
        ("entered", members[4].pk),
        ("left", members[0].pk),
        ("left", members[1].pk),
    ]
    # The list and the run's page link to the drill-down; durations in human units.
    changelist = admin_client.get(_url("refreshrun_changelist")).content.decode()
    assert f'<a href="{url}?change=entered">2</a>' in changelist
    assert f'<a href="{url}?change=left">2</a>' in changelist
    assert human_duration(run.duration) in changelist
    page = admin_client.get(_url("refreshrun_change", run.pk)).content.decode()
    assert f"{url}?change=left" in page
    assert _url("refreshrun_changes_csv", run.pk) in page


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_a_failed_run_has_no_changes(admin_client, members) -> None:
    segment = make_segment(method="high_level")
    set_definition(segment, method="create")
    with pytest.raises(Exception, match="not a registered"):
        segment.refresh()
    run = RefreshRun.objects.get(segment=segment)
    response = admin_client.get(_url("refreshrun_changes", run.pk), {"change": "left"})
    assert response.context["rows"] == []
    assert "Nobody left in this run" in response.content.decode()
    assert _csv(admin_client.get(_url("refreshrun_changes_csv", run.pk))) == [
        ["change", "id", "entered", "left"]
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (dt.timedelta(microseconds=850_400), "850 ms"),
        (dt.timedelta(seconds=4.24), "4.2 s"),
        (dt.timedelta(seconds=192), "3 min 12 s"),
        (dt.timedelta(hours=2, minutes=5, seconds=3), "2 h 5 min"),
        (dt.timedelta(hours=2, seconds=3), "2 h"),
        (dt.timedelta(days=3, hours=4), "3 d 4 h"),
        (dt.timedelta(seconds=60), "1 min"),
    ],
)
def test_human_duration(value, text) -> None:
    assert human_duration(value) == text


# --- live count --------------------------------------------------------------------------


def _form(**overrides: str) -> dict[str, str]:
    data = {"name": "Live", "slug": "live", "priority": "0", "sql": "", "static_ids": "", "method": ""}
    data["conditions"] = "null"
    return data | overrides


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_live_count_returns_the_count_and_saves_nothing(admin_client, members) -> None:
    url = _url("usersegment_count")
    body = admin_client.post(url, _form(conditions='{"all": ["EMAIL_DOMAIN example.org", "LEVEL >= 50"]}'))
    assert body.json() == {"count": 5, "errors": {}, "warnings": [], "never": []}
    assert not UserSegment.objects.exists()
    invalid = admin_client.post(url, _form(sql="SELECT 1; SELECT 2")).json()
    assert invalid["count"] is None
    assert invalid["errors"]["sql"] == ["Write exactly one SELECT statement; found 2 statements."]
    assert admin_client.get(url).status_code == 405
    segment = make_segment(static_ids=_ids(members[:4]))
    change_url = _url("usersegment_count_change", segment.pk)
    assert admin_client.post(change_url, _form(static_ids=_ids(members[:7]))).json()["count"] == 7
    segment.refresh_from_db()
    assert segment.static_ids == _ids(members[:4])


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_live_count_hints_at_a_tree_that_can_never_match(admin_client, members) -> None:
    url = _url("usersegment_count")
    tree = '{"all": ["EMAIL_DOMAIN example.org", "EMAIL_DOMAIN test.net"]}'
    body = admin_client.post(url, _form(conditions=tree)).json()
    assert body["count"] == 0
    assert body["never"] == [
        '"EMAIL_DOMAIN example.org" ($.all[0]) and "EMAIL_DOMAIN test.net" ($.all[1]) can never all '
        "be true: EMAIL_DOMAIN has one value per member"
    ]
    # A condition that is not single-valued may hold for two keys at once.
    body = admin_client.post(url, _form(conditions='{"all": ["TAGGED m1", "TAGGED example"]}')).json()
    assert body["never"] == []
    assert body["count"] > 0


def _never(data: Any) -> list[str]:
    return never_true(parse(data, definitions=CONDITIONS))


def test_never_true_cases() -> None:
    assert _never({"all": ["LEVEL >= 5", "LEVEL < 3"]})
    assert _never({"all": ["LEVEL == 1", {"all": ["LEVEL == 2"]}]})
    assert _never({"all": ["LEVEL == 1", "LEVEL != 1"]})
    assert _never({"any": []}) == ["$: an empty any is never true"]
    assert _never({"any": [{"all": ["LEVEL > 1", "LEVEL < 1"]}, {"any": []}]})
    assert not _never({"any": [{"all": ["LEVEL > 1", "LEVEL < 1"]}, "LEVEL > 0"]})
    assert not _never({"all": ["LEVEL > 1", "LEVEL < 2"]})  # 1.5: not decided over integers
    assert not _never({"all": ["EMAIL_DOMAIN a.org", "EMAIL_DOMAIN a.org"]})
    assert not _never({"all": ["EMAIL_DOMAIN a.org", {"any": ["EMAIL_DOMAIN b.org", "LEVEL > 1"]}]})
    assert not _never({"all": ["EMAIL_DOMAIN a.org", "NOT EMAIL_DOMAIN b.org"]})
    assert not _never({"all": ["EMAIL_DOMAIN a.org", {"NOT": {"all": ["LEVEL > 1", "LEVEL < 1"]}}]})


OPERATORS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(OPERATORS)), st.integers(-3, 3)), min_size=1, max_size=4))
def test_never_true_agrees_with_a_search_of_values(comparisons) -> None:
    """Reference: the comparisons hold together for some value in a fine grid of rationals
    around the operands (quarters between -5 and 5 reach every region they cut)."""
    grid = [Fraction(n, 4) for n in range(-20, 21)]
    possible = any(all(OPERATORS[op](v, operand) for op, operand in comparisons) for v in grid)
    tree = {"all": [f"LEVEL {op} {operand}" for op, operand in comparisons]}
    assert bool(_never(tree)) is not possible


# --- count over time ---------------------------------------------------------------------


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_member_count_history_and_its_chart(admin_client, members) -> None:
    segment = make_segment(static_ids=_ids(members[:3]))
    segment.refresh()
    set_definition(segment, static_ids=_ids(members[:5]))
    segment.refresh()
    set_definition(segment, static_ids=_ids(members[4:5]))
    segment.refresh()
    runs = list(RefreshRun.objects.filter(segment=segment).order_by("started_at"))
    history = member_count_history(segment)
    assert history == [(run.stamp, run.member_count) for run in runs]
    assert [count for _, count in history] == [3, 5, 1]
    content = admin_client.get(_url("usersegment_change", segment.pk)).content.decode()
    assert 'class="segments-count-svg" data-latest="1"' in content
    assert "<polyline points=" in content
    assert "3 changes in the history" in content
    assert "http" not in content.split('id="segments-count-chart"')[1].split("</figure>")[0]


def test_count_chart_steps_through_each_change() -> None:
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    points = [(start, 10), (start + dt.timedelta(days=5), 20), (start + dt.timedelta(days=10), 0)]
    chart = build_count_chart(points, now=start + dt.timedelta(days=10))
    assert chart is not None
    coords = [tuple(map(float, p.split(","))) for p in chart.line.split()]
    xs = [x for x, _ in coords]
    assert xs == sorted(xs)
    assert coords[0][0] == chart.plot_left
    assert coords[-1][0] == chart.plot_right
    ys = sorted({y for _, y in coords})
    assert ys[0] < ys[1] < ys[2] == chart.plot_bottom  # 20 highest, then 10, then 0 at the axis
    assert [t.label for t in chart.y_ticks] == ["0", "5", "10", "15", "20"]
    assert [t.label for t in chart.x_ticks] == ["2025-01-01", "2025-01-11"]
    assert build_count_chart([], now=start) is None


# --- the form ----------------------------------------------------------------------------


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.django_db
def test_slug_is_read_only_once_the_segment_exists(admin_client, members) -> None:
    add = admin_client.get(_url("usersegment_add"))
    form = add.context["adminform"]
    assert "slug" in form.form.fields
    assert [name for name, _ in form.fieldsets if name == "Refresh"] == []
    assert "Refresh" not in [fs.name for fs in form]
    segment = make_segment(static_ids=_ids(members[:1]))
    change = admin_client.get(_url("usersegment_change", segment.pk))
    assert "slug" not in change.context["adminform"].form.fields
    assert "Refresh" in [fs.name for fs in change.context["adminform"]]
    data = _form(name="Renamed", slug="other", static_ids=_ids(members[:1]), _save="Save")
    assert admin_client.post(_url("usersegment_change", segment.pk), data).status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.slug) == ("Renamed", "seg")
