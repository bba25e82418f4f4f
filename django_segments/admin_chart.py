"""A segment's member count over time as an SVG step chart, computed on the server.

`build_count_chart` turns ``(instant, count from then on)`` points (from
`django_segments.admin_pages.member_count_history`) into coordinates that
``django_segments/membership/count_chart.html`` draws: no JavaScript, no external assets.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 16, 12, 28
#: Horizontal gridlines (and count labels) at most.
Y_TICKS = 4


@dataclass(frozen=True)
class Tick:
    """One axis label at ``position`` (x or y in SVG units)."""

    position: float
    label: str


@dataclass(frozen=True)
class CountChart:
    """Coordinates of the chart: the step line, its filled area, axes' labels."""

    width: int
    height: int
    line: str  # SVG points of the step line
    area: str  # SVG points of the area under it
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    plot_left: int
    plot_right: int
    plot_bottom: int
    latest: int
    changes: int


def _nice_step(top: int) -> int:
    """A round step (1, 2, 5 times a power of ten) giving at most `Y_TICKS` gridlines."""
    step = 1
    while top / step > Y_TICKS:
        for factor in (2, 5, 10):
            if top / (step * factor) <= Y_TICKS or factor == 10:
                step *= factor
                break
    return step


def _x_label(instant: dt.datetime, span: dt.timedelta) -> str:
    return f"{instant:%Y-%m-%d %H:%M}" if span < dt.timedelta(days=3) else f"{instant:%Y-%m-%d}"


def build_count_chart(
    points: list[tuple[dt.datetime, int]], *, now: dt.datetime, width: int = 900, height: int = 200
) -> CountChart | None:
    """The chart of ``points`` up to ``now``; None without points."""
    if not points:
        return None
    start = points[0][0]
    end = max(now, points[-1][0])
    span = (end - start) or dt.timedelta(seconds=1)
    top = max(count for _, count in points) or 1
    step = _nice_step(top)
    top = -(-top // step) * step
    left, right = MARGIN_LEFT, width - MARGIN_RIGHT
    bottom = height - MARGIN_BOTTOM

    def x(instant: dt.datetime) -> float:
        return round(left + (right - left) * ((instant - start) / span), 1)

    def y(count: int) -> float:
        return round(bottom - (bottom - MARGIN_TOP) * count / top, 1)

    coords: list[tuple[float, float]] = []
    previous = 0
    for instant, count in points:
        coords += [(x(instant), y(previous)), (x(instant), y(count))]
        previous = count
    coords.append((x(end), y(previous)))
    line = " ".join(f"{px},{py}" for px, py in coords)
    area = f"{coords[0][0]},{bottom} {line} {coords[-1][0]},{bottom}"
    y_ticks = tuple(Tick(y(value), f"{value:,}") for value in range(0, top + 1, step))
    x_ticks = (Tick(x(start), _x_label(start, span)), Tick(x(end), _x_label(end, span)))
    return CountChart(
        width, height, line, area, x_ticks, y_ticks, left, right, bottom, points[-1][1], len(points)
    )
