"""Story assignment in the store: LSH band rows and story ids, inside a batch's transaction.

The signatures come from :mod:`newswatch.stories` (computed in the extraction workers);
here they are matched against ``story_bands`` within the window and stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

import duckdb
import numpy as np
import pyarrow as pa

from newswatch.models import ArticleRecord
from newswatch.settings import StorySettings
from newswatch.store.lists import values
from newswatch.stories.minhash import (
    DEFAULT_SETTINGS,
    Sig,
    StoryItem,
    bucket_keys,
    decode,
    same_story,
    title_grams,
    title_similarity,
)

__all__ = ["apply_trend_settings", "assign_batch_stories", "assign_stories"]


def apply_trend_settings(con: duckdb.DuckDBPyConnection, settings: StorySettings) -> None:
    """Store the spike parameters where the ``spikes`` view reads them."""
    names = ["spike_window_days", "spike_zscore", "spike_min_stories", "spike_min_history_days"]
    con.execute("DELETE FROM trend_settings WHERE list_contains(?, name)", [names])
    con.executemany(
        "INSERT INTO trend_settings VALUES (?, ?)",
        [(n, float(getattr(settings, n))) for n in names],
    )


# -- clustering ----------------------------------------------------------------------------
def _when(item: StoryItem, now: datetime) -> datetime:
    return item.published_at or item.fetched_at or now


def assign_stories(
    con: duckdb.DuckDBPyConnection,
    items: Sequence[StoryItem],
    settings: StorySettings = DEFAULT_SETTINGS,
) -> dict[str, str]:
    """Give each new article a story id; record its signature and band rows.

    Call inside the batch's write transaction, before the articles are inserted, with the
    batch's new articles in order. Matches both earlier articles of the batch and the stored
    archive (within ``window_days``); returns article_id → story_id, where a new story is
    named after its first article. Three queries per batch, whatever the archive size.
    An article whose signature is already stored keeps its recorded story (idempotent).
    """
    st = settings
    if not items:
        return {}
    now = datetime.now(UTC).replace(tzinfo=None)
    uniq: dict[str, StoryItem] = {}
    for it in items:
        uniq.setdefault(it.article_id, it)
    items = list(uniq.values())
    n = len(items)
    times = [_when(it, now) for it in items]
    days = [t.date() for t in times]
    window = timedelta(days=st.window_days)
    wdays = int(np.ceil(st.window_days))
    lo, hi = min(days) - timedelta(days=wdays), max(days) + timedelta(days=wdays)
    sigs = [decode(it.signature) for it in items]
    ids = [it.article_id for it in items]

    # already stored (a rerun): keep the recorded story
    with values(con, "_story_ids", ids):
        known = dict(
            con.execute(
                "SELECT article_id, any_value(story_id) FROM story_signatures "
                "WHERE day BETWEEN ? AND ? AND article_id IN (SELECT v FROM _story_ids) "
                "GROUP BY article_id",
                [min(days), max(days)],
            ).fetchall()
        )

    usable = [
        i
        for i in range(n)
        if (sig := sigs[i]) is not None and ids[i] not in known and sig.values.size == st.num_perm
    ]
    keys = np.zeros((n, st.bands), np.int64)
    if usable:
        keys[usable] = bucket_keys(np.stack([cast(Sig, sigs[i]).values for i in usable]), st)

    # candidates from the archive: one join on (band, bucket) within the window
    archive: dict[int, list[tuple[str, str, datetime, str | None, Sig]]] = {}
    if usable:
        q = pa.table(
            {
                "idx": pa.array(np.repeat(usable, st.bands), pa.int32()),
                "band": pa.array(np.tile(np.arange(st.bands), len(usable)), pa.int16()),
                "bucket": pa.array(keys[usable].ravel(), pa.int64()),
                "day": pa.array(np.repeat([days[i] for i in usable], st.bands), pa.date32()),
            }
        )
        con.register("_story_q", q)
        try:
            rows = con.execute(
                f"""
                WITH c AS (
                    SELECT DISTINCT q.idx, b.article_id
                    FROM _story_q q JOIN story_bands b ON b.band = q.band AND b.bucket = q.bucket
                    WHERE b.day BETWEEN DATE '{lo}' AND DATE '{hi}'
                      AND b.day BETWEEN q.day - {wdays} AND q.day + {wdays}
                )
                SELECT c.idx, s.article_id, s.story_id, s.published_at, s.title, s.signature, s.day
                FROM c JOIN story_signatures s ON s.article_id = c.article_id
                WHERE s.day BETWEEN DATE '{lo}' AND DATE '{hi}'
                """
            ).fetchall()
        finally:
            con.unregister("_story_q")
        for idx, aid, sid, pub, title, blob, day in rows:
            sig = decode(blob)
            if sig is not None:
                when = pub or datetime(day.year, day.month, day.day)
                archive.setdefault(idx, []).append((aid, sid, when, title, sig))

    # assign in order; earlier articles of the batch are candidates through an in-memory index
    result: dict[str, str] = {}
    batch_index: dict[tuple[int, int], list[int]] = {}
    grams_cache: dict[str | None, frozenset[str]] = {}

    def grams(title: str | None) -> frozenset[str]:
        g = grams_cache.get(title)
        if g is None:
            g = grams_cache[title] = title_grams(title)
        return g

    usable_set = set(usable)
    for i, it in enumerate(items):
        if it.article_id in known:
            result[it.article_id] = known[it.article_id]
            continue
        story = it.article_id
        sig = sigs[i]
        if i in usable_set and sig is not None:
            tg = grams(it.title)
            best = (-1.0, "")
            seen: set[str] = set()
            for aid, sid, when, title, csig in archive.get(i, ()):
                if aid in seen or aid == it.article_id or abs(when - times[i]) > window:
                    continue
                seen.add(aid)
                same, score = same_story(sig, csig, title_similarity(tg, grams(title)), st)
                if same and score > best[0]:
                    best = (score, sid)
            earlier: set[int] = set()
            for band in range(st.bands):
                earlier.update(batch_index.get((band, int(keys[i, band])), ()))
            for j in sorted(earlier):
                if abs(times[j] - times[i]) > window:
                    continue
                same, score = same_story(
                    sig, cast(Sig, sigs[j]), title_similarity(tg, grams(items[j].title)), st
                )
                if same and score > best[0]:
                    best = (score, result[items[j].article_id])
            if best[0] >= 0:
                story = best[1]
            for band in range(st.bands):
                batch_index.setdefault((band, int(keys[i, band])), []).append(i)
        result[it.article_id] = story

    # record signatures (every new article) and band rows (articles with a usable signature)
    fresh = [i for i in range(n) if ids[i] not in known]
    if fresh:
        sig_rows = pa.table(
            {
                "article_id": pa.array([ids[i] for i in fresh], pa.string()),
                "story_id": pa.array([result[ids[i]] for i in fresh], pa.string()),
                "published_at": pa.array(
                    [items[i].published_at for i in fresh], pa.timestamp("us")
                ),
                "day": pa.array([days[i] for i in fresh], pa.date32()),
                "shingles": pa.array(
                    [s.shingles if (s := sigs[i]) else 0 for i in fresh], pa.int32()
                ),
                "title": pa.array([items[i].title for i in fresh], pa.string()),
                "signature": pa.array([items[i].signature or None for i in fresh], pa.binary()),
            }
        )
        con.register("_story_sigs", sig_rows)
        try:
            con.execute("INSERT INTO story_signatures SELECT * FROM _story_sigs")
        finally:
            con.unregister("_story_sigs")
    if usable:
        band_rows = pa.table(
            {
                "band": pa.array(np.tile(np.arange(st.bands), len(usable)), pa.int16()),
                "bucket": pa.array(keys[usable].ravel(), pa.int64()),
                "article_id": pa.array(np.repeat([ids[i] for i in usable], st.bands), pa.string()),
                "story_id": pa.array(
                    np.repeat([result[ids[i]] for i in usable], st.bands), pa.string()
                ),
                "day": pa.array(np.repeat([days[i] for i in usable], st.bands), pa.date32()),
            }
        )
        con.register("_story_bands", band_rows)
        try:
            con.execute("INSERT INTO story_bands SELECT * FROM _story_bands")
        finally:
            con.unregister("_story_bands")
    return result


def assign_batch_stories(
    con: duckdb.DuckDBPyConnection,
    records: Sequence[ArticleRecord],
    settings: StorySettings | None,
) -> dict[str, str]:
    """Near-duplicate clustering of a batch's new articles (article_id → story_id)."""
    items = [
        StoryItem(
            r.article_id,
            r.signature,
            published_at=r.published_at,
            title=r.title,
            fetched_at=r.fetched_at,
        )
        for r in records
    ]
    return assign_stories(con, items, settings or DEFAULT_SETTINGS)
