"""``ConditionsField``: a ``models.JSONField`` holding a condition tree, and its form field.

Validation happens twice on purpose: the form field's ``clean`` (an admin form error
before anything else runs) and the model field's ``validate`` (``full_clean`` outside
forms). Both turn `ConditionError` into a ``ValidationError`` whose message carries the
path, so malformed trees are never saved through forms and never cause a 500.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from django_segments.conditions.parser import parse
from django_segments.conditions.registry import Definitions, resolve_definitions
from django_segments.conditions.tree import Node
from django_segments.conditions.widgets import ConditionsWidget
from django_segments.exceptions import ConditionError

DefinitionsArg = Definitions | ModuleType | str | None


def validate_tree(value: Any, definitions: Definitions) -> None:
    """Raise ``ValidationError`` (code ``invalid_conditions``) unless ``value`` parses."""
    if value is None:
        return
    try:
        parse(value, definitions=definitions)
    except ConditionError as exc:
        raise ValidationError(
            "Invalid conditions: %(error)s",
            code="invalid_conditions",
            params={"error": str(exc)},
        ) from exc


class ConditionsFormField(forms.JSONField):
    """A ``forms.JSONField`` that also parses the tree; errors name the path.

    JSON that Python's parser refuses with a plain ``ValueError`` rather than a
    ``JSONDecodeError`` (an integer of more digits than ``sys.get_int_max_str_digits()``,
    4300 by default) or a ``RecursionError`` (nesting deeper than the interpreter's stack)
    is a form error too, and is shown back as typed.
    """

    def __init__(self, *, definitions: DefinitionsArg = None, seed: int | None = None, **kwargs: Any) -> None:
        """``definitions`` as for `ConditionsField`; ``seed`` fixes the generated examples."""
        self.definitions = definitions
        kwargs.setdefault("widget", ConditionsWidget(definitions=definitions, seed=seed))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        """``forms.JSONField.to_python``; a number Python cannot read is a ``ValidationError``."""
        try:
            return super().to_python(value)
        except (ValueError, RecursionError) as exc:  # a JSONDecodeError is a ValidationError by then
            raise ValidationError(
                "Enter a valid JSON: %(reason)s.",
                code="invalid",
                params={"reason": unreadable_reason(exc)},
            ) from exc

    def bound_data(self, data: Any, initial: Any) -> Any:
        """The submitted text, shown back as typed when it is not JSON Python can read."""
        try:
            return super().bound_data(data, initial)
        except (ValueError, RecursionError):
            return forms.fields.InvalidJSONInput(data)

    def clean(self, value: Any) -> Any:
        """JSON decoding, then the tree check."""
        data = super().clean(value)
        validate_tree(data, resolve_definitions(self.definitions))
        return data


def unreadable_reason(exc: ValueError | RecursionError) -> str:
    """Why JSON text could not be read, without repeating the value."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return f"a number has more than {sys.get_int_max_str_digits()} digits"


class ConditionsField(models.JSONField):
    """A JSON column holding a condition tree (``{"all": [...]}`` and friends).

    ``definitions``: the registry of conditions: a `Definitions`, a module, a dotted path,
    or None for `default_definitions()` (``settings.SEGMENTS_CONDITIONS``). It is resolved
    when first used, and is not part of migrations (it does not change the column).
    ``null`` means "no conditions"; `eval_conditions` returns False for it.
    """

    description = "Condition tree (JSON)"
    # NOTE - {} and [] are malformed trees, not "empty": only null skips validation.
    empty_values = [None]

    def __init__(self, *args: Any, definitions: DefinitionsArg = None, **kwargs: Any) -> None:
        self._definitions_arg = definitions
        super().__init__(*args, **kwargs)

    @property
    def definitions(self) -> Definitions:
        """The resolved registry."""
        return resolve_definitions(self._definitions_arg)

    def validate(self, value: Any, model_instance: models.Model | None) -> None:
        """JSONField validation, then the tree check."""
        super().validate(value, model_instance)
        validate_tree(value, self.definitions)

    def formfield(self, **kwargs: Any) -> Any:
        """A `ConditionsFormField` with the structured editor."""
        defaults = {"form_class": ConditionsFormField, "definitions": self._definitions_arg}
        return super().formfield(**{**defaults, **kwargs})

    def tree(self, model_instance: models.Model) -> Node | None:
        """The parsed (cached) tree of this field on ``model_instance``; None if null."""
        value = getattr(model_instance, self.attname)
        return None if value is None else parse(value, definitions=self.definitions)


def eval_conditions(instance: models.Model, field_name: str, obj: Any, **kwargs: Any) -> bool:
    """Evaluate the tree stored in ``instance.<field_name>`` against ``obj``.

    ``kwargs`` reach every condition's ``eval_bool``. A null value is False. A malformed
    stored value (saved around validation) raises `ConditionError`.
    """
    field = instance._meta.get_field(field_name)
    if not isinstance(field, ConditionsField):
        msg = f"{type(instance).__name__}.{field_name} is not a ConditionsField"
        raise TypeError(msg)
    tree = field.tree(instance)
    return False if tree is None else tree.evaluate(obj, **kwargs)
