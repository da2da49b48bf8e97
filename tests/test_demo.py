"""`newswatch demo` end to end, and the README's example queries against its database."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newswatch.cli import app

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> str:
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    result = runner.invoke(app, ["demo", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "Flagged articles" in result.output
    assert "newswatch sql --db" in result.output
    return str(db)


def sql(db: str, query: str):
    # from standard input, as a user runs a saved query: newswatch sql -f json - < query.sql
    r = runner.invoke(app, ["sql", "--db", db, "-f", "json", "-"], input=query)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def readme_queries() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- example-queries:start -->")[1].split("<!-- example-queries:end -->")[0]
    return re.findall(r"```sql\n(.*?)```", block, re.S)


def test_demo_flags_the_seed_story_and_not_the_near_misses(demo_db):
    from newswatch.demo import demo_manifest

    manifest = demo_manifest()
    rows = sql(
        demo_db,
        "SELECT a.canonical_url AS url, f.actors, f.allegations FROM articles a LEFT JOIN flags f USING (article_id)",
    )
    by_path = {re.sub(r"^https?://[^/]+", "", r["url"]): r for r in rows}
    articles = manifest["articles"]
    assert len(by_path) == len(articles)
    misses = []
    for art in articles:
        row = by_path[art["path"]]
        got_actors = set(row["actors"] or [])
        got_alleg = set(row["allegations"] or [])
        want_actors, want_alleg = set(art.get("actors") or []), set(art.get("allegations") or [])
        if not want_actors and got_actors:
            misses.append((art["path"], "false flag", sorted(got_actors)))
        if not want_actors <= got_actors or not want_alleg <= got_alleg:
            misses.append(
                (
                    art["path"],
                    "missed",
                    sorted(want_actors - got_actors),
                    sorted(want_alleg - got_alleg),
                )
            )
    assert not misses, misses


def test_readme_example_queries_run_as_written(demo_db):
    queries = readme_queries()
    assert len(queries) >= 5
    for q in queries:
        rows = sql(demo_db, q)
        assert isinstance(rows, list)
    flagged = sql(demo_db, queries[0])
    assert flagged and flagged[0]["score"] >= flagged[-1]["score"]


def test_demo_web_serves_the_workbench_until_interrupted(tmp_path):
    """`newswatch demo --web`: the demo, then the sample site and the workbench until Ctrl-C;
    nothing is left running afterwards."""
    import signal
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "newswatch.cli", "demo", "--db", str(tmp_path / "d.duckdb"),
         "--web", "--web-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:  # waits for the line, however long the demo takes
            if line.startswith("The workbench: "):
                url = line.split()[2]
                break
        assert url == f"http://127.0.0.1:{port}/"
        r = httpx.get(url, timeout=30)
        assert r.status_code == 200 and "Board" in r.text
        assert "North Korea" in r.text  # the demo's flags, on the board
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        if proc.stdout is not None:
            proc.stdout.close()
    with pytest.raises(httpx.ConnectError):  # the workbench is gone with it
        httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
