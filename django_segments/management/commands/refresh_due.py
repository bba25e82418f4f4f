"""``manage.py refresh_due [--enqueue N]``: one round of scheduled refreshes.

Without ``--enqueue`` this process refreshes every due segment that no other worker
holds (`django_segments.membership.tasks.refresh_due_segments`): run it from cron on as
many machines as you like, they share the round. ``--enqueue N`` puts N rounds on the
queue of ``SEGMENTS_REFRESH_QUEUE`` instead, for N workers to share.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_segments.membership import tasks


class Command(BaseCommand):
    """Refresh the due user segments, here or on the refresh queue."""

    help = "Refresh the user segments whose refresh interval has passed (or --enqueue rounds)."

    def add_arguments(self, parser: CommandParser) -> None:
        """``--enqueue N``."""
        parser.add_argument(
            "--enqueue",
            type=int,
            metavar="N",
            help="Enqueue N rounds on SEGMENTS_REFRESH_QUEUE instead of refreshing here.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run or enqueue the round; exit non-zero if a refresh failed."""
        copies = options["enqueue"]
        if copies is not None:
            if copies < 1:
                raise CommandError("--enqueue takes a positive number of rounds.")
            try:
                handles = tasks.enqueue_refresh_due(copies)
            except ValueError as exc:  # a queue of single refreshes only (a dotted enqueue callable)
                raise CommandError(str(exc)) from exc
            if not handles:
                raise CommandError("No refresh queue: set SEGMENTS_REFRESH_QUEUE (see the scaling guide).")
            self.stdout.write(f"Enqueued {copies} round(s) of due refreshes.")
            return
        done = tasks.refresh_due_segments()
        self.stdout.write(
            f"Refreshed {len(done['ok'])} due segment(s); {len(done['failed'])} failed; "
            f"{len(done['passed'])} passed over (another refresh held them)."
        )
        if done["failed"]:
            raise CommandError(f"{len(done['failed'])} refresh(es) failed; see each segment's last error.")
