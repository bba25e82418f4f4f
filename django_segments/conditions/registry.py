"""Registries of condition classes: ``conditions_from_module`` and ``default_definitions``."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from types import ModuleType

from django.core.exceptions import ImproperlyConfigured

from django_segments import conf
from django_segments.conditions.base import Condition


class Definitions(Mapping[str, type[Condition]]):
    """An immutable registry: ``condstr`` -> condition class, iterated in sorted order.

    Two classes with the same ``condstr`` raise ``ImproperlyConfigured``. Parsed trees are
    cached per registry (see `django_segments.conditions.parser`), so keep one instance
    per set of conditions rather than rebuilding it for each evaluation.
    """

    def __init__(self, classes: Iterable[type[Condition]] = (), *, source: str = "") -> None:
        self.source = source
        self._classes: dict[str, type[Condition]] = {}
        for cls in classes:
            self._add(cls)
        self._classes = dict(sorted(self._classes.items()))

    def _add(self, cls: type[Condition]) -> None:
        if not cls.condstr:
            raise ImproperlyConfigured(f"{cls.__qualname__} has no condstr")
        existing = self._classes.get(cls.condstr)
        if existing is not None and existing is not cls:
            raise ImproperlyConfigured(
                f"condition {cls.condstr!r} is defined twice: {_dotted(existing)} and {_dotted(cls)}"
            )
        self._classes[cls.condstr] = cls

    # NOTE - identity semantics: a registry is a cache key (weakly referenced) of parse().
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __getitem__(self, name: str) -> type[Condition]:
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def __repr__(self) -> str:
        return f"<Definitions {self.source or '(inline)'}: {', '.join(self._classes)}>"

    def groups(self) -> list[tuple[str, list[type[Condition]]]]:
        """``(group, classes)`` pairs, groups sorted by name, classes by ``condstr``."""
        grouped: dict[str, list[type[Condition]]] = {}
        for cls in self._classes.values():
            grouped.setdefault(cls.group, []).append(cls)
        return sorted(grouped.items())


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _concrete_conditions(module: ModuleType) -> list[type[Condition]]:
    return [
        value
        for _, value in inspect.getmembers(module, inspect.isclass)
        if issubclass(value, Condition) and value.condstr
    ]


def conditions_from_module(module: ModuleType | str) -> Definitions:
    """A registry of every concrete `Condition` subclass found in ``module``.

    ``module`` is a module or its dotted path. Classes without a ``condstr`` (such as
    `Condition` and `CompareCondition` themselves, or your own abstract bases) are
    skipped; the same class imported twice counts once.
    """
    if isinstance(module, str):
        module = importlib.import_module(module)
    return Definitions(_concrete_conditions(module), source=module.__name__)


@lru_cache(maxsize=8)
def _definitions_for(path: str | None) -> Definitions:
    return Definitions() if path is None else conditions_from_module(path)


def default_definitions() -> Definitions:
    """The registry named by ``settings.SEGMENTS_CONDITIONS``; empty when unset.

    The same object is returned while the setting is unchanged, so the parse cache hits.
    """
    return _definitions_for(conf.condition_definitions_module())


def resolve_definitions(value: Definitions | ModuleType | str | None) -> Definitions:
    """A registry from a registry, a module, a dotted path, or None (the default one)."""
    if value is None:
        return default_definitions()
    if isinstance(value, Definitions):
        return value
    # NOTE - resolved through one cached registry per module path: a new registry per
    # call would start with an empty parse cache every time.
    return _definitions_for(value if isinstance(value, str) else value.__name__)
