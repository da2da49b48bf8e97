"""Stories: near-duplicate clustering of articles, the public trend views, full-text search.

A wire report republished by many outlets (new headline, an extra paragraph, other
boilerplate, a trimmed ending, the same page at two URLs) gets ONE ``story_id``, so trends
count stories, not copies.

How (Europe Media Monitor-style clustering over a time window, MinHash + LSH):

    text ─normalise (NFKC, casefold, non-letters → space)─▶ character k-shingles
         ─MinHash (num_perm 32-bit minima)─▶ signature bytes         (extraction workers)
    signature ─bands × rows─▶ bucket keys ─join story_bands (same band+bucket, within the
         window)─▶ candidates ─verify (Jaccard / containment estimate, title as a tie-break)─▶
         story_id = best candidate's story, or a new story named after the article  (store)

Character shingles need no word segmentation, so the same code works for every language and
script; translations share almost no shingles and stay apart. Cost per new article depends on
the number of bucket hits inside the window, not on the archive: ``story_bands`` is probed
with the batch's buckets and a constant ``day`` range (DuckDB prunes row groups outside it).
A story id never changes once given (stories are not merged after the fact).

Tables (``MIGRATION_SQL``; no keys, no views, so they also run on DuckLake):

    story_signatures(article_id, story_id, published_at, day, shingles, title, signature BLOB)
    story_bands(band, bucket, article_id, story_id, day)
    trend_settings(name, value)        -- overrides the spike parameters, see below

Public views (``VIEWS_SQL``; a day is ``coalesce(published_at, fetched_at)::DATE``):

    stories(story_id, title, first_seen, last_seen, article_count, source_count, languages)
    flag_entities(article_id, day, source, story_id, language, kind, entity_id)
    daily_trends(day, kind, entity_id, articles, stories, sources)
    cooccurrence(day, actor_id, allegation_id, stories)
    spikes(day, kind, entity_id, stories, baseline, zscore)

``spikes`` compares a day's story count with the mean of the ``spike_window_days`` days
before it (days without stories count as zero; only days since the first flagged day count,
so a young database does not invent a history). The noise scale is
``max(stddev, sqrt(baseline), 1)`` — Poisson-like for small counts — so a single story
after a quiet week is not a 3σ event. A day is a spike when ``zscore >= spike_zscore`` and
``stories >= spike_min_stories``, and only with ``spike_min_history_days`` of history.
The parameters are read from the ``trend_settings`` table (name/value rows written by
:func:`apply_trend_settings`), with :class:`StorySettings`' defaults when absent.
"""

from __future__ import annotations

import functools
import pathlib
import re
import struct
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa

__all__ = [
    "MIGRATION_SQL",
    "VIEWS_SQL",
    "StoryItem",
    "StorySettings",
    "apply_trend_settings",
    "assign_stories",
    "fts_install",
    "fts_rebuild",
    "normalise",
    "search",
    "signature",
    "similarity",
]


from newswatch.settings import StorySettings  # noqa: E402

DEFAULT_SETTINGS = StorySettings()


@dataclass(frozen=True, slots=True)
class StoryItem:
    """One new article to place in a story (``published_at`` naive UTC)."""

    article_id: str
    signature: bytes | None
    published_at: datetime | None = None
    title: str | None = None
    fetched_at: datetime | None = None  # used when published_at is missing


