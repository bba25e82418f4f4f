"""Realistic, seeded demo data: customers, subscriptions with plan history, segments, offers.

Customers are inserted with one ``bulk_create``. Subscriptions go through the library's
API (``save`` creates the first plan period; upgrades split, cancellations move the upper
bound, pauses insert), in transactions of `BATCH` subscriptions, so Postgres checks every
span once per batch at commit.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction

from django_segments.exceptions import RefreshError
from django_segments.models import UserSegment
from example_project.billing.models import Customer, Offer, Plan, PlanPeriod, Subscription

BATCH = 250

Progress = Callable[[str], None]

FIRST = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "Edsger",
    "John",
    "Radia",
    "Niklaus",
    "Hedy",
    "Donald",
    "Sophie",
    "Tim",
    "Katherine",
    "Guido",
    "Anita",
    "Yukihiro",
    "Bjarne",
    "Lynn",
    "Whitfield",
    "Jean",
    "Leslie",
    "Mary",
]
LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "McCarthy",
    "Perlman",
    "Wirth",
    "Lamarr",
    "Knuth",
    "Wilson",
    "Berners-Lee",
    "Johnson",
    "Rossum",
    "Borg",
    "Matsumoto",
    "Stroustrup",
    "Conway",
    "Diffie",
    "Sammet",
    "Lamport",
    "Shaw",
]
DOMAINS = ("example.com", "example.org", "mail.example", "corp.example")
COUNTRIES = (("de", 30), ("fr", 20), ("us", 25), ("gb", 10), ("es", 8), ("it", 7))
START_PLANS = ((Plan.FREE, 30), (Plan.BASIC, 50), (Plan.PREMIUM, 20))


@dataclass(frozen=True)
class Summary:
    """What was loaded."""

    customers: int
    subscriptions: int
    plan_periods: int
    user_segments: int
    offers: int
    refresh_errors: tuple[str, ...] = ()


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights=weights)[0]


def _day(rng: random.Random, lo: dt.date, hi: dt.date) -> dt.date:
    """A random day in ``[lo, hi)``."""
    return lo + dt.timedelta(days=rng.randrange(max((hi - lo).days, 1)))


def make_customers(rng: random.Random, count: int, today: dt.date) -> list[Customer]:
    """``count`` customers in one ``bulk_create``."""
    first_day = dt.date(2022, 1, 1)
    rows = [
        Customer(
            name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            email=f"customer{i}@{rng.choice(DOMAINS)}",
            country=_weighted(rng, COUNTRIES),
            joined_on=_day(rng, first_day, today - dt.timedelta(days=30)),
        )
        for i in range(1, count + 1)
    ]
    return Customer.objects.bulk_create(rows, batch_size=1000)


def make_subscription(rng: random.Random, customer: Customer, today: dt.date) -> Subscription:
    """One subscription with a plausible plan history, through the library's operations."""
    start = customer.joined_on + dt.timedelta(days=rng.randrange(0, 45))
    end = max(today, start + dt.timedelta(days=60)) + dt.timedelta(days=rng.randrange(30, 365))
    sub = Subscription(customer=customer, current_range=(start, end))
    sub.save()  # creates the first plan period, covering the whole subscription
    plan = _weighted(rng, START_PLANS)
    if plan != Plan.BASIC:
        # NOTE - the plan is not a range column: one UPDATE, no span check needed.
        PlanPeriod.objects.filter(span=sub).update(plan=plan)
    if rng.random() < 0.45 and (end - start).days > 40:
        # Upgrade (or a downgrade later on).
        day = _day(rng, start + dt.timedelta(days=20), end - dt.timedelta(days=10))
        sub.change_plan(day, Plan.PREMIUM if plan != Plan.PREMIUM else Plan.BASIC)
        if rng.random() < 0.3 and (end - day).days > 40:
            sub.change_plan(_day(rng, day + dt.timedelta(days=15), end - dt.timedelta(days=10)), Plan.BASIC)
    if rng.random() < 0.06 and (end - start).days > 60:
        sub.pause(_day(rng, start + dt.timedelta(days=10), end - dt.timedelta(days=40)), 30)
    if rng.random() < 0.12:
        sub.refresh_from_db()
        lower, upper = sub.current_range.lower, sub.current_range.upper
        if (upper - lower).days > 20:
            sub.cancel(_day(rng, lower + dt.timedelta(days=10), upper))
    return sub


