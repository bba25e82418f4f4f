"""django-conditions 0.9.18 names, so its documented examples run after changing the import.

``from conditions import Condition, CompareCondition, ConditionsField, conditions_from_module,
eval_conditions`` becomes ``from django_segments.compat.conditions import ...``. Classes
defined on these bases keep django-conditions' behaviour where this library is stricter:

* **keys**: any condition accepts a key; a key is *required* when ``eval_bool`` (or
  ``eval_operand``) reads ``self.key``, as django-conditions inferred it; an empty
  ``keys_allowed`` means "any key".
* **operands**: ``cast_operand`` is a class attribute, ``float`` by default, or a function
  of ``(self, text)`` such as ``lambda self, timestamp: datetime.strptime(...)``; the value
  of ``eval_operand`` goes through ``cast_operand`` too before it is compared; the six
  comparison operators exist only when ``cast_operand`` is ``float`` or ``int``.
* **failures** are logged on the ``condition`` logger (with traceback, level ERROR).
* **generated examples** start with ``NOT`` at random; ``help_text()``,
  ``full_description()`` and ``module_name()`` exist, and a condition's admin group is
  its module's ``NAME`` or last dotted name.

Everything else is this library's: JSON trees with ``all`` / ``any`` / ``NOT`` (a ``NOT``
of a failing or unknown condition stays False), the parser and its errors with a path
(`ConditionError`, aliased as ``InvalidConditionError`` and ``UndefinedConditionError``),
compilation to SQL for conditions that define ``as_q`` / ``sql_operand``.
"""

from __future__ import annotations

import inspect
import math
import random
from typing import Any, ClassVar

from django_segments.conditions import base, fields, logic, widgets
from django_segments.conditions.evaluate import run_condition
from django_segments.conditions.fields import ConditionsField, eval_conditions
from django_segments.conditions.registry import conditions_from_module
from django_segments.exceptions import ConditionError

__all__ = [
    "CompareCondition",
    "Condition",
    "ConditionsField",
    "ConditionsFormField",
    "ConditionsWidget",
    "InvalidConditionError",
    "UndefinedConditionError",
    "conditions_from_module",
    "eval_conditions",
]

#: The logger django-conditions' documentation configures.
LOGGER_NAME = "condition"

#: What django-conditions raised for a malformed condition and for an unknown one; both
#: are `ConditionError` here (a ``ValueError``, with a path).
InvalidConditionError = ConditionError
UndefinedConditionError = ConditionError

#: Operand of generated examples when ``cast_operand`` is not a number and the condition
#: lists no ``operand_examples``.
OPERAND_PLACEHOLDER = "<operand>"


def _reads_key(function: Any) -> bool:
    """Whether ``function``'s own code reads an attribute or name ``key`` (not nested code)."""
    code = getattr(function, "__code__", None)
    return code is not None and "key" in code.co_names


def _declares_group(cls: type) -> bool:
    """Whether the class or one of its own bases (not this library's) sets ``group``."""
    return any(
        "group" in klass.__dict__ and not klass.__dict__.get("_group_from_module", False)
        for klass in cls.__mro__
        if klass.__module__ not in (__name__, base.__name__)
    )


class Condition(base.Condition):
    """A django-conditions ``Condition``: ``condstr`` and ``eval_bool(user, **kwargs)``."""

    key_optional: ClassVar[bool] = True
    failure_logger: ClassVar[str] = LOGGER_NAME
    _group_from_module: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "key_required" not in cls.__dict__:
            evaluator = getattr(cls, "eval_operand", None) or cls.eval_bool
            cls.key_required = _reads_key(evaluator)
        if cls.keys_allowed is not None and not cls.keys_allowed:
            cls.keys_allowed = None  # django-conditions' default [] allowed any key
        if cls.__module__ != __name__ and not _declares_group(cls):
            cls.group = cls.module_name()
            cls._group_from_module = True

    @classmethod
    def module_name(cls) -> str:
        """The admin group: the module's ``NAME``, else the last part of its dotted name."""
        module = inspect.getmodule(cls)
        name = getattr(module, "NAME", None)
        return str(name) if name else cls.__module__.rsplit(".", 1)[-1]

    @classmethod
    def example(cls, rng: random.Random) -> str:
        """A generated rule, ``NOT`` in front half of the time (as django-conditions did)."""
        return rng.choice(["NOT ", ""]) + super().example(rng)

    @classmethod
    def help_text(cls) -> str:
        """``"Ex. <a generated rule>"``."""
        return f"Ex. {cls.example(random.Random())}"  # noqa: S311 - an example, not a secret

    @classmethod
    def full_description(cls) -> str:
        """The docstring on one line, else `help_text`."""
        return cls.description() or cls.help_text()

    def eval(self, user: Any, **kwargs: Any) -> bool:
        """The condition alone for ``user``: False when it fails or is unknown."""
        return run_condition(self, "$", user, kwargs) is True


