"""Fuzzing the conditions parser: any JSON gives a tree or a `ConditionError`, nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_segments.exceptions import ConditionError
from tests.stress.conftest import count, scaled

conditions = pytest.importorskip("django_segments.conditions")
parse = conditions.parse
default_definitions = conditions.default_definitions

pytestmark = pytest.mark.stress

EXAMPLES = scaled(300, 5000)
DEFINITIONS_MODULE = "tests.conditions_defs"

#: Words that make the parser go deeper than random text would.
KEYS = st.sampled_from(["all", "any", "NOT", "not", "All", "", " all"])
NAMES = st.sampled_from(
    ["IS_STAFF", "EMAIL_DOMAIN", "LEVEL", "SCORE", "JOINED_ON", "USERNAME_LENGTH", "BOOM", "NOPE"]
)
OPERATORS = st.sampled_from(["", "=", "==", "!=", ">", ">=", "<", "<=", "=>", "in", "NOT"])
OPERANDS = st.one_of(
    st.sampled_from(["", "5", "-1", "1e309", "nan", "gmail.com", "2024-02-30", "a b", "NOT"]),
    st.text(max_size=8),
)
CONDITION_STRINGS = st.builds(
    lambda nots, name, op, operand, sep: sep.join(p for p in ["NOT " * nots + name, op, operand] if p),
    st.integers(0, 3),
    NAMES,
    OPERATORS,
    OPERANDS,
    st.sampled_from([" ", "  ", "\t"]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(),
    CONDITION_STRINGS,
)
#: Strings that are valid conditions of tests.conditions_defs.
VALID_STRINGS = st.sampled_from(
    ["IS_STAFF", "NOT IS_STAFF", "EMAIL_DOMAIN gmail.com", "NOT EMAIL_DOMAIN example.org", "LEVEL > 3",
     "LEVEL <= 0", "SCORE >= 2", "USERNAME_LENGTH < 8", "NOT NOT LEVEL = 5"]
)  # fmt: skip
#: Trees that follow the grammar, with invalid leaves now and then.
GRAMMAR = st.recursive(
    st.one_of(VALID_STRINGS, VALID_STRINGS, CONDITION_STRINGS),
    lambda children: st.one_of(
        st.builds(lambda items: {"all": items}, st.lists(children, max_size=4)),
        st.builds(lambda items: {"any": items}, st.lists(children, max_size=4)),
        st.builds(lambda item: {"NOT": item}, children),
    ),
    max_leaves=25,
)
ARBITRARY = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(KEYS, st.text(max_size=6)), children, max_size=3),
    ),
    max_leaves=40,
)
JSON = st.one_of(ARBITRARY, GRAMMAR)


def _check(data: Any, defs: Any, outcome: dict[str, int]) -> None:
    try:
        tree = parse(data, definitions=defs)
    except ConditionError as exc:
        error: ConditionError | None = exc
    else:
        error = None
    if error is not None:
        assert str(error).startswith("$"), f"no path in {error!r}"
        outcome["rejected"] += 1
        return
    # A valid tree encodes to data that parses again to the same encoding.
    encoded = tree.encode()
    assert parse(encoded, definitions=defs).encode() == encoded
    outcome["ok"] += 1


def test_arbitrary_json_gives_a_tree_or_a_condition_error() -> None:
    with override_settings(SEGMENTS_CONDITIONS=DEFINITIONS_MODULE):
        defs = default_definitions()
    assert len(defs) > 0
    outcome = {"ok": 0, "rejected": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(JSON)
    def fuzz(data: Any) -> None:
        _check(data, defs, outcome)

    fuzz()
    count("conditions fuzz", "parse(arbitrary JSON)", note=f"{EXAMPLES} examples", **outcome)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_nest, id=name)
        for name, _nest in {
            "lists 10000 deep": lambda: _deep([], 10_000),
            "NOT 10000 deep": lambda: _deep_not(10_000),
            "all 100 deep": lambda: _deep_all(100),
        }.items()
    ],
)
def test_deep_nesting_is_a_condition_error(data: Any) -> None:
    with override_settings(SEGMENTS_CONDITIONS=DEFINITIONS_MODULE):
        defs = default_definitions()
    with pytest.raises(ConditionError):
        parse(data(), definitions=defs)
    count("conditions fuzz", "deep nesting", rejected=1)


def _deep(leaf: Any, depth: int) -> Any:
    data = leaf
    for _ in range(depth):
        data = [data]
    return data


def _deep_not(depth: int) -> Any:
    data: Any = "IS_STAFF"
    for _ in range(depth):
        data = {"NOT": data}
    return data


def _deep_all(depth: int) -> Any:
    data: Any = "IS_STAFF"
    for _ in range(depth):
        data = {"all": [data]}
    return data
