#!/usr/bin/env python
"""``make demo``: migrate, create an admin login, load demo data, walk through, serve.

    python example_project/run_demo.py             # ... then serve the admin on :8000
    python example_project/run_demo.py --no-serve  # everything but the server (tests, CI)
    python example_project/run_demo.py --port 8001

With ``DATABASE_URL`` unset the project runs on an embedded PostgreSQL 18 whose data
lives in a temporary directory (gone when the demo stops). With it set, the demo creates
and uses the database ``SEGMENTS_DEMO_DB`` (default ``segments_demo``) on that server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"
WALK_EMAIL = "walkthrough@example.com"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-serve", action="store_true", help="do everything except running the server")
    parser.add_argument("--port", type=int, default=8000, help="port of the admin server (8000)")
    parser.add_argument("--customers", type=int, default=1500, help="demo customers to load (1500)")
    return parser.parse_args(argv)


def heading(text: str) -> None:
    """Print a section heading of the walk-through."""
    print(f"\n== {text} " + "=" * max(0, 76 - len(text)))


# --- database preparation (before Django starts) -------------------------------------------


def prepare_server() -> tuple[str, str, str]:
    """Create the demo database and the read-only login; return (url, db, reader)."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    from django_segments.testing.postgres import database_url  # noqa: PLC0415

    url = database_url()  # starts an embedded server when DATABASE_URL is unset
    db = os.environ.get("SEGMENTS_DEMO_DB", "segments_demo")
    reader = os.environ.get("SEGMENTS_DEMO_READER", "segments_demo_reader")
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
        try:
            conn.execute(
                sql.SQL(
                    "DO $$ BEGIN CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; "
                    "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
                ).format(sql.Identifier(reader))
            )
        except psycopg.Error as exc:
            print(f"note: could not create the read-only login {reader!r}: {exc}".strip())
    return url, db, reader


def grant_reader(db: str, reader: str) -> bool:
    """Let the read-only login SELECT the billing tables; False if it cannot log in."""
    import psycopg  # noqa: PLC0415
    from django.conf import settings  # noqa: PLC0415
    from django.db import connection  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    tables = ("billing_customer", "billing_subscription", "billing_planperiod")
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(reader)).as_string()
            )
            grant = sql.SQL("GRANT SELECT ON {} TO {}").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in tables), sql.Identifier(reader)
            )
            cursor.execute(grant.as_string())
        params = settings.DATABASES["segments_exec"]
        kwargs = {k: v for k, v in {"host": params["HOST"], "port": params["PORT"]}.items() if v}
        with psycopg.connect(dbname=db, user=reader, connect_timeout=5, **kwargs) as conn:
            conn.execute("SELECT count(*) FROM billing_customer")
    except Exception as exc:
        settings.SEGMENTS_EXEC_CONNECTION = "default"
        print(f"note: the read-only login is not usable ({exc}); segment SQL runs on 'default'.")
        return False
    return True


def ensure_admin() -> None:
    """Create the superuser admin / admin if it does not exist."""
    from django.contrib.auth import get_user_model  # noqa: PLC0415

    user_model = get_user_model()
    if not user_model.objects.filter(username=ADMIN_USER).exists():
        user_model.objects.create_superuser(ADMIN_USER, "admin@example.com", ADMIN_PASSWORD)
    print(f"Admin login: {ADMIN_USER} / {ADMIN_PASSWORD}")


# --- the walk-through ---------------------------------------------------------------------


def show_periods(sub: Any, *, deleted: bool = False) -> None:
    """Print a subscription's plan periods in range order."""
    rng = sub.current_range
    print(f"  subscription #{sub.pk}: [{rng.lower}, {rng.upper})")
    for period in sub.get_segments() if deleted else sub.get_active_segments():
        r = period.segment_range
        state = "  (soft-deleted)" if period.deleted_at else ""
        print(f"    {period.plan:<8} [{r.lower}, {r.upper})  {(r.upper - r.lower).days:>4} days{state}")


