"""Attributions and story provenance in the store (``store.provenance``).

Written inside a batch's transaction (:func:`write_provenance`, called by
``store.articles.write_batch``): each new article's attributions (computed in the extraction
workers by :mod:`newswatch.flagging.attribution`), and the derivation tree
(:mod:`newswatch.stories.provenance`) of every story the batch touched, recomputed from
the stored texts, so an article arriving late with an earlier published time moves to its
place.

Public SQL:

    attributions(article_id, entity_id, field, mention_start, mention_end, source_text,
                 source_start, source_end, source_id, kind, cue, sentence)
    story_derivations(story_id, article_id, derived_from, overlap, adds_reporting,
                      order_confidence)
    story_timeline(story, article, outlet, language, time, derived_from, overlap,
                   adds_reporting, order_confidence, title)          -- a view
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from newswatch.models import ArticleRecord
from newswatch.stories.provenance import Doc, StoryFacts, anchors, derive, link_claims

__all__ = [
    "MIGRATION_SQL",
    "claim_timeline",
    "claims",
    "digest_line",
    "story_timeline",
    "write_provenance",
]

MIGRATION_SQL = """
CREATE TABLE IF NOT EXISTS attributions (
    article_id VARCHAR NOT NULL,
    entity_id VARCHAR NOT NULL,
    field VARCHAR,
    mention_start INTEGER,
    mention_end INTEGER,
    source_text VARCHAR,
    source_start INTEGER,
    source_end INTEGER,
    source_id VARCHAR,
    kind VARCHAR NOT NULL,
    cue VARCHAR,
    sentence VARCHAR
);
CREATE TABLE IF NOT EXISTS story_derivations (
    story_id VARCHAR NOT NULL,
    article_id VARCHAR NOT NULL,
    derived_from VARCHAR,
    overlap DOUBLE,
    adds_reporting BOOLEAN,
    order_confidence DOUBLE
);
CREATE OR REPLACE VIEW story_timeline AS
SELECT d.story_id AS story, d.article_id AS article, a.source AS outlet, a.language,
       coalesce(a.published_at, a.fetched_at) AS time, d.derived_from, d.overlap,
       d.adds_reporting, d.order_confidence, a.title
FROM story_derivations d JOIN articles a ON a.article_id = d.article_id;
"""

_ATTR_COLS = [
    "article_id",
    "entity_id",
    "field",
    "mention_start",
    "mention_end",
    "source_text",
    "source_start",
    "source_end",
    "source_id",
    "kind",
    "cue",
    "sentence",
]
_TIMELINE_COLS = [
    "story",
    "article",
    "outlet",
    "language",
    "time",
    "derived_from",
    "overlap",
    "adds_reporting",
    "order_confidence",
    "title",
]


def write_provenance(con: duckdb.DuckDBPyConnection, records: Sequence[ArticleRecord]) -> None:
    """Inside the batch's transaction, after its articles are inserted."""
    if not records:
        return
    rows = [(r.article_id, a) for r in records for a in r.attributions]
    if rows:
        t = pa.table(
            {
                "article_id": [aid for aid, _ in rows],
                "entity_id": [a.entity_id for _, a in rows],
                "field": [a.field for _, a in rows],
                "mention_start": pa.array([a.mention_start for _, a in rows], pa.int32()),
                "mention_end": pa.array([a.mention_end for _, a in rows], pa.int32()),
                "source_text": [a.source_text for _, a in rows],
                "source_start": pa.array([a.start for _, a in rows], pa.int32()),
                "source_end": pa.array([a.end for _, a in rows], pa.int32()),
                "source_id": pa.array([a.source_id for _, a in rows], pa.string()),
                "kind": [a.kind for _, a in rows],
                "cue": [a.cue for _, a in rows],
                "sentence": [a.sentence for _, a in rows],
            }
        )
        con.register("_p_attr", t)
        con.execute(f"INSERT INTO attributions ({', '.join(_ATTR_COLS)}) SELECT * FROM _p_attr")
        con.unregister("_p_attr")
    ids = [r.article_id for r in records]
    stories = [
        s
        for (s,) in con.execute(
            "SELECT DISTINCT story_id FROM articles WHERE article_id IN (SELECT unnest(?))", [ids]
        ).fetchall()
    ]
    refresh_derivations(con, stories)


def refresh_derivations(con: duckdb.DuckDBPyConnection, story_ids: Sequence[str]) -> None:
    """Recompute the derivation trees of these stories from the stored articles."""
    if not story_ids:
        return
    found = con.execute(
        "SELECT story_id, article_id, source, language, published_at, fetched_at, text, title "
        "FROM articles WHERE story_id IN (SELECT unnest(?))",
        [list(story_ids)],
    ).fetchall()
    by_story: dict[str, list[Doc]] = {}
    for sid, aid, src, lang, pub, fet, text, title in found:
        by_story.setdefault(sid, []).append(Doc(aid, src, lang, pub, fet, text, title))
    out: list[tuple[Any, ...]] = []
    for sid, docs in by_story.items():
        for n in derive(docs):
            out.append(
                (sid, n.article_id, n.derived_from, n.overlap, n.adds_reporting, n.order_confidence)
            )
    con.execute(
        "DELETE FROM story_derivations WHERE story_id IN (SELECT unnest(?))", [list(story_ids)]
    )
    if out:
        t = pa.table(
            {
                "story_id": [r[0] for r in out],
                "article_id": [r[1] for r in out],
                "derived_from": pa.array([r[2] for r in out], pa.string()),
                "overlap": pa.array([r[3] for r in out], pa.float64()),
                "adds_reporting": pa.array([r[4] for r in out], pa.bool_()),
                "order_confidence": pa.array([r[5] for r in out], pa.float64()),
            }
        )
        con.register("_p_der", t)
        con.execute("INSERT INTO story_derivations SELECT * FROM _p_der")
        con.unregister("_p_der")


