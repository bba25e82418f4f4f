"""Property tests: Python evaluation equals the compiled queryset; the parser never crashes."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_segments.conditions import ConditionError, conditions_from_module, parse
from tests import conditions_defs

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


def dates() -> st.SearchStrategy[datetime.date]:
    return st.dates(datetime.date(2018, 12, 30), datetime.date(2026, 1, 2))


def numbers(low: int, high: int) -> st.SearchStrategy[str]:
    whole = st.integers(low, high).map(str)
    half = st.integers(low, high).map(lambda n: f"{n}.5")
    return st.one_of(whole, half)


def sql_leaves() -> st.SearchStrategy[str]:
    rules = st.one_of(
        st.sampled_from(DOMAINS).map(lambda d: f"EMAIL_DOMAIN {d}"),
        st.just("IS_STAFF"),
        st.sampled_from(["even", "odd"]).map(lambda k: f"ID_PARITY {k}"),
        st.tuples(st.sampled_from(OPS), numbers(0, 13)).map(lambda t: f"USERNAME_LENGTH {t[0]} {t[1]}"),
        st.tuples(st.sampled_from(OPS), st.integers(2018, 2026)).map(lambda t: f"JOINED_YEAR {t[0]} {t[1]}"),
        st.tuples(st.sampled_from(["before", "after", "on"]), dates()).map(
            lambda t: f"JOINED_ON {t[0]} {t[1].isoformat()}"
        ),
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


users_strategy = st.lists(
    st.tuples(
        st.text("abcxyz_", min_size=1, max_size=12),
        st.sampled_from(DOMAINS),
        st.booleans(),
        st.datetimes(
            datetime.datetime(2019, 1, 1),
            datetime.datetime(2025, 12, 31, 23, 59, 59),
            timezones=st.just(UTC),
        ),
    ),
    max_size=10,
    unique_by=lambda row: row[0],
)


def store_users(rows: list[tuple[str, str, bool, datetime.datetime]]) -> list[User]:
    User.objects.all().delete()
    User.objects.bulk_create(
        User(username=name, email=f"{name}@{domain}", is_staff=staff, date_joined=joined)
        for name, domain, staff, joined in rows
    )
    return list(User.objects.all())


@pytest.mark.django_db
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=trees(sql_leaves()), rows=users_strategy)
def test_python_evaluation_equals_compiled_queryset(data: Any, rows: list) -> None:
    tree = parse(data, definitions=DEFS)
    assert tree.sql_capable
    users = store_users(rows)
    by_python = {user.pk for user in users if tree.evaluate(user)}
    by_sql = set(User.objects.filter(tree.as_q()).values_list("pk", flat=True))
    assert by_python == by_sql, (tree.encode(), [(u.username, u.email) for u in users])


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
