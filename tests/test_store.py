"""The store on both back-ends (a DuckDB file and a DuckLake on PostgreSQL): migrations,
idempotent writes, the public views, ``newswatch sql``, concurrent writers and feed leases."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pytest
from typer.testing import CliRunner

import stores
from newswatch.cli import app
from newswatch.store import MIGRATIONS, SCHEMA_VERSION, SourceUpdate, Store, StoreError
from stores import (
    claim_worker,
    lease_once_worker,
    make_records,
    run_in_processes,
    write_batches_worker,
)

# fixtures: every test taking store_target runs on a DuckDB file and on a DuckLake
store_target = stores.store_target
pg_server = stores.pg_server

runner = CliRunner()

PUBLIC_TABLES = [
    "articles",
    "mentions",
    "flags",
    "sources",
    "article_urls",
    "runs",
    "problems",
    "feed_leases",
    "digest_deliveries",
    "digest_messages",
    "digest_runs",
    "attributions",
    "story_derivations",
    "article_anchors",
    "verdicts",
]
PUBLIC_VIEWS = [
    "source_health",
    "stories",
    "flag_entities",
    "daily_trends",
    "cooccurrence",
    "spikes",
    "story_timeline",
    "claim_links",
    "claim_stories",
    "claims",
    "claim_timeline",
    "latest_verdicts",
]


@dataclass(frozen=True)
class Src:
    name: str
    url: str
    language: str | None = "en"
    tags: tuple[str, ...] = ()
    enabled: bool = True


def count(store: Store, table: str) -> int:
    with store.reader() as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_migrations_apply_once(store_target):
    store = store_target.store()
    assert not store.exists()
    assert store.migrate() == SCHEMA_VERSION
    assert store.exists()
    assert store.migrate() == SCHEMA_VERSION
    with store.reader() as con:
        versions = [
            r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
        ]
        for t in PUBLIC_TABLES + PUBLIC_VIEWS:
            con.execute(f"SELECT * FROM {t} LIMIT 0")
    assert versions == [v for v, _, _ in MIGRATIONS]


def test_write_batch_is_idempotent(store_target):
    store = store_target.store()
    recs = make_records(range(5)) + make_records([5, 6], flagged=False)
    first = store.articles.write_batch(
        recs, run_id="r1", extra_urls={"a0000": ["https://n.example/feed-link/0"]}
    )
    assert (first.articles_new, first.articles_flagged, first.duplicates) == (7, 5, 0)
    again = store.articles.write_batch(
        recs + recs[:2], run_id="r2", extra_urls={"a0000": ["https://n.example/feed-link/0"]}
    )
    assert (again.articles_new, again.articles_flagged, again.duplicates, again.new_ids) == (
        0,
        0,
        9,
        [],
    )
    assert [count(store, t) for t in ("articles", "flags", "mentions", "article_urls")] == [
        7,
        5,
        10,
        8,
    ]
    with store.reader() as con:
        assert con.execute(
            "SELECT count(DISTINCT run_id), min(run_id) FROM articles"
        ).fetchone() == (1, "r1")
        row = con.execute(
            "SELECT actors, allegations, score FROM flags WHERE article_id = 'a0003'"
        ).fetchone()
    assert row == (["hamas"], ["tunnel_network"], 2.0)


def test_known_urls(store_target):
    store = store_target.store()
    urls = ["https://n.example/1", "https://n.example/2", "https://n.example/feed-link/1"]
    assert store.articles.known_urls(urls) == set()  # before the database exists
    store.articles.write_batch(
        make_records([1]), extra_urls={"a0001": ["https://n.example/feed-link/1"]}
    )
    assert store.articles.known_urls(urls) == {
        "https://n.example/1",
        "https://n.example/feed-link/1",
    }
    assert store.articles.known_urls([]) == set()


def test_sources_sync_and_update(store_target):
    store = store_target.store()
    store.sources.sync(
        [Src("A", "https://a.example/feed", tags=("x",)), Src("B", "https://b.example/feed")]
    )
    t = datetime(2026, 11, 20, 12)
    store.sources.update(
        [
            SourceUpdate(
                "A",
                "ok",
                t,
                http_status=200,
                etag='"e1"',
                entries_seen=3,
                new_items=2,
                next_poll_at=t + timedelta(minutes=30),
            ),
            SourceUpdate("B", "failed", t, http_status=500, error="HTTP 500"),
        ],
        run_id="r1",
    )
    store.sources.update([SourceUpdate("B", "failed", t + timedelta(hours=1), error="timeout")])
    states = store.sources.states()
    assert states["A"].etag == '"e1"' and states["A"].consecutive_failures == 0
    assert states["A"].next_poll_at == t + timedelta(minutes=30)
    assert states["B"].consecutive_failures == 2 and states["B"].failing_since == t
    # a changed URL forgets the validators; a source dropped from the config is disabled
    store.sources.sync([Src("A", "https://a.example/new-feed")])
    states = store.sources.states()
    assert states["A"].url == "https://a.example/new-feed" and states["A"].etag is None
    with store.reader() as con:
        rows = con.execute(
            "SELECT h.name, h.enabled, s.tags, h.health FROM source_health h "
            "JOIN sources s USING (name) ORDER BY name"
        ).fetchall()
        problems = con.execute("SELECT count(*) FROM problems").fetchone()[0]
    assert rows == [("A", True, [], "ok"), ("B", False, [], "disabled")]
    assert states["B"].etag is None
    assert problems == 0


def test_public_views_answer(store_target):
    store = store_target.store()
    store.articles.write_batch(make_records(range(8)), run_id="r1")
    with store.reader() as con:
        stories = con.execute("SELECT count(*), sum(article_count) FROM stories").fetchone()
        trends = con.execute(
            "SELECT kind, entity_id, sum(articles) FROM daily_trends GROUP BY ALL ORDER BY 1"
        ).fetchall()
        pairs = con.execute(
            "SELECT actor_id, allegation_id, sum(stories) > 0 FROM cooccurrence GROUP BY ALL"
        ).fetchall()
        con.execute("SELECT * FROM spikes").fetchall()
        con.execute("SELECT * FROM source_health").fetchall()
    assert stories[1] == 8 and 1 <= stories[0] <= 8
    assert trends == [("actor", "hamas", 8), ("allegation", "tunnel_network", 8)]
    assert pairs == [("hamas", "tunnel_network", True)]


def test_sql_command_reads_and_refuses_writes(store_target):
    store = store_target.store()
    store.articles.write_batch(make_records(range(3)), run_id="r1")
    r = runner.invoke(
        app,
        [
            "sql",
            "--db",
            store_target.target,
            "-f",
            "json",
            "SELECT article_id, actors FROM flags ORDER BY article_id",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [
        {"article_id": f"a{i:04d}", "actors": ["hamas"]} for i in range(3)
    ]
    for sql in ("DELETE FROM articles", "CREATE TABLE x (i INTEGER)", "SELECT 1; DROP TABLE flags"):
        r = runner.invoke(app, ["sql", "--db", store_target.target, sql])
        assert r.exit_code != 0 and "read-only" in r.output, (sql, r.output)
    assert count(store, "articles") == 3


def test_reader_refuses_writes(store_target):
    store = store_target.store()
    store.migrate()
    with store.reader() as con, pytest.raises(Exception, match=r"read-only|read only"):
        con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('x', now(), 'running')")


def lake_only(target) -> None:
    # a DuckDB file has one writer at a time (its lock), so these races cannot happen there
    if target.kind != "ducklake":
        pytest.skip("a DuckDB file has one writer at a time (file lock): nothing to race")


def test_concurrent_writers_store_every_article_once(store_target):
    lake_only(store_target)
    store = store_target.store()
    store.migrate()
    # two processes, overlapping batches in opposite orders: 0..59 up, 89..30 down
    a = [list(range(i, i + 10)) for i in range(0, 60, 10)]
    b = [list(range(i, i - 10, -1)) for i in range(89, 29, -10)]
    new = run_in_processes(write_batches_worker, [(store_target, a), (store_target, b)])
    assert sum(new) == 90
    with store.reader() as con:
        assert con.execute(
            "SELECT count(*), count(DISTINCT article_id) FROM articles"
        ).fetchone() == (90, 90)
        assert con.execute("SELECT count(*), count(DISTINCT article_id) FROM flags").fetchone() == (
            90,
            90,
        )
        assert con.execute("SELECT count(*) FROM mentions").fetchone()[0] == 180
        assert con.execute("SELECT count(*), count(DISTINCT url) FROM article_urls").fetchone() == (
            90,
            90,
        )
        assert con.execute(
            "SELECT count(*), count(DISTINCT article_id) FROM story_signatures"
        ).fetchone() == (90, 90)


def test_claim_feeds_from_two_processes_is_disjoint(store_target):
    lake_only(store_target)
    store = store_target.store()
    store.migrate()
    names = [f"feed-{i:02d}" for i in range(40)]
    chunks_1 = [names[i : i + 8] for i in range(0, 40, 8)]
    chunks_2 = [names[i : i + 5] for i in range(0, 40, 5)][::-1]
    got_1, got_2 = run_in_processes(
        claim_worker, [(store_target, "w1", chunks_1), (store_target, "w2", chunks_2)]
    )
    assert not set(got_1) & set(got_2)
    assert sorted(got_1 + got_2) == names
    with store.reader() as con:
        owners = dict(
            con.execute("SELECT owner, count(*) FROM feed_leases GROUP BY owner").fetchall()
        )
    assert owners == {o: n for o, n in (("w1", len(got_1)), ("w2", len(got_2))) if n}


def test_transaction_lease_is_taken_once(store_target):
    """Overlapping ``with store.transaction()`` blocks (digest._take_lease's pattern): at most
    one commits its anti-join insert; on a lake the others fail with StoreConflict."""
    lake_only(store_target)
    store = store_target.store()
    store.migrate()
    results = run_in_processes(lease_once_worker, [(store_target, "digest:daily")] * 2)
    assert results.count("taken") == 1, results
    assert set(results) <= {"taken", "busy", "conflict"}
    with store.reader() as con:
        assert (
            con.execute("SELECT count(*) FROM feed_leases WHERE name = 'digest:daily'").fetchone()[
                0
            ]
            == 1
        )


def test_expired_lease_is_reclaimed(store_target):
    store = store_target.store()
    t0 = datetime(2026, 11, 20, 12)
    assert store.leases.claim(["A", "B", "C"], "w1", 60, now=t0) == ["A", "B", "C"]
    assert store.leases.claim(["C", "B", "D"], "w2", 60, now=t0 + timedelta(seconds=30)) == ["D"]
    # w1's own leases are renewed, not refused
    assert store.leases.claim(["A"], "w1", 60, now=t0 + timedelta(seconds=40)) == ["A"]
    # w1 died: B and C expire at t0+60 and go to the next claimant; A was renewed to t0+100
    assert store.leases.claim(["A", "B", "C"], "w2", 60, now=t0 + timedelta(seconds=61)) == [
        "B",
        "C",
    ]
    assert store.leases.release("w2", ["D"]) == 1
    assert store.leases.release("w2") == 2
    assert store.leases.claim(["B", "D"], "w3", 60, now=t0 + timedelta(seconds=62)) == ["B", "D"]
    assert store.leases.claim([], "w3", 60) == []


def test_lake_without_catalog_is_a_clear_error(store_target, tmp_path):
    if store_target.kind != "ducklake":
        missing = Store(tmp_path / "missing.duckdb")
    else:
        missing = Store(store_target.target.replace("dbname=", "dbname=nw_missing_"))
    with pytest.raises(StoreError, match=r"does not exist|cannot open"), missing.reader():
        pass


def test_dedup_lookup_finds_urls_stored_before_their_hashed_key(tmp_path):
    """A store written before migration 12 has no url_key: migrating fills it in, and the
    lookup by key finds every URL stored before and after, and none that is not."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE schema_migrations "
        "(version INTEGER NOT NULL, name VARCHAR, applied_at TIMESTAMP NOT NULL)"
    )
    for version, name, sql in MIGRATIONS:
        if version >= 12:
            break
        con.execute(sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
    con.execute("INSERT INTO article_urls VALUES ('https://n.example/old/1', 'o1')")
    con.close()
    store = Store(path)
    assert store.articles.known_urls(["https://n.example/old/1"]) == {"https://n.example/old/1"}
    store.migrate()  # the old store's reader above used the URLs; now the keys
    store.articles.write_batch(make_records([1]))
    new_url = make_records([1])[0].canonical_url
    asked = ["https://n.example/old/1", new_url, "https://n.example/never"]
    assert store.articles.known_urls(asked) == {"https://n.example/old/1", new_url}
    with store.reader() as con:
        assert con.execute(
            "SELECT count(*) FROM article_urls WHERE url_key IS NULL"
        ).fetchone() == (0,)
