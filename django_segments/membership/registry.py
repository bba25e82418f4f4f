"""The registry of manager methods that may define a user segment.

A ``method`` definition names an entry of this registry, never an attribute of a
manager: looking names up with ``getattr`` would let an admin user pick ``create``,
``delete`` or any other callable. Only functions decorated with
`register_segment_method` can be chosen.

A registered function receives the member model's default queryset (``self`` when it is
defined on a ``QuerySet`` subclass) and returns a queryset of that model::

    class MemberQuerySet(models.QuerySet):
        @register_segment_method
        def big_spenders(self):
            return self.filter(total_spent__gte=1000)

    @register_segment_method(name="recent_signups", label="Signed up this month")
    def recent(queryset):
        return queryset.filter(date_joined__gte=now() - timedelta(days=30))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from django.db.models import QuerySet

from django_segments.exceptions import SegmentDefinitionError, UnregisteredMethodError

F = TypeVar("F", bound=Callable[..., Any])

MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class SegmentMethod:
    """One registered definition: ``name`` (stored on segments), ``label``, ``func``."""

    name: str
    label: str
    func: Callable[[QuerySet], QuerySet]

    def queryset(self, base: QuerySet) -> QuerySet:
        """Call the method on ``base`` and check that it returns a queryset of its model."""
        result = self.func(base)
        if not isinstance(result, QuerySet) or result.model is not base.model:
            msg = (
                f"Segment method {self.name!r} must return a QuerySet of "
                f"{base.model._meta.label}; got {type(result).__name__}."
            )
            raise SegmentDefinitionError(msg)
        return result


_registry: dict[str, SegmentMethod] = {}


@overload
def register_segment_method(func: F, /) -> F: ...


@overload
def register_segment_method(*, name: str | None = None, label: str | None = None) -> Callable[[F], F]: ...


def register_segment_method(
    func: F | None = None, /, *, name: str | None = None, label: str | None = None
) -> F | Callable[[F], F]:
    """Register ``func`` as a segment definition, under ``name`` (default: its name).

    Usable bare (``@register_segment_method``) or with arguments. Registering another
    function under a taken name raises `SegmentDefinitionError` at import time.
    """

    def decorator(inner: F) -> F:
        key = name or inner.__name__
        if not key.isidentifier() or len(key) > MAX_NAME_LENGTH:
            msg = f"Segment method name {key!r} must be an identifier of at most 100 characters."
            raise SegmentDefinitionError(msg)
        previous = _registry.get(key)
        if previous is not None and previous.func.__qualname__ != inner.__qualname__:
            msg = (
                f"Segment method name {key!r} is already registered by "
                f"{previous.func.__module__}.{previous.func.__qualname__}."
            )
            raise SegmentDefinitionError(msg)
        _registry[key] = SegmentMethod(key, label or key.replace("_", " ").capitalize(), inner)
        return inner

    if func is not None:
        return decorator(func)
    return decorator


def unregister_segment_method(name: str) -> None:
    """Remove ``name`` from the registry (tests and plugin reloads); unknown names are ignored."""
    _registry.pop(name, None)


def get_segment_method(name: str) -> SegmentMethod:
    """The registered method ``name``, or `UnregisteredMethodError` naming the choices."""
    try:
        return _registry[name]
    except KeyError:
        choices = ", ".join(sorted(_registry)) or "none"
        msg = f"{name!r} is not a registered segment method (registered: {choices})."
        raise UnregisteredMethodError(msg) from None


def registered_methods() -> list[SegmentMethod]:
    """Every registered method, sorted by name."""
    return [_registry[key] for key in sorted(_registry)]