# -- reading ---------------------------------------------------------------------------------
def story_timeline(con: duckdb.DuckDBPyConnection, story_id: str) -> tuple[list[str], list[tuple]]:
    """(columns, rows) of one story's timeline, first report first."""
    rows = con.execute(
        f"SELECT {', '.join(_TIMELINE_COLS)} FROM story_timeline WHERE story = ? "
        "ORDER BY time, derived_from IS NOT NULL, article",
        [story_id],
    ).fetchall()
    return list(_TIMELINE_COLS), rows


def digest_line(
    con: duckdb.DuckDBPyConnection, story_id: str, labels: dict[str, str] | None = None
) -> dict[str, Any] | None:
    """What the digest line says of a story: "first reported by X on D; since then N
    outlets in K languages; attributed to …". None for an unknown story."""
    _, rows = story_timeline(con, story_id)
    if not rows:
        return None
    first = rows[0]
    names = labels or {}
    attributed = [
        names.get(s, s)
        for (s,) in con.execute(
            "SELECT source_id FROM attributions t JOIN articles a USING (article_id) "
            "WHERE a.story_id = ? AND source_id IS NOT NULL "
            "GROUP BY source_id ORDER BY count(*) DESC, source_id",
            [story_id],
        ).fetchall()
    ]
    return {
        "story_id": story_id,
        "first_outlet": first[2],
        "first_time": first[4],
        "order_confidence": first[8],
        "outlets": len({r[2] for r in rows}),
        "languages": sorted({r[3] for r in rows if r[3]}),
        "independent_reports": sum(1 for r in rows if r[5] is None),
        "copies": sum(1 for r in rows if r[5] is not None),
        "attributed_to": attributed,
    }


def _story_facts(con: duckdb.DuckDBPyConnection) -> list[StoryFacts]:
    rows = con.execute(
        """
        SELECT a.story_id, arg_min(a.language, coalesce(a.published_at, a.fetched_at)),
               min(coalesce(a.published_at, a.fetched_at)),
               list_distinct(flatten(list(f.actors))), list_distinct(flatten(list(f.allegations))),
               string_agg(coalesce(a.title, '') || ' ' || coalesce(a.text, ''), ' ')
        FROM articles a JOIN flags f USING (article_id)
        GROUP BY a.story_id
        """
    ).fetchall()
    srcs: dict[str, set[str]] = {}
    for sid, src in con.execute(
        "SELECT DISTINCT a.story_id, t.source_id FROM attributions t "
        "JOIN articles a USING (article_id) WHERE t.source_id IS NOT NULL"
    ).fetchall():
        srcs.setdefault(sid, set()).add(src)
    return [
        StoryFacts(
            sid,
            lang,
            first,
            frozenset(actors or ()),
            frozenset(alls or ()),
            frozenset(srcs.get(sid, ())),
            anchors(text),
        )
        for sid, lang, first, actors, alls, text in rows
        if alls
    ]


def claims(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[tuple]]:
    """(columns, rows): each claim linking stories across languages, with its confidence."""
    cols = ["claim", "stories", "languages", "confidence"]
    found = link_claims(_story_facts(con))
    return cols, [(c.claim_id, list(c.stories), list(c.languages), c.confidence) for c in found]


def claim_timeline(
    con: duckdb.DuckDBPyConnection, claim_id: str
) -> tuple[list[str], list[tuple]] | None:
    """Where each language first picked the claim up, and from whom: one row per story
    (first report of the story, its language and time). None for an unknown claim."""
    for c in link_claims(_story_facts(con)):
        if c.claim_id == claim_id or claim_id in c.stories:
            rows = con.execute(
                "SELECT story, article, outlet, language, time, title FROM story_timeline "
                "WHERE story IN (SELECT unnest(?)) AND derived_from IS NULL "
                "QUALIFY row_number() OVER (PARTITION BY story ORDER BY time, article) = 1 "
                "ORDER BY time",
                [list(c.stories)],
            ).fetchall()
            firsts: dict[str, datetime] = {}
            out = []
            for story, article, outlet, lang, time, title in rows:
                first_in_language = lang not in firsts
                firsts.setdefault(lang, time)
                out.append(
                    (c.claim_id, story, article, outlet, lang, time, first_in_language, title)
                )
            cols = [
                "claim",
                "story",
                "article",
                "outlet",
                "language",
                "time",
                "first_in_language",
                "title",
            ]
            return cols, out
    return None
