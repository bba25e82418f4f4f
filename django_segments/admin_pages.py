"""What the user-segment admin's own pages read: members, a run's changes, the count history.

Each query stays in Postgres: pages read one page of rows, CSV exports stream rows in
chunks (`csv_response`), and the count history is two grouped queries. The join of
membership rows to the member model lives in `segment_members` only, and a run's
entries and exits in `run_changes` only.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from django.db import models
from django.db.models import Count, Func, OuterRef, Subquery
from django.http import StreamingHttpResponse

from django_segments.membership import members as member_ids
from django_segments.membership.models import member_queryset
from django_segments.models import CurrentMembership, Membership, RefreshRun, UserSegment

#: Rows per page of the members and changes pages.
PAGE_SIZE = 50
#: Rows fetched per round trip while a CSV export streams.
CSV_CHUNK = 2000

Change = Literal["entered", "left"]
CHANGES: tuple[Change, ...] = ("entered", "left")


def segment_members(segment: UserSegment) -> models.QuerySet:
    """Current members of ``segment`` as member-model rows ordered by primary key, each
    annotated with ``segment_since``, the start of its current period (one probe of the
    ``(segment_id, member_id)`` index per member shown)."""
    current = CurrentMembership.objects.filter(segment=segment)
    since = current.filter(member_id=OuterRef("pk")).values("since")[:1]
    return member_queryset(current).annotate(segment_since=Subquery(since)).order_by("pk")


def run_changes(run: RefreshRun, change: Change) -> models.QuerySet[Membership]:
    """Membership periods ``run`` opened (``"entered"``) or closed (``"left"``), oldest row
    first; none for a failed run.

    A successful run stamps its changes with ``run.stamp``: the periods it opened start
    there, the periods it closed end there.
    """
    if run.stamp is None:
        return Membership.objects.none()
    rows = Membership.objects.filter(segment_id=run.segment_id)
    bound = {"period__startswith": run.stamp} if change == "entered" else {"period__endswith": run.stamp}
    return rows.filter(**bound).order_by("pk")


def member_pk(member_id: Any) -> Any:
    """The member model's primary-key value of a stored ``member_id``."""
    pk = member_ids.get_member_model()._meta.pk
    assert pk is not None  # noqa: S101 - every concrete model has one
    return pk.to_python(member_id)


def members_by_id(member_id_values: Iterable[Any]) -> dict[Any, models.Model]:
    """Member instances of the given stored ids (one query), by primary key."""
    model = member_ids.get_member_model()
    return model._default_manager.in_bulk([member_pk(value) for value in member_id_values])


def member_count_history(segment: UserSegment) -> list[tuple[dt.datetime, int]]:
    """``(instant, members from then on)`` at each instant the membership of ``segment``
    changed, oldest first, from its membership periods.

    Two grouped queries, members entering and leaving per instant; a refresh stamps all
    its changes with one instant, so there are about as many points as refreshes that
    changed something.
    """
    rows = Membership.objects.filter(segment=segment)
    changes: Counter[dt.datetime] = Counter()
    for bound, sign, subset in (("lower", 1, rows), ("upper", -1, rows.filter(period__upper_inf=False))):
        instant = Func("period", function=bound, output_field=models.DateTimeField())
        grouped = subset.annotate(at=instant).values("at").annotate(n=Count("pk")).values_list("at", "n")
        for at, count in grouped:
            changes[at] += sign * count
    total, points = 0, []
    for at in sorted(changes):
        total += changes[at]
        points.append((at, total))
    return points


class _Echo:
    """A file-like object whose ``write`` returns what it was given (for `csv.writer`)."""

    def write(self, value: str) -> str:
        return value


#: First characters that make a spreadsheet read a cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A CSV cell: text that a spreadsheet would run as a formula is prefixed with ``'``."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> StreamingHttpResponse:
    """A streamed CSV download of ``header`` then ``rows`` (consumed while it is sent)."""
    writer = csv.writer(_Echo())
    lines: Iterator[str] = (
        writer.writerow([_cell(value) for value in row]) for row in itertools.chain([header], rows)
    )
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def member_rows(members: models.QuerySet) -> Iterator[tuple[Any, str, Any]]:
    """``(id, member, since)`` of each row of a `segment_members` queryset, in chunks."""
    for member in members.iterator(chunk_size=CSV_CHUNK):
        yield member.pk, str(member), member.segment_since


def change_rows(run: RefreshRun) -> Iterator[tuple[str, Any, Any, Any]]:
    """``(change, member id, entered, left)`` of each entry then each exit of ``run``."""
    for change in CHANGES:
        periods = run_changes(run, change).values_list("member_id", "period")
        for member_id, period in periods.iterator(chunk_size=CSV_CHUNK):
            yield change, member_pk(member_id), period.lower, period.upper


def human_duration(value: dt.timedelta | None) -> str:
    """``value`` in the largest fitting units: ``"850 ms"``, ``"4.2 s"``, ``"3 min 12 s"``,
    ``"2 h 5 min"``, ``"3 d 4 h"``; empty for None."""
    if value is None:
        return ""
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    remaining = round(seconds)
    amounts = []
    for name, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        amount, remaining = divmod(remaining, size)
        amounts.append((amount, name))
    first = next(i for i, (amount, _) in enumerate(amounts) if amount)
    shown = [f"{amount} {name}" for amount, name in amounts[first : first + 2] if amount]
    return " ".join(shown)
