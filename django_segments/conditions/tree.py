"""The typed, immutable condition tree produced by `django_segments.conditions.parse`.

Nodes: `Leaf` (one condition), `Not` (negation), `All` and `Any` (groups). Every node
offers the same things: ``evaluate`` (Python, fails closed), ``as_q`` / ``as_not_q`` (the
rows where it is true / false, one ``Q`` each), ``sql_capable`` and ``encode`` (normalised
JSON data). Both sides follow the three-valued logic of `django_segments.conditions.logic`.
Trees are shared through the parse cache, so they are never mutated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from django_segments.conditions import compile as compiler
from django_segments.conditions import evaluate as evaluator
from django_segments.conditions import logic
from django_segments.conditions.base import NOT, Condition
from django_segments.conditions.logic import Truth


class Node:
    """Base class of tree nodes."""

    path: str

    def truth(self, obj: Any, context: dict[str, Any]) -> Truth:
        """Three-valued result: True, False or None when a condition failed."""
        raise NotImplementedError

    def evaluate(self, obj: Any, **context: Any) -> bool:
        """Whether ``obj`` satisfies the tree; a failing condition makes it fail closed."""
        return self.truth(obj, context) is True

    def as_q(self, **context: Any) -> Q:
        """The rows where the tree is true, as one ``Q``.

        `PythonOnlyConditionError` (at the first one, naming all) if a condition has no SQL.
        """
        compiler.require_sql(self.leaves())
        return self.where(context, negated=False)

    def as_not_q(self, **context: Any) -> Q:
        """The rows where the tree is false (``NOT`` of the tree), as one ``Q``."""
        compiler.require_sql(self.leaves())
        return self.where(context, negated=True)

    def where(self, context: dict[str, Any], *, negated: bool) -> Q:
        """The rows where the node is true (false when ``negated``); no SQL check."""
        raise NotImplementedError

    def leaves(self) -> Iterator[Leaf]:
        """Every condition of the tree, depth first."""
        raise NotImplementedError

    @property
    def sql_capable(self) -> bool:
        """Whether every condition of the tree compiles to SQL."""
        return all(leaf.condition.sql_capable for leaf in self.leaves())

    def python_only(self) -> list[Leaf]:
        """The leaves that have no SQL form (empty when `sql_capable`)."""
        return [leaf for leaf in self.leaves() if not leaf.condition.sql_capable]

    def encode(self) -> Any:
        """Normalised, JSON-serialisable data that parses back to an equal tree."""
        raise NotImplementedError


@dataclass(frozen=True)
class Leaf(Node):
    """One condition, e.g. ``EMAIL_DOMAIN gmail.com``."""

    condition: Condition
    path: str = field(default="$", compare=False)

    def truth(self, obj: Any, context: dict[str, Any]) -> Truth:
        """The condition's result, None if it raised (logged)."""
        return evaluator.run_condition(self.condition, self.path, obj, context)

    def where(self, context: dict[str, Any], *, negated: bool) -> Q:
        """The condition's ``as_q``, or its ``as_not_q`` when negated."""
        if negated:
            return compiler.condition_not_q(self.condition, context)
        return compiler.condition_q(self.condition, context)

    def leaves(self) -> Iterator[Leaf]:
        """This leaf."""
        yield self

    def encode(self) -> str:
        """The normalised condition string."""
        return self.condition.encode()


@dataclass(frozen=True)
class Not(Node):
    """Negation of a node; unknown (a failed condition) stays unknown, hence False."""

    child: Node
    path: str = field(default="$", compare=False)

    def truth(self, obj: Any, context: dict[str, Any]) -> Truth:
        """Three-valued NOT of the child."""
        return logic.negate(self.child.truth(obj, context))

    def where(self, context: dict[str, Any], *, negated: bool) -> Q:
        """The child with the negation flipped: its false rows, or its true rows."""
        return self.child.where(context, negated=not negated)

    def leaves(self) -> Iterator[Leaf]:
        """The child's leaves."""
        return self.child.leaves()

    def encode(self) -> Any:
        """``"NOT <condition>"`` for strings and negated strings, ``{"NOT": {...}}`` else."""
        inner = self.child.encode()
        return f"{NOT} {inner}" if isinstance(inner, str) else {NOT: inner}


@dataclass(frozen=True)
class Group(Node):
    """A list of nodes combined by ``all`` (AND) or ``any`` (OR)."""

    children: tuple[Node, ...]
    path: str = field(default="$", compare=False)
    keyword = ""

    def leaves(self) -> Iterator[Leaf]:
        """The children's leaves, in order."""
        for child in self.children:
            yield from child.leaves()

    def encode(self) -> dict[str, list[Any]]:
        """``{"all": [...]}`` or ``{"any": [...]}``."""
        return {self.keyword: [child.encode() for child in self.children]}


@dataclass(frozen=True)
class AllOf(Group):
    """True when every child is True; an empty ``all`` is True."""

    keyword = "all"

    def truth(self, obj: Any, context: dict[str, Any]) -> Truth:
        """Three-valued AND, short-circuiting on False."""
        return logic.all_of(child.truth(obj, context) for child in self.children)

    def where(self, context: dict[str, Any], *, negated: bool) -> Q:
        """AND of the children (``WHERE true`` when empty); negated: OR of their negations."""
        parts = (child.where(context, negated=negated) for child in self.children)
        return compiler.any_q(parts) if negated else compiler.all_q(parts)


@dataclass(frozen=True)
class AnyOf(Group):
    """True when some child is True; an empty ``any`` is False."""

    keyword = "any"

    def truth(self, obj: Any, context: dict[str, Any]) -> Truth:
        """Three-valued OR, short-circuiting on True."""
        return logic.any_of(child.truth(obj, context) for child in self.children)

    def where(self, context: dict[str, Any], *, negated: bool) -> Q:
        """OR of the children (``WHERE false`` when empty); negated: AND of their negations."""
        parts = (child.where(context, negated=negated) for child in self.children)
        return compiler.all_q(parts) if negated else compiler.any_q(parts)
