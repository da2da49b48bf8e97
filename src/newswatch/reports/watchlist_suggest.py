"""The rows behind ``newswatch watchlist suggest``: flagged articles, newest first.

    rows = suggestion_rows(store, actor="hezbollah", limit=5000)
    found = suggest_aliases(matcher, rows, actor="hezbollah")   # newswatch.flagging.suggest

Only reads (``store.reader()``); the ranking is in :mod:`newswatch.flagging.suggest`.
"""

from __future__ import annotations

from pathlib import Path

from newswatch.flagging.matcher import Matcher
from newswatch.flagging.suggest import Row, Suggestion, suggest_aliases, suggestions_yaml
from newswatch.store import Store

__all__ = ["suggestion_rows", "watchlist_suggest"]

DEFAULT_LIMIT = 5000


def suggestion_rows(
    store: Store, *, actor: str | None = None, limit: int = DEFAULT_LIMIT
) -> list[Row]:
    """``(article_id, language, title, text, actors)`` of flagged articles (with ``actor``
    when given), the newest ``limit`` of them."""
    where = "WHERE list_contains(f.actors, ?)" if actor else ""
    params: list[object] = [actor] if actor else []
    with store.reader() as con:
        rows = con.execute(
            "SELECT a.article_id, a.language, a.title, a.text, f.actors "
            "FROM articles a JOIN flags f USING (article_id) "
            f"{where} ORDER BY coalesce(a.published_at, a.fetched_at) DESC, a.article_id "
            "LIMIT ?",
            [*params, limit],
        ).fetchall()
    return [(r[0], r[1], r[2], r[3], list(r[4] or ())) for r in rows]


def watchlist_suggest(
    store: Store,
    watchlist_path: Path,
    *,
    actor: str | None = None,
    limit: int = DEFAULT_LIMIT,
    min_articles: int = 2,
) -> tuple[list[Suggestion], str]:
    """Ranked suggestions and the YAML snippet to review (the watchlist is not changed)."""
    matcher = Matcher.from_path(watchlist_path)
    rows = suggestion_rows(store, actor=actor, limit=limit)
    found = suggest_aliases(matcher, rows, actor=actor, min_articles=min_articles)
    return found, suggestions_yaml(found, articles_read=len(rows))
