"""Admin of the billing example: subscriptions use the library's `SpanAdmin`."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils import timezone

from django_segments.admin import SegmentMembershipInline
from django_segments.ranges.admin import SegmentAdmin, SegmentInline, SpanAdmin
from example_project.billing.models import Customer, Offer, PlanPeriod, Subscription


class PlanPeriodInline(SegmentInline):
    model = PlanPeriod
    fields = ("segment_range", "plan")


@admin.register(Subscription)
class SubscriptionAdmin(SpanAdmin):
    list_display = ("id", "customer", "current_range", "plan_today")
    list_select_related = ("customer",)
    search_fields = ("customer__name", "customer__email")
    raw_id_fields = ("customer",)
    inlines = (PlanPeriodInline,)
    timeline_label_field = "plan"

    def timeline_marker(self, obj: Subscription) -> tuple[Any, str]:
        return timezone.localdate(), "today"

    @admin.display(description="plan today")
    def plan_today(self, obj: Subscription) -> Any:
        return obj.customer.plan_on(timezone.localdate())


@admin.register(PlanPeriod)
class PlanPeriodAdmin(SegmentAdmin):
    list_display = ("id", "span", "segment_range", "plan", "deleted_at")
    list_filter = ("plan",)


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    fields = ("current_range",)
    readonly_fields = ("current_range",)
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "email", "country", "joined_on", "lifetime_value")
    list_filter = ("country",)
    search_fields = ("name", "email")
    readonly_fields = ("segments_now", "offer_now")
    inlines = (SubscriptionInline, SegmentMembershipInline)

    @admin.display(description="user segments")
    def segments_now(self, obj: Customer) -> str:
        return ", ".join(s.name for s in obj.segments) or "-"

    @admin.display(description="offer shown")
    def offer_now(self, obj: Customer) -> str:
        offer = obj.best_offer()
        return "-" if offer is None else str(offer)


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = ("title", "segment", "priority", "active")
    list_editable = ("priority", "active")
