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
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from newswatch.flagging.diff import FlagDiff
from newswatch.models import FlagResult
from newswatch.pipeline import lifeline
from newswatch.pipeline.lifeline import start_worker
from newswatch.store import Store
from newswatch.store.engine import fetch_one

__all__ = ["ReflagStats", "reflag"]

_MATCHER = None


@dataclass
class ReflagStats:
    articles: int = 0
    flagged_before: int = 0
    flagged_after: int = 0
    changed: int = 0  # articles whose actors or allegations changed
    watchlist_version: str = ""
    diff: FlagDiff = field(default_factory=FlagDiff)  # who gains and loses each id
    dry_run: bool = False


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
    dry_run: bool = False,
) -> ReflagStats:
    from newswatch.flagging.matcher import Matcher

    version = Matcher.from_path(watchlist_path).version  # validates the watchlist first
    stats = ReflagStats(watchlist_version=version, dry_run=dry_run)
    where = "WHERE coalesce(published_at, fetched_at) >= ?" if since else ""
    params: list[object] = [datetime.combine(since, datetime.min.time())] if since else []
    with store.reader() as con:
        (total,) = fetch_one(con, f"SELECT count(*) FROM articles {where}", params)
    n = workers or os.cpu_count() or 1
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["newswatch.pipeline.lifeline"])  # dies with this process
    lifeline.arm()
    last = ""
    with ProcessPoolExecutor(
        n, mp_context=ctx, initializer=start_worker, initargs=(_init, str(watchlist_path))
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
            if dry_run:
                _compare(store, results, stats)
            else:
                _replace(store, results, version, stats)
            stats.articles += len(rows)
            if progress:
                progress(stats.articles, total)
    return stats


def _compare(store: Store, results: list[tuple[str, FlagResult]], stats: ReflagStats) -> None:
    """--dry-run: the diff the new flags would make, written nowhere."""
    ids = [aid for aid, _ in results]
    with store.reader() as con:
        rows = con.execute(
            "SELECT article_id, actors, allegations, flagged_at FROM flags "
            "WHERE list_contains(?::VARCHAR[], article_id)",
            [ids],
        ).fetchall()
    _count(stats, {a: (list(x), list(y), t) for a, x, y, t in rows}, results)


def _replace(
    store: Store, results: list[tuple[str, FlagResult]], version: str, stats: ReflagStats
) -> None:
    _count(stats, store.articles.replace_flags(results, version), results)


def _count(
    stats: ReflagStats,
    old: dict[str, tuple[list[str], list[str], Any]],
    results: list[tuple[str, FlagResult]],
) -> None:
    flagged = [(aid, r) for aid, r in results if r.flagged]
    stats.flagged_before += len(old)
    stats.flagged_after += len(flagged)
    for aid, r in results:
        prev = old.get(aid)
        now_ids = (sorted(r.actors), sorted(r.allegations)) if r.flagged else None
        if (prev[:2] if prev else None) != now_ids:
            stats.changed += 1
        stats.diff.add(aid, (prev[0], prev[1]) if prev else None, now_ids)