# -- signatures ----------------------------------------------------------------------------
_NON_WORD = re.compile(r"[\W_]+")
_HEADER = struct.Struct("<BBHI")  # version, shingle_size, num_perm, shingle count
_VERSION = 1
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def normalise(text: str) -> str:
    """NFKC, casefold, every run of non-letters/digits → one space."""
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _shingle_hashes(s: str, k: int) -> np.ndarray:
    """Distinct 32-bit hashes (as uint64) of the character k-grams of ``s``."""
    codes = np.frombuffer(s.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    n = codes.size - k + 1
    if n <= 0:
        return np.empty(0, np.uint64)
    h = np.zeros(n, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * np.uint64(1_000_003) + codes[j : j + n]
    return np.unique(_mix(h) >> np.uint64(32))


@functools.lru_cache(maxsize=8)
def _perm_params(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0x5EED_57_0E1)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a[:, None], b[:, None]


def _minhash(x: np.ndarray, num_perm: int) -> np.ndarray:
    """MinHash by multiply-add-shift hashing: min over shingles of ((a·x + b) mod 2^64) >> 32."""
    a, b = _perm_params(num_perm)
    out = np.full(num_perm, 0xFFFFFFFF, np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, x.size, 2048):
            chunk = x[start : start + 2048][None, :]
            out = np.minimum(out, ((a * chunk + b) >> np.uint64(32)).min(axis=1))
    return out.astype("<u4")


def signature(
    text: str | None, title: str | None = None, settings: StorySettings = DEFAULT_SETTINGS
) -> bytes:
    """The MinHash signature of an article's text (pure and deterministic across processes).

    A text shorter than ``min_chars`` (after normalising) is shingled together with its title;
    with fewer than ``min_shingles`` shingles the result is ``b""``: the article is never
    matched and starts its own story.
    """
    s = normalise(text or "")[: settings.max_chars]
    if len(s) < settings.min_chars and title:
        s = (normalise(title) + " " + s).strip()
    x = _shingle_hashes(s, settings.shingle_size)
    if x.size < settings.min_shingles:
        return b""
    header = _HEADER.pack(
        _VERSION, settings.shingle_size, settings.num_perm, min(x.size, 2**32 - 1)
    )
    return header + _minhash(x, settings.num_perm).tobytes()


@dataclass(frozen=True, slots=True)
class _Sig:
    shingle_size: int
    shingles: int
    values: np.ndarray  # uint32[num_perm]


def _decode(sig: bytes | None) -> _Sig | None:
    if not sig or len(sig) < _HEADER.size:
        return None
    version, k, num_perm, n = _HEADER.unpack_from(sig)
    if version != _VERSION or len(sig) != _HEADER.size + 4 * num_perm:
        return None
    return _Sig(k, n, np.frombuffer(sig, dtype="<u4", offset=_HEADER.size))


def _estimates(a: _Sig, b: _Sig) -> tuple[float, float]:
    """(Jaccard estimate, containment estimate of the smaller set in the larger)."""
    j = float(np.count_nonzero(a.values == b.values)) / a.values.size
    inter = j / (1.0 + j) * (a.shingles + b.shingles)
    return j, min(1.0, inter / max(1, min(a.shingles, b.shingles)))


def _title_grams(title: str | None) -> frozenset[str]:
    t = normalise(title or "")
    return frozenset(t[i : i + 3] for i in range(max(0, len(t) - 2)))


def _title_similarity(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _same_story(a: _Sig, b: _Sig, title_sim: float, st: StorySettings) -> tuple[bool, float]:
    """Whether two signatures are copies of one story, and a score to rank candidates."""
    if a.shingle_size != b.shingle_size or a.values.size != b.values.size:
        return False, 0.0
    j, c = _estimates(a, b)
    same = (
        j >= st.threshold
        or (
            c >= st.containment
            and j >= st.containment_min_jaccard
            and min(a.shingles, b.shingles) >= st.containment_min_shingles
        )
        or (j >= st.title_jaccard and title_sim >= st.title_threshold)
    )
    return same, j


def similarity(
    sig_a: bytes,
    sig_b: bytes,
    title_a: str | None = None,
    title_b: str | None = None,
    settings: StorySettings = DEFAULT_SETTINGS,
) -> dict[str, float | bool]:
    """Diagnostics for two signatures: jaccard, containment, title similarity, same."""
    a, b = _decode(sig_a), _decode(sig_b)
    if a is None or b is None:
        return {"jaccard": 0.0, "containment": 0.0, "title": 0.0, "same": False}
    t = _title_similarity(_title_grams(title_a), _title_grams(title_b))
    j, c = _estimates(a, b)
    return {"jaccard": j, "containment": c, "title": t, "same": _same_story(a, b, t, settings)[0]}


def _bucket_keys(values: np.ndarray, st: StorySettings) -> np.ndarray:
    """int64 bucket key per band (63 bits, so it fits BIGINT) for an (n, num_perm) matrix."""
    n = values.shape[0]
    v = values[:, : st.bands * st.rows].astype(np.uint64).reshape(n, st.bands, st.rows)
    h = np.broadcast_to(
        np.arange(st.bands, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15), (n, st.bands)
    )
    with np.errstate(over="ignore"):
        for r in range(st.rows):
            h = _mix(h ^ (v[:, :, r] + np.uint64(r + 1) * np.uint64(0x632BE59BD9B4E019)))
    return (h >> np.uint64(1)).astype(np.int64)


# -- SQL -----------------------------------------------------------------------------------
MIGRATION_SQL = """
CREATE TABLE IF NOT EXISTS story_signatures (
    article_id VARCHAR NOT NULL,
    story_id VARCHAR NOT NULL,
    published_at TIMESTAMP,
    day DATE NOT NULL,
    shingles INTEGER,
    title VARCHAR,
    signature BLOB
);
CREATE TABLE IF NOT EXISTS story_bands (
    band SMALLINT NOT NULL,
    bucket BIGINT NOT NULL,
    article_id VARCHAR NOT NULL,
    story_id VARCHAR NOT NULL,
    day DATE NOT NULL
);
CREATE TABLE IF NOT EXISTS trend_settings (
    name VARCHAR NOT NULL,
    value DOUBLE NOT NULL
);
"""

_D = DEFAULT_SETTINGS


def _param(name: str, default: float) -> str:
    return f"coalesce(max(value) FILTER (WHERE name = '{name}'), {default})"


VIEWS_SQL = f"""
CREATE OR REPLACE VIEW stories AS
SELECT
    story_id,
    arg_min(title, coalesce(published_at, fetched_at)) FILTER (WHERE title IS NOT NULL) AS title,
    min(coalesce(published_at, fetched_at)) AS first_seen,
    max(coalesce(published_at, fetched_at)) AS last_seen,
    count(*) AS article_count,
    count(DISTINCT source) AS source_count,
    list_sort(list_distinct(list(language) FILTER (WHERE language IS NOT NULL))) AS languages
FROM articles
GROUP BY story_id;

CREATE OR REPLACE VIEW flag_entities AS
WITH f AS (
    SELECT a.article_id, coalesce(a.published_at, a.fetched_at)::DATE AS day, a.source,
           a.story_id, a.language, f.actors, f.allegations
    FROM flags f JOIN articles a ON a.article_id = f.article_id
)
SELECT article_id, day, source, story_id, language, 'actor' AS kind,
       unnest(list_distinct(actors)) AS entity_id FROM f
UNION ALL
SELECT article_id, day, source, story_id, language, 'allegation' AS kind,
       unnest(list_distinct(allegations)) AS entity_id FROM f;

CREATE OR REPLACE VIEW daily_trends AS
SELECT day, kind, entity_id,
       count(*) AS articles,  -- one row per article and entity (ids are made distinct above)
       count(DISTINCT story_id) AS stories,
       count(DISTINCT source) AS sources
FROM flag_entities
GROUP BY day, kind, entity_id;

CREATE OR REPLACE VIEW cooccurrence AS
WITH pairs AS (
    SELECT day, story_id, actor_id, unnest(allegations) AS allegation_id
    FROM (
        SELECT coalesce(a.published_at, a.fetched_at)::DATE AS day, a.story_id,
               unnest(f.actors) AS actor_id, f.allegations
        FROM flags f JOIN articles a ON a.article_id = f.article_id
    )
)
SELECT day, actor_id, allegation_id, count(DISTINCT story_id) AS stories
FROM pairs
GROUP BY day, actor_id, allegation_id;

CREATE OR REPLACE VIEW spikes AS
WITH p AS (
    SELECT {_param("spike_window_days", _D.spike_window_days)}::INTEGER AS w,
           {_param("spike_zscore", _D.spike_zscore)}::DOUBLE AS z,
           {_param("spike_min_stories", _D.spike_min_stories)}::INTEGER AS min_stories,
           {_param("spike_min_history_days", _D.spike_min_history_days)}::INTEGER AS min_history
    FROM trend_settings
),
t AS MATERIALIZED (SELECT day, kind, entity_id, stories FROM daily_trends),
h AS (
    SELECT t.day, t.kind, t.entity_id, t.stories, p.z, p.min_stories, p.min_history,
           least(p.w, t.day - (SELECT min(day) FROM t)) AS n,
           coalesce(sum(b.stories), 0)::DOUBLE AS s1,
           coalesce(sum(b.stories * b.stories), 0)::DOUBLE AS s2
    FROM t CROSS JOIN p
    LEFT JOIN t b ON b.kind = t.kind AND b.entity_id = t.entity_id
                 AND b.day < t.day AND b.day >= t.day - p.w
    GROUP BY ALL
),
s AS (
    SELECT day, kind, entity_id, stories, z, min_stories,
           s1 / n AS baseline,
           (stories - s1 / n) / greatest(sqrt(greatest(s2 / n - (s1 / n) ^ 2, 0)), sqrt(s1 / n), 1.0) AS zscore
    FROM h
    WHERE n >= min_history
)
SELECT day, kind, entity_id, stories, baseline, zscore
FROM s
WHERE zscore >= z AND stories >= min_stories;
"""


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
    now = datetime.utcnow()
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
    sigs = [_decode(it.signature) for it in items]
    ids = [it.article_id for it in items]

    # already stored (a rerun): keep the recorded story
    known = dict(
        con.execute(
            "SELECT article_id, any_value(story_id) FROM story_signatures "
            "WHERE day BETWEEN ? AND ? AND article_id IN (SELECT unnest(?)) GROUP BY article_id",
            [min(days), max(days), ids],
        ).fetchall()
    )

    usable = [
        i
        for i in range(n)
        if sigs[i] is not None and ids[i] not in known and sigs[i].values.size == st.num_perm
    ]
    keys = np.zeros((n, st.bands), np.int64)
    if usable:
        keys[usable] = _bucket_keys(np.stack([sigs[i].values for i in usable]), st)

    # candidates from the archive: one join on (band, bucket) within the window
    archive: dict[int, list[tuple[str, str, datetime | None, str | None, _Sig]]] = {}
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
            sig = _decode(blob)
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
            g = grams_cache[title] = _title_grams(title)
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
                same, score = _same_story(sig, csig, _title_similarity(tg, grams(title)), st)
                if same and score > best[0]:
                    best = (score, sid)
            earlier: set[int] = set()
            for band in range(st.bands):
                earlier.update(batch_index.get((band, int(keys[i, band])), ()))
            for j in sorted(earlier):
                if abs(times[j] - times[i]) > window:
                    continue
                same, score = _same_story(
                    sig, sigs[j], _title_similarity(tg, grams(items[j].title)), st
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
                    [sigs[i].shingles if sigs[i] else 0 for i in fresh], pa.int32()
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


# -- full-text search ----------------------------------------------------------------------
def _fts_path() -> pathlib.Path:
    import duckdb_extension_fts

    root = pathlib.Path(duckdb_extension_fts.__file__).parent
    found = sorted(root.glob("extensions/*/fts.duckdb_extension"))
    if not found:
        raise RuntimeError(f"{root}: no fts.duckdb_extension in the duckdb-extension-fts package")
    return found[-1]


def fts_install(con: duckdb.DuckDBPyConnection) -> None:
    """Load DuckDB's fts extension from the PyPI package (no network); works read-only too."""
    con.execute(f"LOAD '{_fts_path()}'")


# Unicode letters and digits are kept (the default keeps only a-z, which loses every
# non-Latin script).
_FTS_IGNORE = r"(\.|[^\p{L}\p{N}])+"


def fts_rebuild(con: duckdb.DuckDBPyConnection, *, stemmer: str = "porter") -> None:
    """(Re)build the BM25 index over articles(title, text), keyed by article_id.

    DuckDB's FTS index is not maintained incrementally: call at the end of a pass.
    """
    fts_install(con)
    con.execute(
        "PRAGMA create_fts_index('articles', 'article_id', 'title', 'text', "
        f"stemmer = '{stemmer}', ignore = '{_FTS_IGNORE}', strip_accents = 1, lower = 1, "
        "overwrite = 1)"
    )


def search(con: duckdb.DuckDBPyConnection, query: str, limit: int = 20) -> list[dict]:
    """Articles matching ``query`` (BM25 over title and text), best first.

    Rows: article_id, story_id, source, title, published_at, score.
    """
    fts_install(con)
    rows = con.execute(
        """
        SELECT article_id, story_id, source, title, coalesce(published_at, fetched_at), score
        FROM (SELECT *, fts_main_articles.match_bm25(article_id, ?) AS score FROM articles)
        WHERE score IS NOT NULL
        ORDER BY score DESC, article_id
        LIMIT ?
        """,
        [query, limit],
    ).fetchall()
    cols = ("article_id", "story_id", "source", "title", "published_at", "score")
    return [dict(zip(cols, r)) for r in rows]
