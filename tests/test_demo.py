"""`newswatch demo` end to end, and the README's example queries against its database."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newswatch.cli import app
from newswatch.cli.demo import newswatch_command

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    result = runner.invoke(app, ["demo", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "Flagged articles" in result.output
    assert "newswatch sql --db" in result.output
    return db, result.stdout


@pytest.fixture(scope="module")
def demo_db(demo_run) -> str:
    return str(demo_run[0])


def printed_commands(output: str) -> list[list[str]]:
    """The commands the demo printed, as argument lists after its way to call newswatch."""
    prefix = newswatch_command() + " "
    lines = [x.strip() for x in output.splitlines() if x.strip().startswith(prefix)]
    return [shlex.split(x)[len(shlex.split(prefix)) :] for x in lines]


def test_the_printed_commands_call_newswatch_the_way_it_was_started(monkeypatch, tmp_path):
    """uv in a venv of its own (README's route where pip is refused) is not on PATH: the
    demo prints its full path, so the commands work when pasted."""
    uv = tmp_path / "uv-env" / "bin" / "uv"
    uv.parent.mkdir(parents=True)
    uv.write_text("#!/bin/sh\n")
    uv.chmod(0o755)
    monkeypatch.setenv("UV", str(uv))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert newswatch_command() == f"{uv} run newswatch"
    monkeypatch.setenv("PATH", f"{uv.parent}:/usr/bin:/bin")
    assert newswatch_command() == "uv run newswatch"


def test_printed_commands_work_as_printed(demo_run):
    """Every command the demo suggests runs as printed (run needs the sample site up, so it
    is checked for its arguments only); the kept configuration is what sources reads."""
    db, output = demo_run
    assert "Immediate alerts" not in output and "SMTP" not in output  # no mail server tried
    cdir = db.with_name("demo-config")
    assert (cdir / "sources.yaml").exists() and (cdir / "newswatch.yaml").exists()
    commands = printed_commands(output)
    kinds = [c[0] for c in commands]
    assert kinds.count("sql") >= 4 and {"sources", "digest", "run", "web"} <= set(kinds)
    for args in commands:
        assert ["--db", str(db)] == args[args.index("--db") : args.index("--db") + 2], args
        if args[0] in ("sql", "sources", "digest"):
            r = runner.invoke(app, args)
            assert r.exit_code == 0, (args, r.output)
            if args[0] == "sources":
                assert "Hanbit Ilbo" in r.stdout and "ok" in r.stdout
            if args[0] == "digest":
                assert "demo" in r.output  # the demo digest of the kept newswatch.yaml
        else:
            assert ["--config", str(cdir)] == args[1:3] or args[0] == "web", args


def test_demo_prints_one_storys_timeline(demo_run):
    _, output = demo_run
    part = output.split("One story's timeline")[1].split("The claim across languages")[0]
    assert "first report" in part and part.count("copy of The Tidewater Tribune") == 2
    claim = output.split("The claim across languages")[1].split("The results are in")[0]
    assert [lang for lang in ("en", "ko", "ar") if f" {lang} " in claim] == ["en", "ko", "ar"]


def test_demo_json_has_the_story_timeline_and_the_claim(tmp_path):
    from newswatch.demo import demo_manifest

    db = tmp_path / "d.duckdb"
    r = runner.invoke(app, ["demo", "--db", str(db), "-f", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["database"] == str(db) and doc["config"] == str(tmp_path / "d-config")
    assert doc["summary"]["articles_new"] == len(demo_manifest()["articles"])
    by_role = {
        a["path"]: a["provenance"]["role"] for a in demo_manifest()["articles"] if "provenance" in a
    }
    tl = doc["story_timeline"]
    first, verbatim, edited = tl
    assert [r["outlet"] for r in tl] == [
        "The Tidewater Tribune",
        "The Northgate Herald",
        "HaMigdalor",
    ]
    assert first["derived_from"] is None and first["order_confidence"] == 1.0
    assert verbatim["derived_from"] == first["article"] and verbatim["adds_reporting"] is False
    assert verbatim["overlap"] == 1.0
    assert edited["derived_from"] == first["article"] and edited["adds_reporting"] is True
    assert sorted(by_role.values()).count("translation") == 2
    spread = doc["claim_timeline"]
    assert [(c["language"], c["first_in_language"]) for c in spread] == [
        ("en", True),
        ("ko", True),
        ("ar", True),
    ]
    assert "alma_center" in spread[0]["attributed_to"] and "rfa" in spread[0]["attributed_to"]
    assert all(c["time"].endswith("+00:00") for c in spread)
    assert any("-f json" in c for c in doc["commands"]["sql"])


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