class CompareCondition(Condition, base.CompareCondition):
    """A django-conditions ``CompareCondition``: ``eval_operand``, ``cast_operand``, ``operators``."""

    cast_operand: Any = float
    #: The operand as written in the rule (``encode`` keeps it: casts need not round-trip).
    operand_text: str | None = None

    @classmethod
    def _caster(cls) -> Any:
        return inspect.getattr_static(cls, "cast_operand")

    @classmethod
    def operators(cls) -> dict[str, Any]:
        """``<``, ``<=``, ``==``, ``!=``, ``>=``, ``>`` when ``cast_operand`` is float or int."""
        return dict(base.DEFAULT_OPERATORS) if cls._caster() in (float, int) else {}

    @classmethod
    def parse_operand(cls, text: str, *, path: str) -> Any:
        """``cast_operand(text)`` called as django-conditions did, on the instance being built."""
        probe = cls.__new__(cls)
        try:
            value = probe.cast_operand(text)
        except Exception as exc:  # any failure of a custom cast is a bad operand
            raise ConditionError(f'bad operand "{text}" for {cls.condstr}: {exc}', path=path) from exc
        if isinstance(value, float) and not math.isfinite(value):
            raise ConditionError(f'bad operand "{text}" for {cls.condstr}: not a finite number', path=path)
        return value

    @classmethod
    def from_terms(cls, terms: Any, *, path: str) -> base.Condition:
        """Parse as `base.CompareCondition.from_terms`, keeping the operand's text."""
        condition = super().from_terms(terms, path=path)
        condition.operand_text = terms[-1]  # type: ignore[attr-defined]
        return condition

    @classmethod
    def example_operand(cls, rng: random.Random) -> str:
        """From ``operand_examples``; a number for a float or int cast; else a placeholder."""
        if cls.operand_examples or cls._caster() in (float, int):
            return super().example_operand(rng)
        return OPERAND_PLACEHOLDER

    @property
    def operatorname(self) -> str:
        """The operator symbol (django-conditions' name for `op`)."""
        return self.op

    @property
    def operator(self) -> Any:
        """The operator's function."""
        return self.operators()[self.op]

    def eval_bool(self, obj: Any, **context: Any) -> bool | None:
        """``operator(cast_operand(eval_operand(obj)), operand)``; unknown for a None value."""
        value = self.eval_operand(obj, **context)
        if value is None:
            return None
        lookup = self.lookups().get(self.op)
        return logic.compare(self.operator, lookup, self.cast_operand(value), self.operand)

    def terms(self) -> list[str]:
        """Name, optional key, operator and the operand as written."""
        operand = self.operand_text if self.operand_text is not None else self.format_operand(self.operand)
        return [*base.Condition.terms(self), self.op, operand]


class ConditionsWidget(widgets.ConditionsWidget):
    """The editor, also taking django-conditions' ``condition_definitions`` keyword."""

    def __init__(self, *args: Any, condition_definitions: Any = None, **kwargs: Any) -> None:
        if condition_definitions is not None:
            kwargs.setdefault("definitions", condition_definitions)
        super().__init__(*args, **kwargs)


class ConditionsFormField(fields.ConditionsFormField):
    """The form field, also taking django-conditions' ``condition_definitions`` keyword."""

    def __init__(self, *, condition_definitions: Any = None, **kwargs: Any) -> None:
        if condition_definitions is not None:
            kwargs.setdefault("definitions", condition_definitions)
        kwargs.setdefault("widget", ConditionsWidget(definitions=kwargs.get("definitions")))
        super().__init__(**kwargs)
