"""``manage.py load_demo_data``: a few thousand realistic, seeded rows for the example."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from example_project.billing import demo_data
from example_project.billing.models import Customer


class Command(BaseCommand):
    help = "Load seeded demo customers, subscriptions, user segments and offers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=1500, help="number of customers (1500)")
        parser.add_argument("--seed", type=int, default=2025, help="random seed (2025)")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when customers already exist")

    def handle(self, *args: Any, **options: Any) -> None:
        if Customer.objects.exists():
            if options["if_empty"]:
                self.stdout.write("Demo data already loaded.")
                return
            raise CommandError("Customers already exist; load_demo_data expects an empty database.")
        started = time.monotonic()
        summary = demo_data.load(
            customers=options["customers"], seed=options["seed"], progress=self.stdout.write
        )
        self.stdout.write(
            f"Loaded {summary.customers} customers, {summary.subscriptions} subscriptions "
            f"({summary.plan_periods} plan periods), {summary.user_segments} user segments and "
            f"{summary.offers} offers in {time.monotonic() - started:.1f} s."
        )
        for error in summary.refresh_errors:
            self.stderr.write(f"Refresh failed: {error}")
