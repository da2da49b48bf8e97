"""A story: every copy of one report, on a timeline, with the sentences that were flagged."""

from __future__ import annotations

from typing import Any

import duckdb
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from newswatch.store.lists import values
from newswatch.web import charts
from newswatch.web.render import json_response, page
from newswatch.web.security import clean_text, safe_url
from newswatch.web.views.common import workbench

__all__ = ["derivation_tree", "sentence_segments", "story_page"]

MAX_COPIES = 500
MAX_SENTENCES = 30


def sentence_segments(sentence: str, matched: list[str]) -> list[tuple[str, bool]]:
    """The sentence as (text, matched) pieces: every occurrence of the matched words (the
    sentence is stored apart from the field's offsets, so the words are found in it)."""
    low = sentence.casefold()
    same_len = len(low) == len(sentence)
    found: list[tuple[int, int]] = []
    for m in {m for m in matched if m and m.strip()}:
        hay, needle = (low, m.casefold()) if same_len else (sentence, m)
        i = hay.find(needle)
        while i >= 0:
            found.append((i, i + len(needle)))
            i = hay.find(needle, i + 1)
    merged: list[tuple[int, int]] = []
    for s, e in sorted(found):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    out, pos = [], 0
    for s, e in merged:
        if s > pos:
            out.append((sentence[pos:s], False))
        out.append((sentence[s:e], True))
        pos = e
    if pos < len(sentence):
        out.append((sentence[pos:], False))
    return out


def _story_data(con: duckdb.DuckDBPyConnection, story_id: str) -> Any:
    """The copies of a story (oldest first) and its flagged sentences (or None)."""
    cur = con.execute(
        f"""
        SELECT a.article_id, a.source, a.language, a.title, a.canonical_url, a.published_at,
               a.fetched_at, coalesce(a.published_at, a.fetched_at) AS t, a.extraction,
               f.score, f.actors, f.allegations, f.article_id IS NOT NULL AS flagged
        FROM articles a LEFT JOIN flags f ON f.article_id = a.article_id
        WHERE a.story_id = ?
        ORDER BY t, a.fetched_at, a.article_id LIMIT {MAX_COPIES}
        """,
        [story_id],
    )
    cols = [d[0] for d in cur.description or ()]
    copies = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    if not copies:
        return None
    ids = [c["article_id"] for c in copies]
    with values(con, "_w_copies", ids):
        ev = con.execute(
            """
            SELECT sentence, field, list(DISTINCT kind || ':' || entity_id) AS entities,
                   list(DISTINCT matched_text) AS matched, max(weight) AS weight,
                   arg_min(article_id, weight) AS article_id, count(DISTINCT article_id) AS copies
            FROM mentions
            WHERE article_id IN (SELECT v FROM _w_copies) AND sentence IS NOT NULL
              AND sentence <> ''
            GROUP BY sentence, field
            ORDER BY bool_or(kind = 'allegation') DESC, max(weight) DESC, sentence
            LIMIT ?
            """,
            [MAX_SENTENCES],
        ).fetchall()
    return copies, ev, _provenance(con, story_id, ids)


def _has(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = ? AND table_schema = 'main'",
        [name],
    ).fetchone()
    return bool(row and row[0])


def _provenance(con: duckdb.DuckDBPyConnection, story_id: str, ids: list[str]) -> dict[str, Any]:
    """Who copied whom (``story_timeline``) and whom the claims are attributed to
    (``attributions``), where the store has them."""
    out: dict[str, Any] = {"derived": {}, "attributions": []}
    if _has(con, "story_timeline"):
        for article, parent, overlap, adds, confidence in con.execute(
            "SELECT article, derived_from, overlap, adds_reporting, order_confidence "
            "FROM story_timeline WHERE story = ?",
            [story_id],
        ).fetchall():
            out["derived"][article] = {
                "from": parent,
                "overlap": overlap,
                "adds_reporting": adds,
                "confidence": confidence,
            }
    if _has(con, "attributions"):
        with values(con, "_w_attributed", ids):
            attributed = con.execute(
                "SELECT source_text, kind, any_value(cue), list(DISTINCT entity_id), "
                "count(DISTINCT article_id), any_value(sentence) FROM attributions "
                "WHERE article_id IN (SELECT v FROM _w_attributed) "
                "GROUP BY source_text, kind ORDER BY count(DISTINCT article_id) DESC, 1 LIMIT 30"
            ).fetchall()
        out["attributions"] = [
            {
                "source_text": t,
                "kind": k,
                "cue": cue,
                "entities": sorted(e),
                "articles": int(n),
                "sentence": sentence,
            }
            for t, k, cue, e, n, sentence in attributed
        ]
    if _has(con, "claim_timeline"):
        from newswatch.store.provenance import claim_timeline

        found = claim_timeline(con, story_id)
        if found is not None:
            out["claim"] = [dict(zip(found[0], r, strict=True)) for r in found[1]]
    return out


