"""Queries behind ``newswatch trends`` (and its chart).

Everything here reads the public views (``daily_trends``, ``flag_entities``,
``story_timeline``, ``spikes``, ...) on a connection the caller opens (read-only is
enough), so a BI tool asking the same SQL gets the same numbers.

What a day's count counts (``count=``):

* ``stories``: distinct stories (syndicated copies count once); the default;
* ``articles``: every flagged article, copies included;
* ``independent``: independent reports, the roots of the stories' derivation trees
  (``story_timeline.derived_from IS NULL``): the first report of a story, and any later
  article that does not derive from an earlier one. An article the timeline does not know
  (a store written before provenance) counts as independent: nothing says it was copied.

Spikes are always found on stories (the ``spikes`` view).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from newswatch.errors import StoreError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "COUNTS",
    "SpikeRow",
    "TrendRow",
    "last_day",
    "plot_trends",
    "sparkline",
    "spike_rows",
    "trend_figure",
    "trend_rows",
]

COUNTS = ("stories", "articles", "independent")
_UNITS = {
    "stories": "stories per day",
    "articles": "articles per day",
    "independent": "independent reports per day",
}

_BLOCKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True, slots=True)
class TrendRow:
    kind: str
    entity_id: str
    articles: int
    stories: int
    sources: int
    series: tuple[int, ...]  # per day, oldest first, of what ``count`` names
    spark: str
    independent: int = 0  # independent reports (roots of derivation trees)
    count: str = "stories"


@dataclass(frozen=True, slots=True)
class SpikeRow:
    day: date
    kind: str
    entity_id: str
    stories: int
    baseline: float
    zscore: float


def sparkline(values: Sequence[float]) -> str:
    """One block character per value, scaled to the largest (zero is the lowest block)."""
    top = max(values, default=0)
    if top <= 0:
        return _BLOCKS[0] * len(values)
    return "".join(_BLOCKS[0] if v <= 0 else _BLOCKS[max(1, round(v / top * 7))] for v in values)


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    try:
        return con.execute(sql, params or []).fetchall()
    except duckdb.CatalogException as e:
        raise StoreError(
            f"the database has no trend views ({str(e).splitlines()[0]}); "
            "write a batch with a current newswatch to migrate it"
        ) from None


def last_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The latest day with flagged articles."""
    return _query(con, "SELECT max(day) FROM daily_trends")[0][0]


