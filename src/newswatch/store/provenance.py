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
    article_anchors(article_id, anchors)      -- of each flagged article (schema version 11)
    claim_links(story_a, story_b, confidence)                        -- a view
    claim_stories(claim, story, language, first_seen)                -- a view
    claims(claim, first_seen, stories, languages, confidence)        -- a view
    claim_timeline(claim, story, article, outlet, language, time, first_in_language,
                   attributed_to, title)                             -- a view

Claims are views over what is stored, so a reflag that changes a story's actors or
allegations changes its claims at once. The one thing SQL cannot compute, the anchors
of a text (amounts with units across languages, years), is stored per flagged article
when it is written; articles flagged before version 11, or by a reflag, get theirs
:data:`BACKFILL_PER_BATCH` at a time in the batches that follow.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from newswatch.models import ArticleRecord
from newswatch.store.lists import values
from newswatch.stories.provenance import (
    Doc,
    anchors,
    derive,
    first_confidence,
    order,
    passages,
)

__all__ = [
    "BACKFILL_PER_BATCH",
    "CLAIMS_SQL",
    "MIGRATION_SQL",
    "claim_timeline",
    "claims",
    "digest_line",
    "digest_lines",
    "refresh_derivations",
    "refresh_underived",
    "story_timeline",
    "write_anchors",
    "write_provenance",
]

BACKFILL_PER_BATCH = 200  # flagged articles without anchors (older, or reflagged) per batch

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

