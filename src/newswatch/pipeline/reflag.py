"""Re-flagging: run the (edited) watchlist again over stored articles.

    newswatch reflag [--since DATE]

Articles are read in chunks (keyset pagination on ``article_id``), matched in a process
pool across the machine's cores, and each chunk's mentions and flags are replaced in one
transaction, so a re-flag that is interrupted leaves every article either as it was or
fully re-flagged; run it again to finish. Each flag records the ``watchlist_version`` it was
made with. An article that was flagged before keeps its ``flagged_at`` (digests do not see
it as new); one flagged for the first time gets the current time.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa

from newswatch.models import FlagResult
from newswatch.store import Store, mentions_table

__all__ = ["ReflagStats", "reflag"]

_MATCHER = None


@dataclass
class ReflagStats:
    articles: int = 0
    flagged_before: int = 0
    flagged_after: int = 0
    changed: int = 0  # articles whose actors or allegations changed
    watchlist_version: str = ""


def _init(watchlist_path: str) -> None:
    global _MATCHER
    from newswatch.flagging.matcher import Matcher

    _MATCHER = Matcher.from_path(Path(watchlist_path))


def _match_chunk(
    rows: list[tuple[str, str | None, str | None, str | None]],
) -> list[tuple[str, FlagResult]]:
    assert _MATCHER is not None
    return [
        (aid, _MATCHER.match(text or "", title=title, language=lang))
        for aid, title, text, lang in rows
    ]


def reflag(
    store: Store,
    watchlist_path: Path,
    *,
    since: date | None = None,
    chunk_size: int = 2000,
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ReflagStats:
    from newswatch.flagging.matcher import Matcher

    version = Matcher.from_path(watchlist_path).version  # validates the watchlist first
    stats = ReflagStats(watchlist_version=version)
    where = "WHERE coalesce(published_at, fetched_at) >= ?" if since else ""
    params: list[object] = [datetime.combine(since, datetime.min.time())] if since else []
    with store.reader() as con:
        total = con.execute(f"SELECT count(*) FROM articles {where}", params).fetchone()[0]
    n = workers or os.cpu_count() or 1
    ctx = multiprocessing.get_context("forkserver")
    last = ""
    with ProcessPoolExecutor(
        n, mp_context=ctx, initializer=_init, initargs=(str(watchlist_path),)
    ) as pool:
        while True:
            cond = (where + " AND " if where else "WHERE ") + "article_id > ?"
            with store.reader() as con:
                rows = con.execute(
                    f"SELECT article_id, title, text, language FROM articles {cond} "
                    f"ORDER BY article_id LIMIT ?",
                    [*params, last, chunk_size],
                ).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            step = max(1, len(rows) // (n * 4))
            parts = [rows[i : i + step] for i in range(0, len(rows), step)]
            results = [r for part in pool.map(_match_chunk, parts) for r in part]
            _replace(store, results, version, stats)
            stats.articles += len(rows)
            if progress:
                progress(stats.articles, total)
    return stats


def _replace(
    store: Store, results: list[tuple[str, FlagResult]], version: str, stats: ReflagStats
) -> None:
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
    with store.transaction() as con:
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
        now = datetime.utcnow().replace(microsecond=0)
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
    stats.flagged_before += len(old)
    stats.flagged_after += len(flagged)
    for aid, r in results:
        prev = old.get(aid)
        now_ids = (sorted(r.actors), sorted(r.allegations)) if r.flagged else None
        if (prev[:2] if prev else None) != now_ids:
            stats.changed += 1
