"""Queries behind ``newswatch trends`` and ``newswatch export``.

Everything here reads the public views of :mod:`newswatch.stories` (``daily_trends``,
``spikes``, ...) on a connection the caller opens (read-only is enough), so a BI tool
asking the same SQL gets the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

from newswatch.errors import StoreError

__all__ = [
    "EXPORT_TABLES",
    "SpikeRow",
    "TrendRow",
    "export_tables",
    "last_day",
    "plot_trends",
    "sparkline",
    "spike_rows",
    "trend_rows",
]

EXPORT_TABLES = (
    "articles",
    "mentions",
    "flags",
    "sources",
    "stories",
    "daily_trends",
    "cooccurrence",
    "spikes",
)
_BLOCKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True, slots=True)
class TrendRow:
    kind: str
    entity_id: str
    articles: int
    stories: int
    sources: int
    series: tuple[int, ...]  # stories per day, oldest first
    spark: str


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
) -> tuple[date, date, list[TrendRow]]:
    """Per entity over the ``days`` days ending at ``end`` (default: the last day with data):
    totals (articles, stories, sources summed over days) and the daily story series.

    Returns (start, end, rows), rows ordered by stories, most first.
    """
    end = end or last_day(con)
    if end is None:
        return date.today(), date.today(), []
    start = end - timedelta(days=days - 1)
    where, params = _filters(actor, allegation)
    rows = _query(
        con,
        f"""
        SELECT kind, entity_id, sum(articles)::BIGINT, sum(stories)::BIGINT, sum(sources)::BIGINT,
               list((day - ?::DATE, stories))
        FROM daily_trends
        WHERE day BETWEEN ? AND ? {where}
        GROUP BY kind, entity_id
        ORDER BY 4 DESC, 1, 2
        """
        + (f" LIMIT {int(limit)}" if limit else ""),
        [start, start, end, *params],
    )
    out = []
    for kind, entity, arts, stories, sources, points in rows:
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


def plot_trends(
    path: str | Path,
    start: date,
    rows: Sequence[TrendRow],
    spikes: Sequence[SpikeRow] = (),
    *,
    top: int = 8,
) -> Path:
    """Write a PNG line chart of daily stories per entity (the ``top`` largest), spikes marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    try:
        for r in rows[:top]:
            xs = [start + timedelta(days=i) for i in range(len(r.series))]
            # matplotlib plots dates on its date axis; its stubs only know numbers
            label = f"{r.kind}:{r.entity_id}"
            (line,) = ax.plot(xs, r.series, marker=".", label=label)  # type: ignore[arg-type]
            hits = [s for s in spikes if (s.kind, s.entity_id) == (r.kind, r.entity_id)]
            if hits:
                ax.scatter(
                    [s.day for s in hits],  # type: ignore[arg-type]
                    [s.stories for s in hits],
                    s=80,
                    facecolors="none",
                    edgecolors=line.get_color(),
                    linewidths=2,
                )
        ax.set_ylabel("stories per day")
        ax.set_title("newswatch trends (circles: spikes)")
        ax.grid(alpha=0.3)
        if rows:
            ax.legend(loc="upper left", fontsize="small")
        fig.autofmt_xdate()
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def export_tables(
    con: duckdb.DuckDBPyConnection,
    directory: str | Path,
    *,
    fmt: str = "parquet",
    tables: Sequence[str] = EXPORT_TABLES,
) -> list[Path]:
    """Write each public table or view to ``DIR/<name>.<fmt>`` (parquet or csv)."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unknown export format {fmt!r} (parquet or csv)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER"
    written = []
    for name in tables:
        target = directory / f"{name}.{fmt}"
        quoted = str(target).replace("'", "''")
        _query(con, f"COPY (SELECT * FROM {name}) TO '{quoted}' ({options})")
        written.append(target)
    return written