# Claims (schema version 11). A story's facts: its flagged articles' actors, allegations and
# anchors, the sources its articles attribute allegations to, and its first report's
# language and time. Two stories are linked when they share an allegation and an actor,
# and either a numeric anchor or two marks (anchors or sources) of any kind, as
# newswatch.stories.provenance.link_claims; a claim is a connected set of linked stories,
# named after its earliest, its confidence that of its weakest link.
CLAIMS_SQL = """
CREATE TABLE IF NOT EXISTS article_anchors (
    article_id VARCHAR NOT NULL,
    anchors VARCHAR[] NOT NULL
);
CREATE OR REPLACE VIEW claim_links AS
WITH fa AS (
    SELECT a.story_id, a.article_id, a.language, coalesce(a.published_at, a.fetched_at) AS t,
           f.actors, f.allegations, x.anchors
    FROM articles a JOIN flags f USING (article_id)
    LEFT JOIN article_anchors x USING (article_id)
),
src AS (
    SELECT a.story_id, list(DISTINCT t.source_id) AS sources
    FROM attributions t JOIN articles a USING (article_id)
    WHERE t.source_id IS NOT NULL
    GROUP BY a.story_id
),
facts AS (
    SELECT fa.story_id,
           list_distinct(flatten(list(fa.actors))) AS actors,
           list_distinct(flatten(list(fa.allegations))) AS allegations,
           list_distinct(flatten(list(coalesce(fa.anchors, [])))) AS anchors,
           any_value(coalesce(src.sources, [])) AS sources
    FROM fa LEFT JOIN src USING (story_id)
    GROUP BY fa.story_id
    HAVING len(list_distinct(flatten(list(fa.allegations)))) > 0
),
keys AS (
    SELECT story_id, alg || chr(31) || act AS k
    FROM (SELECT story_id, unnest(allegations) AS alg, actors FROM facts),
         LATERAL (SELECT unnest(actors) AS act)
),
pairs AS (
    SELECT DISTINCT x.story_id AS a, y.story_id AS b
    FROM keys x JOIN keys y ON x.k = y.k AND x.story_id < y.story_id
),
m AS (
    SELECT p.a, p.b,
           list_intersect(x.anchors, y.anchors) AS shared_anchors,
           list_distinct(list_intersect(x.anchors, y.anchors)
                         || list_intersect(x.sources, y.sources)) AS shared,
           list_distinct(x.anchors || y.anchors || x.sources || y.sources) AS marks
    FROM pairs p JOIN facts x ON x.story_id = p.a JOIN facts y ON y.story_id = p.b
)
SELECT a AS story_a, b AS story_b,
       round(least(1.0, 0.5 + 0.5 * len(shared) / greatest(1, len(marks))), 3) AS confidence
FROM m
WHERE len(list_filter(shared_anchors, s -> NOT starts_with(s, 'y'))) > 0 OR len(shared) >= 2;

CREATE OR REPLACE VIEW claim_stories AS
WITH RECURSIVE edges AS (
    SELECT story_a AS s, story_b AS o FROM claim_links
    UNION ALL SELECT story_b, story_a FROM claim_links
),
reach(s, o) AS (
    SELECT DISTINCT s, s FROM edges
    UNION
    SELECT r.s, e.o FROM reach r JOIN edges e ON e.s = r.o
),
firsts AS (
    SELECT a.story_id AS story, arg_min(a.language, coalesce(a.published_at, a.fetched_at)) AS language,
           min(coalesce(a.published_at, a.fetched_at)) AS first_seen
    FROM articles a JOIN flags f USING (article_id)
    WHERE a.story_id IN (SELECT s FROM edges)
    GROUP BY a.story_id
)
SELECT r.s AS story, arg_min(r.o, (f2.first_seen, r.o)) AS claim,
       any_value(f1.language) AS language, any_value(f1.first_seen) AS first_seen
FROM reach r JOIN firsts f1 ON f1.story = r.s JOIN firsts f2 ON f2.story = r.o
GROUP BY r.s;

CREATE OR REPLACE VIEW claims AS
WITH langs AS (
    SELECT claim, coalesce(language, '?') AS language, min(first_seen) AS t
    FROM claim_stories GROUP BY ALL
),
weakest AS (
    SELECT c.claim, min(l.confidence) AS confidence
    FROM claim_links l JOIN claim_stories c ON c.story = l.story_a
    GROUP BY c.claim
)
SELECT c.claim, min(c.first_seen) AS first_seen,
       list(c.story ORDER BY c.first_seen, c.story) AS stories,
       (SELECT list(language ORDER BY t, language) FROM langs WHERE langs.claim = c.claim)
           AS languages,
       any_value(w.confidence) AS confidence
FROM claim_stories c JOIN weakest w USING (claim)
GROUP BY c.claim;

CREATE OR REPLACE VIEW claim_timeline AS
WITH firsts AS (
    SELECT m.claim, t.story, t.article, t.outlet, t.language, t.time, t.title
    FROM claim_stories m JOIN story_timeline t ON t.story = m.story
    WHERE t.derived_from IS NULL
    QUALIFY row_number() OVER (PARTITION BY t.story ORDER BY t.time, t.article) = 1
),
src AS (
    SELECT a.story_id AS story, list(DISTINCT t.source_id ORDER BY t.source_id) AS sources
    FROM attributions t JOIN articles a USING (article_id)
    WHERE t.source_id IS NOT NULL
    GROUP BY a.story_id
)
SELECT f.claim, f.story, f.article, f.outlet, f.language, f.time,
       row_number() OVER (PARTITION BY f.claim, f.language ORDER BY f.time, f.story) = 1
           AS first_in_language,
       coalesce(s.sources, []) AS attributed_to, f.title
FROM firsts f LEFT JOIN src s USING (story);
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


def write_provenance(
    con: duckdb.DuckDBPyConnection, records: Sequence[ArticleRecord], *, derivations: bool = True
) -> None:
    """Inside the batch's transaction, after its articles are inserted: attributions,
    anchors and (unless ``derivations`` is False, for a caller that refreshes the trees
    once later: :func:`refresh_derivations`, :func:`refresh_underived`) the derivation
    trees of the stories the batch touched."""
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
    write_anchors(con, [(r.article_id, r.title, r.text) for r in records if r.flag.flagged])
    if not derivations:
        return
    ids = [r.article_id for r in records]
    with values(con, "_p_ids", ids):
        stories = [
            s
            for (s,) in con.execute(
                "SELECT DISTINCT story_id FROM articles WHERE article_id IN (SELECT v FROM _p_ids)"
            ).fetchall()
        ]
    refresh_derivations(con, stories)


def write_anchors(
    con: duckdb.DuckDBPyConnection,
    flagged: Sequence[tuple[str, str | None, str | None]],
    *,
    backfill: int = BACKFILL_PER_BATCH,
) -> int:
    """Store the anchors of these flagged (article_id, title, text), and of up to
    ``backfill`` stored flagged articles that have none yet; returns how many were stored."""
    todo = list(flagged)
    if backfill > 0:
        # the ids first (cheap when nothing is missing, as in every batch of a current store)
        mine = {aid for aid, _, _ in todo}
        missing = [
            aid
            for (aid,) in con.execute(
                "SELECT article_id FROM flags WHERE article_id NOT IN "
                "(SELECT article_id FROM article_anchors) ORDER BY article_id LIMIT ?",
                [backfill + len(mine)],
            ).fetchall()
            if aid not in mine
        ][:backfill]
        if missing:
            with values(con, "_p_missing", missing):
                todo += con.execute(
                    "SELECT article_id, title, text FROM articles "
                    "WHERE article_id IN (SELECT v FROM _p_missing)"
                ).fetchall()
    if not todo:
        return 0
    t = pa.table(
        {
            "article_id": pa.array([aid for aid, _, _ in todo], pa.string()),
            "anchors": pa.array(
                [sorted(anchors(f"{title or ''} {text or ''}")) for _, title, text in todo],
                pa.list_(pa.string()),
            ),
        }
    )
    con.register("_p_anchors", t)
    try:
        con.execute(
            "INSERT INTO article_anchors SELECT * FROM _p_anchors p WHERE NOT EXISTS "
            "(SELECT 1 FROM article_anchors x WHERE x.article_id = p.article_id)"
        )
    finally:
        con.unregister("_p_anchors")
    return len(todo)


# passages of stored articles (int64 arrays, 8 bytes each), so that a batch adding copies to a
# story does not hash its earlier articles again: least recently used first out
# keyed by (id, content_hash, length of the text): the same id in another store may be
# another text
_Key = tuple[str, str | None, int | None]
_PASSAGES: OrderedDict[_Key, np.ndarray] = OrderedDict()
_CACHE_LIMIT = 4_000_000  # passages held (8 bytes each)
_cached = 0


def _cache_get(aid: _Key) -> np.ndarray | None:
    arr = _PASSAGES.get(aid)
    if arr is not None:
        _PASSAGES.move_to_end(aid)
    return arr


def _cache_put(aid: _Key, ps: frozenset[int]) -> None:
    global _cached
    if aid in _PASSAGES:
        return
    arr = np.fromiter(ps, np.int64, len(ps))
    _PASSAGES[aid] = arr
    _cached += arr.size
    while _cached > _CACHE_LIMIT and _PASSAGES:
        _cached -= _PASSAGES.popitem(last=False)[1].size


def refresh_derivations(con: duckdb.DuckDBPyConnection, story_ids: Sequence[str]) -> None:
    """Bring the derivation trees of these stories up to date with the stored articles.

    The nodes of a story's leading articles that are known already are kept (a node
    depends only on the articles before it): the rest, from its first new article on, is
    derived again, and the first report's order_confidence recomputed. Copies usually
    arrive after the known ones, so only theirs are new. Text is read only for the
    articles derived again and those whose passages are not cached."""
    if not story_ids:
        return
    with values(con, "_p_stories", story_ids):
        found = con.execute(
            "SELECT story_id, article_id, source, language, published_at, fetched_at, title, "
            "content_hash, length(text) FROM articles WHERE story_id IN (SELECT v FROM _p_stories)"
        ).fetchall()
        stored: dict[str, tuple[Any, ...]] = {
            r[1]: r
            for r in con.execute(
                "SELECT story_id, article_id, derived_from, overlap, adds_reporting, "
                "order_confidence FROM story_derivations "
                "WHERE story_id IN (SELECT v FROM _p_stories)"
            ).fetchall()
        }
    by_story: dict[str, list[Doc]] = {}
    key: dict[str, _Key] = {}
    for sid, aid, src, lang, pub, fet, title, chash, n in found:
        by_story.setdefault(sid, []).append(Doc(aid, src, lang, pub, fet, None, title))
        key[aid] = (aid, chash, n)
    plans: dict[str, tuple[list[Doc], int]] = {}
    need_text: list[str] = []
    for sid, docs in by_story.items():
        ordered = order(docs)
        known = 0
        while known < len(ordered) and ordered[known].article_id in stored:
            known += 1
        # an arrival before known articles: those after it are derived again (a node depends
        # only on the articles before it), the ones before it are kept
        if known == len(ordered) and len(ordered) == sum(1 for r in stored.values() if r[0] == sid):
            continue  # nothing new
        plans[sid] = (ordered, known)
        need_text += [
            d.article_id
            for i, d in enumerate(ordered)
            if i >= known or _cache_get(key[d.article_id]) is None
        ]
    if not plans:
        return
    with values(con, "_p_text", need_text):
        texts = dict(
            con.execute(
                "SELECT article_id, text FROM articles WHERE article_id IN (SELECT v FROM _p_text)"
            ).fetchall()
        )

    def body(d: Doc) -> frozenset[int]:
        cached = _cache_get(key[d.article_id])
        if cached is not None:
            return frozenset(cached.tolist())
        ps = passages(texts.get(d.article_id)) or passages(d.title)
        _cache_put(key[d.article_id], ps)
        return ps

    out: list[tuple[Any, ...]] = []
    replace: list[str] = []  # article ids whose rows are written again
    for sid, (ordered, known) in plans.items():
        docs = [replace_text(d, texts.get(d.article_id)) for d in ordered]
        nodes = derive(
            docs, known=known, body=body, remember=lambda d, ps: _cache_put(key[d.article_id], ps)
        )
        for n in nodes:
            out.append(
                (sid, n.article_id, n.derived_from, n.overlap, n.adds_reporting, n.order_confidence)
            )
        replace += [d.article_id for d in ordered[known:] if d.article_id in stored]
        if known:
            first = stored[ordered[0].article_id]
            conf = first_confidence(ordered)
            if conf != first[5]:
                replace.append(first[1])
                out.append((*first[:5], conf))
    if replace:
        with values(con, "_p_replace", replace):
            con.execute(
                "DELETE FROM story_derivations WHERE article_id IN (SELECT v FROM _p_replace)"
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


def refresh_underived(con: duckdb.DuckDBPyConnection, limit: int = 500) -> int:
    """Derive up to ``limit`` stories that have an article without a derivation row (a
    pass that died before its refresh, an archive older than the table); returns how many."""
    stories = [
        s
        for (s,) in con.execute(
            "SELECT DISTINCT story_id FROM articles WHERE article_id NOT IN "
            "(SELECT article_id FROM story_derivations) ORDER BY story_id LIMIT ?",
            [limit],
        ).fetchall()
    ]
    refresh_derivations(con, stories)
    return len(stories)


def replace_text(d: Doc, text: str | None) -> Doc:
    return Doc(d.article_id, d.source, d.language, d.published_at, d.fetched_at, text, d.title)


# -- reading ---------------------------------------------------------------------------------
def story_timeline(con: duckdb.DuckDBPyConnection, story_id: str) -> tuple[list[str], list[tuple]]:
    """(columns, rows) of one story's timeline, first report first."""
    rows = con.execute(
        f"SELECT {', '.join(_TIMELINE_COLS)} FROM story_timeline WHERE story = ? "
        "ORDER BY time, derived_from IS NOT NULL, article",
        [story_id],
    ).fetchall()
    return list(_TIMELINE_COLS), rows


