"""Property tests: Python evaluation, the compiled queryset and a refreshed segment agree;
the parser never crashes.

Random trees (NOT and ``!=`` everywhere) over users whose profile row may be missing and
whose columns may be NULL: a Decimal and a float column (with boundary values such as
``1.10`` against ``1.1``, NaN and infinities), timezone-aware datetimes in several UTC
offsets, strings. Each tree is checked three ways: the rows Python finds true equal the
rows of ``filter(tree.as_q())``, the rows Python finds false equal ``filter(tree.as_not_q())``,
and a user segment defined by the tree holds, after ``refresh()``, the rows Python finds true.
"""

from __future__ import annotations

import datetime
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_segments.conditions import ConditionError, conditions_from_module, parse
from django_segments.models import UserSegment
from tests import conditions_defs
from tests.condapp.models import Profile

DEFS = conditions_from_module(conditions_defs)

# Domains include LIKE wildcards and near misses, so escaping and anchoring are exercised.
DOMAINS = [
    "gmail.com",
    "GMAIL.com",
    "mail.gmail.com",
    "example.org",
    "example.org.evil",
    "ex_mple.org",
    "exXmple.org",
    "ex%mple.org",
]
OPS = ["<", "<=", "==", "!=", ">=", ">"]
UTC = datetime.UTC
#: UTC offsets of the generated datetimes and operands.
ZONES = [
    datetime.timezone(datetime.timedelta(hours=h, minutes=m)) for h, m in [(0, 0), (5, 30), (-8, 0), (14, 0)]
]
#: Operands near the stored values: 1.1 is not the float 1.1, 0.3 is not 0.1 + 0.2.
NUMBER_OPERANDS = ["0", "1", "1.1", "1.10", "0.3", "0.30000000000000004", "-2.5", "5", "1e2", "99.9999"]
STORED_NUMBERS = [0, 1, Decimal("1.1"), Decimal("0.3"), Decimal("-2.5"), 5, 100, Decimal("99.9999")]
STORED_FLOATS = [0.0, 1.0, 1.1, 0.3, 0.1 + 0.2, -2.5, 100.0, float("inf"), float("-inf"), float("nan")]
NICKS = ["bob", "ann", "Bob", ""]


def dates() -> st.SearchStrategy[datetime.date]:
    return st.dates(datetime.date(2018, 12, 30), datetime.date(2026, 1, 2))


def aware(low: datetime.datetime, high: datetime.datetime) -> st.SearchStrategy[datetime.datetime]:
    return st.builds(
        lambda moment, zone: moment.astimezone(zone),
        st.datetimes(low, high, timezones=st.just(UTC)),
        st.sampled_from(ZONES),
    )


#: Instants near one another, so comparisons across offsets are sometimes equal.
INSTANTS = [
    datetime.datetime(2024, 1, 1, 12, tzinfo=UTC) + datetime.timedelta(minutes=30 * i) for i in range(4)
]
instants = st.builds(
    lambda moment, zone: moment.astimezone(zone), st.sampled_from(INSTANTS), st.sampled_from(ZONES)
)


def numbers(low: int, high: int) -> st.SearchStrategy[str]:
    whole = st.integers(low, high).map(str)
    half = st.integers(low, high).map(lambda n: f"{n}.5")
    return st.one_of(whole, half)


def compare(name: str, operands: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(OPS), operands).map(lambda t: f"{name} {t[0]} {t[1]}")


def sql_leaves() -> st.SearchStrategy[str]:
    rules = st.one_of(
        st.sampled_from(DOMAINS).map(lambda d: f"EMAIL_DOMAIN {d}"),
        st.just("IS_STAFF"),
        st.sampled_from(["even", "odd"]).map(lambda k: f"ID_PARITY {k}"),
        compare("USERNAME_LENGTH", numbers(0, 13)),
        compare("JOINED_YEAR", st.integers(2018, 2026).map(str)),
        st.tuples(st.sampled_from(["before", "after", "on"]), dates()).map(
            lambda t: f"JOINED_ON {t[0]} {t[1].isoformat()}"
        ),
        compare("PSCORE", st.sampled_from(NUMBER_OPERANDS)),
        compare("PRATIO", st.sampled_from(NUMBER_OPERANDS)),
        st.sampled_from(NICKS[:3]).map(lambda n: f"NICK_IS {n}"),
        compare("PSEEN", instants.map(datetime.datetime.isoformat)),
        compare("LAST_LOGIN", instants.map(datetime.datetime.isoformat)),
    )
    return st.tuples(st.booleans(), rules).map(lambda t: f"NOT {t[1]}" if t[0] else t[1])


