"""The admin editor of condition trees: a structured editor with the JSON beside it.

Self-contained: vanilla JavaScript and CSS shipped in ``static/django_segments/conditions``
(no CDN). Each widget initialises from its own container, so several fields on one page
work independently. The list of available conditions, their docstrings and generated
examples are rendered on the server, so they show without JavaScript too.
"""

from __future__ import annotations

import random
from types import ModuleType
from typing import Any

from django import forms

from django_segments.conditions.base import CompareCondition, Condition
from django_segments.conditions.registry import Definitions, resolve_definitions

#: Examples generated per condition (fewer when the condition has fewer distinct ones).
EXAMPLES_PER_CONDITION = 3


def offers_sql(cls: type[Condition]) -> bool:
    """Whether the class compiles to SQL (overrides ``as_q`` or ``sql_operand``)."""
    if cls.as_q is not Condition.as_q and cls.as_q is not CompareCondition.as_q:
        return True
    return issubclass(cls, CompareCondition) and (cls.sql_operand is not CompareCondition.sql_operand)


def examples(cls: type[Condition], rng: random.Random, count: int) -> list[str]:
    """Up to ``count`` distinct generated rule strings for ``cls``."""
    found: list[str] = []
    for _ in range(count * 4):
        example = cls.example(rng)
        if example not in found:
            found.append(example)
        if len(found) == count:
            break
    return found


def describe(cls: type[Condition], rng: random.Random) -> dict[str, Any]:
    """What the editor needs to know about one condition class (JSON-serialisable)."""
    compare = issubclass(cls, CompareCondition)
    return {
        "name": cls.condstr,
        "group": cls.group,
        "description": cls.description(),
        "compare": compare,
        "takes_key": cls.takes_key(),
        "key_required": cls.key_required,
        "keys_allowed": list(cls.keys_allowed) if cls.keys_allowed is not None else None,
        "key_examples": list(cls.key_examples),
        "operators": list(cls.operators()) if issubclass(cls, CompareCondition) else [],
        "sql": offers_sql(cls),
        "examples": examples(cls, rng, EXAMPLES_PER_CONDITION),
    }


def catalog(definitions: Definitions, seed: int | None = None) -> list[dict[str, Any]]:
    """Descriptions of every condition, grouped and sorted; examples seeded by ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - examples, not secrets
    return [describe(cls, rng) for _, classes in definitions.groups() for cls in classes]


class ConditionsWidget(forms.Textarea):
    """A textarea holding the JSON, enhanced into a structured editor by JavaScript.

    ``definitions``: a registry, module, dotted path or None (the default registry).
    ``seed``: makes the generated examples reproducible; None picks new ones per render.
    """

    template_name = "django_segments/conditions/widget.html"

    class Media:
        css = {"all": ("django_segments/conditions/conditions.css",)}
        js = ("django_segments/conditions/conditions.js",)

    def __init__(
        self,
        attrs: dict[str, Any] | None = None,
        *,
        definitions: Definitions | ModuleType | str | None = None,
        seed: int | None = None,
    ) -> None:
        base = {"cols": "60", "rows": "12", "class": "ds-conditions__text", "spellcheck": "false"}
        super().__init__({**base, **(attrs or {})})
        self.definitions = definitions
        self.seed = seed

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        """Add the condition catalog (``widget.catalog``) and its groups."""
        context = super().get_context(name, value, attrs)
        entries = catalog(resolve_definitions(self.definitions), self.seed)
        groups: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            groups.setdefault(entry["group"], []).append(entry)
        context["widget"]["catalog"] = entries
        context["widget"]["groups"] = list(groups.items())
        return context
