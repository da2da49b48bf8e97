"""The board: one tile per tracked actor and allegation.

Each tile: distinct stories in the last 24 hours and 7 days, the usual week (the mean of
the four weeks before), a 30-day sparkline, and a spike badge when the ``spikes`` view has
a day for it in the last 7 days. A click opens the flagged list for that entity and week.

The period ends now; when nothing was flagged in the last 7 days (an archive, the demo),
it ends at the latest flagged article instead, and the page says so. ``?at=YYYY-MM-DD``
ends it at the end of that day.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import duckdb
from starlette.requests import Request
from starlette.responses import Response

from newswatch.web import charts
from newswatch.web.filters import fetch_slack, since_sql
from newswatch.web.queries import first_flagged_day, latest_flagged
from newswatch.web.queries import spikes as spike_days
from newswatch.web.render import json_response, page, qs
from newswatch.web.views.common import fmt_of, utcnow, workbench

__all__ = ["board", "board_data"]

SPARK_DAYS = 30
BASE_WEEKS = 4


def _t() -> str:
    return "coalesce(a.published_at, a.fetched_at)"


def board_data(
    con: duckdb.DuckDBPyConnection,
    entities: list[tuple[str, str, str]],
    *,
    now: datetime,
    at: date | None = None,
    memo: Any = None,
) -> dict[str, Any]:
    def remember(key: str, compute: Any) -> Any:
        return memo(key, compute) if memo is not None else compute()

    slack = remember("slack", lambda: fetch_slack(con))
    latest_t: datetime | None = remember("latest_flagged", lambda: latest_flagged(con, slack))
    fallback = False
    if at is not None:
        anchor = datetime.combine(at + timedelta(days=1), datetime.min.time())
    elif latest_t is not None and latest_t < now - timedelta(days=7):
        anchor = datetime.combine(latest_t.date() + timedelta(days=1), datetime.min.time())
        fallback = True
    else:
        anchor = now.replace(second=0, microsecond=0)
    lo = anchor - timedelta(days=7 + 7 * BASE_WEEKS)
    spark_start = (anchor - timedelta(microseconds=1)).date() - timedelta(days=SPARK_DAYS - 1)
    since, since_params = since_sql(lo, slack)
    rows = con.execute(
        f"""
        WITH fe AS (
            SELECT a.story_id, {_t()} AS t, f.actors, f.allegations
            FROM flags f JOIN articles a ON a.article_id = f.article_id
            WHERE {since} AND {_t()} <= ?
        ),
        e AS MATERIALIZED (
            SELECT 'actor' AS kind, unnest(list_distinct(actors)) AS entity_id, story_id, t FROM fe
            UNION ALL
            SELECT 'allegation', unnest(list_distinct(allegations)), story_id, t FROM fe
        )
        SELECT kind, entity_id, NULL::DATE AS day,
               count(DISTINCT story_id) FILTER (WHERE t > ?) AS s24,
               count(DISTINCT story_id) FILTER (WHERE t > ?) AS s7,
               count(DISTINCT story_id) FILTER (WHERE t <= ?) AS base
        FROM e GROUP BY kind, entity_id
        UNION ALL
        SELECT kind, entity_id, t::DATE, count(DISTINCT story_id), NULL, NULL
        FROM e WHERE t::DATE >= ? GROUP BY ALL
        """,
        [
            *since_params,
            anchor,
            anchor - timedelta(days=1),
            anchor - timedelta(days=7),
            anchor - timedelta(days=7),
            spark_start,
        ],
    ).fetchall()
    first_day = remember("first_flagged_day", lambda: first_flagged_day(con))
    last_day = (anchor - timedelta(microseconds=1)).date()
    spike_rows = [
        (kind, eid, day, z)
        for day, kind, eid, _, _, z in spike_days(
            con, last_day - timedelta(days=6), last_day, slack, first_day=first_day
        )
    ]
    totals: dict[tuple[str, str], tuple[int, int, int]] = {}
    series: dict[tuple[str, str], list[int]] = {}
    for kind, eid, day, a, b, c in rows:
        if day is None:
            totals[(kind, eid)] = (int(a), int(b), int(c))
        else:
            idx = (day - spark_start).days
            if 0 <= idx < SPARK_DAYS:
                series.setdefault((kind, eid), [0] * SPARK_DAYS)[idx] = int(a)
    spikes: dict[tuple[str, str], list[tuple[date, float]]] = {}
    for kind, eid, day, z in spike_rows:
        spikes.setdefault((kind, eid), []).append((day, float(z)))
    # the window (anchor - 7 days, anchor] as whole days, for the list's filters
    week_from = (anchor - timedelta(days=7)).date()
    week_to = (anchor - timedelta(microseconds=1)).date()
    tiles = []
    for kind, eid, name in entities:
        s24, s7, base = totals.get((kind, eid), (0, 0, 0))
        usual = base / BASE_WEEKS
        key = "actor" if kind == "actor" else "allegation"
        sp = spikes.get((kind, eid), [])

        def href(d: date, n: int, key: str = key, eid: str = eid) -> str | None:
            return "/articles" + qs({key: eid, "day": d.isoformat()}) if n else None

        tiles.append(
            {
                "kind": kind,
                "id": eid,
                "name": name,
                "s24": s24,
                "s7": s7,
                "usual": usual,
                "ratio": (s7 / usual) if usual else None,
                "spike": max(sp, key=lambda x: x[1]) if sp else None,
                "spark": charts.bars(
                    spark_start,
                    series.get((kind, eid), [0] * SPARK_DAYS),
                    width=150,
                    height=34,
                    axes=False,
                    spikes=[d for d, _ in sp],
                    href=href,
                ),
                "week_url": "/articles"
                + qs({key: eid, "from": week_from.isoformat(), "to": week_to.isoformat()}),
                "day_url": "/articles"
                + qs(
                    {
                        key: eid,
                        "from": (anchor - timedelta(days=1)).date().isoformat(),
                        "to": week_to.isoformat(),
                    }
                ),
                "all_url": "/articles" + qs({key: eid}),
            }
        )
    return {
        "tiles": tiles,
        "anchor": anchor,
        "fallback": fallback,
        "latest": latest_t,
        "now": now,
        "spark_start": spark_start,
        "week_from": week_from,
        "week_to": week_to,
    }


def board(request: Request) -> Response:
    wb = workbench(request)
    at = None
    if request.query_params.get("at"):
        try:
            at = date.fromisoformat(request.query_params["at"])
        except ValueError:
            at = None
    now = utcnow()
    with wb.reader() as con:
        data = wb.memo(
            ("board", at, now.replace(second=0, microsecond=0), tuple(wb.entities())),
            lambda: board_data(con, wb.entities(), now=now, at=at, memo=wb.memo),
        )
    if fmt_of(request) == "json":
        return json_response(
            {
                "period_end": data["anchor"],
                "latest_flagged": data["latest"],
                "tiles": [
                    {
                        k: t[k]
                        for k in ("kind", "id", "name", "s24", "s7", "usual", "ratio", "spike")
                    }
                    | {"sparkline": [b.value for b in t["spark"].bars]}
                    for t in data["tiles"]
                ],
            }
        )
    return page(
        request,
        "board.html",
        {**data, "nav": "board", "data_links": {"JSON": "/board.json" + qs(request.query_params)}},
    )
