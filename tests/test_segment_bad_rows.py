"""Rows of segment SQL that are not member ids are skipped and counted; the refresh goes on."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from django_segments.exceptions import RefreshError
from tests.memberapp.models import IntMember, UuidMember
from tests.membership_helpers import current_ids, make_segment, transactional

pytestmark = pytest.mark.usefixtures("segments_reader")


def _values(*rows: str) -> str:
    return "SELECT x FROM (VALUES " + ", ".join(f"({row})" for row in rows) + ") AS v(x)"


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_text_that_is_no_integer_key_is_skipped_and_counted(settings) -> None:
    a, b, c, outside = IntMember.objects.bulk_create(IntMember(email=f"m{i}@example.org") for i in range(4))
    sql = _values(
        f"'{a.pk}'",
        "'abc'",  # no number
        f"'{2**63}'",  # past bigint
        f"' {b.pk} '",  # blanks around a number are read, as the cast reads them
        f"'+{c.pk}'",
        "NULL",  # no row: NULLs are left out, not counted
        "'1.5'",
        "'\uff11\uff12'",  # fullwidth digits
        f"'{a.pk}_0'",
    )
    segment = make_segment(sql=sql)
    result = segment.refresh()
    assert current_ids(segment) == {str(a.pk), str(b.pk), str(c.pk)}
    assert result.warnings == ["5 row(s) of the SQL skipped: the first column is not a valid key (bigint)."]
    segment.refresh_from_db()
    assert segment.state == "ok"
    assert segment.last_warnings == result.warnings[0]
    assert all(segment.matches(m) for m in (a, b, c))
    assert not segment.matches(outside)


@transactional
def test_integers_past_the_key_type_are_skipped(settings) -> None:
    # auth.User has a 32-bit key: bigint values past it are skipped, not a failed cast.
    user = get_user_model().objects.create(username="u")
    segment = make_segment(
        sql=f"SELECT x::bigint FROM (VALUES ({user.pk}), ({2**31}), ({-(2**31) - 1})) AS v(x)"
    )
    result = segment.refresh()
    assert current_ids(segment) == {str(user.pk)}
    assert result.warnings == ["2 row(s) of the SQL skipped: the first column is not a valid key (integer)."]
    assert segment.matches(user)


@pytest.mark.member_model("memberapp.UuidMember")
@transactional
def test_text_that_is_no_uuid_is_skipped(settings) -> None:
    first, second, third = UuidMember.objects.bulk_create(
        UuidMember(email=f"u{i}@example.org") for i in range(3)
    )
    sql = _values(
        f"'{str(first.pk).upper().replace('-', '')}'",
        f"'{{{second.pk}}}'",
        "'not-a-uuid'",
        f"'{str(third.pk)[:-1]}'",  # a digit short
        f"'{third.pk}}}'",  # an unopened brace
    )
    segment = make_segment(sql=sql)
    result = segment.refresh()
    assert current_ids(segment) == {str(first.pk), str(second.pk)}
    assert result.warnings == ["3 row(s) of the SQL skipped: the first column is not a valid key (uuid)."]
    assert segment.matches(first)
    assert not segment.matches(third)
    numbers = make_segment("numbers", sql="SELECT 5")
    assert numbers.refresh().warnings == [
        "1 row(s) of the SQL skipped: the first column is not a valid key (uuid)."
    ]
    assert numbers.member_count == 0


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_a_failing_query_still_fails_the_refresh(settings) -> None:
    member = IntMember.objects.create(email="m@example.org")
    segment = make_segment(sql=f"SELECT {member.pk}")
    segment.refresh()
    segment.sql = "SELECT x / 0 FROM (VALUES (1)) AS v(x)"
    segment.save()
    with pytest.raises(RefreshError, match="division by zero"):
        segment.refresh()
    assert current_ids(segment) == {str(member.pk)}


@pytest.mark.member_model("memberapp.IntMember")
@transactional
def test_skipped_rows_never_show_their_values(settings) -> None:
    segment = make_segment(sql="SELECT 'secret-' || email FROM memberapp_intmember")
    IntMember.objects.create(email="hidden@example.org")
    result = segment.refresh()
    segment.refresh_from_db()
    assert result.warnings == ["1 row(s) of the SQL skipped: the first column is not a valid key (bigint)."]
    assert "hidden" not in segment.last_warnings
    assert "hidden" not in (segment.last_error or "")
