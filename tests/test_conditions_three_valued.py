"""Three-valued semantics: NULL columns, missing related rows, NOT, ``!=`` and number types.

Each case is checked three ways: Python evaluation, the compiled queryset (true rows and
false rows), and a user segment materialized by a refresh.
"""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from django_segments.conditions import ConditionError, PythonOnlyConditionError, conditions_from_module, parse
from django_segments.models import UserSegment
from tests import conditions_defs
from tests.condapp.models import Profile

DEFS = conditions_from_module(conditions_defs)
UTC = datetime.UTC


def user(name: str, **profile: Any) -> User:
    """A user; with ``profile=None`` in the keywords, no profile row at all."""
    created = User.objects.create(username=name, email=f"{name}@example.org")
    if profile.pop("missing", False):
        return created
    Profile.objects.create(user=created, **profile)
    return created


def three_ways(data: Any) -> tuple[set[str], set[str], set[str], set[str]]:
    """(true by Python, true by SQL, false by Python, false by SQL), as usernames."""
    tree = parse(data, definitions=DEFS)
    users = list(User.objects.all())
    truth = {u.username: tree.truth(u, {}) for u in users}
    py_true = {name for name, value in truth.items() if value is True}
    py_false = {name for name, value in truth.items() if value is False}
    sql_true = set(User.objects.filter(tree.as_q()).values_list("username", flat=True))
    sql_false = set(User.objects.filter(tree.as_not_q()).values_list("username", flat=True))
    return py_true, sql_true, py_false, sql_false


def materialized(data: Any) -> set[str]:
    """Usernames of the members of a segment defined by ``data``, after a refresh."""
    with override_settings(SEGMENTS_CONDITIONS="tests.conditions_defs"):
        segment = UserSegment.objects.create(name="S", slug="s", conditions=data)
        segment.refresh()
        names = set(segment.members.values_list("username", flat=True))
        assert all(segment.matches(u) == (u.username in names) for u in User.objects.all())
    segment.delete()
    return names


def check(data: Any, expected_true: set[str], expected_false: set[str]) -> None:
    py_true, sql_true, py_false, sql_false = three_ways(data)
    assert py_true == expected_true, ("python", data)
    assert sql_true == expected_true, ("sql", data)
    assert py_false == expected_false, ("python false", data)
    assert sql_false == expected_false, ("sql false", data)
    assert materialized(data) == expected_true, ("refresh", data)


@pytest.fixture
def people(db) -> None:
    user("low", score=Decimal("2"), ratio=0.5, nick="bob")
    user("high", score=Decimal("7"), ratio=9.5, nick="ann")
    user("null", score=None, ratio=None, nick=None)
    user("none", missing=True)


ALL = {"low", "high", "null", "none"}


@pytest.mark.parametrize(
    ("data", "true", "false"),
    [
        ("PSCORE < 5", {"low"}, {"high"}),
        ("NOT PSCORE < 5", {"high"}, {"low"}),
        ({"NOT": "PSCORE < 5"}, {"high"}, {"low"}),
        ({"NOT": {"all": ["PSCORE < 5"]}}, {"high"}, {"low"}),
        ({"NOT": {"any": ["PSCORE < 5", "PSCORE > 6"]}}, set(), {"low", "high"}),
        ("PSCORE != 2", {"high"}, {"low"}),
        ("NOT PSCORE != 2", {"low"}, {"high"}),
        ("PRATIO != 0.5", {"high"}, {"low"}),
        ("NICK_IS bob", {"low"}, {"high"}),
        ("NOT NICK_IS bob", {"high"}, {"low"}),
        # Unknown in one branch; the other decides.
        ({"any": ["NOT PSCORE < 5", "USERNAME_LENGTH == 4"]}, {"high", "null", "none"}, {"low"}),
        ({"all": ["NOT NICK_IS bob", "USERNAME_LENGTH == 4"]}, {"high"}, {"low"}),
        ({"all": ["NOT NICK_IS bob", "USERNAME_LENGTH == 3"]}, set(), {"low", "high", "null", "none"}),
        ({"NOT": {"all": ["PSCORE < 5", "USERNAME_LENGTH == 3"]}}, {"high", "null", "none"}, {"low"}),
    ],
)
def test_null_and_missing_rows_are_unknown_on_both_sides(people, data, true, false) -> None:
    check(data, true, false)


