"""Story assignment in the store: LSH band rows and story ids, inside a batch's transaction.

The signatures come from :mod:`newswatch.stories` (computed in the extraction workers);
here they are matched against ``story_bands`` within the window and stored.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
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
    decode_many,
    same_story_many,
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
def _title_sims(
    grams_a: frozenset[str],
    titles: Sequence[str | None],
    grams: Callable[[str | None], frozenset[str]],
) -> Callable[[int], float]:
    """Title similarity of one article with candidate ``r``, computed when it is asked for."""
    return lambda r: title_similarity(grams_a, grams(titles[r]))


def _first_best(same: np.ndarray, score: np.ndarray) -> int | None:
    """The row of the highest score among the matches (the first such row on a tie)."""
    hit = np.flatnonzero(same)
    return int(hit[np.argmax(score[hit])]) if hit.size else None


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

    # candidates from the archive: one join on (band, bucket) within the window, read as
    # Arrow columns and compared with numpy, one article against all its candidates at once
    P = st.num_perm
    us = timedelta(microseconds=1)
    epoch = datetime(1970, 1, 1)
    t_us = [(t - epoch) // us for t in times]
    window_us = window // us
    cand_rows: dict[int, range] = {}
    c_aid: list[str] = []
    c_sid: list[str] = []
    c_title: list[str | None] = []
    c_vals = np.zeros((0, P), np.uint32)
    c_k = c_shingles = c_when = np.zeros(0, np.int64)
    c_ok = np.zeros(0, bool)
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
            found = con.execute(
                f"""
                WITH c AS (
                    SELECT DISTINCT q.idx, b.article_id
                    FROM _story_q q JOIN story_bands b ON b.band = q.band AND b.bucket = q.bucket
                    WHERE b.day BETWEEN DATE '{lo}' AND DATE '{hi}'
                      AND b.day BETWEEN q.day - {wdays} AND q.day + {wdays}
                )
                SELECT c.idx, s.article_id, s.story_id, s.title, s.signature,
                       epoch_us(coalesce(s.published_at, CAST(s.day AS TIMESTAMP))) AS when_us
                FROM c JOIN story_signatures s ON s.article_id = c.article_id
                WHERE s.day BETWEEN DATE '{lo}' AND DATE '{hi}'
                ORDER BY c.idx, s.article_id
                """
            ).to_arrow_table()
        finally:
            con.unregister("_story_q")
        c_idx = found["idx"].to_numpy()
        c_aid = found["article_id"].to_pylist()
        c_sid = found["story_id"].to_pylist()
        c_title = found["title"].to_pylist()
        c_when = found["when_us"].to_numpy()
        # a candidate can match only with a signature of the batch's length (see `usable`)
        c_ok, c_vals, c_k, c_shingles = decode_many(found["signature"].to_pylist(), P)
        if len(c_idx):
            starts = np.flatnonzero(np.r_[True, c_idx[1:] != c_idx[:-1]]).tolist()
            for a, b in itertools.pairwise([*starts, len(c_idx)]):
                cand_rows[int(c_idx[a])] = range(a, b)

    # the batch's own signatures, for matching earlier articles of the batch
    b_vals = np.zeros((n, P), np.uint32)
    b_k = np.zeros(n, np.int64)
    b_shingles = np.zeros(n, np.int64)
    for i in usable:
        sg = cast(Sig, sigs[i])
        b_vals[i], b_k[i], b_shingles[i] = sg.values, sg.shingle_size, sg.shingles
    keys_list = keys.tolist()

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
            rows = cand_rows.get(i)
            if rows is not None:
                sl = slice(rows.start, rows.stop)
                keep = (
                    c_ok[sl]
                    & (c_k[sl] == sig.shingle_size)
                    & (np.abs(c_when[sl] - t_us[i]) <= window_us)
                )
                rs = [
                    r for r, k in zip(rows, keep.tolist(), strict=True) if k and c_aid[r] != ids[i]
                ]
                if rs:
                    same, score = same_story_many(
                        sig,
                        c_vals[rs],
                        c_shingles[rs],
                        _title_sims(tg, [c_title[r] for r in rs], grams),
                        st,
                    )
                    top = _first_best(same, score)
                    if top is not None:
                        best = (float(score[top]), c_sid[rs[top]])
            earlier: set[int] = set()
            row_keys = keys_list[i]
            for band in range(st.bands):
                earlier.update(batch_index.get((band, row_keys[band]), ()))
            js = [
                j
                for j in sorted(earlier)
                if abs(t_us[j] - t_us[i]) <= window_us and b_k[j] == sig.shingle_size
            ]
            if js:
                same, score = same_story_many(
                    sig,
                    b_vals[js],
                    b_shingles[js],
                    _title_sims(tg, [items[j].title for j in js], grams),
                    st,
                )
                top = _first_best(same, score)
                if top is not None and score[top] > best[0]:  # ties go to the archive
                    best = (float(score[top]), result[items[js[top]].article_id])
            if best[0] >= 0:
                story = best[1]
            for band in range(st.bands):
                batch_index.setdefault((band, row_keys[band]), []).append(i)
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
