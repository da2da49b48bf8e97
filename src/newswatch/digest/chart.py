"""The one chart of daily counts, drawn as small multiples: the digest's inline PNG and
``newswatch trends --plot`` both come from :func:`small_multiples`.

    ┌ North Korea ───────── 12 ┐ ┌ Hezbollah ─────────── 7 ┐     one panel per actor or
    │     ▂ █ ▃                │ │ ▁   ▂ ▅                  │     allegation, titled with the
    └──────────────────────────┘ └──────────────────────────┘     watchlist's display name
    ┌ Tunnel technology ─── 5 ┐ ┌ …                         ┐     and the period's total;
    │   ▁     ▅ ▂              │ │                           │     one time axis and one
    └──────────────────────────┘ └──────────────────────────┘     count axis (integers) for all
        01 Nov    08 Nov    15 Nov     …

One bar per day (counts are integers: a line between days would invent values in between),
days marked as spikes drawn in a darker shade, and the legend above the panels, outside
the data. Labels are drawn as text, never parsed: matplotlib's mathtext is off for every
label, so a name with ``$`` is shown as written.

The figure is a plain :class:`matplotlib.figure.Figure` (no pyplot, no global state, safe
in threads); :func:`png_bytes` renders it. matplotlib is imported only when a chart is drawn.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.text import Text

__all__ = ["INK", "LINE", "MUTED", "Panel", "png_bytes", "small_multiples"]

INK, MUTED, LINE = "#1f2933", "#616e7c", "#e4e7eb"
# bar colour and spike colour per kind (the digest's chips use the same hues)
_COLOURS = {"actor": ("#6b8fd6", "#1d3f8a"), "allegation": ("#e0876b", "#8a2a12")}


@dataclass(frozen=True, slots=True)
class Panel:
    """One small multiple: a display name, a count per day (oldest first, one per date of
    the chart), the days (indexes) to mark as spikes, and the kind (actor or allegation),
    which sets the colour."""

    label: str
    counts: tuple[int, ...]
    kind: str = "actor"
    marked: frozenset[int] = frozenset()

    @property
    def total(self) -> int:
        return sum(self.counts)


def small_multiples(
    dates: Sequence[date],
    panels: Sequence[Panel],
    *,
    unit: str = "stories per day",
    title: str | None = None,
    empty: str = "nothing flagged in this period",
    columns: int | None = None,
    width: float = 6.0,
    panel_height: float = 1.05,
    dpi: int = 150,
    font: float = 7.0,
) -> Figure:
    """A figure with one panel per entry of ``panels`` (in their order), sharing the time
    axis (``dates``) and an integer count axis. ``unit`` names what a bar counts (the
    legend); ``columns`` defaults to 1 for up to two panels, else 2; ``font`` is the size
    (points) of the panel titles, the rest scaled from it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    for p in panels:
        if len(p.counts) != len(dates):
            raise ValueError(f"panel {p.label!r}: {len(p.counts)} counts for {len(dates)} days")
    n = max(len(panels), 1)
    cols = columns or (1 if n <= 2 else 2)
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    em = font / 72  # inches
    head = 4.6 * em  # above the panels: a line for the title and the legend, the panel titles
    foot = 3.4 * em  # below: the dates
    fig = Figure(figsize=(width, head + rows * panel_height + foot), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    flat = [ax for row in axes for ax in row]
    xs = list(dates)
    xnum = [_num(d) for d in xs]
    top = max((max(p.counts, default=0) for p in panels), default=0)
    for ax in flat:
        ax.tick_params(labelsize=font * 0.93, colors=MUTED, length=2)
        ax.grid(axis="y", color=LINE, linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        for side in ("left", "bottom"):
            ax.spines[side].set_color(LINE)
    titles = []
    for ax, p in zip(flat, panels, strict=False):
        base, strong = _COLOURS.get(p.kind, _COLOURS["actor"])
        ax.add_collection(_bars(xnum, p, base, strong))
        name = ax.set_title(p.label, loc="left", fontsize=font * 1.07, color=INK, pad=3)
        name.set_parse_math(False)
        total = ax.set_title(str(p.total), loc="right", fontsize=font, color=MUTED, pad=3)
        ax.set_label(p.label)  # the whole name, for the PNG's description
        titles.append((ax, name, total))
    if panels:
        for ax in flat[len(panels) :]:  # the grid's empty cells
            ax.set_visible(False)
    if not panels:
        flat[0].text(
            0.5,
            0.5,
            empty,
            ha="center",
            va="center",
            transform=flat[0].transAxes,
            fontsize=font * 1.14,
            color=MUTED,
            parse_math=False,
        )
    flat[0].set_ylim(0, max(math.ceil(top * 1.15), 1))
    flat[0].yaxis.set_major_locator(MaxNLocator(integer=True, nbins=3, min_n_ticks=1))
    if xs:
        locator = AutoDateLocator(minticks=3, maxticks=6)
        flat[0].xaxis.set_major_locator(locator)
        flat[0].xaxis.set_major_formatter(ConciseDateFormatter(locator, show_offset=False))
        pad = 0.6  # a bar's half width, so the first and last bars are whole
        flat[0].set_xlim(xnum[0] - pad, xnum[-1] + pad)
    for ax in flat:  # the bottom panel of each column carries the dates
        if ax.get_visible():
            ax.xaxis.set_tick_params(labelbottom=_bottom_in_column(ax, flat, len(panels), cols))
    handles = [Patch(color=_COLOURS["actor"][0], label=unit)]
    if any(p.marked for p in panels):
        handles.append(Patch(color=_COLOURS["actor"][1], label="spike"))
    top_frac = 1 - head / fig.get_figheight()
    if panels:
        fig.legend(
            handles=handles,
            loc="upper right",
            bbox_to_anchor=(1.0, 1.0),
            ncol=len(handles),
            fontsize=font * 0.93,
            frameon=False,
            handlelength=1.0,
            handleheight=0.8,
            borderaxespad=0.3,
        )
    if title:
        fig.text(
            0.01,
            0.995,
            title,
            ha="left",
            va="top",
            fontsize=font * 1.14,
            color=INK,
            parse_math=False,
        )
    fig.subplots_adjust(
        left=0.06 if cols > 1 else 0.05,
        right=0.99,
        top=top_frac,
        bottom=foot / fig.get_figheight(),
        hspace=0.55,
        wspace=0.08,
    )
    _fit_titles(fig, titles, gap=font / 72 * fig.dpi)
    return fig


def _fit_titles(fig: Figure, titles: list[tuple[Any, Text, Text]], gap: float) -> None:
    """Shorten (with "…") a name too long for its panel, so it never runs into the total."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for ax, name, total in titles:
        room = ax.get_window_extent(renderer).width - total.get_window_extent(renderer).width - gap
        text = name.get_text()
        while len(text) > 1 and name.get_window_extent(renderer).width > room:
            text = text[:-1].rstrip()
            name.set_text(text + "…")


def _bars(xnum: list[float], p: Panel, base: str, strong: str) -> PolyCollection:
    """One bar per day with a count, as one collection (a patch per day is slow to draw
    over years); spike days in ``strong``."""
    from matplotlib.collections import PolyCollection

    half = 0.4
    days = [i for i, n in enumerate(p.counts) if n > 0]
    verts = [
        [(xnum[i] - half, 0), (xnum[i] - half, n), (xnum[i] + half, n), (xnum[i] + half, 0)]
        for i in days
        for n in (p.counts[i],)
    ]
    return PolyCollection(
        verts,
        facecolors=[strong if i in p.marked else base for i in days],
        linewidths=0,
        closed=True,
    )


def _num(d: date) -> float:
    from matplotlib.dates import date2num

    return float(date2num(d))


def _bottom_in_column(ax: object, flat: list[object], n: int, cols: int) -> bool:
    """True for the lowest drawn panel of its column (it shows the date labels)."""
    return flat.index(ax) + cols >= max(n, 1)


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG; its description (a ``tEXt`` chunk) names every panel in full."""
    names = [str(ax.get_label()) for ax in fig.axes if ax.get_visible() and ax.get_label()]
    buf = io.BytesIO()
    metadata = {"Software": None, "Description": "Panels: " + "; ".join(names)} if names else {}
    fig.savefig(buf, format="png", metadata=metadata or {"Software": None})
    return buf.getvalue()
