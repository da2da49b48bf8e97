"""Trend numbers for a period, read so DuckDB only touches that period.

The public views (``daily_trends``, ``spikes``, ``cooccurrence``) are defined over the whole
archive: a filter on their ``day`` is applied after every flagged article has been joined
with its article. The functions here compute the same numbers for one period only:
articles are stored in fetch order, so a condition on ``fetched_at`` lets DuckDB skip the
rest (see :func:`newswatch.web.filters.since_sql`). Their definitions follow the views'
exactly; the tests compare them with the views.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from math import sqrt
from typing import Any

import duckdb

from newswatch.settings import StorySettings
from newswatch.web.filters import since_sql

__all__ = ["cooccurrence", "daily_stories", "first_flagged_day", "spike_params", "spikes"]

_T = "coalesce(a.published_at, a.fetched_at)"


def _window(start: date, end: date, slack: timedelta) -> tuple[str, list[Any]]:
    lo = datetime.combine(start, datetime.min.time())
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time())
    cond, params = since_sql(lo, slack)
    return f"{cond} AND {_T} < ?", [*params, hi]


def daily_stories(
    con: duckdb.DuckDBPyConnection, start: date, end: date, slack: timedelta
) -> dict[tuple[str, str], dict[date, int]]:
    """Distinct stories per day and entity (``daily_trends.stories``), days start–end."""
    cond, params = _window(start, end, slack)
    rows = con.execute(
        f"""
        WITH f AS (
            SELECT {_T}::DATE AS day, a.story_id, f.actors, f.allegations
            FROM flags f JOIN articles a ON a.article_id = f.article_id
            WHERE {cond}
        ),
        e AS (
            SELECT day, story_id, 'actor' AS kind, unnest(list_distinct(actors)) AS entity_id
            FROM f
            UNION ALL
            SELECT day, story_id, 'allegation', unnest(list_distinct(allegations)) FROM f
        )
        SELECT kind, entity_id, day, count(DISTINCT story_id) FROM e GROUP BY ALL
        """,
        params,
    ).fetchall()
    out: dict[tuple[str, str], dict[date, int]] = {}
    for kind, eid, day, n in rows:
        out.setdefault((kind, eid), {})[day] = int(n)
    return out


def first_flagged_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The first day with a flagged article (``min(day)`` of ``daily_trends``)."""
    row = con.execute(
        f"SELECT min({_T})::DATE FROM articles a "
        "WHERE a.article_id IN (SELECT article_id FROM flags)"
    ).fetchone()
    return row[0] if row else None


def latest_flagged(con: duckdb.DuckDBPyConnection, slack: timedelta) -> datetime | None:
    """The publication (or fetch) time of the latest flagged article."""
    newest = con.execute("SELECT max(fetched_at) FROM articles").fetchone()
    if not newest or newest[0] is None:
        return None
    span = timedelta(days=7)
    while True:
        lo = newest[0] - span
        row = con.execute(
            f"SELECT max({_T}) FROM flags f JOIN articles a ON a.article_id = f.article_id "
            f"WHERE a.fetched_at >= ?",
            [lo],
        ).fetchone()
        if row and row[0] is not None:
            # a flagged article fetched earlier may carry a later publication time
            found: datetime = row[0]
            row2 = con.execute(
                f"SELECT max({_T}) FROM flags f JOIN articles a ON a.article_id = f.article_id "
                "WHERE a.fetched_at >= ?",
                [found - slack],
            ).fetchone()
            return max(found, row2[0]) if row2 and row2[0] is not None else found
        if span > timedelta(days=3650 * 4):
            return None
        span *= 8


def spike_params(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """The spike parameters as the ``spikes`` view reads them (trend_settings, defaults)."""
    d = StorySettings()
    out = {
        "spike_window_days": float(d.spike_window_days),
        "spike_zscore": float(d.spike_zscore),
        "spike_min_stories": float(d.spike_min_stories),
        "spike_min_history_days": float(d.spike_min_history_days),
    }
    for name, value in con.execute(
        "SELECT name, max(value) FROM trend_settings GROUP BY name"
    ).fetchall():
        if name in out and value is not None:
            out[name] = float(value)
    return out


def spikes(
    con: duckdb.DuckDBPyConnection,
    start: date,
    end: date,
    slack: timedelta,
    *,
    first_day: date | None = None,
    counts: dict[tuple[str, str], dict[date, int]] | None = None,
) -> list[tuple[date, str, str, int, float, float]]:
    """The rows of the ``spikes`` view with a day from start to end:
    (day, kind, entity_id, stories, baseline, zscore). ``counts``: :func:`daily_stories`
    from ``start - spike_window_days`` to ``end``, when the caller has it already."""
    p = spike_params(con)
    w = int(p["spike_window_days"])
    z, min_stories, min_history = (
        p["spike_zscore"],
        int(p["spike_min_stories"]),
        int(p["spike_min_history_days"]),
    )
    first = first_day if first_day is not None else first_flagged_day(con)
    if first is None:
        return []
    if counts is None:
        counts = daily_stories(con, start - timedelta(days=w), end, slack)
    out = []
    for (kind, eid), by_day in counts.items():
        for day, stories in by_day.items():
            if day < start or day > end:
                continue
            n = min(w, (day - first).days)
            if n < min_history or n <= 0:
                continue
            prior = [by_day.get(day - timedelta(days=i), 0) for i in range(1, w + 1)]
            s1 = float(sum(prior))
            s2 = float(sum(x * x for x in prior))
            mean = s1 / n
            sd = sqrt(max(s2 / n - mean**2, 0.0))
            zscore = (stories - mean) / max(sd, sqrt(mean), 1.0)
            if zscore >= z and stories >= min_stories:
                out.append((day, kind, eid, stories, mean, zscore))
    out.sort(key=lambda r: (r[0], r[1], r[2]), reverse=True)
    return out


def cooccurrence(
    con: duckdb.DuckDBPyConnection, start: date, end: date, slack: timedelta
) -> list[tuple[str, str, int]]:
    """(actor_id, allegation_id, distinct stories) of the flagged articles in the period."""
    cond, params = _window(start, end, slack)
    return [
        (a, g, int(n))
        for a, g, n in con.execute(
            f"""
            WITH f AS (
                SELECT a.story_id, f.actors, f.allegations
                FROM flags f JOIN articles a ON a.article_id = f.article_id
                WHERE {cond}
            )
            SELECT actor_id, allegation_id, count(DISTINCT story_id)
            FROM (SELECT story_id, unnest(list_distinct(actors)) AS actor_id, allegations FROM f),
                 unnest(list_distinct(allegations)) AS g(allegation_id)
            GROUP BY ALL
            """,
            params,
        ).fetchall()
    ]
