"""Bad input to the member-side API: a typed error naming the argument, never an ORM error."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from django_segments.exceptions import (
    InvalidMemberError,
    RangeValueError,
    RefreshError,
    SegmentDefinitionError,
    SegmentsError,
    UnsafeSQLError,
)
from django_segments.membership import members as member_ids
from django_segments.membership.safe_sql import validate_sql
from django_segments.models import UserSegment
from tests.memberapp.models import IntMember, UuidMember
from tests.membership_helpers import current_ids, make_segment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("segments_reader")]


@pytest.fixture
def refreshed(settings) -> tuple[UserSegment, IntMember]:
    """A refreshed segment holding one integer-keyed member."""
    member = IntMember.objects.create(email="m@example.org", level=1)
    segment = make_segment(static_ids=str(member.pk))
    segment.refresh()
    return segment, member


NOT_MEMBERS = [
    pytest.param(lambda: None, "None", id="None"),
    pytest.param(lambda: "bob", "str", id="a string that is no key"),
    pytest.param(lambda: 1.5, "float", id="a float"),
    pytest.param(lambda: UuidMember.objects.create(email="u@example.org"), "UuidMember", id="another model"),
    pytest.param(lambda: [1], "list", id="a list"),
]


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.parametrize(("make", "named"), NOT_MEMBERS)
@pytest.mark.parametrize("method", ["has_member", "matches"])
def test_what_is_not_a_member_is_refused_by_name(refreshed, method: str, make: Any, named: str) -> None:
    segment, _ = refreshed
    with pytest.raises(InvalidMemberError) as info:
        getattr(segment, method)(make())
    message = str(info.value)
    assert "member" in message
    assert named in message
    assert "memberapp.IntMember" in message
    assert isinstance(info.value, SegmentsError)
    assert isinstance(info.value, TypeError | ValueError)


@pytest.mark.member_model("memberapp.IntMember")
def test_a_string_that_is_no_key_is_not_echoed(refreshed) -> None:
    segment, _ = refreshed
    with pytest.raises(InvalidMemberError) as info:
        segment.has_member("s3cr3t-value")
    assert "s3cr3t" not in str(info.value)


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.parametrize("method", ["has_member", "matches"])
def test_an_unsaved_member_is_not_a_member(refreshed, method: str) -> None:
    segment, _ = refreshed
    assert getattr(segment, method)(IntMember(email="new@example.org")) is False


@pytest.mark.member_model("memberapp.IntMember")
def test_a_deleted_segment_has_no_members(refreshed) -> None:
    segment, member = refreshed
    segment.delete()
    assert segment.has_member(member) is False
    assert member.is_member(segment) is False


@pytest.mark.member_model("memberapp.IntMember")
def test_keys_of_members_still_work(refreshed) -> None:
    segment, member = refreshed
    assert segment.has_member(member)
    assert segment.has_member(member.pk)
    assert segment.has_member(str(member.pk))
    assert segment.matches(member.pk)
    assert not segment.has_member(member.pk + 1)


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.parametrize(
    "when",
    [
        pytest.param(None, id="None"),
        pytest.param("1", id="a string"),
        pytest.param(1, id="an integer"),
        pytest.param(dt.date(2026, 1, 1), id="a date"),
        pytest.param(dt.datetime(2026, 1, 1, 12), id="a naive datetime"),
    ],
)
def test_members_at_needs_an_aware_datetime(refreshed, when: Any) -> None:
    segment, _ = refreshed
    with pytest.raises(RangeValueError, match="members_at"):
        list(segment.members_at(when))


@pytest.mark.member_model("memberapp.IntMember")
def test_members_at_an_aware_datetime(refreshed) -> None:
    segment, member = refreshed
    now = dt.datetime.now(dt.UTC)
    assert list(segment.members_at(now)) == [member]
    assert list(segment.members_at(now - dt.timedelta(days=1))) == []


@pytest.mark.parametrize("sql", [1, None, b"SELECT 1", ["SELECT 1"]])
def test_validate_sql_refuses_what_is_not_text(sql: Any) -> None:
    with pytest.raises(UnsafeSQLError, match="must be a string"):
        validate_sql(sql)


@pytest.mark.member_model("memberapp.IntMember")
def test_a_segment_whose_sql_is_null_is_refused_on_refresh_and_matches(refreshed) -> None:
    segment, member = refreshed
    unsaved = UserSegment(name="Null", slug="null", sql=None)
    with pytest.raises(ValidationError) as info:
        unsaved.full_clean()
    assert "sql" in info.value.message_dict
    with pytest.raises(SegmentDefinitionError, match="The sql definition must be text"):
        unsaved.save()
    segment.sql = None
    with pytest.raises(RefreshError, match="The sql definition must be text") as failed:
        segment.refresh()
    assert isinstance(failed.value.__cause__, SegmentDefinitionError)
    with pytest.raises(SegmentDefinitionError, match="The sql definition must be text"):
        segment.matches(member)
    assert current_ids(segment) == {str(member.pk)}
    assert segment.has_member(member)


@pytest.mark.member_model("memberapp.IntMember")
@pytest.mark.parametrize(
    "token",
    [
        "\u0661\u0662\u0663",  # Arabic-Indic digits 123
        "\uff11\uff12\uff13",  # fullwidth 123
        "\u0967",  # Devanagari 1
    ],
)
def test_only_ascii_digits_are_integer_ids(settings, token: str) -> None:
    valid, invalid = member_ids.parse_static_ids(f"7 {token}", IntMember)
    assert (valid, invalid) == (["7"], [token])


@pytest.mark.member_model("memberapp.UuidMember")
def test_only_ascii_hex_digits_are_uuid_ids() -> None:
    key = uuid.UUID(int=0x123)
    ascii_form = str(key)
    fullwidth = ascii_form.translate({ord("0") + d: 0xFF10 + d for d in range(10)})
    valid, invalid = member_ids.parse_static_ids(f"{ascii_form} {fullwidth}", UuidMember)
    assert (valid, invalid) == ([ascii_form], [fullwidth])