def make_subscriptions(
    rng: random.Random, customers: list[Customer], today: dt.date, progress: Progress | None = None
) -> int:
    """Subscriptions for about 85% of the customers, `BATCH` per transaction."""
    chosen = [c for c in customers if rng.random() < 0.85]
    for start in range(0, len(chosen), BATCH):
        with transaction.atomic():
            for customer in chosen[start : start + BATCH]:
                make_subscription(rng, customer, today)
        if progress is not None:
            progress(f"  subscriptions {min(start + BATCH, len(chosen))}/{len(chosen)}")
    return len(chosen)


LIFETIME_VALUE_SQL = """
UPDATE billing_customer AS c SET lifetime_value = v.total
FROM (
    SELECT s.customer_id,
           round(sum(CASE p.plan WHEN 'premium' THEN 29 WHEN 'basic' THEN 9 ELSE 0 END
                     * greatest(least(upper(p.segment_range), %s::date) - lower(p.segment_range), 0)
                     / 30.0), 2) AS total
    FROM billing_subscription AS s
    JOIN billing_planperiod AS p ON p.span_id = s.id AND p.deleted_at IS NULL
    WHERE s.deleted_at IS NULL
    GROUP BY s.customer_id
) AS v
WHERE v.customer_id = c.id
"""

#: Customers who have had at least 180 days of premium (user SQL of a segment).
LOYAL_PREMIUM_SQL = """SELECT s.customer_id
FROM billing_subscription AS s
JOIN billing_planperiod AS p ON p.span_id = s.id
WHERE s.deleted_at IS NULL AND p.deleted_at IS NULL AND p.plan = 'premium'
GROUP BY s.customer_id
HAVING sum(upper(p.segment_range) - lower(p.segment_range)) >= 180"""


def make_segments(rng: random.Random, customers: list[Customer]) -> list[UserSegment]:
    """One user segment per kind of definition, plus one combining conditions."""
    beta = sorted(rng.sample([c.pk for c in customers], k=min(40, len(customers))))
    specs = [
        {"slug": "loyal-premium", "name": "Loyal premium (SQL)", "priority": 10, "sql": LOYAL_PREMIUM_SQL},
        {
            "slug": "beta-testers",
            "name": "Beta testers (static list)",
            "priority": 20,
            "static_ids": " ".join(map(str, beta)),
        },
        {"slug": "big-spenders", "name": "Big spenders (method)", "priority": 30, "method": "big_spenders"},
        {
            "slug": "premium-early",
            "name": "Premium today, joined before 2025 (conditions)",
            "priority": 40,
            "conditions": {"all": ["ON_PLAN premium", "JOINED before 2025-01-01"]},
        },
        {
            "slug": "basic-eu",
            "name": "Basic plan in Germany or France (conditions)",
            "priority": 50,
            "conditions": {"all": ["ON_PLAN basic", {"any": ["COUNTRY de", "COUNTRY fr"]}]},
        },
    ]
    return [UserSegment.objects.create(**spec) for spec in specs]


def make_offers(segments: dict[str, UserSegment]) -> list[Offer]:
    """Offers targeted at the segments; a customer sees the one of highest priority."""
    return Offer.objects.bulk_create(
        [
            Offer(title="Early access to the new dashboard", segment=segments["beta-testers"], priority=50),
            Offer(title="A thank-you month for free", segment=segments["big-spenders"], priority=40),
            Offer(
                title="Loyalty: premium add-ons at half price", segment=segments["loyal-premium"], priority=30
            ),
            Offer(
                title="Founders' badge for early premium members",
                segment=segments["premium-early"],
                priority=20,
            ),
            Offer(title="Try premium: 20% off for three months", segment=segments["basic-eu"], priority=10),
        ]
    )


def load(
    *, customers: int = 1500, seed: int = 2025, today: dt.date | None = None, progress: Progress | None = None
) -> Summary:
    """Load the demo data set (call on an empty database) and refresh every user segment."""
    today = today or dt.date.today()
    rng = random.Random(seed)
    with transaction.atomic():
        rows = make_customers(rng, customers, today)
    subscriptions = make_subscriptions(rng, rows, today, progress)
    with connection.cursor() as cursor:
        cursor.execute(LIFETIME_VALUE_SQL, [today])
    with transaction.atomic():
        segments = make_segments(rng, rows)
        offers = make_offers({s.slug: s for s in segments})
    errors = []
    for segment in segments:
        try:
            segment.refresh()
        except RefreshError as exc:
            errors.append(f"{segment.slug}: {exc}")
    return Summary(
        customers=len(rows),
        subscriptions=subscriptions,
        plan_periods=PlanPeriod.all_objects.count(),
        user_segments=len(segments),
        offers=len(offers),
        refresh_errors=tuple(errors),
    )
