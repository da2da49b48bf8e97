"""The CLI as an API: exact formats, read-only SQL, help everywhere."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime

import pytest
from typer.testing import CliRunner

from newswatch.cli import app
from newswatch.models import ArticleRecord, FlagResult, Mention
from newswatch.store import Store

runner = CliRunner()


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "cli.duckdb"
    store = Store(path)
    recs = [
        ArticleRecord(
            article_id=f"a{i}",
            url=f"https://n.example/{i}",
            canonical_url=f"https://n.example/{i}",
            source="N",
            title=f'Title {i}, with "quotes"',
            author=None,
            published_at=datetime(2026, 11, i + 1),
            fetched_at=datetime(2026, 11, 20),
            language="en",
            text="Hamas text",
            summary=None,
            extraction="trafilatura",
            content_hash="h",
            flag=FlagResult(
                actors=("hamas",),
                allegations=(),
                score=1.5,
                mentions=(Mention("actor", "hamas", "Hamas", "Hamas text", 0, 5),),
            ),
        )
        for i in range(3)
    ]
    store.articles.write_batch(recs, run_id="r")
    return str(path)


def test_sql_json_is_one_array_of_objects(db):
    r = runner.invoke(
        app,
        [
            "sql",
            "--db",
            db,
            "-f",
            "json",
            "SELECT article_id, actors, score FROM flags ORDER BY article_id",
        ],
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data == [{"article_id": f"a{i}", "actors": ["hamas"], "score": 1.5} for i in range(3)]


def test_sql_jsonl_csv_table(db):
    r = runner.invoke(
        app,
        ["sql", "--db", db, "-f", "jsonl", "SELECT title, published_at FROM articles ORDER BY 1"],
    )
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["title"] for x in lines] == [
        'Title 0, with "quotes"',
        'Title 1, with "quotes"',
        'Title 2, with "quotes"',
    ]
    assert lines[0]["published_at"] == "2026-11-01T00:00:00+00:00"  # UTC, with its zone
    r = runner.invoke(
        app,
        [
            "sql",
            "--db",
            db,
            "-f",
            "csv",
            "SELECT title, actors FROM articles JOIN flags USING (article_id) ORDER BY 1",
        ],
    )
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["title", "actors"]
    assert rows[1] == ['Title 0, with "quotes"', '["hamas"]']
    r = runner.invoke(app, ["sql", "--db", db, "SELECT count(*) AS n FROM articles"])
    assert r.exit_code == 0 and " n " in r.stdout and " 3 " in r.stdout


def test_sql_reads_query_from_stdin(db):
    r = runner.invoke(
        app, ["sql", "--db", db, "-f", "json", "-"], input="SELECT count(*) AS n FROM mentions"
    )
    assert json.loads(r.stdout) == [{"n": 3}]


@pytest.mark.parametrize(
    "stmt",
    [
        "INSERT INTO articles (article_id) VALUES ('x')",
        "DELETE FROM articles",
        "DROP TABLE flags",
        "CREATE TABLE t AS SELECT 1",
        "UPDATE sources SET url = 'x'",
        "SELECT 1; DELETE FROM articles",
    ],
)
def test_sql_refuses_writes(db, stmt):
    r = runner.invoke(app, ["sql", "--db", db, stmt])
    assert r.exit_code != 0
    assert "read-only" in r.output
    r = runner.invoke(app, ["sql", "--db", db, "-f", "json", "SELECT count(*) AS n FROM articles"])
    assert json.loads(r.stdout) == [{"n": 3}]


def test_sql_errors_are_one_line(db, tmp_path):
    r = runner.invoke(app, ["sql", "--db", db, "SELECT nope FROM articles"])
    assert r.exit_code == 1 and "Error: SQL error" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["sql", "--db", str(tmp_path / "missing.duckdb"), "SELECT 1"])
    assert r.exit_code == 1 and "does not exist" in r.output


def test_every_command_has_help_with_examples():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    commands = [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]
    for name in commands:
        h = runner.invoke(app, [name, "--help"])
        assert h.exit_code == 0, name
        assert "Example" in h.output, f"{name} --help has no examples"


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "newswatch.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "newswatch" in out.stdout
