"""Charts as inline SVG, drawn on the server: readable without a plugin, printable, no script.

The functions here compute geometry only (plain dataclasses of numbers and strings); the
markup is written by the template macros in ``templates/_charts.html``, so every label is
escaped by the template engine. :func:`svg` renders one chart to a standalone SVG string
(for the digest, or a file).

* :func:`bars` — one bar per day of integer counts (a sparkline on the board, a small
  multiple on the trends page), spike days marked, each bar optionally a link.
* :func:`timeline` — the copies of a story on a time axis, the first report marked.
* :func:`heat_level` — the shade (0–5) of a cell of the co-occurrence matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

__all__ = ["BarChart", "Timeline", "bars", "heat_level", "nice_max", "svg", "timeline"]


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    value: int
    day: date
    spike: bool
    href: str | None
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    y_max: int
    baseline_y: float
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    grid: tuple[float, ...]
    label: str
    axes: bool
    plot_left: float
    plot_right: float


def nice_max(v: int) -> int:
    """A round upper bound for an integer axis (1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 25, 30, 40…)."""
    if v <= 6:
        return max(1, v)
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if v <= m * exp:
            return int(m * exp)
    return int(10 * exp)


def bars(
    start: date,
    values: Sequence[int],
    *,
    width: int = 300,
    height: int = 90,
    spikes: Sequence[date] = (),
    href: Callable[[date, int], str | None] | None = None,
    y_max: int | None = None,
    axes: bool = True,
    label: str = "",
    unit: str = "stories",
    bin_days: int = 1,
) -> BarChart:
    """Integer counts as bars from ``start``: one value per day, or per ``bin_days`` days
    (a bar's day is the first of its days; it is a spike when one of its days is)."""
    n = max(1, len(values))
    top = nice_max(max([*values, 1]) if y_max is None else max(y_max, 1))
    left, right = (26.0, 4.0) if axes else (1.0, 1.0)
    top_pad, bottom = (8.0, 16.0) if axes else (2.0, 1.0)
    plot_w = width - left - right
    plot_h = height - top_pad - bottom
    step = plot_w / n
    gap = min(2.0, step * 0.2)
    spike_days = set(spikes)
    out = []
    for i, v in enumerate(values):
        d = start + timedelta(days=i * bin_days)
        last = d + timedelta(days=bin_days - 1)
        spike = any(d + timedelta(days=j) in spike_days for j in range(bin_days))
        h = plot_h * (v / top) if v > 0 else 0.0
        if v > 0:
            h = max(h, 1.5)
        x = left + i * step + gap / 2
        out.append(
            Bar(
                x=round(x, 2),
                y=round(top_pad + plot_h - h, 2),
                w=round(max(step - gap, 0.8), 2),
                h=round(h, 2),
                value=int(v),
                day=d,
                spike=spike,
                href=href(d, int(v)) if href else None,
                title=(f"{d:%a %d %b %Y}" if bin_days == 1 else f"{d:%d %b} – {last:%d %b %Y}")
                + f": {int(v)} {unit if v != 1 else unit.rstrip('s')}"
                + (" (spike)" if spike else ""),
            )
        )
    base_y = top_pad + plot_h
    x_ticks: list[Tick] = []
    y_ticks: list[Tick] = []
    grid: list[float] = []
    if axes and values:
        end = start + timedelta(days=len(values) * bin_days - 1)
        x_ticks = [
            Tick(left, height - 3, f"{start:%d %b}", "start"),
            Tick(width - right, height - 3, f"{end:%d %b}", "end"),
        ]
        mid = top // 2 if top >= 2 else None
        y_ticks = [
            Tick(left - 4, base_y + 3, "0", "end"),
            Tick(left - 4, top_pad + 3, str(top), "end"),
        ]
        grid = [top_pad]
        if mid:
            my = top_pad + plot_h * (1 - mid / top)
            y_ticks.append(Tick(left - 4, my + 3, str(mid), "end"))
            grid.append(round(my, 2))
    return BarChart(
        width=width,
        height=height,
        bars=tuple(out),
        y_max=top,
        baseline_y=round(base_y, 2),
        x_ticks=tuple(x_ticks),
        y_ticks=tuple(y_ticks),
        grid=tuple(grid),
        label=label,
        axes=axes,
        plot_left=left,
        plot_right=width - right,
    )


@dataclass(frozen=True, slots=True)
class Dot:
    x: float
    y: float
    label: str
    when: str
    first: bool
    href: str | None


@dataclass(frozen=True, slots=True)
class Timeline:
    width: int
    height: int
    dots: tuple[Dot, ...]
    axis_y: float
    ticks: tuple[Tick, ...]
    left: float
    right: float


def timeline(
    items: Sequence[tuple[datetime, str, str | None]],
    *,
    width: int = 760,
    row: int = 20,
    label_width: int = 230,
) -> Timeline:
    """One row per copy: (time, label, link) in time order; the earliest is the first report."""
    items = sorted(items, key=lambda it: it[0])
    left, right = float(label_width), float(width - 16)
    if not items:
        return Timeline(width, 30, (), 20.0, (), left, right)
    t0, t1 = items[0][0], items[-1][0]
    span = max((t1 - t0).total_seconds(), 3600.0)
    dots = []
    for i, (t, label, href) in enumerate(items):
        x = left + (right - left) * ((t - t0).total_seconds() / span)
        dots.append(Dot(round(x, 2), 14.0 + i * row, label, f"{t:%d %b %H:%M}", i == 0, href))
    axis_y = 14.0 + len(items) * row
    ticks = [Tick(left, axis_y + 14, f"{t0:%d %b %H:%M}", "start")]
    t_end = t0 + timedelta(seconds=span)
    ticks.append(Tick(right, axis_y + 14, f"{t_end:%d %b %H:%M}", "end"))
    return Timeline(width, int(axis_y + 22), tuple(dots), axis_y, tuple(ticks), left, right)


def heat_level(value: int, top: int) -> int:
    """0 (none) to 5 (the largest cell), on a square-root scale."""
    if value <= 0 or top <= 0:
        return 0
    return max(1, min(5, math.ceil(5 * math.sqrt(value / top))))


def svg(chart: BarChart | Timeline) -> str:
    """A chart as a standalone SVG document (for email or a file)."""
    from newswatch.web.render import render

    kind = "bars" if isinstance(chart, BarChart) else "timeline"
    return render("chart.svg", chart=chart, kind=kind, standalone=True)
