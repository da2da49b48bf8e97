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
import pyarrow as pa

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
_DISPLAY = (
    "f.article_id, a.story_id, a.title, a.url, a.canonical_url, a.source, a.language, "
    "a.published_at, a.fetched_at, {t} AS t, f.actors, f.allegations, f.score, f.flagged_at, "
    "f.watchlist_version, {status} AS verdict, k.relevance AS relevance"
)


def fetch_slack(con: duckdb.DuckDBPyConnection) -> timedelta:
    """How far after its fetch an article's publication time lies at most (a feed's clock
    or time zone may be off): with it, a condition on ``coalesce(published_at, fetched_at)``
    can also be put on ``fetched_at``, which DuckDB can prune by (rows are stored in fetch
    order), without changing the result."""
    row = con.execute(
        "SELECT max(published_at - fetched_at) FROM articles WHERE published_at > fetched_at"
    ).fetchone()
    slack = row[0] if row and row[0] is not None else timedelta(0)
    return max(slack, timedelta(0)) + timedelta(seconds=1)


def since_sql(t_lo: datetime, slack: timedelta, alias: str = "a") -> tuple[str, list[Any]]:
    """``coalesce(published_at, fetched_at) >= t_lo``, with a prunable twin on fetched_at."""
    return (
        f"coalesce({alias}.published_at, {alias}.fetched_at) >= ? AND {alias}.fetched_at >= ?",
        [t_lo, t_lo - slack],
    )


def bm25_terms(con: duckdb.DuckDBPyConnection, q: str) -> list[tuple[int, int]]:
    """(termid, document frequency) of the query's terms in the full-text index, tokenised
    and stemmed as the index was."""
    return [
        (int(t), int(df))
        for t, df in con.execute(
            "SELECT termid, df FROM fts_main_articles.dict WHERE term IN "
            "(SELECT DISTINCT stem(unnest(fts_main_articles.tokenize(?)), 'porter'))",
            [q],
        ).fetchall()
    ]


def bm25_sql(terms: list[tuple[int, int]], k1: float = 1.2, b: float = 0.75) -> str:
    """BM25 scores (docname, relevance) of the documents with any of ``terms``, as the fts
    extension's ``match_bm25`` computes them, but with the term ids as constants, so DuckDB
    reads only the parts of the index that hold them."""
    if not terms:
        return "(SELECT NULL::VARCHAR AS sid, NULL::DOUBLE AS relevance WHERE false)"
    ids = ", ".join(str(t) for t, _ in terms)
    dfs = " ".join(f"WHEN {t} THEN {df}" for t, df in terms)
    return f"""(
        SELECT d.name AS sid, sum(
            log(((st.num_docs - tf.df) + 0.5) / (tf.df + 0.5) + 1)
            * (tf.tf * ({k1} + 1)) / (tf.tf + {k1} * (1 - {b} + {b} * d.len / st.avgdl))
        ) AS relevance
        FROM (
            SELECT docid, termid, count(*) AS tf, CASE termid {dfs} END AS df
            FROM fts_main_articles.terms WHERE termid IN ({ids}) GROUP BY docid, termid
        ) tf
        JOIN fts_main_articles.docs d ON d.docid = tf.docid
        CROSS JOIN fts_main_articles.stats st
        GROUP BY d.name
    )"""


