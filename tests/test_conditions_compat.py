"""django_segments.compat.conditions: django-conditions' behaviour on its own bases only."""

from __future__ import annotations

import datetime
import logging
import random
import sys
import types
from decimal import Decimal
from typing import Any

import pytest
from django import forms
from django.contrib.auth.models import User
from django.db.models import Q

from django_segments import conditions as ds
from django_segments.compat import conditions as compat
from django_segments.conditions import ConditionError, parse
from django_segments.conditions.widgets import catalog
from tests.condapp.models import Profile

NAME = "Compat examples"


class EmailDomain(compat.Condition):
    condstr = "EMAIL_DOMAIN"

    def eval_bool(self, user: Any, **kwargs: Any) -> bool:
        return user.email.split("@")[1] == self.key


class Staff(compat.Condition):
    """Reads no key, so none is required (one is still accepted)."""

    condstr = "STAFF"

    def eval_bool(self, user: Any, **kwargs: Any) -> bool:
        return user.is_staff

    def as_q(self, **kwargs: Any) -> Q:
        return Q(is_staff=True)


class Plan(compat.Condition):
    condstr = "PLAN"
    keys_allowed = ["free", "paid"]

    def eval_bool(self, user: Any, **kwargs: Any) -> bool:
        return self.key == "paid"


class Optional(compat.Condition):
    condstr = "OPTIONAL"
    key_required = False
    group = "Declared"

    def eval_bool(self, user: Any, **kwargs: Any) -> bool:
        return self.key is None


class Level(compat.CompareCondition):
    condstr = "LEVEL"

    def eval_operand(self, user: Any, **kwargs: Any) -> Any:
        return user.level


class Score(compat.CompareCondition):
    """A compat comparison that also compiles to SQL."""

    condstr = "CSCORE"

    def eval_operand(self, user: Any, **kwargs: Any) -> Any:
        return user.condition_profile.score

    def sql_operand(self, **kwargs: Any) -> Any:
        return "condition_profile__score"


class Joined(compat.CompareCondition):
    condstr = "JOINED"
    cast_operand = lambda self, text: datetime.datetime.strptime(text, "%m/%d/%Y")  # noqa: E731 - as documented

    @classmethod
    def operators(cls) -> dict[str, Any]:
        return {"<": datetime.datetime.__lt__, ">": datetime.datetime.__gt__}

    def eval_operand(self, user: Any, **kwargs: Any) -> Any:
        return user.date_joined.strftime("%m/%d/%Y")


class TextCast(compat.CompareCondition):
    """A custom cast without operators has none, as in django-conditions."""

    condstr = "TEXT_CAST"
    cast_operand = str

    def eval_operand(self, user: Any, **kwargs: Any) -> Any:
        return user.username


class Broken(compat.Condition):
    condstr = "BROKEN"

    def eval_bool(self, user: Any, **kwargs: Any) -> bool:
        raise ValueError("This condition is broken.")


DEFS = compat.conditions_from_module(sys.modules[__name__])


def p(data: Any) -> Any:
    return parse(data, definitions=DEFS)


def person(**attrs: Any) -> types.SimpleNamespace:
    defaults = {"email": "x@gmail.com", "is_staff": False, "level": 1, "username": "x"}
    return types.SimpleNamespace(**{**defaults, **attrs})


def test_registry_skips_the_compat_bases() -> None:
    names = {"BROKEN", "CSCORE", "EMAIL_DOMAIN", "JOINED", "LEVEL", "OPTIONAL", "PLAN", "STAFF", "TEXT_CAST"}
    assert set(DEFS) == names


def test_a_key_is_required_when_the_code_reads_self_key() -> None:
    assert EmailDomain.key_required is True
    assert Staff.key_required is False
    assert Optional.key_required is False  # declared, not inferred
    assert p("EMAIL_DOMAIN gmail.com").evaluate(person())
    assert p("NOT EMAIL_DOMAIN gmail.com").evaluate(person(email="y@yahoo.com"))
    with pytest.raises(ConditionError, match="EMAIL_DOMAIN requires a key"):
        p("EMAIL_DOMAIN")
    assert p("STAFF anything").evaluate(person(is_staff=True))  # any key is accepted
    assert p("OPTIONAL").evaluate(person())


def test_keys_allowed_restricts_and_empty_means_any() -> None:
    assert p("PLAN paid").evaluate(person())
    with pytest.raises(ConditionError, match='key "gold" is not allowed for PLAN'):
        p("PLAN gold")

    class AnyKey(compat.Condition):
        condstr = "ANY_KEY"
        keys_allowed: Any = []

        def eval_bool(self, user: Any, **kwargs: Any) -> bool:
            return bool(self.key)

    assert AnyKey.keys_allowed is None
    assert parse("ANY_KEY whatever", definitions=ds.Definitions([AnyKey])).evaluate(person())