def derivation_tree(copies: list[dict[str, Any]], derived: dict[str, Any]) -> list[dict[str, Any]]:
    """The copies as a forest: each root (the first report, an independent report) with the
    copies derived from it nested below, in time order. Copies the store has no derivation
    for are roots."""
    nodes = {
        c["article_id"]: {**c, "children": [], "dv": derived.get(c["article_id"])} for c in copies
    }
    roots = []
    for c in copies:
        node = nodes[c["article_id"]]
        parent = (node["dv"] or {}).get("from")
        if parent in nodes and parent != c["article_id"]:
            nodes[parent]["children"].append(node)
        else:
            roots.append(node)
    return roots


def _spread(claim: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per language, in order of pick-up: when it first carried the claim (hours after the
    first report), from which outlet, and how many of the claim's stories it has."""
    if not claim:
        return []
    t0 = claim[0]["time"]
    out: dict[str, dict[str, Any]] = {}
    for r in claim:
        lang = r["language"] or "?"
        if lang not in out:
            out[lang] = {
                "language": lang,
                "outlet": r["outlet"],
                "story": r["story"],
                "time": r["time"],
                "hours": round((r["time"] - t0).total_seconds() / 3600, 1),
                "stories": 0,
            }
        out[lang]["stories"] += 1
    return list(out.values())


def story_page(request: Request) -> Response:
    wb = workbench(request)
    story_id = request.path_params["story_id"]
    fmt = "json" if story_id.endswith(".json") else "html"
    story_id = story_id.removesuffix(".json")
    with wb.reader() as con:
        found = wb.memo(("story", story_id), lambda: _story_data(con, story_id))
    if found is None:
        raise HTTPException(404, f"No story {story_id!r} in this database.")
    copies, ev, provenance = [dict(c) for c in found[0]], found[1], found[2]
    by_id = {c["article_id"]: c for c in copies}
    evidence = []
    for sentence, fld, entities, matched, weight, aid, n in ev:
        evidence.append(
            {
                "sentence": sentence,
                "field": fld,
                "entities": sorted(entities),
                "segments": sentence_segments(sentence, list(matched)),
                "weight": weight,
                "article_id": aid,
                "source": by_id.get(aid, {}).get("source"),
                "copies": n,
            }
        )
    first = copies[0]
    for c in copies:
        c["link"] = safe_url(c["canonical_url"])
    title = next((c["title"] for c in copies if c["title"]), None)
    actors = sorted({x for c in copies for x in (c["actors"] or ())})
    allegations = sorted({x for c in copies for x in (c["allegations"] or ())})
    if fmt == "json":
        return json_response(
            {
                "story_id": story_id,
                "title": title,
                "first_report": first["article_id"],
                "copies": copies,
                "evidence": evidence,
                "derived": provenance["derived"],
                "attributions": provenance["attributions"],
                "claim": provenance.get("claim", []),
            }
        )
    tl = charts.timeline(
        [
            (
                c["t"],
                f"{clean_text(c['source'])} ({c['language'] or '?'})",
                f"/articles/{c['article_id']}",
            )
            for c in copies[:60]
        ]
    )
    return page(
        request,
        "story.html",
        {
            "story_id": story_id,
            "title": title,
            "copies": copies,
            "first": first,
            "evidence": evidence,
            "timeline": tl,
            "actors": actors,
            "allegations": allegations,
            "sources": sorted({c["source"] for c in copies}),
            "languages": sorted({c["language"] or "?" for c in copies}),
            "truncated": len(copies) >= MAX_COPIES,
            "derived": provenance["derived"],
            "attributions": provenance["attributions"],
            "tree": derivation_tree(copies, provenance["derived"]) if provenance["derived"] else [],
            "claim": provenance.get("claim", []),
            "spread": _spread(provenance.get("claim", [])),
            "outlet_of": {c["article_id"]: c["source"] for c in copies},
            "nav": "articles",
            "data_links": {"JSON": f"/stories/{story_id}.json"},
        },
    )