@dataclass
class ArticleQuery:
    """The SQL of one filtered list, on one read connection.

    A page is read in two steps: the keys (article id and sort value) of the page, with
    only the columns the filters and the order need, then the page's rows for those keys
    alone (reading every displayed column of every flagged article costs ten times more)."""

    con: duckdb.DuckDBPyConnection
    flt: ArticleFilter
    fts: bool = False
    page_size: int = 50
    slack: timedelta | None = None

    def __post_init__(self) -> None:
        self.verdicts = has_verdicts(self.con)
        self._terms: list[tuple[int, int]] | None = None
        if self.flt.q and self.fts:
            from newswatch.store.search import fts_install

            fts_install(self.con)
            self._terms = bm25_terms(self.con, self.flt.q)
        if self.slack is None and (self.flt.date_from or self.flt.sort == "time"):
            self.slack = fetch_slack(self.con)

    @property
    def search_mode(self) -> str | None:
        if not self.flt.q:
            return None
        return "bm25" if self.fts else "substring"

    @property
    def _status(self) -> str:
        return "coalesce(v.status, 'unjudged')" if self.verdicts else "'unjudged'"

    def _needs_articles(self) -> bool:
        f = self.flt
        return bool(
            f.languages
            or f.sources
            or f.date_from
            or f.date_to
            or f.story
            or (f.q and not self.fts)
            or f.sort == "time"
        )

    def _from(self, *, articles: bool = True) -> tuple[str, list[str], list[Any], str]:
        """FROM … of the filtered flags, their conditions and parameters, and the
        relevance expression."""
        f = self.flt
        params: list[Any] = []
        joins = ["FROM flags f"]
        if articles:
            joins.append("JOIN articles a ON a.article_id = f.article_id")
        if self.verdicts and (f.verdict or articles):
            joins.append(_STATUS_JOIN)
        relevance = "NULL::DOUBLE"
        if f.q and self.fts:
            joins.append(f"JOIN {bm25_sql(self._terms or [])} s ON s.sid = f.article_id")
            relevance = "s.relevance"
        conds: list[str] = []
        for x in f.actors:
            conds.append("list_contains(f.actors, ?)")
            params.append(x)
        for x in f.allegations:
            conds.append("list_contains(f.allegations, ?)")
            params.append(x)
        if f.languages:
            conds.append("list_contains(?::VARCHAR[], a.language)")
            params.append(list(f.languages))
        if f.sources:
            conds.append("list_contains(?::VARCHAR[], a.source)")
            params.append(list(f.sources))
        if f.date_from:
            sql, ps = since_sql(
                datetime.combine(f.date_from, datetime.min.time()), self.slack or timedelta(0)
            )
            conds.append(sql)
            params += ps
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
            conds.append(f"{self._status} = ?")
            params.append(f.verdict)
        return "\n".join(joins), conds, params, relevance

    def page(
        self, after: str | None = None, size: int | None = None
    ) -> tuple[list[dict], str | None]:
        """One page of rows and the cursor of the next page (None: this is the last)."""
        size = size or self.page_size
        articles = self._needs_articles()
        frm, conds, params, relevance = self._from(articles=articles)
        key = {"score": "f.score", "time": _T, "relevance": relevance}[self.flt.sort]
        cursor = after if after is not None else self.flt.after
        if cursor:
            value, _, aid = cursor.rpartition("~")
            parsed = _parse_cursor(self.flt.sort, value)
            if parsed is not None and aid:
                conds = [*conds, f"({key} < ? OR ({key} = ? AND f.article_id < ?))"]
                params = [*params, parsed, parsed, aid]

        def keys_sql(cs: list[str]) -> str:
            where = (" WHERE " + " AND ".join(cs)) if cs else ""
            return (
                f"SELECT f.article_id, {key} AS sortkey, {relevance} AS relevance {frm}{where}"
                f" ORDER BY sortkey DESC NULLS LAST, f.article_id DESC LIMIT {int(size) + 1}"
            )

        if self.flt.sort == "time" and not cursor and not self.flt.date_from:
            # newest first: most pages come from the last weeks, which DuckDB can read alone
            keys = self._recent_keys(keys_sql, conds, params, size)
        else:
            keys = self.con.execute(keys_sql(conds), params).fetchall()
        nxt = None
        if len(keys) > size:
            keys = keys[:size]
            last = keys[-1]
            nxt = f"{_format_cursor(last[1])}~{last[0]}"
        rows = self._rows([(k[0], k[1], k[2]) for k in keys])
        return rows, nxt

    def _recent_keys(
        self, keys_sql: Any, conds: list[str], params: list[Any], size: int
    ) -> list[Any]:
        """The newest keys, looked for in the last 7 days first, then 8 times wider, …"""
        latest = self.con.execute("SELECT max(fetched_at) FROM articles").fetchone()
        if not latest or latest[0] is None:
            return []
        slack = self.slack or timedelta(0)
        span = timedelta(days=7)
        while True:
            lo = latest[0] - span
            bounded = [*conds, f"{_T} >= ?", "a.fetched_at >= ?"]
            keys = self.con.execute(keys_sql(bounded), [*params, lo, lo - slack]).fetchall()
            if len(keys) > size:
                return keys  # enough: every older row sorts below each of these
            if span > timedelta(days=3650):
                return self.con.execute(keys_sql(conds), params).fetchall()
            span *= 8

    def _rows(self, keys: list[tuple[str, Any, Any]]) -> list[dict]:
        if not keys:
            return []
        order = {k[0]: i for i, k in enumerate(keys)}
        self.con.register(
            "_page_keys",
            pa.table(
                {
                    "article_id": pa.array([k[0] for k in keys], pa.string()),
                    "relevance": pa.array(
                        [float(k[2]) if k[2] is not None else None for k in keys], pa.float64()
                    ),
                }
            ),
        )
        try:
            select = _DISPLAY.format(t=_T, status=self._status)
            status_join = _STATUS_JOIN if self.verdicts else ""
            cur = self.con.execute(
                f"""
                WITH k AS MATERIALIZED (SELECT * FROM _page_keys)
                SELECT {select}
                FROM k JOIN flags f ON f.article_id = k.article_id
                JOIN articles a ON a.article_id = k.article_id
                {status_join}
                """
            )
            cols = [d[0] for d in cur.description or ()]
            rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        finally:
            self.con.unregister("_page_keys")
        rows.sort(key=lambda r: order[r["article_id"]])
        return rows

    def iter_all(self, chunk: int = 2000, limit: int = 100_000) -> Iterator[dict]:
        """Every row (up to ``limit``), a page at a time."""
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
        frm, conds, params, _ = self._from(articles=True)
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        sql = f"""
        WITH r AS MATERIALIZED (
            SELECT f.article_id, a.story_id, a.source, a.language, f.actors, f.allegations,
                   {self._status} AS verdict, {_T}::DATE AS day
            {frm}{where}
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
