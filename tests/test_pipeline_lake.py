"""The real pass against a DuckLake on PostgreSQL gives what it gives against a DuckDB file."""

from __future__ import annotations

from pathlib import Path

import pytest

import stores
from newsfixtures import build_site, site_sources, write_config
from newswatch.pipeline.run import run_pass
from newswatch.settings import load_config
from newswatch.store import Store
from stores import lake_target

pg_server = stores.pg_server  # fixture
pytestmark = pytest.mark.postgres

COUNT_SQL = {
    "articles": "SELECT count(*) FROM articles",
    "distinct_urls": "SELECT count(DISTINCT canonical_url) FROM articles",
    "flags": "SELECT count(*) FROM flags",
    "mentions": "SELECT count(*) FROM mentions",
    "article_urls": "SELECT count(*) FROM article_urls",
    "stories": "SELECT count(*) FROM stories",
    "problems": "SELECT count(*) FROM problems",
    "failing_sources": "SELECT count(*) FROM sources WHERE consecutive_failures > 0",
    "runs_completed": "SELECT count(*) FROM runs WHERE status = 'completed'",
}


def counts(store: Store) -> dict[str, int]:
    with store.reader() as con:
        return {k: con.execute(sql).fetchone()[0] for k, sql in COUNT_SQL.items()}


def test_pass_on_ducklake_matches_duckdb_file(tmp_path: Path, pg_server, monkeypatch):
    lake = lake_target(pg_server, tmp_path)
    monkeypatch.setenv("NEWSWATCH_DATA_PATH", lake.data_path)  # the pass builds Store(config.db)
    results = {}
    with build_site() as site:
        for kind, db in (("duckdb", str(tmp_path / "nw.duckdb")), ("ducklake", lake.target)):
            cdir = write_config(tmp_path / f"config-{kind}", site_sources(site), db=db)
            config = load_config(cdir)
            first = run_pass(config)
            second = run_pass(config)  # nothing new, nothing twice
            results[kind] = (first.counts(), second.counts(), counts(Store(db)))
    file_first, file_second, file_counts = results["duckdb"]
    lake_first, lake_second, lake_counts = results["ducklake"]
    assert lake_first == file_first and lake_first["articles_new"] == 6
    assert lake_second == file_second and lake_second["articles_new"] == 0
    assert lake_counts == file_counts
    assert (
        lake_counts["articles"] == lake_counts["distinct_urls"] == 6
        and lake_counts["runs_completed"] == 2
    )


def test_commands_work_unchanged_on_ducklake(tmp_path: Path, pg_server, monkeypatch):
    """run, sql, trends, digest, sources and status against a DuckLake target."""
    import json

    from typer.testing import CliRunner

    from newswatch.cli import app

    lake = lake_target(pg_server, tmp_path)
    monkeypatch.setenv("NEWSWATCH_DATA_PATH", lake.data_path)
    runner = CliRunner()
    with build_site() as site:
        cdir = write_config(
            tmp_path / "config",
            site_sources(site),
            db=lake.target,
            settings={
                "digests": [
                    {
                        "name": "desk",
                        "recipients": ["desk@example.org"],
                        "immediate": True,
                        "backfill_days": 3650,
                    }
                ],
            },
        )
        r = runner.invoke(app, ["run", "--config", str(cdir), "--quiet"])
        assert r.exit_code == 0, r.output
    db = ["--db", lake.target]
    r = runner.invoke(app, ["sql", *db, "-f", "json", "SELECT count(*) AS n FROM flags"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["n"] >= 3
    r = runner.invoke(app, ["sql", *db, "DELETE FROM articles"])
    assert r.exit_code != 0 and "read-only" in r.output
    r = runner.invoke(app, ["trends", *db, "--days", "60", "-f", "json"])
    assert r.exit_code == 0, r.output
    assert "hezbollah" in r.stdout
    eml = tmp_path / "desk.eml"
    r = runner.invoke(
        app, ["digest", "--config", str(cdir), *db, "--name", "desk", "--to-file", str(eml)]
    )
    assert r.exit_code == 0, r.output
    assert b"North Korea" in eml.read_bytes()
    r = runner.invoke(app, ["sources", *db, "-f", "json"])
    assert r.exit_code == 0 and {s["name"] for s in json.loads(r.stdout)} >= {
        "Test Wire",
        "Down Feed",
    }
    r = runner.invoke(app, ["status", "--config", str(cdir), "-f", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["articles"] == 6