def test_decimal_column_compares_exactly(db) -> None:
    user("a", score=Decimal("1.10"))
    user("b", score=Decimal("0.3"))
    check("PSCORE == 1.1", {"a"}, {"b"})
    check("PSCORE < 1.1", {"b"}, {"a"})
    check("PSCORE > 0.3", {"a"}, {"b"})
    check("PSCORE >= 0.30000000000000004", {"a"}, {"b"})
    check("NOT PSCORE != 1.1", {"a"}, {"b"})


def test_float_column_compares_as_float(db) -> None:
    user("a", ratio=1.1)
    user("b", ratio=0.1 + 0.2)
    check("PRATIO == 1.1", {"a"}, {"b"})
    check("PRATIO == 0.3", set(), {"a", "b"})  # 0.1 + 0.2 is not 0.3 as a float
    check("PRATIO > 0.3", {"a", "b"}, set())
    check("PRATIO < 0.30000000000000004", set(), {"a", "b"})


def test_nan_and_infinity_order_as_postgres_orders_them(db) -> None:
    user("nan", ratio=float("nan"))
    user("inf", ratio=float("inf"))
    user("ninf", ratio=float("-inf"))
    check("PRATIO > 100", {"nan", "inf"}, {"ninf"})
    check("PRATIO == 1", set(), {"nan", "inf", "ninf"})
    check("PRATIO != 1", {"nan", "inf", "ninf"}, set())


def test_aware_datetimes_compare_as_instants(db) -> None:
    moment = datetime.datetime(2024, 1, 1, 12, tzinfo=UTC)
    user("at", seen_at=moment)
    user("never")
    check("PSEEN == 2024-01-01T14:00+02:00", {"at"}, set())
    check("PSEEN < 2024-01-01T13:00+02:00", set(), {"at"})
    check("NOT PSEEN > 2024-01-01T07:00-05:00", {"at"}, set())
    with pytest.raises(ConditionError, match="give a UTC offset"):
        parse("PSEEN < 2024-01-01T00:00", definitions=DEFS)


def test_missing_related_row_is_not_logged_as_a_failure(people, caplog) -> None:
    tree = parse("NOT PSCORE < 5", definitions=DEFS)
    with caplog.at_level(logging.DEBUG, logger="django_segments.conditions"):
        assert tree.evaluate(User.objects.get(username="none")) is False
    assert [record.levelno for record in caplog.records] == [logging.DEBUG]


def test_compiled_negation_has_no_is_not_null_guard(db) -> None:
    sql = str(User.objects.filter(parse("NOT PSCORE < 5", definitions=DEFS).as_q()).query)
    assert "IS NOT NULL" not in sql
    assert '"condapp_profile"."score" >= 5' in sql


@pytest.mark.django_db
@pytest.mark.parametrize("data", [{}, []])
def test_empty_object_or_list_is_refused_not_ignored(data) -> None:
    with override_settings(SEGMENTS_CONDITIONS="tests.conditions_defs"):
        segment = UserSegment(name="S", slug="s", sql="SELECT id FROM auth_user", conditions=data)
        with pytest.raises(ConditionError, match=r"^\$: (empty object|expected a condition string)"):
            segment.save()
        assert segment.definition_problems()["conditions"]
    assert not UserSegment.objects.exists()


@pytest.mark.django_db
def test_python_only_segment_error_names_each_condition_and_path() -> None:
    data = {"all": ["IS_STAFF", {"any": ["PALINDROME", "NOT LEVEL > 1"]}]}
    with (
        override_settings(SEGMENTS_CONDITIONS="tests.conditions_defs"),
        pytest.raises(PythonOnlyConditionError) as excinfo,
    ):
        UserSegment.objects.create(name="S", slug="s", conditions=data)
    assert excinfo.value.path == "$.all[1].any[0]"
    message = str(excinfo.value)
    assert message.startswith("$.all[1].any[0]: condition 'PALINDROME' (Palindrome) has no SQL form")
    assert "'LEVEL > 1' at $.all[1].any[1].NOT" not in message  # a string NOT keeps the leaf's path
    assert "'LEVEL > 1' at $.all[1].any[1]" in message
