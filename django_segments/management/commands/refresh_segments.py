"""``manage.py refresh_segments [slug ...] [--all] [--stale [--max-age HOURS]]``.

Refreshes each selected segment in its own transaction, in priority order, with a
progress bar, then prints a summary table. A failing segment is recorded as failed and
the command goes on with the next one; the exit status is non-zero if any failed.

Verbosity: ``-v0`` prints only the final error naming the failed segments; ``-v1`` (the
default) adds the progress bar and the table; ``-v2`` adds the traceback of each failure
on stderr. The library's log (logger ``django_segments.membership``) always has it.
"""

from __future__ import annotations

import time
import traceback
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from django_segments.exceptions import RefreshError
from django_segments.models import UserSegment

BAR_WIDTH = 24
HEADERS = ("segment", "state", "members", "entered", "exited", "seconds", "error")


class Command(BaseCommand):
    """Refresh user segments."""

    help = "Refresh user segments: the given slugs, --all of them, or the --stale ones."
    #: ``--verbosity`` of the running command (0: errors only, 1: progress and table, 2: tracebacks).
    verbosity = 1

    def add_arguments(self, parser: CommandParser) -> None:
        """Slugs, ``--all``, ``--stale``, ``--max-age``."""
        parser.add_argument("slugs", nargs="*", help="Slugs of the segments to refresh.")
        parser.add_argument("--all", action="store_true", help="Refresh every segment not archived.")
        parser.add_argument(
            "--stale",
            action="store_true",
            help="Refresh segments never refreshed, failed, or edited since their last success.",
        )
        parser.add_argument(
            "--max-age",
            type=float,
            default=None,
            metavar="HOURS",
            help="With --stale: also segments whose last success is older than HOURS.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Select, refresh each with progress, print the summary, fail if any failed."""
        self.verbosity = int(options["verbosity"])
        segments = list(self._select(options))
        if not segments:
            self._say("No segments to refresh.")
            return
        rows = []
        for index, segment in enumerate(segments):
            self._progress(index, len(segments), segment.slug)
            rows.append(self._refresh(segment))
        self._progress(len(segments), len(segments), "done")
        if self.verbosity >= 1:
            self.stdout.write("")
            self._table(rows)
        failed = [row[0] for row in rows if row[1] == "failed"]
        if failed:
            msg = f"{len(failed)} of {len(rows)} segment(s) failed: {', '.join(failed)}"
            raise CommandError(msg + ("; see the table above." if self.verbosity >= 1 else ""))

    def _say(self, line: str) -> None:
        if self.verbosity >= 1:
            self.stdout.write(line)

    def _select(self, options: dict[str, Any]) -> QuerySet[UserSegment]:
        slugs: list[str] = options["slugs"]
        if not (slugs or options["all"] or options["stale"]):
            msg = "Name segment slugs, or use --all or --stale."
            raise CommandError(msg)
        queryset = UserSegment.objects.order_by("priority", "name")
        if options["all"]:
            return queryset.active()
        if options["stale"]:
            hours = options["max_age"]
            max_age = None if hours is None else timedelta(hours=hours)
            stale = queryset.stale(max_age=max_age)
            return stale | queryset.filter(slug__in=slugs) if slugs else stale
        known = set(queryset.filter(slug__in=slugs).values_list("slug", flat=True))
        unknown = [slug for slug in slugs if slug not in known]
        if unknown:
            msg = f"Unknown segment slug(s): {', '.join(unknown)}"
            raise CommandError(msg)
        return queryset.filter(slug__in=slugs)

    def _refresh(self, segment: UserSegment) -> tuple[str, ...]:
        started = time.monotonic()
        try:
            result = segment.refresh()
        except RefreshError as exc:
            if self.verbosity >= 2:
                self._traceback(segment, exc.__cause__ or exc)
            seconds = f"{time.monotonic() - started:.2f}"
            error = segment.last_error.splitlines()[0][:60] if segment.last_error else ""
            return (segment.slug, "failed", str(segment.member_count), "", "", seconds, error)
        return (
            segment.slug,
            "ok",
            str(result.member_count),
            f"+{result.entered}",
            f"-{result.exited}",
            f"{result.duration.total_seconds():.2f}",
            "",
        )

    def _traceback(self, segment: UserSegment, error: BaseException) -> None:
        lines = traceback.format_exception(error)
        self.stderr.write(f"Refresh of segment {segment.slug!r} failed:\n{''.join(lines)}", ending="")

    def _progress(self, done: int, total: int, label: str) -> None:
        filled = BAR_WIDTH * done // total
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self._say(f"[{bar}] {done}/{total} {label}")

    def _table(self, rows: list[tuple[str, ...]]) -> None:
        widths = [max(len(str(cell)) for cell in column) for column in zip(HEADERS, *rows, strict=True)]
        for line in (HEADERS, tuple("-" * w for w in widths), *rows):
            cells = (str(cell).ljust(width) for cell, width in zip(line, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
