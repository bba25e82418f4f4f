"""Conditions about customers, the registry named by ``SEGMENTS_CONDITIONS``.

Each compiles to SQL (``as_q`` / ``sql_operand``), so trees made of them can define
materialized user segments as well as answer for one customer in Python.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils import timezone

from django_segments.conditions import CompareCondition, Condition, DateCompareCondition

PLANS = ("free", "basic", "premium", "paused")


class OnPlan(Condition):
    """The customer's subscription is on plan KEY today."""

    condstr = "ON_PLAN"
    key_required = True
    keys_allowed = PLANS
    group = "Subscription"

    def eval_bool(self, obj: Any, **context: Any) -> bool:
        return obj.plan_on(context.get("today") or timezone.localdate()) == self.key

    def as_q(self, **context: Any) -> Q:
        from example_project.billing.models import PlanPeriod  # noqa: PLC0415

        today = context.get("today") or timezone.localdate()
        periods = PlanPeriod.objects.filter(
            plan=self.key, span__deleted_at__isnull=True, segment_range__contains=today
        )
        return Q(pk__in=periods.values("span__customer_id"))


class Country(Condition):
    """The customer's country is KEY (ISO 3166 code, lower case)."""

    condstr = "COUNTRY"
    key_required = True
    key_examples = ("de", "fr", "us")
    group = "Customer"

    def eval_bool(self, obj: Any, **context: Any) -> bool:
        return obj.country.lower() == str(self.key).lower()

    def as_q(self, **context: Any) -> Q:
        return Q(country__iexact=self.key)


class Joined(DateCompareCondition):
    """The date the customer joined, compared with before / after / on an ISO date."""

    condstr = "JOINED"
    operand_examples = ("2024-01-01", "2025-01-01")
    group = "Customer"

    def eval_operand(self, obj: Any, **context: Any) -> Any:
        return obj.joined_on

    def sql_operand(self, **context: Any) -> Any:
        return "joined_on"


class LifetimeValue(CompareCondition):
    """Total the customer has paid, in the account currency."""

    condstr = "LIFETIME_VALUE"
    operand_examples = ("100", "1000")
    group = "Customer"

    def eval_operand(self, obj: Any, **context: Any) -> Any:
        return float(obj.lifetime_value)

    def sql_operand(self, **context: Any) -> Any:
        return "lifetime_value"
