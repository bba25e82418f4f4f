"""``{% segments_timeline span %}``: a span and its segments as an SVG timeline.

The picture is computed here, on the server, and rendered by
``django_segments/ranges/timeline.html``: no JavaScript, no external assets. It shows

* the span's current range as a thin bar,
* active segments as coloured boxes (one colour per label value),
* gaps (parts of the span no active segment covers) as hatched red boxes,
* soft-deleted segments in a lane of their own, dashed,
* ticks at every bound, labelled where there is room.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import template

register = template.Library()

#: Fill colours of segments, assigned to label values in sorted order.
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#e15759")

_ids = itertools.count(1)

MARGIN = 48
SPAN_Y = 20
ACTIVE_Y, ACTIVE_H = 38, 36
DELETED_H = 20
MIN_LABEL_GAP = 72
CHAR_WIDTH = 7
TICK_CHAR_WIDTH = 6.5


@dataclass(frozen=True)
class Box:
    """One rectangle of the picture."""

    x: float
    width: float
    lower: Any
    upper: Any
    label: str = ""
    title: str = ""
    fill: str = ""
    pk: Any = None

    @property
    def show_label(self) -> bool:
        """Whether the label fits inside the box."""
        return bool(self.label) and self.width >= CHAR_WIDTH * len(self.label) + 8

    @property
    def text_x(self) -> float:
        """Centre of the box, for its label."""
        return self.x + self.width / 2


@dataclass(frozen=True)
class Tick:
    """A bound on the axis; ``label`` is empty where labels would collide."""

    x: float
    label: str


@dataclass
class Timeline:
    """Everything the template draws, in SVG user units."""

    uid: str
    width: int
    height: int
    span: Box
    segments: list[Box] = field(default_factory=list)
    gaps: list[Box] = field(default_factory=list)
    deleted: list[Box] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    deleted_y: int = 0
    axis_y: int = 0
    description: str = ""
    margin: int = MARGIN
    marker: Tick | None = None
    span_y: int = SPAN_Y
    active_y: int = ACTIVE_Y
    active_h: int = ACTIVE_H

    @property
    def label_y(self) -> int:
        """Baseline of the labels inside the active boxes."""
        return self.active_y + self.active_h // 2 + 4

    @property
    def axis_end(self) -> int:
        """Right end of the axis line."""
        return self.width - self.margin


def as_number(value: Any) -> float:
    """A range bound as a float on one axis: dates by ordinal day, datetimes by timestamp."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, dt.date):
        return float(value.toordinal())
    if isinstance(value, Decimal | int | float):
        return float(value)
    msg = f"cannot place {value!r} on a timeline"
    raise TypeError(msg)


def format_bound(value: Any) -> str:
    """A short text for a bound: ISO dates, datetimes to the minute, numbers as they are."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def default_label_field(span: Any) -> str | None:
    """The first field a segment model declares itself (e.g. ``plan``), or None."""
    from django_segments.ranges.compiler import own_fields  # noqa: PLC0415

    fields = own_fields(span.segment_model())
    return fields[0].name if fields else None


def find_gaps(lower: Any, upper: Any, ranges: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Parts of ``[lower, upper)`` that none of ``ranges`` covers, in order."""
    gaps = []
    cursor = lower
    for lo, hi in sorted(ranges, key=lambda r: r[0]):
        if lo > cursor:
            gaps.append((cursor, min(lo, upper)))
        cursor = max(cursor, hi)
    if cursor < upper:
        gaps.append((cursor, upper))
    return [(lo, hi) for lo, hi in gaps if lo < hi]


class _Scale:
    def __init__(self, lo: Any, hi: Any, width: int) -> None:
        self.lo = as_number(lo)
        self.span = max(as_number(hi) - self.lo, 1e-9)
        self.plot = width - 2 * MARGIN

    def x(self, value: Any) -> float:
        return round(MARGIN + (as_number(value) - self.lo) / self.span * self.plot, 2)

    def box(self, lo: Any, hi: Any, **kwargs: Any) -> Box:
        x = self.x(lo)
        return Box(x=x, width=max(self.x(hi) - x, 1.0), lower=lo, upper=hi, **kwargs)


