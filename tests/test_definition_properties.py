"""``matches(member)`` and ``refresh()`` agree on every definition, by property.

For generated members (auth users) and definitions (SQL, static ids, a registered method,
a condition tree, and unions of them), the members a refresh materializes are exactly the
members ``matches`` says yes to; a definition one of them refuses, the other refuses too.
The reference is the refresh itself: two paths of the library that must give one answer.
SQL runs in the test's transaction (`segment_sql_on_writer`), each example rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from django_segments.exceptions import RefreshError, SegmentsError
from django_segments.membership.registry import register_segment_method, unregister_segment_method
from django_segments.models import UserSegment
from django_segments.testing import segment_sql_on_writer
from tests.membership_helpers import current_ids
from tests.stress.conftest import scaled

pytestmark = pytest.mark.django_db

DOMAINS = ("example.org", "EXAMPLE.org", "gmail.com", "")

#: SQL over auth_user: NULL ids, ids of no member, int4 boundaries, text ids (with
#: spaces, leading zeros), duplicates, extra columns, LIMIT, percent signs, a trailing
#: semicolon, and parameters (which a refresh cannot bind: refused by validation).
SQL = (
    "SELECT id FROM auth_user WHERE is_staff",
    "SELECT id FROM auth_user WHERE email ILIKE '%@example.org'",
    "SELECT id FROM auth_user WHERE username LIKE 'u1%' OR id % 2 = 0",
    "SELECT NULL::int",
    "SELECT id FROM auth_user UNION ALL SELECT id FROM auth_user UNION ALL SELECT NULL",
    "SELECT 2147483647 UNION SELECT -2147483648 UNION SELECT 0",
    "SELECT ' ' || id::text || ' ' FROM auth_user WHERE NOT is_active",
    "SELECT '00' || id::text, 'extra column' FROM auth_user",
    "SELECT id FROM auth_user ORDER BY id DESC LIMIT 2",
    "SELECT g FROM generate_series(-1, 3) AS g",
    "WITH staff AS (SELECT id FROM auth_user WHERE is_staff)\n"
    "SELECT id FROM auth_user EXCEPT SELECT id FROM staff;",
    "SELECT $1::bigint",
    "SELECT id FROM auth_user WHERE id = $1",
)

CONDITIONS = (
    {"all": ["EMAIL_DOMAIN example.org"]},
    {"any": ["IS_STAFF", "ID_PARITY even"]},
    {"all": ["NOT IS_STAFF", "USERNAME_LENGTH >= 3"]},
    {"any": ["NOT EMAIL_DOMAIN gmail.com"]},
)

METHODS = ("", "props_inactive", "props_first_two")
NOTHING: dict[str, Any] = {"sql": "", "static_ids": "", "method": "", "conditions": None}


def _inactive(queryset: Any) -> Any:
    return queryset.filter(is_active=False)


def _first_two(queryset: Any) -> Any:
    return queryset.order_by("pk")[:2]


@pytest.fixture(autouse=True)
def _setup(settings) -> Iterator[None]:
    settings.SEGMENTS_CONDITIONS = "tests.conditions_defs"
    register_segment_method(name="props_inactive")(_inactive)
    register_segment_method(name="props_first_two")(_first_two)
    with segment_sql_on_writer():
        yield
    unregister_segment_method("props_inactive")
    unregister_segment_method("props_first_two")


users = st.lists(
    st.tuples(st.sampled_from(DOMAINS), st.booleans(), st.booleans(), st.integers(0, 12)),
    max_size=7,
)


#: Static id tokens: "{m<i>}" names the i-th generated member (modulo their number),
#: the rest are strangers, boundaries and junk.
TOKENS = ("{m0}", "{m1}", "00{m2}", "999999", "-1", "0", "2147483648", "abc", "1.5", "+3", "")


@st.composite
def definitions(draw: Any) -> dict[str, Any]:
    """A union of up to four definitions."""
    kinds = draw(st.sets(st.sampled_from(["sql", "static_ids", "method", "conditions"]), min_size=1))
    tokens = draw(st.lists(st.sampled_from(TOKENS), max_size=5))
    return {
        "sql": draw(st.sampled_from(SQL)) if "sql" in kinds else "",
        "static_ids": draw(st.sampled_from([" ", ",", "\n", ";", " , "])).join(tokens)
        if "static_ids" in kinds
        else "",
        "method": draw(st.sampled_from(METHODS[1:])) if "method" in kinds else "",
        "conditions": draw(st.sampled_from(CONDITIONS)) if "conditions" in kinds else None,
    }


def _resolve(static_ids: str, pks: list[int]) -> str:
    named = {f"m{i}": str(pks[i % len(pks)]) if pks else "999999" for i in range(3)}
    return static_ids.format(**named)


def _refreshed(segment: UserSegment) -> set[str] | None:
    """Member ids after a refresh, or None if it failed."""
    try:
        segment.refresh()
    except RefreshError:
        return None
    return current_ids(segment)


def _matches(segment: UserSegment, user: User) -> bool | None:
    try:
        return segment.matches(user)
    except SegmentsError:
        return None


@hypothesis_settings(
    max_examples=scaled(40, 400),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=users, definition=definitions())
@example(rows=[("example.org", False, True, 0)], definition={**NOTHING, "sql": "SELECT $1::bigint"})
@example(rows=[("", True, True, 1)], definition={**NOTHING, "sql": SQL[0], "static_ids": "{m0}"})
@example(rows=[("", True, False, 1)] * 3, definition={**NOTHING, "method": "props_first_two"})
def test_matches_and_refresh_agree(
    rows: list[tuple[str, bool, bool, int]], definition: dict[str, Any]
) -> None:
    with transaction.atomic():
        created = [
            User.objects.create(
                username="u" + "x" * length + str(index),
                email=f"user{index}@{domain}" if domain else "",
                is_staff=staff,
                is_active=active,
            )
            for index, (domain, staff, active, length) in enumerate(rows)
        ]
        definition = {**definition, "static_ids": _resolve(definition["static_ids"], [u.pk for u in created])}
        # Written around save()'s validation, as a direct UPDATE would: both paths must
        # refuse what validation refuses.
        segment = UserSegment.objects.create(name="P", slug="p", static_ids="1")
        UserSegment.objects.filter(pk=segment.pk).update(**definition)
        segment.refresh_from_db()
        refreshed = _refreshed(segment)
        matched = {str(user.pk): _matches(segment, user) for user in created}
        if refreshed is None:
            assert set(matched.values()) <= {None}, matched
        else:
            assert {pk for pk, yes in matched.items() if yes} == refreshed, matched
            assert None not in matched.values(), matched
        transaction.set_rollback(True)
