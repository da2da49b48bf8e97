"""Articles with their URLs, mentions and flags, written in batches (``store.articles``).

A batch is one transaction in the ``articles`` write lane (writers of a DuckLake take turns
there, see :mod:`newswatch.store.engine`): new articles (an anti-join on ``article_id``, so a
rerun or a retried conflict stores nothing twice), their story ids
(:mod:`newswatch.store.stories`), URLs, mentions, flags and the problems met on the way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa

from newswatch.models import ArticleRecord, FlagResult, Mention
from newswatch.settings import StorySettings
from newswatch.store.engine import LANE_ARTICLES, Engine, fetch_one
from newswatch.store.lists import values
from newswatch.store.provenance import refresh_derivations, refresh_underived, write_provenance
from newswatch.store.runs import Problem, insert_problems
from newswatch.store.schema import URL_KEY_VERSION
from newswatch.store.stories import assign_batch_stories

__all__ = ["Articles", "WriteStats", "mentions_table"]

_ARTICLE_COLUMNS = [
    "article_id",
    "url",
    "canonical_url",
    "source",
    "title",
    "author",
    "published_at",
    "fetched_at",
    "language",
    "text",
    "summary",
    "extraction",
    "story_id",
    "content_hash",
    "run_id",
]
_MENTIONS_SCHEMA = pa.schema(
    [
        (c, pa.string())
        for c in ("article_id", "kind", "entity_id", "matched_text", "sentence", "field")
    ]
    + [
        ("start_offset", pa.int32()),
        ("end_offset", pa.int32()),
        ("rule", pa.string()),
        ("weight", pa.float64()),
    ]
)


def mentions_table(pairs: Iterable[tuple[str, Mention]]) -> pa.Table:
    """(article_id, Mention) pairs as an Arrow table in the column order of ``mentions``."""
    rows = list(pairs)
    return pa.table(
        {
            "article_id": [a for a, _ in rows],
            "kind": [m.kind for _, m in rows],
            "entity_id": [m.entity_id for _, m in rows],
            "matched_text": [m.matched_text for _, m in rows],
            "sentence": [m.sentence for _, m in rows],
            "field": [m.field for _, m in rows],
            "start_offset": [m.start for _, m in rows],
            "end_offset": [m.end for _, m in rows],
            "rule": [m.rule for _, m in rows],
            "weight": [m.weight for _, m in rows],
        },
        schema=_MENTIONS_SCHEMA,
    )


@dataclass
class WriteStats:
    articles_new: int = 0
    articles_flagged: int = 0
    duplicates: int = 0
    new_ids: list[str] = field(default_factory=list)
    story_ids: list[str] = field(default_factory=list)  # the stories of the new articles


class Articles:
    """``articles``, ``article_urls``, ``mentions``, ``flags`` (``store.articles``)."""

    def __init__(self, store: Engine):
        self.store = store

    def known_urls(self, urls: Sequence[str]) -> set[str]:
        """Which of these canonical URLs are already stored (one query for the whole batch)."""
        if not urls or not self.store.exists():
            return set()
        with self.store.reader() as con:
            version = self.store.schema_version(con)
            if version < 1:
                return set()
            with values(con, "_q_urls", urls):
                if version < URL_KEY_VERSION:  # a store not migrated yet (read-only here)
                    sql = (
                        "SELECT DISTINCT url FROM article_urls WHERE url IN (SELECT v FROM _q_urls)"
                    )
                else:  # by the URLs' hashed keys: the stored URLs themselves are not read
                    sql = (
                        "WITH q AS (SELECT v, md5_number_lower(v) AS k FROM _q_urls) "
                        "SELECT DISTINCT q.v FROM q WHERE q.k IN "
                        "(SELECT url_key FROM article_urls WHERE url_key IN (SELECT k FROM q))"
                    )
                rows = con.execute(sql).fetchall()
        return {r[0] for r in rows}

    def write_batch(
        self,
        records: Sequence[ArticleRecord],
        *,
        run_id: str | None = None,
        watchlist_version: str | None = None,
        extra_urls: dict[str, Sequence[str]] | None = None,
        problems: Sequence[Problem] = (),
        stories: StorySettings | None = None,
        derivations: bool = True,
    ) -> WriteStats:
        """Store articles with their mentions and flags in ONE transaction.

        Idempotent: an article whose id is already stored is skipped (its URLs are still
        recorded), so a rerun after a killed pass adds nothing twice.
        ``extra_urls`` maps article_id → other canonical URLs it is known by (the feed's link
        when it differs from the page's canonical URL). ``derivations=False`` leaves the
        derivation trees of the batch's stories (``stats.story_ids``) to a later
        :meth:`refresh_derivations`, as a pass does: a story met in many batches is derived
        once.
        """
        # one record per id within the batch
        unique: dict[str, ArticleRecord] = {}
        duplicates = 0
        for r in records:
            if r.article_id in unique:
                duplicates += 1
            else:
                unique[r.article_id] = r
        recs = list(unique.values())
        if not recs and not problems:
            return WriteStats(duplicates=duplicates)

        articles = pa.table(
            {
                "article_id": [r.article_id for r in recs],
                "url": [r.url for r in recs],
                "canonical_url": [r.canonical_url for r in recs],
                "source": [r.source for r in recs],
                "title": [r.title for r in recs],
                "author": [r.author for r in recs],
                "published_at": pa.array([r.published_at for r in recs], pa.timestamp("us")),
                "fetched_at": pa.array([r.fetched_at for r in recs], pa.timestamp("us")),
                "language": [r.language for r in recs],
                "text": [r.text for r in recs],
                "summary": [r.summary for r in recs],
                "extraction": [r.extraction for r in recs],
                "story_id": [r.article_id for r in recs],
                "content_hash": [r.content_hash for r in recs],
                "run_id": [run_id for _ in recs],
            },
            schema=pa.schema(
                [(c, pa.string()) for c in _ARTICLE_COLUMNS[:6]]
                + [("published_at", pa.timestamp("us")), ("fetched_at", pa.timestamp("us"))]
                + [(c, pa.string()) for c in _ARTICLE_COLUMNS[8:]]
            ),
        )
        url_rows: dict[tuple[str, str], None] = {}
        for r in recs:
            for u in (r.canonical_url, *(extra_urls or {}).get(r.article_id, ())):
                url_rows[(u, r.article_id)] = None
        urls = pa.table({"url": [u for u, _ in url_rows], "article_id": [a for _, a in url_rows]})

        mentions = mentions_table((r.article_id, m) for r in recs for m in r.flag.mentions)
        flagged = [r for r in recs if r.flag.flagged]
        now = datetime.now(UTC).replace(tzinfo=None)
        flags = pa.table(
            {
                "article_id": [r.article_id for r in flagged],
                "actors": pa.array([list(r.flag.actors) for r in flagged], pa.list_(pa.string())),
                "allegations": pa.array(
                    [list(r.flag.allegations) for r in flagged], pa.list_(pa.string())
                ),
                "score": pa.array([float(r.flag.score) for r in flagged], pa.float64()),
                "flagged_at": pa.array([now for _ in flagged], pa.timestamp("us")),
                "watchlist_version": pa.array([watchlist_version for _ in flagged], pa.string()),
            }
        )

        def write(con: duckdb.DuckDBPyConnection) -> WriteStats:
            stats = WriteStats(duplicates=duplicates)
            con.register("_b_articles", articles)
            con.register("_b_urls", urls)
            con.register("_b_mentions", mentions)
            con.register("_b_flags", flags)
            # NOT EXISTS, not NOT IN: NOT IN must treat a NULL in the stored ids, and DuckDB
            # plans it ~3x slower over 1,000,000 articles (56 vs 17 ms per batch)
            absent = {
                r[0]
                for r in con.execute(
                    "SELECT b.article_id FROM _b_articles b WHERE NOT EXISTS "
                    "(SELECT 1 FROM articles a WHERE a.article_id = b.article_id)"
                ).fetchall()
            }
            # in the batch's order: story ids are given in that order (an anti-join's rows
            # come in any order)
            new_ids = [r.article_id for r in recs if r.article_id in absent]
            stats.new_ids = new_ids
            stats.articles_new = len(new_ids)
            stats.duplicates += len(recs) - len(new_ids)
            if new_ids:
                story_of = assign_batch_stories(con, [unique[a] for a in new_ids], stories)
                con.register(  # the new ids and their stories
                    "_new",
                    pa.table(
                        {
                            "article_id": pa.array(new_ids, pa.string()),
                            "story_id": pa.array(
                                [story_of.get(a, a) for a in new_ids], pa.string()
                            ),
                        }
                    ),
                )
                cols = [("n.story_id" if c == "story_id" else "b." + c) for c in _ARTICLE_COLUMNS]
                con.execute(
                    f"INSERT INTO articles ({', '.join(_ARTICLE_COLUMNS)}) "
                    f"SELECT {', '.join(cols)} FROM _b_articles b JOIN _new n USING (article_id)"
                )
                con.execute(
                    "INSERT INTO mentions SELECT * FROM _b_mentions WHERE article_id IN (SELECT article_id FROM _new)"
                )
                cur = con.execute(
                    "INSERT INTO flags SELECT * FROM _b_flags WHERE article_id IN (SELECT article_id FROM _new)"
                )
                row = cur.fetchone()
                stats.articles_flagged = int(row[0]) if row else 0
                # attributions, anchors and (unless derivations is False) derivation trees
                write_provenance(con, [unique[a] for a in new_ids], derivations=derivations)
                stats.story_ids = sorted({story_of.get(a, a) for a in new_ids})
                con.unregister("_new")
            # the batch's (url, article_id) pairs not stored yet: the stored pairs of the
            # batch's URLs are found by a semi-join (the batch is the small side)
            con.execute(
                "INSERT INTO article_urls (url, article_id, url_key) "
                "SELECT url, article_id, md5_number_lower(url) FROM ("
                "SELECT url, article_id FROM _b_urls EXCEPT "
                "SELECT url, article_id FROM article_urls WHERE url IN (SELECT url FROM _b_urls))"
            )
            insert_problems(con, problems, run_id)
            for name in ("_b_articles", "_b_urls", "_b_mentions", "_b_flags"):
                con.unregister(name)
            return stats

        # in the articles lane: writers take turns, each reading a snapshot with the previous
        # writer's rows; a conflict (a lost lock) runs it all again, and the anti-joins then
        # skip what the other writer stored
        return self.store.run_in_transaction(write, lane=LANE_ARTICLES)

    def refresh_derivations(self, story_ids: Sequence[str], *, backfill: int = 500) -> int:
        """Derive these stories, and up to ``backfill`` stories with an article that has no
        derivation row (left by a pass that died before its refresh), in one transaction;
        returns how many stories the backfill derived."""

        def refresh(con: duckdb.DuckDBPyConnection) -> int:
            refresh_derivations(con, sorted(set(story_ids)))
            return refresh_underived(con, backfill) if backfill > 0 else 0

        return self.store.run_in_transaction(refresh, lane=LANE_ARTICLES)

    def replace_flags(
        self, results: Sequence[tuple[str, FlagResult]], version: str
    ) -> dict[str, tuple[list[str], list[str], datetime]]:
        """Replace the mentions and flags of these articles with a new matcher's ``results``
        in one transaction (re-run on a lake conflict). The first ``flagged_at`` of an
        article that stays flagged is kept. Returns the flags before: article_id →
        (actors, allegations, flagged_at)."""
        ids = [aid for aid, _ in results]
        mentions = mentions_table((aid, m) for aid, r in results for m in r.mentions)
        flagged = [(aid, r) for aid, r in results if r.flagged]
        flags = pa.table(
            {
                "article_id": pa.array([a for a, _ in flagged], pa.string()),
                "actors": pa.array([list(r.actors) for _, r in flagged], pa.list_(pa.string())),
                "allegations": pa.array(
                    [list(r.allegations) for _, r in flagged], pa.list_(pa.string())
                ),
                "score": pa.array([float(r.score) for _, r in flagged], pa.float64()),
            }
        )

        def replace(
            con: duckdb.DuckDBPyConnection,
        ) -> dict[str, tuple[list[str], list[str], datetime]]:
            con.register("_r_ids", pa.table({"article_id": pa.array(ids, pa.string())}))
            con.register("_r_mentions", mentions)
            con.register("_r_flags", flags)
            before = con.execute(
                "SELECT article_id, actors, allegations, flagged_at FROM flags "
                "WHERE article_id IN (SELECT article_id FROM _r_ids)"
            ).fetchall()
            old = {a: (sorted(x), sorted(y), t) for a, x, y, t in before}
            con.execute("DELETE FROM mentions WHERE article_id IN (SELECT article_id FROM _r_ids)")
            con.execute("DELETE FROM flags WHERE article_id IN (SELECT article_id FROM _r_ids)")
            con.execute(
                "INSERT INTO mentions (article_id, kind, entity_id, matched_text, sentence, field, "
                "start_offset, end_offset, rule, weight) SELECT * FROM _r_mentions"
            )
            now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
            first_flagged = pa.table(
                {
                    "article_id": pa.array([a for a, _ in flagged], pa.string()),
                    "flagged_at": pa.array(
                        [old[a][2] if a in old else now for a, _ in flagged], pa.timestamp("us")
                    ),
                }
            )
            con.register("_r_when", first_flagged)
            con.execute(
                "INSERT INTO flags (article_id, actors, allegations, score, flagged_at, watchlist_version) "
                "SELECT f.article_id, f.actors, f.allegations, f.score, w.flagged_at, ? "
                "FROM _r_flags f JOIN _r_when w USING (article_id)",
                [version],
            )
            for name in ("_r_ids", "_r_mentions", "_r_flags", "_r_when"):
                con.unregister(name)
            return old

        return self.store.run_in_transaction(replace, lane=LANE_ARTICLES)

    def drop_old_text(self, article_text_days: int, *, now: datetime | None = None) -> int:
        """Retention: drop the text of articles fetched more than ``article_text_days`` ago.

        Titles, URLs, flags, mentions (with their evidence sentences) and every count stay."""
        cutoff = (now or datetime.now(UTC).replace(tzinfo=None)) - timedelta(days=article_text_days)

        def drop(con: duckdb.DuckDBPyConnection) -> int:
            (n,) = fetch_one(
                con,
                "SELECT count(*) FROM articles WHERE text IS NOT NULL AND fetched_at < ?",
                [cutoff],
            )
            if n:
                con.execute(
                    "UPDATE articles SET text = NULL WHERE text IS NOT NULL AND fetched_at < ?",
                    [cutoff],
                )
            return int(n)

        return self.store.run_in_transaction(drop, lane=LANE_ARTICLES)
