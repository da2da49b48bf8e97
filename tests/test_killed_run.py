"""A pass killed half-way loses nothing committed, and a rerun finishes without duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import duckdb
import pytest

from newsfixtures import build_site, site_sources, write_config
from newswatch.pipeline.run import run_pass
from newswatch.settings import load_config
from newswatch.store import is_lock_error

pytestmark = pytest.mark.attack


def _count(db, sql="SELECT count(*) FROM articles"):
    for _ in range(200):
        try:
            con = duckdb.connect(str(db), read_only=True)
        except duckdb.Error as e:
            if is_lock_error(e) or "does not exist" in str(e):
                time.sleep(0.05)
                continue
            raise
        try:
            return con.execute(sql).fetchone()[0]
        except duckdb.CatalogException:
            return 0
        finally:
            con.close()
    raise AssertionError("database stayed locked")


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_mid_pass_then_rerun(tmp_path):
    release = threading.Event()
    with build_site() as site:
        slow_body = site.routes["/wire/metro.html"].body

        def slow(req):
            release.wait(60)
            return 200, {"Content-Type": "text/html; charset=utf-8"}, slow_body

        site.add_handler("/wire/metro.html", slow)
        db = tmp_path / "k.duckdb"
        cdir = write_config(
            tmp_path / "c", site_sources(site), db=db, settings={"pipeline": {"batch_size": 1}}
        )
        env = dict(os.environ, NEWSWATCH_ALLOW_PRIVATE_ADDRESSES="1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "newswatch.cli", "run", "--config", str(cdir), "--quiet"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.time() + 60
            # wait until the slow page is being fetched and the other articles are committed
            while time.time() < deadline and (site.hits["/wire/metro.html"] == 0 or _count(db) < 5):
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.1)
            committed = _count(db)
            assert committed == 5
            pool = _descendants(proc.pid)  # the fork server and the extraction workers
            assert len(pool) >= 2, pool
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            # the pool dies with the pass (it lived on as orphans, ~0.5 GB each time)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and any(_alive(p) for p in pool):
                time.sleep(0.05)
            assert not [p for p in pool if _alive(p)], "pool processes outlived the killed pass"
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        assert _count(db) == committed  # nothing committed was lost
        # the killed pass saved no feed state, so the rerun fetches feeds in full ...
        assert _count(db, "SELECT count(*) FROM sources WHERE etag IS NOT NULL") == 0
        site.responses.clear()
        summary = run_pass(load_config(cdir))
        # ... and stores only what is missing
        assert summary.articles_new == 1
        assert _count(db) == 6
        assert _count(db, "SELECT count(*) - count(DISTINCT canonical_url) FROM articles") == 0
        assert _count(db, "SELECT count(*) - count(DISTINCT article_id) FROM flags") == 0
        # the killed pass is not left 'running' for ever: the rerun closed it as crashed
        assert _count(db, "SELECT count(*) FROM runs WHERE status = 'running'") == 0
        assert _count(db, "SELECT count(*) FROM runs WHERE status = 'crashed'") == 1
        assert summary.crashed_runs and len(summary.crashed_runs) == 1
        assert _count(db, "SELECT count(*) FROM runs WHERE status = 'completed'") == 1
        # the rerun fetched only the page it did not have
        wire_pages = [p for p, s in site.responses if p.startswith("/wire/")]
        assert wire_pages == ["/wire/metro.html"]
