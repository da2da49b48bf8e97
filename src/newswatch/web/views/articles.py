"""Flagged articles (list, facets, search), one article with its evidence, and verdicts."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import duckdb
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from newswatch.errors import StoreError
from newswatch.ingest.urls import canonicalize_url
from newswatch.store import Store
from newswatch.store.lists import values
from newswatch.store.verdicts import VERDICTS, Verdict, has_verdicts, latest_verdicts
from newswatch.web.filters import VERDICT_STATES, ArticleFilter, ArticleQuery, fetch_slack
from newswatch.web.highlight import paragraphs, segments
from newswatch.web.render import csv_response, json_response, page, qs
from newswatch.web.security import safe_url
from newswatch.web.views.common import (
    check_csrf,
    fmt_of,
    int_param,
    user_of,
    utcnow,
    workbench,
)

__all__ = ["article_list", "article_page", "post_verdict", "verdicts_page"]

LIST_COLUMNS = [
    "article_id",
    "story_id",
    "t",
    "published_at",
    "fetched_at",
    "source",
    "language",
    "title",
    "canonical_url",
    "actors",
    "allegations",
    "score",
    "verdict",
    "relevance",
    "flagged_at",
    "watchlist_version",
]


# -- the list ------------------------------------------------------------------------------
def article_list(request: Request) -> Response:
    wb = workbench(request)
    fmt = fmt_of(request)
    flt = ArticleFilter.from_params(request.query_params)
    if fmt == "csv":

        def all_rows() -> Any:
            # a page at a time, each on its own connection: a long download never holds
            # the database while a pass waits to write
            after = flt.after
            n = 0
            while n < 100_000:
                with wb.reader() as con:
                    q = ArticleQuery(con, flt, fts=wb.has_fts(con), page_size=2000)
                    chunk, after = q.page(after)
                yield from chunk
                n += len(chunk)
                if after is None:
                    break

        return csv_response(LIST_COLUMNS, all_rows(), "flagged-articles.csv")
    limit = int_param(request, "limit", wb.page_size, 1, 500)
    with wb.reader() as con:
        slack = wb.memo("slack", lambda: fetch_slack(con))
        q = ArticleQuery(con, flt, fts=wb.has_fts(con), page_size=limit, slack=slack)
        key = (tuple(flt.params()), flt.after, limit)
        rows, nxt = wb.memo(("page", *key), q.page)
        facets = wb.memo(("facets", key[0]), q.facets) if fmt == "html" else None
        count = facets["count"] if facets else None
        copies = wb.memo(("copies", *key), lambda: _copy_counts(con, [r["story_id"] for r in rows]))
        search_mode = q.search_mode
    for r in rows:
        r["copies"] = copies.get(r["story_id"], 1)
        r["link"] = safe_url(r["canonical_url"]) and canonicalize_url(r["canonical_url"])
    base = flt.params()
    keep = {"limit": limit} if limit != wb.page_size else {}
    next_url = request.url.path + qs(base, after=nxt, **keep) if nxt else None
    if fmt == "json":
        return json_response(
            {
                "filters": dict(_multi(base)),
                "rows": [{c: r.get(c) for c in [*LIST_COLUMNS, "copies"]} for r in rows],
                "next": next_url,
            }
        )
    assert facets is not None
    return page(
        request,
        "articles.html",
        {
            "flt": flt,
            "base": base,
            "rows": rows,
            "facets": facets,
            "count": count,
            "next_url": next_url,
            "first_url": request.url.path + qs(base) if flt.after else None,
            "search_mode": search_mode,
            "verdict_states": VERDICT_STATES,
            "nav": "articles",
            "data_links": {
                "JSON": "/articles.json" + qs(base),
                "CSV": "/articles.csv" + qs(base),
            },
        },
    )


def _multi(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            out[k] = [*(out[k] if isinstance(out[k], list) else [out[k]]), v]
        else:
            out[k] = v
    return out


def _copy_counts(con: duckdb.DuckDBPyConnection, story_ids: list[str]) -> dict[str, int]:
    if not story_ids:
        return {}
    with values(con, "_w_stories", dict.fromkeys(story_ids)):
        return dict(
            con.execute(
                "SELECT story_id, count(*) FROM articles "
                "WHERE story_id IN (SELECT v FROM _w_stories) GROUP BY story_id"
            ).fetchall()
        )


# -- one article ---------------------------------------------------------------------------
def _contributions(mentions: list[dict[str, Any]]) -> None:
    """Each mention's share of the flag's score, as the matcher adds it up: an actor counts
    its best mention plus a little for repeats (capped), an allegation its best mention."""
    from newswatch.flagging.matcher import REPEAT_CAP, REPEAT_FACTOR

    by_entity: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for m in mentions:
        m["contribution"] = 0.0
        by_entity[(m["kind"], m["entity_id"])].append(m)
    for (kind, _), ms in by_entity.items():
        ms = sorted(ms, key=lambda m: -(m["weight"] or 0.0))
        ms[0]["contribution"] = float(ms[0]["weight"] or 0.0)
        ms[0]["best"] = True
        if kind == "actor" and len(ms) > 1:
            rest = sum(float(m["weight"] or 0.0) for m in ms[1:])
            bonus = min(REPEAT_CAP, REPEAT_FACTOR * rest)
            for m in ms[1:]:
                m["contribution"] = bonus * float(m["weight"] or 0.0) / rest if rest else 0.0


def _load_article(con: duckdb.DuckDBPyConnection, article_id: str) -> dict[str, Any] | None:
    cur = con.execute(
        "SELECT a.*, f.actors, f.allegations, f.score, f.flagged_at, f.watchlist_version, "
        "f.article_id IS NOT NULL AS flagged FROM articles a "
        "LEFT JOIN flags f ON f.article_id = a.article_id WHERE a.article_id = ?",
        [article_id],
    )
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description or ()], row, strict=True))


def _article_data(con: duckdb.DuckDBPyConnection, article_id: str) -> Any:
    """The article, its mentions, the other copies of its story, its verdicts (or None)."""
    art = _load_article(con, article_id)
    if art is None:
        return None
    cur = con.execute(
        "SELECT kind, entity_id, matched_text, sentence, field, start_offset, end_offset, "
        "rule, weight FROM mentions WHERE article_id = ? "
        "ORDER BY field = 'text', start_offset, kind, entity_id",
        [article_id],
    )
    mcols = [d[0] for d in cur.description or ()]
    mentions = [dict(zip(mcols, r, strict=True)) for r in cur.fetchall()]
    cur = con.execute(
        "SELECT a.article_id, a.source, a.language, a.title, a.canonical_url, "
        "a.published_at, a.fetched_at, f.score, f.article_id IS NOT NULL AS flagged "
        "FROM articles a LEFT JOIN flags f ON f.article_id = a.article_id "
        "WHERE a.story_id = ? AND a.article_id <> ? "
        "ORDER BY coalesce(a.published_at, a.fetched_at), a.article_id LIMIT 200",
        [art["story_id"], article_id],
    )
    ccols = [d[0] for d in cur.description or ()]
    copies = [dict(zip(ccols, r, strict=True)) for r in cur.fetchall()]
    history: list[dict[str, Any]] = []
    latest: dict[tuple[str, str | None], dict[str, Any]] = {}
    if has_verdicts(con):
        from newswatch.store.verdicts import verdict_history

        history = verdict_history(con, article_id)
        latest = latest_verdicts(con, [article_id]).get(article_id, {})
    return art, mentions, copies, history, latest


def article_page(request: Request) -> Response:
    wb = workbench(request)
    article_id = request.path_params["article_id"]
    fmt = "json" if article_id.endswith(".json") else "html"
    article_id = article_id.removesuffix(".json")
    with wb.reader() as con:
        found = wb.memo(("article", article_id), lambda: _article_data(con, article_id))
    if found is None:
        raise HTTPException(404, f"No article {article_id!r} in this database.")
    art, mentions, copies, history, latest = found
    art, history, latest = dict(art), [dict(h) for h in history], dict(latest)
    mentions = [dict(m) for m in mentions]
    queued = wb.queue.pending(article_id)
    for v in queued:
        d = v.as_dict()
        d["queued"] = True
        d["decided_at"] = v.decided_at
        history.insert(0, d)
        key = (v.kind, v.entity_id)
        if key not in latest or latest[key]["decided_at"] <= v.decided_at:
            latest[key] = d
    history.sort(key=lambda h: (h["decided_at"], h.get("verdict_id") or ""), reverse=True)
    _contributions(mentions)
    try:
        current_version = wb.matcher().version
    except Exception:
        current_version = None
    link = safe_url(art["canonical_url"])
    link = canonicalize_url(link) if link else None
    if fmt == "json":
        return json_response(
            {
                "article": {**art, "link": link, "watchlist_version_now": current_version},
                "mentions": mentions,
                "copies": copies,
                "verdicts": history,
            }
        )
    targets: list[tuple[str, str | None]] = [("flag", None)]
    targets += [("actor", a) for a in art.get("actors") or ()]
    targets += [("allegation", g) for g in art.get("allegations") or ()]
    title_paras = segments(art.get("title"), mentions, "title")
    text_paras = paragraphs(segments(art.get("text"), mentions, "text"))
    return page(
        request,
        "article.html",
        {
            "a": art,
            "link": link,
            "mentions": mentions,
            "title_segments": title_paras,
            "text_paragraphs": text_paras,
            "copies": copies,
            "history": history,
            "latest": latest,
            "targets": targets,
            "verdict_values": VERDICTS,
            "current_version": current_version,
            "saved": request.query_params.get("verdict"),
            "nav": "articles",
            "data_links": {"JSON": f"/articles/{article_id}.json"},
        },
    )


# -- verdicts ------------------------------------------------------------------------------
async def post_verdict(request: Request) -> Response:
    """Record a verdict; never lost: queued when the database is busy (see verdict_queue)."""
    from starlette.concurrency import run_in_threadpool

    form = await request.form()
    check_csrf(request, form)
    article_id = request.path_params["article_id"]
    target = str(form.get("target") or "flag")
    verdict = str(form.get("verdict") or "")
    note = str(form.get("note") or "").strip()[:2000] or None
    kind, _, entity = target.partition(":")
    if kind not in ("flag", "actor", "allegation") or (kind != "flag" and not entity):
        raise HTTPException(400, "target: flag, actor:<id> or allegation:<id>")
    if verdict not in VERDICTS:
        raise HTTPException(400, f"verdict: one of {', '.join(VERDICTS)}")
    wb = workbench(request)

    def save() -> bool:
        info = _flag_info(wb.target, article_id)
        if info is not None:
            if not info["exists"]:
                raise HTTPException(404, f"No article {article_id!r} in this database.")
            allowed = info["actors"] if kind == "actor" else info["allegations"]
            if kind != "flag" and entity not in allowed and entity not in info["judged"]:
                raise HTTPException(400, f"{entity!r} is not a {kind} of this article's flag")
        v = Verdict(
            verdict_id=uuid.uuid4().hex,
            article_id=article_id,
            kind=kind,
            entity_id=entity if kind != "flag" else None,
            verdict=verdict,
            analyst=user_of(request),
            decided_at=utcnow(),
            note=note,
            watchlist_version=(info or {}).get("watchlist_version"),
            story_id=(info or {}).get("story_id"),
        )
        return wb.queue.submit([v], wait=2.0)

    stored = await run_in_threadpool(save)
    return RedirectResponse(
        f"/articles/{article_id}?verdict={'saved' if stored else 'queued'}#verdicts",
        status_code=303,
    )


def _flag_info(target: str, article_id: str) -> dict[str, Any] | None:
    """What the verdict form may name; None when the database is busy (the verdict is
    queued unchecked rather than refused: a pass is writing)."""
    try:
        with Store(target, lock_timeout=1.0).reader() as con:
            row = con.execute(
                "SELECT a.story_id, f.actors, f.allegations, f.watchlist_version "
                "FROM articles a LEFT JOIN flags f ON f.article_id = a.article_id "
                "WHERE a.article_id = ?",
                [article_id],
            ).fetchone()
            judged: set[str] = set()
            if row is not None and has_verdicts(con):
                judged = {
                    r[0]
                    for r in con.execute(
                        "SELECT DISTINCT entity_id FROM verdicts WHERE article_id = ? "
                        "AND entity_id IS NOT NULL",
                        [article_id],
                    ).fetchall()
                }
    except StoreError:
        return None
    if row is None:
        return {"exists": False}
    return {
        "exists": True,
        "story_id": row[0],
        "actors": list(row[1] or ()),
        "allegations": list(row[2] or ()),
        "watchlist_version": row[3],
        "judged": judged,
    }


VERDICT_COLUMNS = [
    "decided_at",
    "analyst",
    "article_id",
    "kind",
    "entity_id",
    "verdict",
    "note",
    "watchlist_version",
    "story_id",
    "verdict_id",
    "latest",
    "title",
    "source",
]


def _verdict_data(
    con: duckdb.DuckDBPyConnection, analyst: str | None, verdict: str | None, limit: int
) -> tuple[list[dict[str, Any]], dict[str, int], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    precision: list[dict[str, Any]] = []
    totals: dict[str, int] = {}
    if has_verdicts(con):
        conds, params = [], []
        if analyst:
            conds.append("v.analyst = ?")
            params.append(analyst)
        if verdict:
            conds.append("v.verdict = ?")
            params.append(verdict)
        where = ("WHERE " + " AND ".join(conds)) if conds else ""
        cur = con.execute(
            f"""
            SELECT v.decided_at, v.analyst, v.article_id, v.kind, v.entity_id, v.verdict,
                   v.note, v.watchlist_version, v.story_id, v.verdict_id,
                   l.verdict_id IS NOT NULL AS latest, a.title, a.source
            FROM verdicts v
            LEFT JOIN latest_verdicts l ON l.verdict_id = v.verdict_id
            LEFT JOIN articles a ON a.article_id = v.article_id
            {where}
            ORDER BY v.decided_at DESC, v.verdict_id DESC LIMIT {limit}
            """,
            params,
        )
        cols = [d[0] for d in cur.description or ()]
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        totals = dict(
            con.execute("SELECT verdict, count(*) FROM latest_verdicts GROUP BY verdict").fetchall()
        )
        for kind, eid, conf, fp, unsure in con.execute(
            """
            SELECT kind, entity_id, count(*) FILTER (WHERE verdict = 'confirmed'),
                   count(*) FILTER (WHERE verdict = 'false_positive'),
                   count(*) FILTER (WHERE verdict = 'unsure')
            FROM latest_verdicts WHERE kind <> 'flag' GROUP BY ALL ORDER BY 1, 2
            """
        ).fetchall():
            judged = conf + fp
            precision.append(
                {
                    "kind": kind,
                    "entity_id": eid,
                    "confirmed": conf,
                    "false_positive": fp,
                    "unsure": unsure,
                    "precision": conf / judged if judged else None,
                }
            )
    return rows, totals, precision


def verdicts_page(request: Request) -> Response:
    """Every verdict (newest first, latest ones marked), precision by entity from the
    latest verdicts, and the labelled set (``/verdicts.jsonl``) for ``newswatch eval``."""
    wb = workbench(request)
    fmt = fmt_of(request)
    if fmt == "jsonl":
        import json

        from newswatch.reports.verdicts import labelled_set

        known = {eid for _, eid, _ in wb.entities()} or None
        with wb.reader() as con:
            lines = [
                json.dumps(x, ensure_ascii=False) + "\n" for x in labelled_set(con, known=known)
            ]
        return Response(
            "".join(lines),
            media_type="application/x-ndjson; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="verdicts-labelled.jsonl"'},
        )
    analyst = request.query_params.get("analyst") or None
    verdict = request.query_params.get("verdict") or None
    limit = 500 if fmt == "html" else 100_000
    with wb.reader() as con:
        rows, totals, precision = wb.memo(
            ("verdicts", analyst, verdict, limit),
            lambda: _verdict_data(con, analyst, verdict, limit),
        )
    if fmt == "json":
        return json_response({"verdicts": rows, "latest_counts": totals, "by_entity": precision})
    if fmt == "csv":
        return csv_response(VERDICT_COLUMNS, rows, "verdicts.csv")
    return page(
        request,
        "verdicts.html",
        {
            "rows": rows,
            "totals": totals,
            "precision": precision,
            "analyst": analyst,
            "verdict": verdict,
            "queued": wb.queue.pending(),
            "nav": "verdicts",
            "data_links": {
                "JSON": "/verdicts.json",
                "CSV": "/verdicts.csv",
                "labelled set (JSONL)": "/verdicts.jsonl",
            },
        },
    )