def trees(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        items = st.lists(children, max_size=4)
        return st.one_of(
            items.map(lambda xs: {"all": xs}),
            items.map(lambda xs: {"any": xs}),
            children.map(lambda x: {"NOT": x}),
        )

    return st.recursive(leaves, extend, max_leaves=14)


#: A profile: None (no row), or its four columns, each of which may be NULL.
profiles = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "score": st.one_of(st.none(), st.sampled_from(STORED_NUMBERS)),
            "ratio": st.one_of(st.none(), st.sampled_from(STORED_FLOATS)),
            "nick": st.one_of(st.none(), st.sampled_from(NICKS)),
            "seen_at": st.one_of(st.none(), instants),
        }
    ),
)

users_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "username": st.text("abcxyz_", min_size=1, max_size=12),
            "domain": st.sampled_from(DOMAINS),
            "is_staff": st.booleans(),
            "date_joined": aware(datetime.datetime(2019, 1, 1), datetime.datetime(2025, 12, 31, 23, 59, 59)),
            "last_login": st.one_of(st.none(), instants),
            "profile": profiles,
        }
    ),
    max_size=10,
    unique_by=lambda row: row["username"],
)


def store_users(rows: list[dict[str, Any]]) -> list[User]:
    User.objects.all().delete()
    for row in rows:
        user = User.objects.create(
            username=row["username"],
            email=f"{row['username']}@{row['domain']}",
            is_staff=row["is_staff"],
            date_joined=row["date_joined"],
            last_login=row["last_login"],
        )
        if row["profile"] is not None:
            Profile.objects.create(user=user, **row["profile"])
    return list(User.objects.all())


def materialized(data: Any) -> set[int]:
    """Primary keys of the members of a segment defined by ``data``, after a refresh."""
    UserSegment.objects.all().delete()
    segment = UserSegment.objects.create(name="Property", slug="property", conditions=data)
    segment.refresh()
    return set(segment.members.values_list("pk", flat=True))


@pytest.mark.django_db
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=trees(sql_leaves()), rows=users_strategy)
def test_python_compiled_sql_and_refresh_agree(data: Any, rows: list[dict[str, Any]]) -> None:
    tree = parse(data, definitions=DEFS)
    assert tree.sql_capable
    users = store_users(rows)
    truth = {user.pk: tree.truth(user, {}) for user in users}
    by_python = {pk for pk, value in truth.items() if value is True}
    false_by_python = {pk for pk, value in truth.items() if value is False}
    by_sql = set(User.objects.filter(tree.as_q()).values_list("pk", flat=True))
    false_by_sql = set(User.objects.filter(tree.as_not_q()).values_list("pk", flat=True))
    shown = (tree.encode(), rows)
    assert by_python == by_sql, shown
    assert false_by_python == false_by_sql, shown
    with override_settings(SEGMENTS_CONDITIONS="tests.conditions_defs"):
        assert materialized(data) == by_python, shown


# --- fuzz: arbitrary JSON into the parser -------------------------------------------------

TOKENS = [
    "NOT",
    *DEFS,
    *OPS,
    "before",
    "on",
    "=>",
    "5",
    "-1.5",
    "nan",
    "inf",
    "abc",
    "even",
    "gmail.com",
    "math",
    "2020-02-30",
    "2020-02-03",
    "",
]

rule_strings = st.lists(st.sampled_from(TOKENS), max_size=5).map(" ".join)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    rule_strings,
)
keys = st.one_of(st.sampled_from(["all", "any", "NOT", "not", "ALL"]), st.text(max_size=4))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=3),
    ),
    max_leaves=20,
)
PATH = re.compile(r"^\$(\.(all|any)(\[\d+\])?|\.NOT)*$")


def check_parse(data: Any) -> None:
    try:
        tree = parse(data, definitions=DEFS)
    except ConditionError as exc:
        error = exc
    else:
        error = None
    if error is not None:
        assert PATH.match(error.path), error.path
        assert str(error) == f"{error.path}: {error.reason}"
        return
    encoded = tree.encode()
    assert json.loads(json.dumps(encoded)) == encoded
    again = parse(encoded, definitions=DEFS)
    assert again == tree
    assert again.encode() == encoded


@settings(max_examples=600, deadline=None)
@given(data=json_values)
def test_arbitrary_json_gives_a_tree_or_a_condition_error(data: Any) -> None:
    check_parse(data)


@settings(max_examples=300, deadline=None)
@given(data=trees(st.one_of(rule_strings, scalars)))
def test_tree_shaped_json_gives_a_tree_or_a_condition_error(data: Any) -> None:
    check_parse(data)


@settings(max_examples=200, deadline=None)
@given(data=trees(sql_leaves()))
def test_valid_trees_round_trip(data: Any) -> None:
    tree = parse(data, definitions=DEFS)
    encoded = tree.encode()
    assert parse(encoded, definitions=DEFS) == tree
    assert parse(encoded, definitions=DEFS).encode() == encoded
