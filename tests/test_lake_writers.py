"""Writers of one DuckLake on PostgreSQL: lanes that take turns, a fence that keeps it safe.

Every test runs against a fresh DuckLake whose catalog is a new database on the local
PostgreSQL (skips without it, fails in CI). See ``newswatch.store.engine`` and
docs/scaleout.md ("Writers").
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

import stores
from newswatch.store import Store, StoreConflict
from newswatch.store.engine import LANE_ARTICLES, LANE_STORE, lane_key
from stores import lake_target, make_records, run_in_processes

pg_server = stores.pg_server  # fixture
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]


@pytest.fixture
def lake(pg_server, tmp_path):
    target = lake_target(pg_server, tmp_path)
    yield target
    stores.close_lakes()


def _pg(pg: stores.PgServer, sql: str) -> list[tuple]:
    """Rows of ``sql`` run on PostgreSQL's admin database (its own connection)."""
    import duckdb

    from newswatch.store import postgres_extension

    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    try:
        con.execute(f"LOAD '{postgres_extension()}'")
        con.execute(f"ATTACH '{pg.conninfo(stores.PG_ADMIN_DB)}' AS pga (TYPE postgres)")
        quoted = sql.replace("'", "''")
        return con.execute(f"SELECT * FROM postgres_query('pga', '{quoted}')").fetchall()
    finally:
        con.close()


def _lane_holders(pg: stores.PgServer, lake: stores.StoreTarget, lane: str) -> list[int]:
    """PostgreSQL backends holding ``lane``'s advisory lock in ``lake``'s catalog database
    (advisory locks are per database: another test run on the same server, with its own
    catalog, holds the same key in its own database)."""
    key = lane_key(lane) & 0xFFFFFFFFFFFFFFFF
    hi, lo = key >> 32, key & 0xFFFFFFFF
    m = re.search(r"dbname=(\w+)", lake.target)
    assert m, lake.target
    rows = _pg(
        pg,
        "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        f"WHERE l.locktype = 'advisory' AND l.granted AND d.datname = '{m.group(1)}' "
        f"AND l.classid = {hi} AND l.objid = {lo}",
    )
    return [int(r[0]) for r in rows]


def _wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def _articles(store: Store) -> tuple[int, int]:
    with store.reader() as con:
        return con.execute("SELECT count(*), count(DISTINCT article_id) FROM articles").fetchone()


def _hold_articles_lane(
    store: Store, ids: list[int], holding: threading.Event, go: threading.Event
):
    """Write ``ids`` in the articles lane, holding it (inside the transaction) until ``go``."""

    def write(con):
        holding.set()
        assert go.wait(120)
        con.register("_ids", make_table(ids))
        con.execute(
            "INSERT INTO articles (article_id, url, canonical_url, source, fetched_at, extraction, "
            "story_id) SELECT id, id, id, 'S', TIMESTAMP '2026-11-21', 'trafilatura', id FROM _ids "
            "WHERE id NOT IN (SELECT article_id FROM articles)"
        )
        con.unregister("_ids")

    store.run_in_transaction(write, lane=LANE_ARTICLES)


def make_table(ids: list[int]):
    import pyarrow as pa

    return pa.table({"id": [f"a{i:04d}" for i in ids]})


def test_lanes_do_not_wait_for_each_other(lake, pg_server):
    """While an article batch holds its lane, a store-lane write (a heartbeat, a lease
    claim) commits at once; a second article writer waits, then sees the first one's rows."""
    store = lake.store()
    store.migrate()
    holding, go = threading.Event(), threading.Event()
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(_hold_articles_lane, store, list(range(10)), holding, go)
        assert holding.wait(60)
        assert len(_lane_holders(pg_server, lake, LANE_ARTICLES)) == 1
        t0 = time.monotonic()
        assert store.leases.claim(["feed-a", "feed-b"], "w2", 60) == ["feed-a", "feed-b"]
        store.runs.start("r2", datetime(2026, 11, 21), 2, owner="h:1:r2")
        store_lane_seconds = time.monotonic() - t0
        # the other article writer queues behind the holder
        second = pool.submit(
            lambda: store.articles.write_batch(make_records(range(5, 15)), run_id="r2")
        )
        _wait_for(
            lambda: _waiting_on(pg_server, LANE_ARTICLES) >= 1, 60, "the second writer to queue"
        )
        assert not second.done()
        go.set()
        first.result(60)
        stats = second.result(120)
    assert store_lane_seconds < 30  # it did not wait for the articles lane (held until `go`)
    assert stats.articles_new == 5  # a0010..a0014: it saw the holder's a0005..a0009
    assert _articles(store) == (15, 15)


def _waiting_on(pg: stores.PgServer, lane: str) -> int:
    key = lane_key(lane) & 0xFFFFFFFFFFFFFFFF
    rows = _pg(
        pg,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        f"AND classid = {key >> 32} AND objid = {key & 0xFFFFFFFF}",
    )
    return int(rows[0][0])


