"""Conditions on ``memberapp.IntMember`` for the admin tests: single-valued and not."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from django_segments.conditions import CompareCondition, Condition


class EmailDomain(Condition):
    """The e-mail address ends with @KEY."""

    condstr = "EMAIL_DOMAIN"
    key_required = True
    single_valued = True

    def eval_bool(self, obj: Any, **context: Any) -> bool:
        return obj.email.endswith("@" + str(self.key))

    def as_q(self, **context: Any) -> Q:
        return Q(email__endswith="@" + str(self.key))


class Tagged(Condition):
    """A tag named KEY (a member may have many): never single-valued."""

    condstr = "TAGGED"
    key_required = True

    def eval_bool(self, obj: Any, **context: Any) -> bool:
        return str(self.key) in obj.email

    def as_q(self, **context: Any) -> Q:
        return Q(email__contains=str(self.key))


class Level(CompareCondition):
    """The member's level."""

    condstr = "LEVEL"
    single_valued = True

    def eval_operand(self, obj: Any, **context: Any) -> Any:
        return obj.level

    def sql_operand(self, **context: Any) -> str:
        return "level"
