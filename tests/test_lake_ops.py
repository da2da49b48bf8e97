"""``newswatch lake migrate`` and ``newswatch lake maintain`` on a DuckLake on PostgreSQL.

migrate: a DuckDB file with articles, flags, mentions, stories, feeds, runs, problems,
digests and leases is copied into a new lake: every table once, the bookkeeping not at all,
the counts the same; a second run, a lake with data and a pass that is running are refused.

maintain: a lake with many small batches and feed updates (a few hundred snapshots and
files) loses most of them, an orphaned file in its data path goes, and nothing stored
changes, even with a writer committing during the maintenance.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import stores
from newswatch.cli.app import app
from newswatch.settings import LakeSettings, Source
from newswatch.store import SCHEMA_VERSION, Store, close_lakes
from newswatch.store.maintenance import lake_stats, maintain
from newswatch.store.migrate import BOOKKEEPING_TABLES
from stores import lake_target, make_records

pg_server = stores.pg_server  # fixture
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]
runner = CliRunner()

# public tables that must come across, with what the file holds of each
_CHECKED = ["articles", "article_urls", "mentions", "flags", "sources", "runs", "problems"]


@pytest.fixture
def lake(pg_server, tmp_path, monkeypatch):
    target = lake_target(pg_server, tmp_path)
    monkeypatch.setenv("NEWSWATCH_DATA_PATH", target.data_path)
    monkeypatch.delenv("NEWSWATCH_DB", raising=False)
    yield target
    close_lakes()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _counts(store: Store, tables: list[str]) -> dict[str, int]:
    with store.reader() as con:
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def _tables(store: Store) -> list[str]:
    with store.reader() as con:
        return [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = 'main' ORDER BY 1"
            ).fetchall()
        ]


def _filled_file(path: Path) -> Store:
    """A DuckDB-file store with some of everything, as months of `newswatch run` leave it."""
    from newswatch.store import Problem

    store = Store(path)
    store.sources.sync(
        [Source(name=f"Feed {i}", url=f"https://f{i}.example/rss") for i in range(5)]
    )
    t0 = _now() - timedelta(hours=2)
    store.runs.start("old-run", t0, 5, owner="elsewhere:1:old-run")
    for b in range(4):
        store.articles.write_batch(
            make_records(range(b * 25, b * 25 + 25), source=f"Feed {b}"),
            run_id="old-run",
            problems=[Problem(stage="page", reason="404", source=f"Feed {b}", kind="http")],
        )
    store.runs.finish("old-run", status="completed", finished_at=t0, counts={"articles_new": 100})
    store.leases.claim(["Feed 0"], "elsewhere:1:old-run", 60, now=t0)  # expired long ago
    store.digests.record_delivery(
        "morning",
        "a@example.org",
        "m1",
        [("a0001", "a0001")],
        items=1,
        period=(None, t0),
        sent_at=t0,
    )
    return store


def test_migrate_copies_every_table_once_and_refuses_twice(lake, tmp_path):
    src = _filled_file(tmp_path / "nw.duckdb")
    r = runner.invoke(app, ["lake", "migrate", "--from", str(src.path), "--db", lake.target])
    assert r.exit_code == 0, r.output
    assert "counts checked" in r.output
    store = lake.store()
    copied = [t for t in _tables(src) if t not in BOOKKEEPING_TABLES]
    want = _counts(src, copied)
    assert {t: want[t] for t in _CHECKED} == {
        "articles": 100,
        "article_urls": 100,
        "mentions": 200,
        "flags": 100,
        "sources": 5,
        "runs": 1,
        "problems": 4,
    }
    assert _counts(store, copied) == want
    with store.reader() as con:
        assert con.execute("SELECT count(DISTINCT article_id) FROM articles").fetchone() == (100,)
        # the bookkeeping is the lake's own: one row of each fence, one row per migration
        assert con.execute("SELECT count(*) FROM feed_leases").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM store_writes").fetchone() == (1,)
        n, distinct = con.execute(
            "SELECT count(*), count(DISTINCT version) FROM schema_migrations"
        ).fetchone()
        assert n == distinct == SCHEMA_VERSION
        assert con.execute(
            "SELECT title, fetched_at FROM articles WHERE article_id = 'a0042'"
        ).fetchone() == ("Story 42", datetime(2026, 11, 21))
        assert con.execute("SELECT count(*) FROM digest_deliveries").fetchone() == (1,)
    # the same again would copy twice: refused, nothing changes
    r = runner.invoke(app, ["lake", "migrate", "--from", str(src.path), "--db", lake.target])
    assert r.exit_code == 1 and "already holds data" in r.output, r.output
    assert _counts(store, copied) == want
    # the file was only read
    assert _counts(src, copied) == want


def test_migrate_refuses_while_a_pass_writes(lake, tmp_path):
    src = Store(tmp_path / "busy.duckdb")
    src.articles.write_batch(make_records(range(3)))
    src.runs.start("live", _now(), 3, owner="otherhost:99:live")  # a fresh heartbeat
    r = runner.invoke(app, ["lake", "migrate", "--from", str(src.path), "--db", lake.target])
    assert r.exit_code == 1 and "writers are running" in r.output and "live" in r.output
    # a pass on the lake (feed leases held) is refused too
    quiet = Store(tmp_path / "quiet.duckdb")
    quiet.articles.write_batch(make_records(range(3)))
    lake.store().leases.claim(["Feed 1"], "otherhost:98:run", 300)
    r = runner.invoke(app, ["lake", "migrate", "--from", str(quiet.path), "--db", lake.target])
    assert r.exit_code == 1 and "writers are running on the lake" in r.output, r.output
    with lake.store().reader() as con:
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (0,)
    # and the target must be a lake
    r = runner.invoke(app, ["lake", "migrate", "--from", str(quiet.path), "--db", str(src.path)])
    assert r.exit_code == 2 and "not a DuckLake" in r.output


def _churn(store: Store, batches: int) -> None:
    """Many small commits, as passes leave them: batches of articles, feed updates, runs."""
    from newswatch.store import SourceUpdate

    store.sources.sync([Source(name="Feed 1", url="https://f1.example/rss")])
    for b in range(batches):
        store.articles.write_batch(make_records(range(b * 12, b * 12 + 12)), run_id=f"r{b}")
        store.runs.start(f"r{b}", _now(), 1, owner=f"h:1:r{b}")
        store.sources.update([SourceUpdate(name="Feed 1", status="ok", polled_at=_now())])
        store.runs.finish(f"r{b}", status="completed", finished_at=_now(), counts={})


def test_maintain_shrinks_the_lake_and_keeps_every_row(lake, tmp_path):
    store = lake.store()
    _churn(store, 15)
    with store.writer() as con:
        before = lake_stats(con)
    # a file the catalog never named, from a writer that died a day ago
    orphan = Path(lake.data_path) / "main" / "articles" / "ducklake-orphan-of-a-dead-writer.parquet"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"PAR1 not really")
    day_ago = time.time() - 2 * 86400
    os.utime(orphan, (day_ago, day_ago))
    young = orphan.with_name("ducklake-being-written-now.parquet")
    young.write_bytes(b"PAR1 still being written")

    # a pass is running: refused without --force
    store.runs.start("live", _now(), 1, owner="otherhost:7:live")
    r = runner.invoke(app, ["lake", "maintain", "--db", lake.target])
    assert r.exit_code == 1 and "a pass is running" in r.output, r.output
    store.runs.finish("live", status="completed", finished_at=_now(), counts={})

    # and it is safe beside a writer: one commits batches throughout
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        w = lake.store()
        b = 100
        try:
            while not stop.is_set() and b < 140:
                w.articles.write_batch(make_records(range(b * 12, b * 12 + 12)))
                written.append(b)
                b += 1
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=writer)
    t.start()
    try:
        _wait_for(lambda: len(written) >= 1, 120, "the writer's first batch")
        report = maintain(
            store,
            LakeSettings(snapshot_days=1e-9, cleanup_hours=0, orphan_hours=1),
            now=_now() + timedelta(seconds=1),
        )
    finally:
        stop.set()
        t.join(120)
    assert not errors, errors
    assert report.before.snapshots >= before.snapshots
    assert report.after.snapshots < report.before.snapshots / 5, report
    assert report.after.data_files < report.before.data_files, report
    assert report.steps["expire_snapshots"] > 0 and report.steps["merge_adjacent_files"] > 0
    assert not orphan.exists()  # an old file nobody named: deleted
    assert young.exists()  # a young one may be a write in progress: kept
    n = 15 * 12 + 12 * len(written)
    with store.reader() as con:
        assert con.execute(
            "SELECT count(*), count(DISTINCT article_id) FROM articles"
        ).fetchone() == (n, n)
        assert con.execute("SELECT count(*) FROM mentions").fetchone() == (2 * n,)
        assert con.execute("SELECT count(*) FROM sources").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM runs WHERE status = 'completed'").fetchone() == (
            16,
        )
    # the command prints what it did; a second run finds little to do
    r = runner.invoke(app, ["lake", "maintain", "--db", lake.target])
    assert r.exit_code == 0, r.output
    assert "Snapshots" in r.output and "data files" in r.output


def test_maintain_is_for_a_lake(tmp_path):
    r = runner.invoke(app, ["lake", "maintain", "--db", str(tmp_path / "x.duckdb")])
    assert r.exit_code == 2 and "not a DuckLake" in r.output


def _wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
