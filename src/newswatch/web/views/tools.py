"""The watchlist bench (paste a text, or pick a stored article: what matches, and for each
allegation that did not fire, what its rule needed), and the help page."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from newswatch.flagging.textnorm import normalize, normalize_phrase
from newswatch.web.highlight import paragraphs, segments
from newswatch.web.render import page
from newswatch.web.views.common import check_csrf, workbench

__all__ = ["bench_page", "explain", "help_page"]

MAX_TEXT = 200_000


def _phrases(by_lang: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    return [(lang, p) for lang, ps in by_lang.items() for p in ps]


def _seen(norm_text: str, phrases: list[tuple[str, str]]) -> list[str]:
    """Phrases that appear in the (normalised) text, ignoring word boundaries: a hint of
    what was there, not a match."""
    out = []
    for lang, p in phrases:
        key = normalize_phrase(p.rstrip("*")).strip()
        if key and key in norm_text and p not in out:
            out.append(f"{lang}: {p}")
    return out[:8]


def explain(
    matcher: Any, text: str, title: str | None, result: Any, language: str | None = None
) -> list[dict[str, Any]]:
    """Each allegation rule of the watchlist: whether it fired, and why, or what was missing
    (the same explanation as ``newswatch flag --explain``)."""
    try:
        from newswatch.flagging.explain import explain as explain_rules
    except ImportError:  # an older flagging package: a rougher account of our own
        return _rough_explanation(matcher, text, title, result)
    return [
        {
            "id": e.allegation,
            "name": e.name,
            "fired": e.fired,
            "summary": e.summary,
            "requires": e.requires,
            "evidence": [asdict(ev) for ev in e.evidence],
            "missing": list(e.missing),
        }
        for e in explain_rules(matcher, text, title=title, language=language)
    ]


def _rough_explanation(
    matcher: Any, text: str, title: str | None, result: Any
) -> list[dict[str, Any]]:
    norm = normalize(" ".join(x for x in (title, text) if x)).text
    found = set(result.actors)
    out = []
    for al in matcher.watchlist.allegations:
        if al.id in result.allegations:
            continue
        rule = al.rule
        first = None if rule.actors == "any" else list(rule.actors)
        have_first = sorted(found if first is None else found & set(first))
        have_with = sorted(found & set(rule.with_actors))
        terms = _seen(norm, _phrases(al.terms))
        cues = _seen(norm, _phrases(rule.cues)) if rule.cues else None
        nots = _seen(norm, _phrases(rule.not_terms)) if rule.not_terms else []
        missing = []
        if not terms:
            missing.append("none of its terms appears")
        if not have_first:
            missing.append("no actor it needs" if first else "no tracked actor")
        if rule.with_actors and not have_with:
            missing.append("no second actor it needs")
        if rule.cues and not cues:
            missing.append("none of its cue words appears")
        if not missing:
            missing.append(
                f"the pieces are there but not close enough ({rule.near.describe()}), "
                "or a 'not' phrase stands near them"
            )
        found_bits = [f"appears: {t}" for t in terms] + [f"actor {a}" for a in have_first]
        found_bits += [f"cue {c}" for c in (cues or [])] + [f"'not' {x}" for x in nots]
        out.append(
            {
                "id": al.id,
                "name": al.name,
                "fired": False,
                "summary": "; ".join(missing),
                "requires": rule.near.describe(),
                "evidence": [],
                "missing": found_bits,
            }
        )
    return out


async def bench_page(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    wb = workbench(request)
    title = ""
    text = ""
    language = ""
    article_id = request.query_params.get("article") or None
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form)
        title = str(form.get("title") or "")[:2000]
        text = str(form.get("text") or "")[:MAX_TEXT]
        language = str(form.get("language") or "")[:16]
        article_id = None

    def work() -> dict[str, Any]:
        nonlocal title, text, language
        source = None
        if article_id:
            with wb.reader() as con:
                row = con.execute(
                    "SELECT title, text, language, source FROM articles WHERE article_id = ?",
                    [article_id],
                ).fetchone()
            if row is None:
                raise HTTPException(404, f"No article {article_id!r} in this database.")
            title, text, language, source = row[0] or "", row[1] or "", row[2] or "", row[3]
        matcher = wb.matcher()
        result = None
        if title.strip() or text.strip():
            result = matcher.match(text, title=title or None, language=language or None)
        mentions = [
            {
                "kind": m.kind,
                "entity_id": m.entity_id,
                "matched_text": m.matched_text,
                "sentence": m.sentence,
                "field": m.field,
                "start_offset": m.start,
                "end_offset": m.end,
                "rule": m.rule,
                "weight": m.weight,
            }
            for m in (result.mentions if result else ())
        ]
        return {
            "title": title,
            "text": text,
            "language": language,
            "article_id": article_id,
            "source": source,
            "result": result,
            "mentions": mentions,
            "title_segments": segments(title, mentions, "title"),
            "text_paragraphs": paragraphs(segments(text, mentions, "text")),
            "explained": (
                explain(matcher, text, title or None, result, language or None) if result else []
            ),
            "version": matcher.version,
            "n_actors": len(matcher.watchlist.actors),
            "n_allegations": len(matcher.watchlist.allegations),
        }

    ctx = await run_in_threadpool(work)
    return page(request, "bench.html", {**ctx, "nav": "bench"})


def help_page(request: Request) -> Response:
    return page(request, "help.html", {"nav": "help"})
