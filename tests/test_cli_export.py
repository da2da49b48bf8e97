"""``newswatch export``: every public table, --table and --since, UTC timestamps with their
zone in Parquet, and CSV / JSON exactly as ``newswatch sql`` prints them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import stores
from newswatch.cli import app
from newswatch.cli.sql import PUBLIC_TABLES
from newswatch.store import Store

runner = CliRunner()
README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def db(tmp_path) -> str:
    store = Store(tmp_path / "x.duckdb")
    old = stores.make_records(range(3))
    new = [
        r.__class__(**{**{f: getattr(r, f) for f in r.__dataclass_fields__}, "fetched_at": t})
        for r, t in zip(
            stores.make_records(range(3, 5)),
            (datetime(2026, 11, 25, 9), datetime(2026, 11, 26, 23, 59)),
            strict=True,
        )
    ]
    store.articles.write_batch(old, run_id="r1")  # fetched 2026-11-21
    store.articles.write_batch(new, run_id="r2")
    return store.target


def _readme_public_tables() -> set[str]:
    """Every table and view a README table of "Public SQL" lists (first column)."""
    text = README.read_text(encoding="utf-8")
    names: set[str] = set()
    for block in re.findall(r"^\| (?:table|view) \|.*?\n((?:\|.*\n)+)", text, re.M):
        for line in block.splitlines()[1:]:
            names |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return names


def test_every_table_the_readme_calls_public_is_exported():
    listed = _readme_public_tables()
    assert {"articles", "runs", "problems", "article_urls", "digest_messages"} <= listed
    assert listed <= set(PUBLIC_TABLES), f"not exported: {sorted(listed - set(PUBLIC_TABLES))}"


def test_export_writes_every_public_table_with_zoned_timestamps(db, tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(app, ["export", "--db", db, str(out)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.parquet" for t in PUBLIC_TABLES)
    counts = dict(line.split("\t") for line in r.stdout.splitlines())
    assert counts[str(out / "articles.parquet")] == "5"
    assert counts[str(out / "mentions.parquet")] == "10"
    field = pq.read_schema(out / "articles.parquet").field("fetched_at")
    assert str(field.type) == "timestamp[us, tz=UTC]"
    fetched = pq.read_table(out / "articles.parquet").column("fetched_at").to_pylist()
    assert datetime(2026, 11, 26, 23, 59, tzinfo=UTC) in fetched  # the same instant, zoned


def test_export_table_and_since(db, tmp_path):
    out = tmp_path / "some"
    r = runner.invoke(
        app,
        [
            "export",
            "--db",
            db,
            "-t",
            "articles",
            "-t",
            "mentions",
            "--since",
            "2026-11-25",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["articles.parquet", "mentions.parquet"]
    ids = duckdb.sql(f"SELECT list(article_id ORDER BY 1) FROM '{out}/articles.parquet'").fetchone()
    assert ids[0] == ["a0003", "a0004"]
    n = duckdb.sql(f"SELECT count(*) FROM '{out}/mentions.parquet'").fetchone()[0]
    assert n == 4  # the mentions of those two articles only


def test_export_csv_and_json_are_what_sql_prints(db, tmp_path):
    out = tmp_path / "csv"
    r = runner.invoke(app, ["export", "--db", db, "-f", "csv", "-t", "flags", str(out)])
    assert r.exit_code == 0, r.output
    printed = runner.invoke(app, ["sql", "--db", db, "-f", "csv", "SELECT * FROM flags"])
    assert (out / "flags.csv").read_text(encoding="utf-8") == printed.stdout
    assert '"[""hamas""]"' in printed.stdout  # lists as JSON arrays, in both
    for fmt in ("json", "jsonl"):
        r = runner.invoke(app, ["export", "--db", db, "-f", fmt, "-t", "articles", str(out)])
        assert r.exit_code == 0, r.output
        printed = runner.invoke(app, ["sql", "--db", db, "-f", fmt, "SELECT * FROM articles"])
        written = (out / f"articles.{fmt}").read_text(encoding="utf-8")
        assert written == printed.stdout
    rows = json.loads((out / "articles.json").read_text(encoding="utf-8"))
    assert rows[0]["fetched_at"] == "2026-11-21T00:00:00+00:00"


@pytest.mark.parametrize(
    ("args", "error", "hint"),
    [
        (
            ["-t", "nope"],
            "Error: --table 'nope' is not a public table",
            "Hint: choose from articles, ",
        ),
        (
            ["--since", "yesterday"],
            "Error: --since 'yesterday' is not a date",
            "Hint: use YYYY-MM-DD",
        ),
        (
            ["-f", "xlsx"],
            "Error: unknown --format 'xlsx'; choose one of parquet, csv, json, jsonl",
            "Hint: newswatch export --help shows the usage and examples",
        ),
    ],
)
def test_export_bad_options_write_nothing(db, tmp_path, args, error, hint):
    out = tmp_path / "never"
    r = runner.invoke(app, ["export", "--db", db, *args, str(out)])
    assert r.exit_code == 2
    lines = r.stderr.splitlines()
    assert lines[0] == error
    assert lines[1].startswith(hint) and len(lines) == 2
    assert not out.exists()


pg_server = stores.pg_server  # fixtures: a DuckDB file, and a DuckLake on PostgreSQL
store_target = stores.store_target


def test_export_on_either_store(store_target, tmp_path, monkeypatch):
    for key, value in store_target.env().items():
        monkeypatch.setenv(key, value)
    store_target.store().articles.write_batch(stores.make_records(range(4)), run_id="r")
    out = tmp_path / "both"
    r = runner.invoke(app, ["export", "-t", "articles", "-t", "flags", "-t", "runs", str(out)])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        f"{out / 'articles.parquet'}\t4",
        f"{out / 'flags.parquet'}\t4",
        f"{out / 'runs.parquet'}\t0",
    ]
    field = pq.read_schema(out / "flags.parquet").field("flagged_at")
    assert str(field.type) == "timestamp[us, tz=UTC]"
    r = runner.invoke(app, ["export", "-f", "csv", "-t", "mentions", str(out)])
    assert r.exit_code == 0, r.output
    assert len((out / "mentions.csv").read_text(encoding="utf-8").splitlines()) == 1 + 8