def digest_lines(
    con: duckdb.DuckDBPyConnection,
    story_ids: Sequence[str],
    labels: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """What the digest line says of each story, in two queries for all of them: "first
    reported by X on D; since then N outlets in K languages; attributed to …". A story
    without a timeline (or a store from before provenance) is left out."""
    ids = list(dict.fromkeys(story_ids))
    if not ids:
        return {}
    with values(con, "_p_digest", ids):
        try:
            rows = con.execute(
                f"SELECT {', '.join(_TIMELINE_COLS)} FROM story_timeline "
                "WHERE story IN (SELECT v FROM _p_digest) "
                "ORDER BY story, time, derived_from IS NOT NULL, article"
            ).fetchall()
        except duckdb.CatalogException:  # no story_timeline yet: the store predates provenance
            return {}
        sources = dict(
            con.execute(
                "SELECT story_id, list(source_id ORDER BY n DESC, source_id) FROM ("
                "  SELECT a.story_id, t.source_id, count(*) AS n FROM attributions t "
                "  JOIN articles a USING (article_id) "
                "  WHERE a.story_id IN (SELECT v FROM _p_digest) AND t.source_id IS NOT NULL "
                "  GROUP BY ALL"
                ") GROUP BY story_id"
            ).fetchall()
        )
    timelines: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        timelines.setdefault(r[0], []).append(r)
    names = labels or {}
    out = {}
    for sid, (first, *later) in timelines.items():
        every = (first, *later)
        out[sid] = {
            "story_id": sid,
            "first_outlet": first[2],
            "first_time": first[4],
            "order_confidence": first[8],
            "outlets": len({r[2] for r in every}),
            "languages": sorted({r[3] for r in every if r[3]}),
            "later_outlets": len({r[2] for r in later if r[2] != first[2]}),
            "later_languages": sorted({r[3] for r in later if r[3]}),
            "independent_reports": sum(1 for r in every if r[5] is None),
            "copies": sum(1 for r in every if r[5] is not None),
            "attributed_to": [names.get(x, x) for x in sources.get(sid, ())],
        }
    return out


def digest_line(
    con: duckdb.DuckDBPyConnection, story_id: str, labels: dict[str, str] | None = None
) -> dict[str, Any] | None:
    """:func:`digest_lines` of one story; None for an unknown story."""
    return digest_lines(con, [story_id], labels).get(story_id)


def claims(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[tuple]]:
    """(columns, rows) of the ``claims`` view: each claim linking stories across languages,
    with its confidence, earliest first."""
    cols = ["claim", "stories", "languages", "confidence"]
    rows = con.execute(
        f"SELECT {', '.join(cols)} FROM claims ORDER BY first_seen, claim"
    ).fetchall()
    return cols, rows


_CLAIM_TIMELINE_COLS = [
    "claim",
    "story",
    "article",
    "outlet",
    "language",
    "time",
    "first_in_language",
    "attributed_to",
    "title",
]


def claim_of(con: duckdb.DuckDBPyConnection, story_or_claim: str) -> str | None:
    """The claim a story belongs to (or the claim of that id); None when there is none."""
    row = con.execute(
        "SELECT claim FROM claim_stories WHERE story = ? OR claim = ? LIMIT 1",
        [story_or_claim, story_or_claim],
    ).fetchone()
    return str(row[0]) if row else None


def claim_timeline(
    con: duckdb.DuckDBPyConnection, claim_id: str
) -> tuple[list[str], list[tuple]] | None:
    """Where each language first picked the claim up, and whom each story attributes it
    to: one row per story of the claim (its first report), from the ``claim_timeline``
    view. ``claim_id`` may be a story of the claim. None for an unknown claim."""
    claim = claim_of(con, claim_id)
    if claim is None:
        return None
    rows = con.execute(
        f"SELECT {', '.join(_CLAIM_TIMELINE_COLS)} FROM claim_timeline WHERE claim = ? "
        "ORDER BY time, story",
        [claim],
    ).fetchall()
    return list(_CLAIM_TIMELINE_COLS), rows