def _label(segment: Any, label_field: str | None) -> str:
    if not label_field:
        return ""
    value = getattr(segment, f"get_{label_field}_display", None)
    return str(value() if callable(value) else getattr(segment, label_field, ""))


def _ticks(scale: _Scale, values: list[Any], always: list[Any]) -> list[Tick]:
    """Ticks at every value; labels on ``always`` first, then where there is room."""
    labelled = [scale.x(v) for v in always]
    ticks: list[Tick] = []
    for value in sorted(set(values) | set(always), key=as_number):
        x = scale.x(value)
        room = max(MIN_LABEL_GAP, TICK_CHAR_WIDTH * len(format_bound(value)) + 8)
        show = value in always or all(abs(x - other) >= room for other in labelled)
        if show and value not in always:
            labelled.append(x)
        ticks.append(Tick(x=x, label=format_bound(value) if show else ""))
    return ticks


def build_timeline(
    span: Any, *, width: int = 900, label_field: str | None = None, marker: Any = None, marker_label: str = ""
) -> Timeline:
    """Compute the timeline of ``span`` (all its segments, active and soft-deleted).

    ``marker``: a value to draw as a dashed vertical line labelled ``marker_label``
    (e.g. today), when it falls inside the picture.
    """
    if label_field is None:
        label_field = default_label_field(span)
    segments = list(span.get_segments())
    active = [s for s in segments if s.deleted_at is None]
    deleted = [s for s in segments if s.deleted_at is not None]
    rng = span.current_range
    bounds = [rng.lower, rng.upper]
    for s in segments:
        bounds += [s.segment_range.lower, s.segment_range.upper]
    scale = _Scale(min(bounds, key=as_number), max(bounds, key=as_number), width)
    labels = sorted({_label(s, label_field) for s in segments})
    colours = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}

    def seg_box(s: Any) -> Box:
        lo, hi = s.segment_range.lower, s.segment_range.upper
        label = _label(s, label_field)
        title = f"#{s.pk} {label} [{format_bound(lo)}, {format_bound(hi)})".replace("  ", " ")
        if s.deleted_at is not None:
            title += f", deleted {s.deleted_at:%Y-%m-%d %H:%M}"
        return scale.box(lo, hi, label=label, title=title, fill=colours[label], pk=s.pk)

    gaps = [
        scale.box(lo, hi, label="gap", title=f"gap [{format_bound(lo)}, {format_bound(hi)})")
        for lo, hi in find_gaps(
            rng.lower, rng.upper, [(s.segment_range.lower, s.segment_range.upper) for s in active]
        )
    ]
    deleted_y = ACTIVE_Y + ACTIVE_H + 12
    axis_y = deleted_y + (DELETED_H + 12 if deleted else 0) + 4
    tick_values = [v for s in active for v in (s.segment_range.lower, s.segment_range.upper)]
    span_title = f"span #{span.pk} [{format_bound(rng.lower)}, {format_bound(rng.upper)})"
    description = (
        f"{span_title}: {len(active)} active segment(s), {len(gaps)} gap(s), "
        f"{len(deleted)} deleted segment(s)"
    )
    return Timeline(
        uid=f"segments-timeline-{next(_ids)}",
        width=width,
        height=axis_y + 26,
        span=scale.box(rng.lower, rng.upper, title=span_title),
        segments=[seg_box(s) for s in active],
        gaps=gaps,
        deleted=[seg_box(s) for s in deleted],
        ticks=_ticks(scale, tick_values, [rng.lower, rng.upper]),
        deleted_y=deleted_y,
        axis_y=axis_y,
        description=description,
        marker=_marker(scale, marker, marker_label, bounds),
    )


def _marker(scale: _Scale, value: Any, label: str, bounds: list[Any]) -> Tick | None:
    if value is None:
        return None
    number = as_number(value)
    if not min(as_number(b) for b in bounds) <= number <= max(as_number(b) for b in bounds):
        return None
    return Tick(x=scale.x(value), label=label or format_bound(value))


@register.inclusion_tag("django_segments/ranges/timeline.html")
def segments_timeline(span: Any, width: int = 900, label_field: str | None = None) -> dict[str, Any]:
    """Render ``span`` as an SVG timeline: ``{% segments_timeline span 900 "plan" %}``."""
    return {"timeline": build_timeline(span, width=width, label_field=label_field)}