def test_group_is_the_module_name_unless_declared() -> None:
    assert EmailDomain.group == "Compat examples"
    assert Optional.group == "Declared"
    assert compat.Condition.group == "General"

    class Child(Optional):
        condstr = "CHILD"

    assert Child.group == "Declared"


def test_cast_operand_casts_the_operand_and_the_value() -> None:
    assert p("LEVEL >= 5").condition.operand == 5.0
    assert type(p("LEVEL >= 5").condition.operand) is float
    assert p("LEVEL == 5").evaluate(person(level=5))
    assert p("LEVEL == 5").evaluate(person(level="5"))  # the value goes through float() too
    tree = p("JOINED < 01/01/2014")
    assert tree.encode() == "JOINED < 01/01/2014"
    assert tree.evaluate(person(date_joined=datetime.datetime(2013, 12, 31)))
    assert not tree.evaluate(person(date_joined=datetime.datetime(2014, 1, 2)))
    for bad in ("LEVEL >= nan", "LEVEL >= abc", "JOINED < 2014-01-01"):
        with pytest.raises(ConditionError, match="bad operand"):
            p(bad)
    with pytest.raises(ConditionError, match='unknown operator "==" for TEXT_CAST'):
        p("TEXT_CAST == x")
    assert TextCast.operators() == {}


def test_operator_names_of_django_conditions() -> None:
    condition = p("LEVEL <= 3").condition
    assert condition.operatorname == "<="
    assert condition.operator(2, 3) is True


def test_failures_are_logged_on_the_condition_logger_and_fail_closed(caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        assert p({"any": ["BROKEN", "NOT BROKEN"]}).evaluate(person()) is False
        assert Broken(None).eval(person()) is False
    names = {record.name for record in caplog.records}
    assert names == {"condition"}
    assert all(record.levelno == logging.ERROR and record.exc_info for record in caplog.records)
    assert "This condition is broken." in caplog.text


def test_examples_start_with_not_at_random_and_parse() -> None:
    rng = random.Random(7)  # noqa: S311 - examples, not secrets
    examples = [cls.example(rng) for cls in (EmailDomain, Level, Staff) for _ in range(40)]
    assert any(e.startswith("NOT ") for e in examples)
    assert any(not e.startswith("NOT ") for e in examples)
    for example in examples:
        p(example.replace("<key>", "gmail.com"))
    assert Joined.example(rng).endswith(compat.OPERAND_PLACEHOLDER)
    assert Level.help_text().startswith("Ex. ")
    assert Score.full_description() == "A compat comparison that also compiles to SQL."
    assert EmailDomain.full_description().startswith("Ex. ")
    entries = {entry["name"]: entry for entry in catalog(DEFS, seed=1)}
    assert entries["EMAIL_DOMAIN"]["key_required"] is True
    assert entries["CSCORE"]["sql"] is True


def test_the_library_keeps_its_stricter_defaults() -> None:
    class Strict(ds.Condition):
        condstr = "EMAIL_DOMAIN"

        def eval_bool(self, user: Any, **kwargs: Any) -> bool:
            return user.email.endswith(str(self.key))

    with pytest.raises(ConditionError, match=r'EMAIL_DOMAIN takes no key; got "gmail\.com"'):
        parse("EMAIL_DOMAIN gmail.com", definitions=ds.Definitions([Strict]))
    assert ds.CompareCondition.cast_operand("1.1") == Decimal("1.1")
    assert ds.Condition.failure_logger == "django_segments.conditions"


@pytest.mark.django_db
def test_a_compat_comparison_agrees_with_its_sql() -> None:
    for name, score in (("a", Decimal("1.10")), ("b", None), ("c", Decimal("7"))):
        user = User.objects.create(username=name)
        Profile.objects.create(user=user, score=score)
    User.objects.create(username="none")
    rules = ("CSCORE == 1.1", "NOT CSCORE < 5", "CSCORE != 1.1", {"NOT": {"any": ["CSCORE > 2", "STAFF"]}})
    for rule in rules:
        tree = p(rule)
        by_python = {u.username for u in User.objects.all() if tree.evaluate(u)}
        by_sql = set(User.objects.filter(tree.as_q()).values_list("username", flat=True))
        assert by_python == by_sql, rule
    assert by_python == {"a"}


def test_form_field_and_widget_take_condition_definitions() -> None:
    class CampaignForm(forms.Form):
        target = compat.ConditionsFormField(condition_definitions=DEFS)

    assert CampaignForm(data={"target": '{"all": ["EMAIL_DOMAIN gmail.com"]}'}).is_valid()
    form = CampaignForm(data={"target": '{"all": ["EMAIL_DOMAIN"]}'})
    assert not form.is_valid()
    assert "$.all[0]: EMAIL_DOMAIN requires a key" in form.errors["target"][0]
    assert "EMAIL_DOMAIN" in str(form["target"])
    assert compat.ConditionsWidget(condition_definitions=DEFS).definitions is DEFS
    assert compat.InvalidConditionError is ConditionError
    assert compat.UndefinedConditionError is ConditionError
