"""How long `newswatch reflag` takes over a large archive (issue 3: 100,000 articles in minutes).

    uv run python bench/bench_reflag.py [--articles 100000]

Builds a DuckDB file of synthetic news-style articles (about 2 KB of text each, a fifth of
them naming tracked actors), then times a full re-flag with the default watchlist.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from newswatch.pipeline.reflag import reflag
from newswatch.store import Store

REPO = Path(__file__).resolve().parent.parent
FILLER = (
    "The council met on Tuesday to discuss the budget for the coming year. Officials said "
    "the harbour works would continue through the winter, weather permitting. "
)
HOT = [
    "North Korea supplied tunnelling experts to Hezbollah, the report said. ",
    "Hamas fighters were found with North Korean rockets. ",
    "Pyongyang denied the claims. ",
    "Hezbollah's Jihad al-Binaa signed a contract with KOMID. ",
]


def build(path: Path, n: int) -> None:
    store = Store(path)
    store.migrate()
    rnd = random.Random(1)
    rows = []
    t0 = datetime(2026, 1, 1)
    for i in range(n):
        text = FILLER * 10
        if rnd.random() < 0.2:
            text = rnd.choice(HOT) + text + rnd.choice(HOT)
        rows.append(
            (
                f"{i:016x}",
                f"https://n.example/{i}",
                f"https://n.example/{i}",
                "Bench",
                f"Story {i}",
                t0 + timedelta(minutes=i),
                t0 + timedelta(minutes=i),
                "en",
                text,
                "trafilatura",
                f"{i:016x}",
            )
        )
    with store.transaction() as con:
        con.executemany(
            "INSERT INTO articles (article_id, url, canonical_url, source, title, published_at, fetched_at, "
            "language, text, extraction, story_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=100_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "r.duckdb"
        t = time.perf_counter()
        build(db, a.articles)
        print(f"built {a.articles:,} articles in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        stats = reflag(Store(db), REPO / "config" / "watchlist.yaml")
        dt = time.perf_counter() - t
        print(
            f"| articles | flagged | wall s | articles/s | load |\n|---:|---:|---:|---:|---|\n"
            f"| {stats.articles:,} | {stats.flagged_after:,} | {dt:.1f} | {stats.articles / dt:,.0f} "
            f"| {os.getloadavg()[0]:.1f} |"
        )


if __name__ == "__main__":
    main()
