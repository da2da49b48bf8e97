"""Trends: small multiples of stories per day, spikes marked, and who is tied to what.

    /trends?days=30&end=2026-11-21&kind=actor|allegation&scale=shared|own

One small chart per tracked actor and allegation, all on the same time axis (``scale=shared``
puts them on the same count axis too), integer counts of distinct stories per day from the
``daily_trends`` view, spike days from ``spikes``. A bar is a link to that day's stories.
Below, the actor × allegation matrix: distinct stories in the period naming both.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from newswatch.reports.trends import SpikeRow, TrendRow
from newswatch.web import charts
from newswatch.web.filters import fetch_slack
from newswatch.web.queries import (
    cooccurrence,
    daily_stories,
    first_flagged_day,
    latest_flagged,
    spike_params,
)
from newswatch.web.queries import spikes as spike_days
from newswatch.web.render import csv_response, json_response, page, qs
from newswatch.web.views.common import fmt_of, int_param, utcnow, workbench

__all__ = ["trends_page"]

PERIODS = (7, 14, 30, 90, 180, 365)


def trends_page(request: Request) -> Response:
    wb = workbench(request)
    fmt = fmt_of(request)
    params = request.query_params
    days = int_param(request, "days", 30, 1, 730)
    kind = params.get("kind") if params.get("kind") in ("actor", "allegation") else None
    scale = "shared" if params.get("scale") == "shared" else "own"
    end: date | None = None
    if params.get("end"):
        try:
            end = date.fromisoformat(params["end"])
        except ValueError:
            end = None
    with wb.reader() as con:
        slack = wb.memo("slack", lambda: fetch_slack(con))
        if end is None:
            latest = wb.memo("latest_flagged", lambda: latest_flagged(con, slack))
            end = latest.date() if latest else utcnow().date()
        # long periods are drawn by week, the last week ending on the last day
        bin_days = 7 if days > 90 else 1
        span = -(-days // bin_days) * bin_days
        start = end - timedelta(days=span - 1)
        first = wb.memo("first_flagged_day", lambda: first_flagged_day(con))
        window = int(wb.memo("spike_params", lambda: spike_params(con))["spike_window_days"])

        def compute() -> Any:
            every = daily_stories(con, start - timedelta(days=window), end, slack)
            in_period = {k: {d: n for d, n in by.items() if d >= start} for k, by in every.items()}
            found = spike_days(con, start, end, slack, first_day=first, counts=every)
            return in_period, found, cooccurrence(con, start, end, slack)

        counts, spikes, matrix_rows = wb.memo(("trends", start, end), compute)
    rows = [
        TrendRow(
            kind,
            eid,
            0,
            sum(by_day.values()),  # stories per day, summed (as `newswatch trends`)
            0,
            tuple(by_day.get(start + timedelta(days=i), 0) for i in range(span)),
            "",
        )
        for (kind, eid), by_day in counts.items()
    ]
    spikes = [SpikeRow(d, k, e, n, b, z) for d, k, e, n, b, z in spikes]
    by_key = {(r.kind, r.entity_id): r for r in rows}
    spikes_by: dict[tuple[str, str], list[Any]] = {}
    for sp in spikes:
        spikes_by.setdefault((sp.kind, sp.entity_id), []).append(sp)
    entities = list(wb.entities())
    known = {(k, e) for k, e, _ in entities}
    entities += [
        (r.kind, r.entity_id, r.entity_id) for r in rows if (r.kind, r.entity_id) not in known
    ]
    if kind:
        entities = [e for e in entities if e[0] == kind]

    if fmt in ("json", "csv"):
        out = []
        for k, eid, _ in entities:
            r = by_key.get((k, eid))
            series = list(r.series) if r else [0] * span
            out.append((k, eid, series))
        if fmt == "json":
            return json_response(
                {
                    "start": start,
                    "end": end,
                    "series": [
                        {
                            "kind": k,
                            "entity_id": e,
                            "stories": s,
                            "spikes": [x.day for x in spikes_by.get((k, e), [])],
                        }
                        for k, e, s in out
                    ],
                    "cooccurrence": [
                        {"actor_id": a, "allegation_id": g, "stories": n} for a, g, n in matrix_rows
                    ],
                }
            )
        flat = [
            {
                "day": start + timedelta(days=i),
                "kind": k,
                "entity_id": e,
                "stories": n,
                "spike": (start + timedelta(days=i)) in {x.day for x in spikes_by.get((k, e), [])},
            }
            for k, e, s in out
            for i, n in enumerate(s)
        ]
        return csv_response(["day", "kind", "entity_id", "stories", "spike"], flat, "trends.csv")

    def binned(series: list[int]) -> list[int]:
        return [sum(series[i : i + bin_days]) for i in range(0, len(series), bin_days)]

    shared_max = (
        max((max(binned(list(r.series)), default=0) for r in rows), default=1)
        if scale == "shared"
        else None
    )
    multiples = []
    for k, eid, name in entities:
        r = by_key.get((k, eid))
        series = binned(list(r.series) if r else [0] * span)
        sp = spikes_by.get((k, eid), [])
        key = "actor" if k == "actor" else "allegation"

        def href(d: date, n: int, key: str = key, eid: str = eid) -> str | None:
            if not n:
                return None
            if bin_days == 1:
                return "/articles" + qs({key: eid, "day": d.isoformat()})
            last = d + timedelta(days=bin_days - 1)
            return "/articles" + qs({key: eid, "from": d.isoformat(), "to": last.isoformat()})

        multiples.append(
            {
                "kind": k,
                "id": eid,
                "name": name,
                "stories": r.stories if r else 0,
                "articles": r.articles if r else 0,
                "spikes": sp,
                "chart": charts.bars(
                    start,
                    series,
                    width=310,
                    height=96,
                    spikes=[s.day for s in sp],
                    href=href,
                    y_max=shared_max,
                    bin_days=bin_days,
                ),
                "url": "/articles"
                + qs({key: eid, "from": start.isoformat(), "to": end.isoformat()}),
            }
        )
    actors = [e for e in wb.entities() if e[0] == "actor"]
    allegations = [e for e in wb.entities() if e[0] == "allegation"]
    seen_a = {a for a, _, _ in matrix_rows}
    seen_g = {g for _, g, _ in matrix_rows}
    actors += [("actor", a, a) for a in sorted(seen_a - {x[1] for x in actors})]
    allegations += [("allegation", g, g) for g in sorted(seen_g - {x[1] for x in allegations})]
    cells = {(a, g): int(n) for a, g, n in matrix_rows}
    top = max(cells.values(), default=0)
    matrix = [
        {
            "id": a[1],
            "name": a[2],
            "cells": [
                {
                    "allegation": g[1],
                    "n": cells.get((a[1], g[1]), 0),
                    "level": charts.heat_level(cells.get((a[1], g[1]), 0), top),
                    "url": "/articles"
                    + qs(
                        [
                            ("actor", a[1]),
                            ("allegation", g[1]),
                            ("from", start.isoformat()),
                            ("to", end.isoformat()),
                        ]
                    ),
                }
                for g in allegations
            ],
        }
        for a in actors
    ]
    base = [("days", days), ("end", end.isoformat()), ("kind", kind), ("scale", scale)]
    return page(
        request,
        "trends.html",
        {
            "multiples": multiples,
            "matrix": matrix,
            "matrix_allegations": allegations,
            "start": start,
            "end": end,
            "days": days,
            "periods": PERIODS,
            "kind": kind,
            "scale": scale,
            "base": base,
            "prev_end": (end - timedelta(days=days)).isoformat(),
            "next_end": (end + timedelta(days=days)).isoformat(),
            "spike_count": len(spikes),
            "bin_days": bin_days,
            "nav": "trends",
            "data_links": {"JSON": "/trends.json" + qs(base), "CSV": "/trends.csv" + qs(base)},
        },
    )