def walk_ranges(today: dt.date) -> Any:
    """Spans and segments: create, upgrade, a refused overlap and gap, pause, cancel."""
    import django_segments as ds  # noqa: PLC0415
    from example_project.billing.models import Customer, Plan, PlanPeriod, Subscription  # noqa: PLC0415

    Customer.objects.filter(email=WALK_EMAIL).delete()
    customer = Customer.objects.create(
        name="Walk Through", email=WALK_EMAIL, country="de", joined_on=dt.date(2024, 5, 1)
    )
    heading("1. A subscription is a span; its plan periods are segments that tile it")
    start, end = today - dt.timedelta(days=200), today + dt.timedelta(days=165)
    sub = Subscription.objects.create(customer=customer, current_range=(start, end))
    print("Subscription.objects.create(...) made the first period itself (allow_span_gaps=False):")
    show_periods(sub)

    heading("2. Upgrade = split at a date, then set the new plan")
    upgrade_on = today - dt.timedelta(days=60)
    print(f"sub.change_plan({upgrade_on}, 'premium')  ->  period.split({upgrade_on}); plan = 'premium'")
    sub.change_plan(upgrade_on, Plan.PREMIUM)
    show_periods(sub)

    heading("3. Postgres refuses what would break the span, whoever writes it")
    try:
        PlanPeriod.objects.create(
            span=sub, segment_range=(upgrade_on - dt.timedelta(days=10), upgrade_on + dt.timedelta(days=10))
        )
    except ds.OverlapError as exc:
        print(f"overlapping insert  -> {type(exc).__name__} (invariant {exc.invariant!r}):")
        print(f"  {exc.detail or exc}")
    try:
        sub.first_segment.delete()
    except ds.GapError as exc:
        print(f"deleting a period   -> {type(exc).__name__} (invariant {exc.invariant!r}):")
        print(f"  {exc.detail or exc}")
    try:
        sub.first_segment.split(end + dt.timedelta(days=1))
    except ds.RangeValueError as exc:
        print(f"split outside       -> {type(exc).__name__}: {exc}")

    heading("4. Pause (end moves out, a paused period goes in), then cancel")
    pause_on = today + dt.timedelta(days=90)
    sub.pause(pause_on, 30)
    print(f"sub.pause({pause_on}, 30 days):")
    show_periods(sub)
    cancel_on = pause_on + dt.timedelta(days=30)
    sub.cancel(cancel_on)
    print(f"The customer does not come back: sub.cancel({cancel_on})  ->  sub.shift_upper_to_value(...):")
    show_periods(sub, deleted=True)
    return customer


def walk_segments(customer: Any) -> None:
    """User segments of four kinds, refresh counts, membership answers, offers."""
    from django_segments.conditions import default_definitions, parse  # noqa: PLC0415
    from django_segments.models import UserSegment  # noqa: PLC0415
    from example_project.billing.models import Customer  # noqa: PLC0415

    heading("5. User segments: SQL, static list, registered method, condition tree")
    early = UserSegment.objects.get(slug="premium-early")
    print(f"{customer.name} is on premium today and joined {customer.joined_on}.")
    print(f"  stored membership before a refresh: is_member('premium-early') = {customer.is_member(early)}")
    print(f"  live check without writing:         early.matches(customer)    = {early.matches(customer)}")
    for segment in UserSegment.objects.order_by("priority"):
        kind = next(k for k in ("sql", "static_ids", "method", "conditions") if getattr(segment, k))
        result = segment.refresh()
        print(
            f"  refresh {segment.slug:<14} ({kind:<10}) members={result.member_count:>5} "
            f"entered={result.entered:>4} exited={result.exited:>4} "
            f"in {result.duration.total_seconds() * 1000:.0f} ms"
        )
    answer = customer.is_member("premium-early")
    print(f"  after the refresh:                  is_member('premium-early') = {answer}")
    print(f"  is_member('beta-testers') = {customer.is_member('beta-testers')}")
    print(f"  customer.segments = {[s.slug for s in customer.segments]}")

    heading("6. One condition tree, evaluated in Python and compiled to SQL")
    tree = parse(early.conditions, definitions=default_definitions())
    print(f"  tree: {tree.encode()}")
    print(f"  tree.evaluate(customer) = {tree.evaluate(customer)}")
    print(f"  Customer.objects.filter(tree.as_q()).count() = {Customer.objects.filter(tree.as_q()).count()}")

    heading("7. Offers by segment priority")
    offer = customer.best_offer()
    print(f"  {customer.name} sees: {offer or '(no offer)'}")
    shown = 0
    for other in Customer.objects.exclude(pk=customer.pk).order_by("id")[:200]:
        best = other.best_offer()
        if best is not None and shown < 3:
            print(f"  {other.name} (#{other.pk}) sees: {best}")
            shown += 1


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit status."""
    args = parse_args(argv)
    started = time.monotonic()
    # NOTE - the embedded server's data directory lookup warns when XDG_RUNTIME_DIR is unset.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    _, db, reader = prepare_server()

    import django  # noqa: PLC0415

    django.setup()
    from django.core.management import call_command  # noqa: PLC0415
    from django.utils import timezone  # noqa: PLC0415

    from example_project.billing.models import Customer  # noqa: PLC0415

    print(f"Database {db!r}: migrating ...")
    call_command("migrate", verbosity=0)
    grant_reader(db, reader)
    ensure_admin()
    if not Customer.objects.exists():
        print(f"Loading demo data ({args.customers} customers) ...")
        call_command("load_demo_data", customers=args.customers)
    else:
        print("Demo data already loaded.")
    customer = walk_ranges(timezone.localdate())
    walk_segments(customer)
    print(f"\nWalk-through finished in {time.monotonic() - started:.1f} s.")
    url = f"http://127.0.0.1:{args.port}/admin/"
    if args.no_serve:
        print(f"Not serving (--no-serve). `make demo` serves the admin at {url}")
        return 0
    print(f"\nServing the admin at {url}  (login {ADMIN_USER} / {ADMIN_PASSWORD}; Ctrl-C stops)")
    call_command("runserver", f"127.0.0.1:{args.port}", use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
