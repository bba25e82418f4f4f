"""Models of the billing example.

* `Customer` is the member model of user segments (``SEGMENTS_MEMBER_MODEL``).
* `Subscription` is a span over dates that its `PlanPeriod` segments tile: no gaps
  between periods and none at the ends, so every day of a subscription has exactly one
  plan. Postgres enforces it; the methods below are the business operations.
* `Offer` targets a user segment; a customer sees the offer of highest priority among
  the segments they are in.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import models, transaction
from django.utils import timezone

import django_segments as ds
from django_segments.membership.mixins import SegmentMixin
from django_segments.membership.registry import register_segment_method


class Plan(models.TextChoices):
    """The plans a subscription period can be on."""

    FREE = "free", "Free"
    BASIC = "basic", "Basic"
    PREMIUM = "premium", "Premium"
    PAUSED = "paused", "Paused"


#: Monthly price of each plan.
MONTHLY_PRICE: dict[str, Decimal] = {
    Plan.FREE: Decimal("0"),
    Plan.BASIC: Decimal("9"),
    Plan.PREMIUM: Decimal("29"),
    Plan.PAUSED: Decimal("0"),
}


class CustomerQuerySet(models.QuerySet):
    """Customer queries; the decorated ones can define user segments."""

    @register_segment_method(label="Lifetime value of 1,000 or more")
    def big_spenders(self) -> CustomerQuerySet:
        """Customers who have paid at least 1,000 in total."""
        return self.filter(lifetime_value__gte=1000)

    def in_country(self, country: str) -> CustomerQuerySet:
        """Not registered: an admin cannot pick it as a segment definition."""
        return self.filter(country=country)


class Customer(SegmentMixin, models.Model):
    """A paying (or not yet paying) customer."""

    name = models.CharField(max_length=100)
    email = models.EmailField(unique=True)
    country = models.CharField(max_length=2)
    joined_on = models.DateField()
    lifetime_value = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    def plan_on(self, day: dt.date) -> str | None:
        """The plan of this customer's subscription on ``day`` (None if not subscribed)."""
        period = (
            PlanPeriod.objects.filter(span__customer=self, span__deleted_at__isnull=True)
            .containing(day)
            .first()
        )
        return None if period is None else period.plan

    def best_offer(self) -> Offer | None:
        """The active offer of highest priority among this customer's segments."""
        return (
            Offer.objects.filter(active=True, segment__in=self.segments)
            .order_by("-priority", "segment__priority", "id")
            .first()
        )


class Subscription(ds.AbstractSpan):
    """A customer's subscription: ``current_range`` is ``[start, paid through + 1 day)``."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="subscriptions")

    class SpanConfig:
        range_field_type = "date"
        allow_span_gaps = False
        allow_segment_gaps = False
        soft_delete = True

    def __str__(self) -> str:
        rng = self.current_range
        return f"Subscription {self.pk} of customer {self.customer_id}: [{rng.lower}, {rng.upper})"

    def period_on(self, day: dt.date) -> PlanPeriod:
        """The active plan period covering ``day``."""
        return self.get_active_segments().containing(day).get()

    @transaction.atomic
    def change_plan(self, day: dt.date, plan: str) -> PlanPeriod:
        """Upgrade or downgrade from ``day`` on: split the period there, set the new plan."""
        period = self.period_on(day)
        if period.segment_range.lower != day:
            period = period.split(day)
        period.plan = plan
        period.save()
        return period

    @transaction.atomic
    def pause(self, day: dt.date, days: int) -> PlanPeriod:
        """Pause for ``days`` from ``day``: the end moves out, a paused period is inserted."""
        self.shift_upper_by_value(dt.timedelta(days=days))
        return PlanPeriod.insert(
            span=self, segment_range=(day, day + dt.timedelta(days=days)), plan=Plan.PAUSED
        )

    def cancel(self, day: dt.date) -> None:
        """End the subscription on ``day`` (exclusive): later periods go, one is clipped."""
        self.shift_upper_to_value(day)


class PlanPeriod(ds.AbstractSegment):
    """A period of a subscription on one plan."""

    plan = models.CharField(max_length=10, choices=Plan.choices, default=Plan.BASIC)

    class SegmentConfig:
        span_model = Subscription

    def __str__(self) -> str:
        rng = self.segment_range
        return f"{self.plan} [{rng.lower}, {rng.upper})"


class Offer(models.Model):
    """A message for the members of one user segment."""

    title = models.CharField(max_length=200)
    segment = models.ForeignKey(
        "django_segments.UserSegment", on_delete=models.CASCADE, related_name="offers"
    )
    priority = models.IntegerField(default=0, help_text="Higher wins when a customer sees several.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-priority", "id")

    def __str__(self) -> str:
        return self.title
