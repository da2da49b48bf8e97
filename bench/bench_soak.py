"""Soak: two and four workers on one DuckLake for N minutes; nothing lost, nothing twice.

    uv run python bench/bench_soak.py                          # 2 and 4 workers, 30 minutes each
    uv run python bench/bench_soak.py --minutes 5 --workers 2
    uv run python bench/bench_soak.py --minutes 5 --kill-connections-every 45 --maintain-every 120

What runs: a fresh DuckLake (catalog: a new PostgreSQL database on 127.0.0.1:5432, trust
authentication; data files in a temporary folder) and a local news site (LocalSite on
127.0.0.1) with ``--feeds`` feeds of ``--initial`` articles each; every ``--edition-every``
seconds ``--edition-articles`` new articles appear in random feeds (the operator's run of
the issue: 100 feeds, 300 articles, then 200 more every two minutes). Each worker is a loop
of ``newswatch run`` passes (the pass a Prefect flow run is, without Prefect's start-up),
all on the same store, sharing each pass through the feed leases; every worker's articles go
through the ``articles`` write lane, its feed updates, heartbeats and leases through the
``store`` lane.

Optional faults: ``--kill-connections-every S`` terminates, every S seconds, the PostgreSQL
backends of the catalog that are inside a transaction (a batch being written, a lane lock
held: what a catalog failover or an administrator does); ``--maintain-every S`` runs
``newswatch lake maintain --force`` beside the passes.

At the end the editions stop, the faults stop, and one worker runs two more passes (what a
failed batch left for refetch is fetched then). Counted:

* **lost**: article pages the site published that are not stored;
* **duplicated**: stored rows beyond one per canonical URL (and per article id);
* **given up**: batch writes that failed (problems of kind ``write_failed``; the feeds are
  refetched, so they are lost only if they show up above), and passes that failed.

Prints one markdown row per worker count. Without PostgreSQL it prints ``SKIPPED: …``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from newswatch.demo.localsite import LocalSite  # noqa: E402  (after the sys.path line)
from newswatch.store import Store, close_lakes  # noqa: E402

_PSQL = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"]


def _psql(sql: str, user: str, db: str = "postgres") -> str:
    return subprocess.run(
        [*_PSQL, "-U", user, "-d", db, "-c", sql],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def _page(i: int, j: int) -> str:
    text = (
        f"Bulletin {i}-{j}: the harbour authority of district {i} reported on berth {j} today. "
        f"Crews in district {i} moved {i * 7 + j} containers and cleared the channel. "
    ) * 4
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Harbour bulletin {i}-{j}</title></head><body><main><article>"
        f"<h1>Harbour bulletin {i}-{j}</h1><p>{text}</p>"
        f"<p>Inspectors said the works at pier {j} would finish before winter.</p>"
        "</article></main></body></html>"
    )


class Site:
    """The local site: feeds whose items grow edition by edition (newest first, up to 50)."""

    def __init__(self, feeds: int, initial: int):
        self.site = LocalSite()
        self.items: dict[int, list[int]] = {i: [] for i in range(feeds)}
        self.lock = threading.Lock()
        for i in range(feeds):
            self.add(i, initial)
        self.site.start()

    def add(self, feed: int, n: int) -> None:
        from newsfixtures import rss

        with self.lock:
            start = len(self.items[feed])
            for j in range(start, start + n):
                self.site.add(f"/a/{feed}/{j}.html", _page(feed, j))
                self.items[feed].append(j)
            newest = list(reversed(self.items[feed]))[:50]
            items = [
                {
                    "title": f"Harbour bulletin {feed}-{j}",
                    "link": self.site.url(f"/a/{feed}/{j}.html"),
                }
                for j in newest
            ]
            self.site.add(
                f"/f/{feed}.xml",
                rss(items, title=f"District {feed}"),
                content_type="application/rss+xml",
            )

    def published(self) -> set[str]:
        with self.lock:
            return {self.site.url(f"/a/{i}/{j}.html") for i, js in self.items.items() for j in js}


def _worker_loop(cmd: list[str], env: dict[str, str], deadline: float, out: list[dict]) -> None:
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600, check=False)
        rec: dict = {"rc": p.returncode, "seconds": time.monotonic() - t0}
        try:
            rec["summary"] = json.loads(p.stdout)
        except ValueError:
            rec["stderr"] = p.stderr[-2000:]
        out.append(rec)


def soak(n_workers: int, args: argparse.Namespace, tmp: Path) -> dict:
    name = f"nw_soak_{uuid.uuid4().hex[:10]}"
    user = args.pg_user
    _psql(f"CREATE DATABASE {name}", user)
    try:
        target = f"ducklake:postgres:dbname={name} host=127.0.0.1 user={user}"
        data = tmp / f"{name}-data"
        site = Site(args.feeds, args.initial)
        try:
            from newsfixtures import write_config

            sources = [
                {"name": f"District {i}", "url": site.site.url(f"/f/{i}.xml"), "language": "en"}
                for i in range(args.feeds)
            ]
            cdir = write_config(
                tmp / f"{name}-config",
                sources,
                db=target,
                settings={
                    "pipeline": {"workers": args.extract_workers},
                    "fetch": {"unthrottled_hosts": ["127.0.0.1"]},
                },
            )
            Store(target, data_path=str(data)).migrate()
            close_lakes()
            env = dict(
                os.environ,
                NEWSWATCH_DATA_PATH=str(data),
                NEWSWATCH_ALLOW_PRIVATE_ADDRESSES="1",
                PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]),
            )
            cmd = [sys.executable, "-m", "newswatch.cli", "run", "--config", str(cdir), "-q"]
            cmd += ["-f", "json"]
            t_start = time.monotonic()
            deadline = t_start + args.minutes * 60
            results: list[list[dict]] = [[] for _ in range(n_workers)]
            threads = [
                threading.Thread(target=_worker_loop, args=(cmd, env, deadline, results[k]))
                for k in range(n_workers)
            ]
            for t in threads:
                t.start()
            stop = threading.Event()
            faults: Counter[str] = Counter()
            peak = {"connections": 0}

            def editions() -> None:
                rng = random.Random(7)
                while not stop.wait(args.edition_every):
                    for _ in range(args.edition_articles):
                        site.add(rng.randrange(args.feeds), 1)
                    faults["editions"] += 1

            def killer() -> None:
                while args.kill_connections_every and not stop.wait(args.kill_connections_every):
                    n = _psql(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        f"WHERE datname = '{name}' AND state IN ('active', 'idle in transaction') "
                        "AND pid <> pg_backend_pid()",
                        user,
                    ).strip()
                    faults["connections_terminated"] += int(n or 0)

            maintain = [sys.executable, "-m", "newswatch.cli", "lake", "maintain", "--force"]

            def maintainer() -> None:
                while args.maintain_every and not stop.wait(args.maintain_every):
                    r = subprocess.run(
                        [*maintain, "--db", target, "-f", "json"],
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=1800,
                        check=False,
                    )
                    faults["maintain_ok" if r.returncode == 0 else "maintain_failed"] += 1
                    if r.returncode:
                        print(f"lake maintain failed: {r.stderr[-500:]}", file=sys.stderr)

            def sampler() -> None:
                while not stop.wait(2.0):
                    n = _psql(
                        f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'", user
                    ).strip()
                    peak["connections"] = max(peak["connections"], int(n or 0))

            helpers = [
                threading.Thread(target=f, daemon=True)
                for f in (editions, killer, maintainer, sampler)
            ]
            for h in helpers:
                h.start()
            for t in threads:
                t.join()
            stop.set()
            for h in helpers:
                h.join(timeout=1900)
            soak_seconds = time.monotonic() - t_start
            # the end: two quiet passes fetch what failed batches left for refetch
            final: list[dict] = []
            for _ in range(2):
                _worker_loop(cmd, env, time.monotonic() + 1, final)
            published = site.published()
        finally:
            site.site.stop()
        store = Store(target)
        with store.reader() as con:
            total, urls, ids = con.execute(
                "SELECT count(*), count(DISTINCT canonical_url), count(DISTINCT article_id) FROM articles"
            ).fetchone()
            stored = {r[0] for r in con.execute("SELECT canonical_url FROM articles").fetchall()}
            runs = Counter(
                dict(con.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())
            )
            given_up = con.execute(
                "SELECT count(*) FROM problems WHERE kind = 'write_failed'"
            ).fetchone()[0]
            (snapshots,) = con.execute(
                "SELECT count(*) FROM ducklake_snapshots('nw_ro')"
            ).fetchone()
        close_lakes()
        passes = [r for w in results for r in w]
        failed = [r for r in passes + final if r["rc"] != 0]
        for r in failed[:3]:
            print(f"a pass failed: {r.get('stderr', r.get('summary'))}", file=sys.stderr)
        durations = sorted(r["seconds"] for r in passes)
        return {
            "workers": n_workers,
            "minutes": soak_seconds / 60,
            "passes": len(passes),
            "pass_median_s": durations[len(durations) // 2] if durations else 0.0,
            "published": len(published),
            "stored": total,
            "lost": len(published - stored),
            "duplicated": (total - urls) + (total - ids),
            "batches_given_up": given_up,
            "passes_failed": len(failed),
            "runs": dict(runs),
            "faults": dict(faults),
            "peak_catalog_connections": peak["connections"],
            "snapshots": snapshots,
        }
    finally:
        _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", user)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", default="2,4", help="worker counts to soak, one after another")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--feeds", type=int, default=100)
    p.add_argument("--initial", type=int, default=3, help="articles per feed at the start")
    p.add_argument("--edition-every", type=float, default=120.0, help="seconds between editions")
    p.add_argument("--edition-articles", type=int, default=200)
    p.add_argument("--extract-workers", type=int, default=1, help="pipeline.workers of each worker")
    p.add_argument("--kill-connections-every", type=float, default=0.0)
    p.add_argument("--maintain-every", type=float, default=0.0)
    p.add_argument("--pg-user", default=os.environ.get("NEWSWATCH_TEST_PG_USER", "postgres"))
    args = p.parse_args()
    try:
        _psql("SELECT 1", args.pg_user)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"SKIPPED: PostgreSQL on 127.0.0.1:5432 is not usable as {args.pg_user}: {e}")
        return
    tmp = Path(tempfile.mkdtemp(prefix="nw-bench-soak-"))
    rows = []
    for n in (int(x) for x in args.workers.split(",")):
        r = soak(n, args, tmp)
        print(json.dumps(r), file=sys.stderr, flush=True)
        rows.append(r)
    print(
        f"\nsoak on {os.cpu_count()} cores: {args.feeds} feeds, {args.initial} articles each, "
        f"{args.edition_articles} more every {args.edition_every:.0f} s; faults: connections "
        f"killed every {args.kill_connections_every or '—'} s, maintain every "
        f"{args.maintain_every or '—'} s\n"
    )
    print(
        "| workers | minutes | passes | median pass s | published | stored | lost | duplicated "
        "| batches given up | passes failed | peak catalog connections | faults |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['workers']} | {r['minutes']:.1f} | {r['passes']} | {r['pass_median_s']:.1f} | "
            f"{r['published']:,} | {r['stored']:,} | {r['lost']} | {r['duplicated']} | "
            f"{r['batches_given_up']} | {r['passes_failed']} | {r['peak_catalog_connections']} | "
            f"{', '.join(f'{k} {v}' for k, v in sorted(r['faults'].items())) or '—'} |"
        )


if __name__ == "__main__":
    main()
