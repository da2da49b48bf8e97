"""Benchmark: story clustering throughput, and the trend views on 1,000,000 mention rows.

    uv run python bench/bench_stories.py            # 10k and 100k articles, 1M mentions
    uv run python bench/bench_stories.py --quick    # 2k and 10k articles, 100k mentions

Synthetic articles (random words, ~150 per text) arrive in time order, 1,000 a day, in
batches of 500 like a polling pass; 40% are edited copies (new opening line, trimmed
ending, extra sentence) of a story from the last few days. Signatures are computed first
(they run in the extraction workers), then ``assign_stories`` places each batch, writing to
a DuckDB file. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from newswatch.settings import StorySettings
from newswatch.store import Store
from newswatch.store.schema import STORIES_SQL as MIGRATION_SQL
from newswatch.store.schema import TREND_VIEWS_SQL as VIEWS_SQL
from newswatch.store.stories import assign_stories
from newswatch.stories import StoryItem, signature

BATCH = 500
PER_DAY = 1_000  # articles per day: the archive grows in time, not in density


def synthetic_articles(n: int, seed: int = 7):
    rng = random.Random(seed)
    vocab = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyzäéñ", k=rng.randint(2, 10)))
        for _ in range(30_000)
    ]
    start = datetime(2024, 1, 1)
    out = []  # (article_id, text, published_at, origin_story or None)
    originals: list[tuple[str, list[str], datetime]] = []
    for i in range(n):
        when = start + timedelta(seconds=i * 86400 / PER_DAY)
        recent = [o for o in originals[-300:] if when - o[2] < timedelta(days=3)]
        if recent and rng.random() < 0.4:
            oid, words, _ = rng.choice(recent)
            w = list(words)
            w = rng.choices(vocab, k=8) + w[: int(len(w) * rng.uniform(0.75, 1.0))]
            if rng.random() < 0.5:
                w += rng.choices(vocab, k=20)
            out.append((f"a{i}", " ".join(w), when, oid))
        else:
            words = rng.choices(vocab, k=150)
            originals.append((f"a{i}", words, when))
            out.append((f"a{i}", " ".join(words), when, None))
    return out


def bench_clustering(arts, sigs, settings: StorySettings, workdir: Path) -> tuple[float, float]:
    """(articles/s, share of copies placed in their original's story)."""
    path = workdir / f"stories_{len(arts)}.duckdb"
    con = duckdb.connect(str(path))
    con.execute(MIGRATION_SQL)
    result: dict[str, str] = {}
    t = time.perf_counter()
    for b in range(0, len(arts), BATCH):
        items = [StoryItem(a[0], sigs[a[0]], a[2], None) for a in arts[b : b + BATCH]]
        con.execute("BEGIN TRANSACTION")
        result.update(assign_stories(con, items, settings))
        con.execute("COMMIT")
    elapsed = time.perf_counter() - t
    con.close()
    copies = [(a[0], a[3]) for a in arts if a[3]]
    placed = sum(1 for aid, oid in copies if result[aid] == result[oid])
    return len(arts) / elapsed, placed / max(1, len(copies))


def bench_views(mention_rows: int, workdir: Path) -> dict[str, float]:
    """Seconds for SELECT * FROM daily_trends / spikes / cooccurrence (best of 3)."""
    store = Store(workdir / "trends.duckdb")
    articles = mention_rows // 3  # ~3 (kind, entity) rows per flagged article
    with store.writer() as con:
        con.execute(MIGRATION_SQL)
        con.execute(VIEWS_SQL)
        con.execute(
            f"""
            INSERT INTO articles (article_id, url, canonical_url, source, title, published_at,
                                  fetched_at, language, extraction, story_id)
            SELECT 'a' || i, 'u' || i, 'u' || i, 'src' || (hash(i) % 200), 't' || i,
                   TIMESTAMP '2024-01-01' + to_seconds(i * 365 * 86400 // {articles}),
                   TIMESTAMP '2024-01-01' + to_seconds(i * 365 * 86400 // {articles}),
                   'en', 'trafilatura', 'a' || (i - i % 3)
            FROM range({articles}) t(i)
            """
        )
        # actors ~ Zipf-like over 100 ids, allegations over 30; 1-2 actors, 0-2 allegations
        con.execute(
            f"""
            INSERT INTO flags
            SELECT 'a' || i,
                   CASE WHEN hash(i) % 2 = 0
                        THEN ['actor' || ((hash(i, 1) % 100)::BIGINT
                                          * (hash(i, 2) % 100)::BIGINT // 100)]
                        ELSE ['actor' || (hash(i, 1) % 100), 'actor' || (hash(i, 3) % 100)] END,
                   CASE WHEN hash(i, 4) % 2 = 0 THEN ['alleg' || (hash(i, 5) % 30)]
                        ELSE ['alleg' || (hash(i, 5) % 30), 'alleg' || (hash(i, 6) % 30)] END,
                   1.0, now()::TIMESTAMP, NULL
            FROM range({articles}) t(i)
            """
        )
        con.execute(
            """
            INSERT INTO mentions (article_id, kind, entity_id, matched_text, sentence, field,
                                  start_offset, end_offset, rule, weight)
            SELECT article_id, 'actor', unnest(actors), 'x', 'x', 'text', 0, 1, NULL, 1.0 FROM flags
            UNION ALL
            SELECT article_id, 'allegation', unnest(allegations), 'x', 'x', 'text', 0, 1, NULL, 1.0 FROM flags
            """
        )
        n_mentions = con.execute("SELECT count(*) FROM mentions").fetchone()[0]
    times = {"mention rows": float(n_mentions)}
    with store.reader() as con:
        for view in ("daily_trends", "spikes", "cooccurrence"):
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                con.execute(f"SELECT * FROM {view}").arrow()
                best = min(best, time.perf_counter() - t)
            times[view] = best
        times["spike rows"] = con.execute("SELECT count(*) FROM spikes").fetchone()[0]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = (2_000, 10_000) if args.quick else (10_000, 100_000)
    mentions = 100_000 if args.quick else 1_000_000
    settings = StorySettings()

    arts = synthetic_articles(max(sizes))
    t = time.perf_counter()
    sigs = {a[0]: signature(a[1], None, settings) for a in arts}
    sig_rate = len(arts) / (time.perf_counter() - t)

    print("| measure | value |\n|---|---|")
    print(f"| signature() (one process, ~1,100-char texts) | {sig_rate:,.0f} articles/s |")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            rate, placed = bench_clustering(arts[:n], sigs, settings, Path(tmp))
            print(
                f"| assign_stories, {n:,} articles (batches of {BATCH}) | {rate:,.0f} articles/s "
                f"({placed:.1%} of copies placed with their original) |"
            )
        times = bench_views(mentions, Path(tmp))
    print(f"| mention rows | {int(times['mention rows']):,} |")
    for view in ("daily_trends", "spikes", "cooccurrence"):
        print(f"| SELECT * FROM {view} | {times[view] * 1000:,.0f} ms |")
    print(f"| spike rows found | {int(times['spike rows']):,} |")


if __name__ == "__main__":
    main()