def _has_timeline(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        con.execute("SELECT 1 FROM story_timeline LIMIT 0")
    except duckdb.CatalogException:
        return False
    return True


def _filters(actor: str | None, allegation: str | None) -> tuple[str, list]:
    parts, params = [], []
    if actor or allegation:
        ors = []
        if actor:
            ors.append("(kind = 'actor' AND entity_id = ?)")
            params.append(actor)
        if allegation:
            ors.append("(kind = 'allegation' AND entity_id = ?)")
            params.append(allegation)
        parts.append("(" + " OR ".join(ors) + ")")
    return (" AND " + " AND ".join(parts)) if parts else "", params


def trend_rows(
    con: duckdb.DuckDBPyConnection,
    *,
    days: int = 14,
    end: date | None = None,
    actor: str | None = None,
    allegation: str | None = None,
    limit: int | None = None,
    count: str = "stories",
) -> tuple[date, date, list[TrendRow]]:
    """Per entity over the ``days`` days ending at ``end`` (default: the last day with data):
    totals (articles, stories, independent reports, sources) and the daily series of
    ``count`` (stories, articles or independent; see the module's docstring).

    Returns (start, end, rows), rows ordered by the total of ``count``, most first.
    """
    if count not in COUNTS:
        raise ValueError(f"unknown count {count!r}; choose one of {', '.join(COUNTS)}")
    end = end or last_day(con)
    if end is None:
        return date.today(), date.today(), []
    start = end - timedelta(days=days - 1)
    where, params = _filters(actor, allegation)
    # one row per article and entity (flag_entities), with its derivation: roots (and
    # articles the timeline does not know) are independent reports
    roots = (
        "coalesce(t.derived_from IS NULL, true)",
        "LEFT JOIN (SELECT article, any_value(derived_from) AS derived_from "
        "FROM story_timeline GROUP BY article) t ON t.article = f.article_id",
    )
    if count != "independent" and not _has_timeline(con):
        roots = ("NULL::BOOLEAN", "")  # a store from before provenance: no independent counts
    rows = _query(
        con,
        f"""
        WITH e AS (
            SELECT f.day, f.kind, f.entity_id, f.story_id, f.source, {roots[0]} AS independent
            FROM flag_entities f {roots[1]}
            WHERE f.day BETWEEN ? AND ? {where}
        ),
        d AS (
            SELECT day, kind, entity_id, count(*) AS articles,
                   count(DISTINCT story_id) AS stories, count(DISTINCT source) AS sources,
                   count(*) FILTER (WHERE independent) AS independent
            FROM e GROUP BY ALL
        )
        SELECT kind, entity_id, sum(articles)::BIGINT, sum(stories)::BIGINT,
               sum(sources)::BIGINT, sum(independent)::BIGINT, list((day - ?::DATE, {count}))
        FROM d
        GROUP BY kind, entity_id
        ORDER BY sum({count}) DESC, 1, 2
        """
        + (f" LIMIT {int(limit)}" if limit else ""),
        [start, end, *params, start],
    )
    out = []
    for kind, entity, arts, stories, sources, independent, points in rows:
        series = [0] * days
        for offset, n in points:
            series[int(offset)] = int(n)
        out.append(
            TrendRow(
                kind,
                entity,
                int(arts),
                int(stories),
                int(sources),
                tuple(series),
                sparkline(series),
                int(independent),
                count,
            )
        )
    return start, end, out


def spike_rows(
    con: duckdb.DuckDBPyConnection,
    *,
    days: int = 14,
    end: date | None = None,
    actor: str | None = None,
    allegation: str | None = None,
) -> list[SpikeRow]:
    """Spikes in the ``days`` days ending at ``end``, newest first."""
    end = end or last_day(con)
    if end is None:
        return []
    where, params = _filters(actor, allegation)
    rows = _query(
        con,
        f"SELECT day, kind, entity_id, stories, baseline, zscore FROM spikes "
        f"WHERE day BETWEEN ? AND ? {where} ORDER BY day DESC, zscore DESC, entity_id",
        [end - timedelta(days=days - 1), end, *params],
    )
    return [SpikeRow(d, k, e, int(s), float(b), float(z)) for d, k, e, s, b, z in rows]


def trend_figure(
    start: date,
    rows: Sequence[TrendRow],
    spikes: Sequence[SpikeRow] = (),
    *,
    labels: dict[str, str] | None = None,
    top: int = 8,
) -> Figure:
    """Small multiples of the ``top`` largest rows (one panel each, titled with the display
    name from ``labels``, else the id), spike days marked; the digest's chart code."""
    from newswatch.digest.chart import Panel, small_multiples

    shown = list(rows[:top])
    days = len(shown[0].series) if shown else 1
    dates = [start + timedelta(days=i) for i in range(days)]
    count = shown[0].count if shown else "stories"
    panels = [
        Panel(
            (labels or {}).get(r.entity_id, r.entity_id),
            r.series,
            r.kind,
            frozenset(
                (s.day - start).days
                for s in spikes
                if (s.kind, s.entity_id) == (r.kind, r.entity_id)
                and 0 <= (s.day - start).days < days
            )
            if count == "stories"  # spikes are found on stories
            else frozenset(),
        )
        for r in shown
    ]
    end = dates[-1]
    title = f"{_UNITS[count].capitalize()}, {start:%d %b %Y} – {end:%d %b %Y}"
    if len(rows) > top:
        title += f" (the {top} largest of {len(rows)})"
    return small_multiples(
        dates,
        panels,
        unit=_UNITS[count],
        title=title,
        width=10.0,
        panel_height=1.3,
        dpi=110,
        font=9.0,
        columns=1 if len(panels) <= 2 else 2,
    )


def plot_trends(
    path: str | Path,
    start: date,
    rows: Sequence[TrendRow],
    spikes: Sequence[SpikeRow] = (),
    *,
    labels: dict[str, str] | None = None,
    top: int = 8,
) -> Path:
    """Write :func:`trend_figure` as a PNG file."""
    from newswatch.digest.chart import png_bytes

    path = Path(path)
    data = png_bytes(trend_figure(start, rows, spikes, labels=labels, top=top))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