def test_a_lost_lock_is_caught_by_the_fence(lake, pg_server):
    """The holder's lock session is killed mid-transaction (as an administrator or a
    network failure would): another writer then takes the lane and commits overlapping
    articles; the first holder's COMMIT conflicts on the lane's fence, is run again, and
    stores only what is missing. Nothing twice, nothing lost."""
    store = lake.store()
    store.migrate()
    holding, go = threading.Event(), threading.Event()
    attempts = []

    def write(con):
        attempts.append(1)
        if len(attempts) == 1:
            holding.set()
            assert go.wait(120)
        con.register("_ids", make_table(list(range(0, 20))))
        n = con.execute(
            "INSERT INTO articles (article_id, url, canonical_url, source, fetched_at, extraction, "
            "story_id) SELECT id, id, id, 'S', TIMESTAMP '2026-11-21', 'trafilatura', id FROM _ids "
            "WHERE id NOT IN (SELECT article_id FROM articles)"
        ).fetchone()[0]
        con.unregister("_ids")
        return n

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(store.run_in_transaction, write, lane=LANE_ARTICLES)
        assert holding.wait(60)
        (holder,) = _lane_holders(pg_server, lake, LANE_ARTICLES)
        _pg(pg_server, f"SELECT pg_terminate_backend({holder})")
        _wait_for(lambda: not _lane_holders(pg_server, lake, LANE_ARTICLES), 30, "the lock to go")
        # the lane is free: another writer stores a0010..a0029 and commits
        assert store.articles.write_batch(make_records(range(10, 30))).articles_new == 20
        go.set()
        n = first.result(120)
    assert len(attempts) == 2  # the first commit conflicted on the fence and was run again
    assert n == 10  # a0000..a0009: the rest was already there
    assert _articles(store) == (30, 30)


def test_a_lane_wait_is_bounded(lake, pg_server):
    """A writer that cannot get the lane in ``2 × lock_timeout`` gives up with a clear
    StoreConflict (the pass then marks the batch's feeds for refetch)."""
    store = lake.store()
    store.migrate()
    impatient = Store(lake.target, data_path=lake.data_path, lock_timeout=1.0)
    holding, go = threading.Event(), threading.Event()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(_hold_articles_lane, store, [1], holding, go)
        assert holding.wait(60)
        t0 = time.monotonic()
        with pytest.raises(StoreConflict, match="articles write lane"):
            impatient.articles.write_batch(make_records([2]))
        waited = time.monotonic() - t0
        go.set()
        first.result(60)
    assert 1.5 <= waited < 30
    # the store lane was never blocked by it
    assert impatient.leases.claim(["x"], "w", 60) == ["x"]
    assert _articles(store) == (1, 1)


def test_concurrent_writers_in_four_processes_store_every_article_once(lake):
    """Four processes, overlapping batches in different orders, all at once."""
    store = lake.store()
    store.migrate()
    plans = [
        [list(range(i, i + 10)) for i in range(0, 80, 10)],
        [list(range(i, i - 10, -1)) for i in range(99, 19, -10)],
        [list(range(i, i + 10)) for i in range(40, 120, 10)],
        [list(range(i, i + 7)) for i in range(5, 110, 7)],
    ]
    new = run_in_processes(stores.write_batches_worker, [(lake, p) for p in plans], timeout=240)
    assert sum(new) == 120
    assert _articles(store) == (120, 120)
    with store.reader() as con:
        assert con.execute("SELECT count(*), count(DISTINCT url) FROM article_urls").fetchone() == (
            120,
            120,
        )
        assert con.execute(
            "SELECT count(*), count(DISTINCT article_id) FROM story_signatures"
        ).fetchone() == (120, 120)


def _start_worker(target: stores.StoreTarget, barrier) -> int:
    """Child process: open a brand-new lake and migrate it, all at the same moment."""
    barrier.wait(timeout=120)
    return target.store().migrate()


def test_workers_started_together_on_an_empty_lake_all_start(lake):
    """The first start of a fleet does not depend on who wins: three processes create the
    lake (DuckLake's own metadata) and its schema at once; all succeed, once."""
    versions = run_in_processes(_start_worker, [(lake,)] * 3, timeout=240)
    from newswatch.store import SCHEMA_VERSION

    assert versions == [SCHEMA_VERSION] * 3
    store = lake.store()
    with store.reader() as con:
        assert con.execute(
            "SELECT count(*), count(DISTINCT version) FROM schema_migrations"
        ).fetchone() == (SCHEMA_VERSION, SCHEMA_VERSION)
        assert con.execute("SELECT count(*) FROM store_writes").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM article_writes").fetchone() == (1,)


def test_lane_names_are_checked(lake):
    store = lake.store()
    with pytest.raises(ValueError, match="unknown write lane"), store.transaction("nope"):
        pass
    assert lane_key(LANE_STORE) != lane_key(LANE_ARTICLES)
