"""Digests: each digest's schedule, recipients and filters, what is pending, a preview made
by the email's own renderer (chart included), and the delivery log."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from newswatch.digest.deliver import (
    Period,
    chart_counts,
    failing_feeds,
    pending_items,
    with_provenance,
)
from newswatch.digest.render import render_chart, render_html
from newswatch.settings import DigestSettings
from newswatch.web.render import json_response, page
from newswatch.web.security import PREVIEW_CSP
from newswatch.web.views.common import fmt_of, utcnow, workbench

__all__ = ["digest_chart", "digest_page", "digest_preview", "digests_page"]


def _next_due(d: DigestSettings, now: datetime) -> datetime | None:
    if d.immediate or not d.schedule:
        return None
    from cronsim import CronSim

    local = now.replace(tzinfo=UTC).astimezone(d.tz)
    return next(CronSim(d.schedule, local)).astimezone(UTC).replace(tzinfo=None)


def _period(con: duckdb.DuckDBPyConnection, d: DigestSettings, now: datetime) -> Period:
    """From the last message to the recipients (or the backfill cut-off) to now."""
    row = con.execute(
        "SELECT max(sent_at), min(sent_at) FROM digest_messages "
        "WHERE digest = ? AND list_contains(?, recipient)",
        [d.name, list(d.recipients)],
    ).fetchone()
    last, first = (row or (None, None))[:2]
    start = last or ((first or now) - timedelta(days=d.backfill_days))
    return Period(start, now)


def _pending(wb: Any, con: duckdb.DuckDBPyConnection, d: DigestSettings, now: datetime) -> list:
    """The digest's pending items (the digest module's own query), for this snapshot."""
    minute = now.replace(second=0, microsecond=0)
    return list(wb.memo(("pending", d, minute), lambda: pending_items(con, d, now=minute)))


def _filters(d: DigestSettings) -> list[tuple[str, str]]:
    out = []
    for key in ("actors", "allegations", "sources", "languages"):
        vals = getattr(d, key)
        if vals:
            out.append((key, ", ".join(vals)))
    if d.min_score:
        out.append(("min_score", f"{d.min_score:g}"))
    out.append(("actor-only articles", "included" if d.include_actor_only else "left out"))
    out.append(("false positives", "left out" if d.exclude_false_positives else "included"))
    return out


def _messages(
    con: duckdb.DuckDBPyConnection, name: str | None, limit: int = 50
) -> list[dict[str, Any]]:
    where, params = ("WHERE digest = ?", [name]) if name else ("", [])
    cur = con.execute(
        "SELECT digest, recipient, message_id, sent_at, period_start, period_end, items, "
        f"articles FROM digest_messages {where} ORDER BY sent_at DESC LIMIT {int(limit)}",
        params,
    )
    cols = [d[0] for d in cur.description or ()]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _runs(con: duckdb.DuckDBPyConnection, name: str, limit: int = 20) -> list[dict[str, Any]]:
    cur = con.execute(
        "SELECT run_id, started_at, finished_at, status, messages, error FROM digest_runs "
        f"WHERE digest = ? ORDER BY started_at DESC LIMIT {int(limit)}",
        [name],
    )
    cols = [d[0] for d in cur.description or ()]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def digests_page(request: Request) -> Response:
    wb = workbench(request)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    with wb.reader() as con:
        for d in wb.digests:
            try:
                pending: int | str = len(_pending(wb, con, d, now))
            except duckdb.Error as e:  # one digest's trouble must not hide the others
                pending = f"error: {e}"
            last = _runs(con, d.name, 1)
            rows.append(
                {
                    "d": d,
                    "pending": pending,
                    "next_due": _next_due(d, now),
                    "last_run": last[0] if last else None,
                    "filters": _filters(d),
                }
            )
        log = _messages(con, None)
    if fmt_of(request) == "json":
        return json_response(
            {
                "digests": [
                    {
                        "name": r["d"].name,
                        "schedule": r["d"].schedule,
                        "immediate": r["d"].immediate,
                        "timezone": r["d"].timezone,
                        "recipients": list(r["d"].recipients),
                        "pending": r["pending"],
                        "next_due": r["next_due"],
                        "last_run": r["last_run"],
                    }
                    for r in rows
                ],
                "deliveries": log,
            }
        )
    return page(
        request,
        "digests.html",
        {"rows": rows, "log": log, "nav": "digests", "data_links": {"JSON": "/digests.json"}},
    )


def _digest(request: Request) -> DigestSettings:
    wb = workbench(request)
    d = wb.digest(request.path_params["name"])
    if d is None:
        raise HTTPException(404, f"No digest {request.path_params['name']!r} in the settings.")
    return d


def digest_page(request: Request) -> Response:
    wb = workbench(request)
    d = _digest(request)
    now = utcnow()
    with wb.reader() as con:
        items = _pending(wb, con, d, now)
        log = _messages(con, d.name)
        runs = _runs(con, d.name)
    return page(
        request,
        "digest.html",
        {
            "d": d,
            "items": items[: d.max_items],
            "left": max(0, len(items) - d.max_items),
            "total": len(items),
            "filters": _filters(d),
            "next_due": _next_due(d, now),
            "log": log,
            "runs": runs,
            "nav": "digests",
        },
    )


def digest_preview(request: Request) -> Response:
    """The HTML part of the message the digest would send now (to all its recipients),
    exactly as the email renderer makes it; its chart is served beside it."""
    wb = workbench(request)
    d = _digest(request)
    now = utcnow()
    with wb.reader() as con:
        items = _pending(wb, con, d, now)
        left = max(0, len(items) - d.max_items)
        items = with_provenance(con, items[: d.max_items])
        period = _period(con, d, now)
        failing = failing_feeds(con)
    token = "chart-" + secrets.token_hex(8)
    html = render_html(
        items,
        d,
        period,
        chart_cid=token if items else None,
        pending_left=left,
        labels=wb.labels(),
        failing=failing,
    )
    html = html.replace(f"cid:{token}", f"/digests/{d.name}/chart.png")
    return HTMLResponse(
        html,
        headers={"content-security-policy": PREVIEW_CSP, "x-frame-options": "SAMEORIGIN"},
    )


def digest_chart(request: Request) -> Response:
    wb = workbench(request)
    d = _digest(request)
    with wb.reader() as con:
        dates, series = chart_counts(con, d, now=utcnow())
    png = render_chart(dates, series, labels=wb.labels())
    return Response(png, media_type="image/png")
