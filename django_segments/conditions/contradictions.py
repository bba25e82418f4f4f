"""Condition trees that can never be true, decided from the conditions' declarations.

`never_true` returns the reasons a parsed tree can hold for no object at all, or an
empty list when it may hold. It reasons only from what condition classes declare
(`Condition.single_valued`) and from the default comparison operators, never by running
a condition, so an empty answer means "not shown impossible", not "some member matches":

* under ``all``, a single-valued keyed condition with two different keys
  (``EMAIL_DOMAIN gmail.com`` and ``EMAIL_DOMAIN example.org``);
* under ``all``, comparisons of one single-valued condition (same class and key) that no
  value satisfies together (``LEVEL >= 5`` and ``LEVEL < 3``; ``LEVEL == 1`` and
  ``LEVEL == 2``), decided exactly over numbers and, for other operands, wherever an
  ``==`` fixes the value;
* an empty ``any``, and an ``any`` whose every branch is never true.

Negated parts are not analysed (``NOT`` of a contradiction is always true).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django_segments.conditions.base import DEFAULT_OPERATORS, CompareCondition
from django_segments.conditions.tree import AllOf, AnyOf, Leaf, Node


def never_true(tree: Node) -> list[str]:
    """Why ``tree`` is true for no object, one message per reason; [] when it may be true."""
    if isinstance(tree, AllOf):
        reasons = [reason for child in tree.children for reason in never_true(child)]
        return reasons + _clashes(list(_conjuncts(tree)))
    if isinstance(tree, AnyOf):
        if not tree.children:
            return [f"{tree.path}: an empty any is never true"]
        branches = [never_true(child) for child in tree.children]
        return [reason for reasons in branches for reason in reasons] if all(branches) else []
    return []


def _conjuncts(group: AllOf) -> Iterator[Leaf]:
    """The leaves ANDed directly by ``group``, through nested ``all`` groups."""
    for child in group.children:
        if isinstance(child, Leaf):
            yield child
        elif isinstance(child, AllOf):
            yield from _conjuncts(child)


def _clashes(leaves: list[Leaf]) -> list[str]:
    """A message for each set of single-valued conditions that cannot hold together."""
    groups: dict[tuple[Any, ...], list[Leaf]] = {}
    for leaf in leaves:
        condition = leaf.condition
        if not type(condition).single_valued:
            continue
        if isinstance(condition, CompareCondition):
            groups.setdefault((type(condition), "compare", condition.key), []).append(leaf)
        elif condition.key is not None:
            groups.setdefault((type(condition), "key"), []).append(leaf)
    messages = []
    for (_, kind, *_rest), members in groups.items():
        conditions = [leaf.condition for leaf in members]
        impossible = (
            not _satisfiable(conditions)  # type: ignore[arg-type]
            if kind == "compare"
            else len({condition.key for condition in conditions}) > 1
        )
        if impossible:
            messages.append(_message(members))
    return messages


def _message(leaves: list[Leaf]) -> str:
    shown = " and ".join(f'"{leaf.condition.encode()}" ({leaf.path})' for leaf in leaves)
    name = leaves[0].condition.condstr
    return f"{shown} can never all be true: {name} has one value per member"


def _satisfiable(conditions: list[CompareCondition]) -> bool:
    """Whether one value satisfies every comparison; True when that cannot be decided."""
    if not all(_standard(condition) for condition in conditions):
        return True
    operands = [condition.operand for condition in conditions]
    fixed = [condition.operand for condition in conditions if condition.op == "=="]
    if fixed:
        candidates: Iterable[Any] = fixed[:1]
    elif all(_is_number(operand) for operand in operands):
        candidates = _number_candidates(operands)
    else:
        return True
    try:
        return any(_holds(conditions, value) for value in candidates)
    except TypeError:  # operands of different types: not decided here
        return True


def _standard(condition: CompareCondition) -> bool:
    """Whether the comparison's operator has its default meaning."""
    function = type(condition).operators().get(condition.op)
    return function is not None and function is DEFAULT_OPERATORS.get(condition.op)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def _number_candidates(operands: list[Any]) -> list[Decimal]:
    """A value in every region the operands cut the number line into: each operand, each
    midpoint between neighbours, and one beyond either end."""
    points = sorted({Decimal(operand) for operand in operands})
    middles = [(low + high) / 2 for low, high in itertools.pairwise(points)]
    return [points[0] - 1, *points, *middles, points[-1] + 1]


def _holds(conditions: list[CompareCondition], value: Any) -> bool:
    return all(DEFAULT_OPERATORS[condition.op](value, condition.operand) for condition in conditions)
