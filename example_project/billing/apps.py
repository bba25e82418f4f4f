"""App configuration of the billing example app."""

from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Customers, subscriptions (spans) and plan periods (segments), offers."""

    name = "example_project.billing"
    label = "billing"
    default_auto_field = "django.db.models.BigAutoField"
