"""Operations: feeds and their health, passes and what went wrong in them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from newswatch.web.render import csv_response, json_response, page, qs
from newswatch.web.security import safe_url
from newswatch.web.views.common import fmt_of, int_param, workbench

__all__ = ["problems_page", "runs_page", "source_page", "sources_page"]

SOURCE_COLUMNS = [
    "name",
    "health",
    "url",
    "language",
    "enabled",
    "last_status",
    "last_http_status",
    "consecutive_failures",
    "failure_score",
    "failing_since",
    "last_polled_at",
    "last_success_at",
    "last_new_item_at",
    "poll_interval_minutes",
    "next_poll_at",
    "due",
    "last_error",
]
RUN_COLUMNS = [
    "run_id",
    "started_at",
    "finished_at",
    "status",
    "feeds_total",
    "feeds_fetched",
    "feeds_unchanged",
    "feeds_failed",
    "entries_seen",
    "articles_new",
    "articles_flagged",
    "pages_failed",
    "problems",
]
PROBLEM_COLUMNS = ["occurred_at", "run_id", "stage", "kind", "source", "url", "reason"]


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description or ()]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _latest_articles(con: duckdb.DuckDBPyConnection, name: str, n: int = 30) -> list[dict]:
    """A feed's latest articles: looked for in its last month first (which DuckDB reads
    alone, rows being stored in fetch order), then in the whole archive."""
    sql = """
        SELECT a.article_id, a.story_id, a.title, a.language, a.published_at,
               a.fetched_at, a.extraction, f.score, f.actors, f.allegations
        FROM articles a LEFT JOIN flags f ON f.article_id = a.article_id
        WHERE a.source = ? {since} ORDER BY a.fetched_at DESC, a.article_id DESC LIMIT {n}
    """
    row = con.execute("SELECT max(fetched_at) FROM articles").fetchone()
    if row and row[0] is not None:
        recent = _dicts(
            con.execute(
                sql.format(since="AND a.fetched_at >= ?", n=n),
                [name, row[0] - timedelta(days=30)],
            )
        )
        if len(recent) >= n:
            return recent
    return _dicts(con.execute(sql.format(since="", n=n), [name]))


def sources_page(request: Request) -> Response:
    wb = workbench(request)
    fmt = fmt_of(request)
    health = request.query_params.get("health") or None
    with wb.reader() as con:
        where, params = ("WHERE health = ?", [health]) if health else ("", [])
        rows = _dicts(
            con.execute(
                f"SELECT {', '.join(SOURCE_COLUMNS)} FROM source_health {where} "
                "ORDER BY CASE health WHEN 'failing' THEN 0 WHEN 'erroring' THEN 1 "
                "WHEN 'new' THEN 2 WHEN 'ok' THEN 3 ELSE 4 END, "
                "consecutive_failures DESC, name",
                params,
            )
        )
        counts = dict(
            con.execute("SELECT health, count(*) FROM source_health GROUP BY health").fetchall()
        )
    if fmt == "json":
        return json_response({"sources": rows, "health": counts})
    if fmt == "csv":
        return csv_response(SOURCE_COLUMNS, rows, "sources.csv")
    for r in rows:
        r["link"] = safe_url(r["url"])
    return page(
        request,
        "sources.html",
        {
            "rows": rows,
            "counts": counts,
            "health": health,
            "nav": "sources",
            "data_links": {
                "JSON": "/sources.json" + qs({"health": health}),
                "CSV": "/sources.csv" + qs({"health": health}),
            },
        },
    )


def source_page(request: Request) -> Response:
    wb = workbench(request)
    name = request.path_params["name"]
    fmt = "json" if name.endswith(".json") else "html"
    name = name.removesuffix(".json")
    with wb.reader() as con:
        rows = _dicts(
            con.execute(
                f"SELECT {', '.join(SOURCE_COLUMNS)} FROM source_health WHERE name = ?", [name]
            )
        )
        if not rows:
            raise HTTPException(404, f"No source {name!r} in this database.")
        articles = wb.memo(("source-articles", name), lambda: _latest_articles(con, name))
        problems = _dicts(
            con.execute(
                f"SELECT {', '.join(PROBLEM_COLUMNS)} FROM problems WHERE source = ? "
                "ORDER BY occurred_at DESC LIMIT 20",
                [name],
            )
        )
    src = rows[0]
    if fmt == "json":
        return json_response({"source": src, "latest_articles": articles, "problems": problems})
    src["link"] = safe_url(src["url"])
    return page(
        request,
        "source.html",
        {
            "s": src,
            "articles": articles,
            "problems": problems,
            "nav": "sources",
            "data_links": {"JSON": f"/sources/{name}.json"},
        },
    )


def runs_page(request: Request) -> Response:
    wb = workbench(request)
    fmt = fmt_of(request)
    limit = int_param(request, "limit", 50, 1, 1000)
    before = request.query_params.get("before")
    cond, params = "", []
    if before:
        try:
            params = [datetime.fromisoformat(before)]
            cond = "WHERE r.started_at < ?"
        except ValueError:
            pass
    with wb.reader() as con:
        rows = _dicts(
            con.execute(
                f"""
                WITH r AS (SELECT * FROM runs r {cond} ORDER BY started_at DESC LIMIT {limit})
                SELECT r.*, (SELECT count(*) FROM problems p WHERE p.run_id = r.run_id) AS problems
                FROM r ORDER BY started_at DESC
                """,
                params,
            )
        )
        kinds = _dicts(
            con.execute(
                """
                SELECT stage, kind, count(*) AS n, max(occurred_at) AS last_at
                FROM problems WHERE occurred_at >= (SELECT max(occurred_at) FROM problems)
                      - INTERVAL 7 DAY
                GROUP BY ALL ORDER BY n DESC LIMIT 20
                """
            )
        )
    if fmt == "json":
        return json_response({"runs": rows, "problems_last_7_days": kinds})
    if fmt == "csv":
        return csv_response(RUN_COLUMNS, rows, "runs.csv")
    older = (
        "/runs" + qs({"before": rows[-1]["started_at"].isoformat()}) if len(rows) == limit else None
    )
    return page(
        request,
        "runs.html",
        {
            "rows": rows,
            "kinds": kinds,
            "older": older,
            "nav": "runs",
            "data_links": {"JSON": "/runs.json", "CSV": "/runs.csv"},
        },
    )


def problems_page(request: Request) -> Response:
    wb = workbench(request)
    fmt = fmt_of(request)
    p = request.query_params
    conds: list[str] = []
    params: list[Any] = []
    for key in ("run_id", "stage", "kind", "source"):
        if p.get(key):
            conds.append(f"{key} = ?")
            params.append(p[key])
    if p.get("before"):
        try:
            conds.append("occurred_at < ?")
            params.append(datetime.fromisoformat(p["before"]))
        except ValueError:
            pass
    where = ("WHERE " + " AND ".join(conds)) if conds else ""
    limit = 100 if fmt == "html" else 10_000
    with wb.reader() as con:
        rows = _dicts(
            con.execute(
                f"SELECT {', '.join(PROBLEM_COLUMNS)} FROM problems {where} "
                f"ORDER BY occurred_at DESC LIMIT {limit}",
                params,
            )
        )
    filters = {k: p.get(k) for k in ("run_id", "stage", "kind", "source") if p.get(k)}
    if fmt == "json":
        return json_response({"filters": filters, "problems": rows})
    if fmt == "csv":
        return csv_response(PROBLEM_COLUMNS, rows, "problems.csv")
    for r in rows:
        r["link"] = safe_url(r["url"])
    older = (
        "/problems" + qs(filters, before=rows[-1]["occurred_at"].isoformat())
        if len(rows) == limit
        else None
    )
    return page(
        request,
        "problems.html",
        {
            "rows": rows,
            "filters": filters,
            "older": older,
            "nav": "runs",
            "data_links": {
                "JSON": "/problems.json" + qs(filters),
                "CSV": "/problems.csv" + qs(filters),
            },
        },
    )
