"""The flagged-articles query: filters from the URL, facets, search, keyset pagination.

Every filter is a query parameter, so a filtered list is a link:

    /articles?actor=north_korea&allegation=tunnel_network&language=ko&source=…
             &from=2026-11-01&to=2026-11-07 (or day=… or days=7)&min_score=2
             &verdict=unjudged|confirmed|false_positive|unsure|partial
             &q=KOMID tunnels&sort=score|time|relevance&after=<cursor>&story=<story_id>

``actor`` and ``allegation`` may repeat (an article must have all of them); ``language``
and ``source`` may repeat (any of them). Search is BM25 over the full-text index where it
exists (a DuckDB file), else a case-insensitive substring match of title and text.
Pagination is by key (``after`` = the last row's sort value and article id), so page 1000
costs what page 1 costs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from newswatch.store.verdicts import has_verdicts

__all__ = ["VERDICT_STATES", "ArticleFilter", "ArticleQuery"]

VERDICT_STATES = ("unjudged", "confirmed", "false_positive", "unsure", "partial")
SORTS = ("score", "time", "relevance")
_MAX_Q = 200


def _date(s: str | None) -> date | None:
    if not s:
        return None
    try:
        return date.fromisoformat(s.strip()[:10])
    except ValueError:
        return None


def _many(params: Any, key: str) -> tuple[str, ...]:
    vals = params.getlist(key) if hasattr(params, "getlist") else params.get(key) or []
    if isinstance(vals, str):
        vals = [vals]
    out: list[str] = []
    for v in vals:
        for part in str(v).split(","):
            part = part.strip()
            if part and part not in out and len(part) <= 200:
                out.append(part)
    return tuple(out[:20])


@dataclass(frozen=True)
class ArticleFilter:
    actors: tuple[str, ...] = ()
    allegations: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    min_score: float | None = None
    verdict: str | None = None
    q: str | None = None
    sort: str = "score"
    story: str | None = None
    after: str | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_params(cls, params: Any, *, today: date | None = None) -> ArticleFilter:
        problems: list[str] = []
        get = params.get
        date_from, date_to = _date(get("from")), _date(get("to"))
        if get("day"):
            d = _date(get("day"))
            date_from = date_to = d
            if d is None:
                problems.append("day: not a date (YYYY-MM-DD)")
        if get("days"):
            try:
                n = max(1, min(3650, int(get("days"))))
                end = today or datetime.utcnow().date()
                date_from, date_to = end - timedelta(days=n - 1), None
            except ValueError:
                problems.append("days: not a number")
        min_score = None
        if get("min_score"):
            try:
                min_score = float(get("min_score"))
            except ValueError:
                problems.append("min_score: not a number")
        verdict = get("verdict") or None
        if verdict and verdict not in VERDICT_STATES:
            problems.append(f"verdict: one of {', '.join(VERDICT_STATES)}")
            verdict = None
        q = (get("q") or "").strip()[:_MAX_Q] or None
        sort = get("sort") or ("relevance" if q else "score")
        if sort not in SORTS:
            problems.append(f"sort: one of {', '.join(SORTS)}")
            sort = "score"
        if sort == "relevance" and not q:
            sort = "score"
        return cls(
            actors=_many(params, "actor"),
            allegations=_many(params, "allegation"),
            languages=_many(params, "language"),
            sources=_many(params, "source"),
            date_from=date_from,
            date_to=date_to,
            min_score=min_score,
            verdict=verdict,
            q=q,
            sort=sort,
            story=(get("story") or None),
            after=(get("after") or None),
            problems=tuple(problems),
        )

    def params(self) -> list[tuple[str, str]]:
        """The filter as query parameters (no cursor), in a stable order."""
        out: list[tuple[str, str]] = []
        out += [("actor", a) for a in self.actors]
        out += [("allegation", a) for a in self.allegations]
        out += [("language", a) for a in self.languages]
        out += [("source", a) for a in self.sources]
        if self.date_from and self.date_from == self.date_to:
            out.append(("day", self.date_from.isoformat()))
        else:
            if self.date_from:
                out.append(("from", self.date_from.isoformat()))
            if self.date_to:
                out.append(("to", self.date_to.isoformat()))
        if self.min_score is not None:
            out.append(("min_score", f"{self.min_score:g}"))
        if self.verdict:
            out.append(("verdict", self.verdict))
        if self.q:
            out.append(("q", self.q))
        if self.story:
            out.append(("story", self.story))
        default_sort = "relevance" if self.q else "score"
        if self.sort != default_sort:
            out.append(("sort", self.sort))
        return out

    @property
    def is_empty(self) -> bool:
        return not self.params()


# -- SQL -----------------------------------------------------------------------------------
_T = "coalesce(a.published_at, a.fetched_at)"
_STATUS_JOIN = """
LEFT JOIN (
    SELECT article_id,
           CASE WHEN bool_or(kind = 'flag')
                THEN arg_max(verdict, decided_at) FILTER (WHERE kind = 'flag')
                ELSE 'partial' END AS status
    FROM latest_verdicts GROUP BY article_id
) v ON v.article_id = f.article_id
"""


@dataclass
class ArticleQuery:
    """The SQL of one filtered list, on one read connection."""

    con: duckdb.DuckDBPyConnection
    flt: ArticleFilter
    fts: bool = False
    page_size: int = 50

    def __post_init__(self) -> None:
        self.verdicts = has_verdicts(self.con)
        if self.flt.q and self.fts:
            from newswatch.store.search import fts_install

            fts_install(self.con)

    @property
    def search_mode(self) -> str | None:
        if not self.flt.q:
            return None
        return "bm25" if self.fts else "substring"

    def _from(self) -> tuple[str, list[Any]]:
        f = self.flt
        params: list[Any] = []
        joins = ["FROM flags f JOIN articles a ON a.article_id = f.article_id"]
        status = "'unjudged'"
        if self.verdicts:
            joins.append(_STATUS_JOIN)
            status = "coalesce(v.status, 'unjudged')"
        relevance = "NULL::DOUBLE"
        if f.q and self.fts:
            joins.append(
                "JOIN (SELECT article_id AS sid, relevance FROM (SELECT article_id, "
                "fts_main_articles.match_bm25(article_id, ?) AS relevance FROM articles) "
                "WHERE relevance IS NOT NULL) s ON s.sid = f.article_id"
            )
            params.append(f.q)
            relevance = "s.relevance"
        conds: list[str] = []
        for a in f.actors:
            conds.append("list_contains(f.actors, ?)")
            params.append(a)
        for g in f.allegations:
            conds.append("list_contains(f.allegations, ?)")
            params.append(g)
        if f.languages:
            conds.append("list_contains(?::VARCHAR[], a.language)")
            params.append(list(f.languages))
        if f.sources:
            conds.append("list_contains(?::VARCHAR[], a.source)")
            params.append(list(f.sources))
        if f.date_from:
            conds.append(f"{_T} >= ?")
            params.append(datetime.combine(f.date_from, datetime.min.time()))
        if f.date_to:
            conds.append(f"{_T} < ?")
            params.append(datetime.combine(f.date_to + timedelta(days=1), datetime.min.time()))
        if f.min_score is not None:
            conds.append("f.score >= ?")
            params.append(f.min_score)
        if f.story:
            conds.append("a.story_id = ?")
            params.append(f.story)
        if f.q and not self.fts:
            conds.append("(contains(lower(a.title), ?) OR contains(lower(a.text), ?))")
            params += [f.q.lower(), f.q.lower()]
        if f.verdict:
            conds.append(f"{status} = ?")
            params.append(f.verdict)
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        self._status, self._relevance = status, relevance
        return "\n".join(joins) + where, params

    def _order(self) -> tuple[str, str]:
        key = {"score": "f.score", "time": _T, "relevance": self._relevance}[self.flt.sort]
        return key, f"{key} DESC NULLS LAST, f.article_id DESC"

    def _select(self) -> str:
        return (
            f"f.article_id, a.story_id, a.title, a.url, a.canonical_url, a.source, a.language, "
            f"a.published_at, a.fetched_at, {_T} AS t, f.actors, f.allegations, f.score, "
            f"f.flagged_at, f.watchlist_version, {self._status} AS verdict, "
            f"{self._relevance} AS relevance"
        )

    def page(
        self, after: str | None = None, size: int | None = None
    ) -> tuple[list[dict], str | None]:
        """One page of rows and the cursor of the next page (None: this is the last)."""
        size = size or self.page_size
        frm, params = self._from()
        key, order = self._order()
        cursor = after if after is not None else self.flt.after
        extra = ""
        if cursor:
            value, _, aid = cursor.rpartition("~")
            parsed = _parse_cursor(self.flt.sort, value)
            if parsed is not None and aid:
                extra = (
                    f" {'AND' if ' WHERE ' in frm else 'WHERE'} "
                    f"({key} < ? OR ({key} = ? AND f.article_id < ?))"
                )
                params = [*params, parsed, parsed, aid]
        sql = f"SELECT {self._select()} {frm}{extra} ORDER BY {order} LIMIT {int(size) + 1}"
        cur = self.con.execute(sql, params)
        cols = [d[0] for d in cur.description or ()]
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        nxt = None
        if len(rows) > size:
            rows = rows[:size]
            last = rows[-1]
            value = {"score": last["score"], "time": last["t"], "relevance": last["relevance"]}[
                self.flt.sort
            ]
            nxt = f"{_format_cursor(value)}~{last['article_id']}"
        return rows, nxt

    def iter_all(self, chunk: int = 2000, limit: int = 100_000) -> Iterator[dict]:
        """Every row (up to ``limit``), a page at a time (the CSV twin)."""
        after: str | None = self.flt.after
        n = 0
        while n < limit:
            rows, after = self.page(after, size=min(chunk, limit - n))
            yield from rows
            n += len(rows)
            if after is None:
                break

    def facets(self) -> dict[str, Any]:
        """The count of the result and its facets: actor, allegation, language, source,
        verdict, day (each value with its count, most first)."""
        frm, params = self._from()
        sql = f"""
        WITH r AS MATERIALIZED (
            SELECT f.article_id, a.story_id, a.source, a.language, f.actors, f.allegations,
                   {self._status} AS verdict, {_T}::DATE AS day
            {frm}
        )
        SELECT 'count' AS facet, NULL AS value, count(*) AS n FROM r
        UNION ALL SELECT 'stories', NULL, count(DISTINCT story_id) FROM r
        UNION ALL SELECT 'source', source, count(*) FROM r GROUP BY source
        UNION ALL SELECT 'language', language, count(*) FROM r GROUP BY language
        UNION ALL SELECT 'verdict', verdict, count(*) FROM r GROUP BY verdict
        UNION ALL SELECT 'actor', x, count(*) FROM (SELECT unnest(actors) AS x FROM r) GROUP BY x
        UNION ALL SELECT 'allegation', x, count(*) FROM (SELECT unnest(allegations) AS x FROM r)
                  GROUP BY x
        UNION ALL SELECT 'day', min(day)::VARCHAR, NULL FROM r
        UNION ALL SELECT 'last_day', max(day)::VARCHAR, NULL FROM r
        """
        out: dict[str, Any] = {
            "count": 0,
            "stories": 0,
            "source": [],
            "language": [],
            "verdict": [],
            "actor": [],
            "allegation": [],
        }
        for facet, value, n in self.con.execute(sql, params).fetchall():
            if facet in ("count", "stories"):
                out[facet] = int(n or 0)
            elif facet == "day":
                out["first_day"] = value
            elif facet == "last_day":
                out["last_day"] = value
            else:
                out[facet].append((value, int(n)))
        for k in ("source", "language", "verdict", "actor", "allegation"):
            out[k].sort(key=lambda vn: (-vn[1], str(vn[0])))
        return out


def _format_cursor(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None:
        return ""
    return repr(float(value))


def _parse_cursor(sort: str, value: str) -> Any:
    try:
        if sort == "time":
            return datetime.fromisoformat(value)
        return float(value)
    except ValueError:
        return None


def with_changes(flt: ArticleFilter, **changes: Any) -> ArticleFilter:
    return replace(flt, **changes)


def param_pairs(pairs: Sequence[tuple[str, str]], drop: Mapping[str, str | None]) -> list:
    """``pairs`` without the given (key, value) pairs (value None: every value of key)."""
    return [(k, v) for k, v in pairs if not (k in drop and (drop[k] is None or drop[k] == v))]
