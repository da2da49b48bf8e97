"""Throughput of one polling pass with one worker and with two (issue 8).

    uv run python bench/bench_workers.py                      # 240 feeds × 4 articles, medians of 1
    uv run python bench/bench_workers.py --feeds 400 --per-feed 5 --repeat 3

What is measured: a fresh DuckLake (catalog: a new PostgreSQL database on 127.0.0.1:5432,
trust authentication; data files in a temporary folder) and a local news site (LocalSite on
127.0.0.1: ``--feeds`` RSS feeds, each linking ``--per-feed`` small distinct article pages).
Then one pass with

* **1 worker**: one ``newswatch run --config <tmp> -q`` process;
* **2 workers**: two ``newswatch run`` processes started together on the same store, which
  share the pass through the feed leases (``Store.leases.claim``) as two Prefect workers do:
  each flow run of the ``poll`` deployment is this same pass. Prefect's own overhead (the
  server, the worker's polling, starting the flow-run process: a few seconds per run) is
  left out.

Each worker has ``pipeline.workers: 1`` extraction process (``--extract-workers``). Articles/s
= articles stored ÷ wall time from the start of the first process to the end of the last.
The machine's core count is printed with the table: two workers on two cores compete with
each other, with the local site and with PostgreSQL. Without PostgreSQL it prints
``SKIPPED: …`` and exits 0.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from newswatch.demo.localsite import LocalSite  # noqa: E402  (after the sys.path line)
from newswatch.store import Store, close_lakes  # noqa: E402


def _psql(sql: str, user: str) -> None:
    subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            user,
            "-d",
            "postgres",
            "-c",
            sql,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _page(i: int, j: int) -> str:
    text = (
        f"Bulletin {i}-{j}: the harbour authority of district {i} reported on berth {j} today. "
        f"Crews in district {i} moved {i * 7 + j} containers and cleared the channel. "
    ) * 4
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Harbour bulletin {i}-{j}</title>"
        f"</head><body><main><article><h1>Harbour bulletin {i}-{j}</h1><p>{text}</p>"
        f"<p>Inspectors said the works at pier {j} would finish before winter.</p></article></main></body></html>"
    )


def _site(feeds: int, per_feed: int) -> LocalSite:
    from newsfixtures import rss

    site = LocalSite()
    for i in range(feeds):
        items = []
        for j in range(per_feed):
            path = f"/a/{i}/{j}.html"
            site.add(path, _page(i, j))
            items.append({"title": f"Harbour bulletin {i}-{j}", "link": site.url(path)})
        site.add(
            f"/f/{i}.xml", rss(items, title=f"District {i}"), content_type="application/rss+xml"
        )
    return site.start()


def _config(folder: Path, site: LocalSite, feeds: int, db: str, extract_workers: int) -> Path:
    from newsfixtures import write_config

    sources = [
        {"name": f"District {i}", "url": site.url(f"/f/{i}.xml"), "language": "en"}
        for i in range(feeds)
    ]
    return write_config(folder, sources, db=db, settings={"pipeline": {"workers": extract_workers}})


def one_pass(n_workers: int, args: argparse.Namespace, user: str, tmp: Path) -> dict:
    name = f"nw_bench_{uuid.uuid4().hex[:10]}"
    _psql(f"CREATE DATABASE {name}", user)
    try:
        target = f"ducklake:postgres:dbname={name} host=127.0.0.1 user={user}"
        data = tmp / f"{name}-data"
        site = _site(args.feeds, args.per_feed)
        try:
            cdir = _config(tmp / f"{name}-config", site, args.feeds, target, args.extract_workers)
            Store(target, data_path=str(data)).migrate()
            close_lakes()
            env = dict(
                os.environ,
                NEWSWATCH_DATA_PATH=str(data),
                NEWSWATCH_ALLOW_PRIVATE_ADDRESSES="1",
                PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]),
            )
            cmd = [
                sys.executable,
                "-m",
                "newswatch.cli",
                "run",
                "--config",
                str(cdir),
                "-q",
                "-f",
                "json",
            ]
            t0 = time.perf_counter()
            procs = [
                subprocess.Popen(
                    cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                for _ in range(n_workers)
            ]
            outs = [p.communicate(timeout=3600) for p in procs]
            wall = time.perf_counter() - t0
            for p, (_out, err) in zip(procs, outs, strict=False):
                if p.returncode != 0:
                    raise SystemExit(f"newswatch run failed ({p.returncode}):\n{err[-2000:]}")
            feed_hits = [n for path, n in site.hits.items() if path.startswith("/f/")]
        finally:
            site.stop()
        with Store(target).reader() as con:
            total, distinct = con.execute(
                "SELECT count(*), count(DISTINCT canonical_url) FROM articles"
            ).fetchone()
            shares = [
                r[0]
                for r in con.execute(
                    "SELECT feeds_fetched FROM runs WHERE status = 'completed' ORDER BY feeds_fetched DESC"
                ).fetchall()
            ]
        close_lakes()
        return {
            "wall": wall,
            "articles": total,
            "duplicates": total - distinct,
            "shares": shares,
            "max_feed_fetches": max(feed_hits or [0]),
        }
    finally:
        _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", user)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--feeds", type=int, default=240)
    p.add_argument("--per-feed", type=int, default=4)
    p.add_argument("--extract-workers", type=int, default=1, help="pipeline.workers of each worker")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--pg-user", default=os.environ.get("NEWSWATCH_TEST_PG_USER", "postgres"))
    args = p.parse_args()
    try:
        _psql("SELECT 1", args.pg_user)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"SKIPPED: PostgreSQL on 127.0.0.1:5432 is not usable as {args.pg_user}: {e}")
        return
    tmp = Path(tempfile.mkdtemp(prefix="nw-bench-workers-"))
    rows = []
    try:
        for n in (1, 2):
            results = []
            for k in range(args.repeat):
                r = one_pass(n, args, args.pg_user, tmp)
                print(f"{n} worker(s), run {k + 1}: {r}", file=sys.stderr)
                results.append(r)
            wall = statistics.median(r["wall"] for r in results)
            last = results[-1]
            rows.append(
                (
                    n,
                    last["articles"],
                    wall,
                    last["articles"] / wall,
                    last["shares"],
                    max(r["duplicates"] for r in results),
                    max(r["max_feed_fetches"] for r in results),
                )
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = rows[0][3]
    print(
        f"\nOne polling pass into a DuckLake on PostgreSQL, {args.feeds} feeds × {args.per_feed} articles, "
        f"{args.extract_workers} extraction process per worker, {os.cpu_count()} cores, "
        f"median of {args.repeat}; workers = concurrent `newswatch run` processes sharing the pass "
        f"through feed leases.\n"
    )
    print(
        "| workers | articles | wall s | articles/s | speed-up | feeds per worker "
        "| duplicates | max fetches of a feed |"
    )
    print("|---:|---:|---:|---:|---:|---|---:|---:|")
    for n, arts, wall, rate, shares, dups, fetches in rows:
        print(
            f"| {n} | {arts} | {wall:.1f} | {rate:.1f} | {rate / base:.2f}× | {' + '.join(map(str, shares))} "
            f"| {dups} | {fetches} |"
        )


if __name__ == "__main__":
    main()
