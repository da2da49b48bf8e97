"""What a new user meets after the Quick start (issue 15, the walk-through): each test is a
step that went wrong when tried from a fresh clone, a fresh `newswatch init` folder or a
folder with nothing in it."""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from newswatch.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch):
    """No NEWSWATCH_* variable of the caller's may pick a configuration or database."""
    for key in list(os.environ):
        if key.startswith("NEWSWATCH_") and key != "NEWSWATCH_ALLOW_PRIVATE_ADDRESSES":
            monkeypatch.delenv(key)


def _empty_db(path: Path) -> Path:
    from newswatch.store import Store

    Store(str(path)).migrate()
    return path


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """What ``proc`` wrote on standard error up to the line holding ``marker``."""
    assert proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sel.select(timeout=deadline - time.monotonic()):
            break
        line = proc.stderr.readline()
        if not line:  # the process ended
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} from {proc.args}; it wrote: {''.join(seen)!r}")


def test_web_from_a_folder_without_config_uses_the_shipped_configuration(tmp_path):
    # `newswatch web --db somewhere.duckdb` from any folder, as `flag` works from any folder
    db = _empty_db(tmp_path / "some.duckdb")
    away = tmp_path / "elsewhere"
    away.mkdir()
    cmd = [sys.executable, "-m", "newswatch.cli", "web", "--db", str(db), "--port", "0"]
    proc = subprocess.Popen(cmd, cwd=away, stderr=subprocess.PIPE, text=True)
    try:
        said = _read_until(proc, "newswatch web: http://", timeout=120)
        assert "using the configuration newswatch ships" in said, said
        url = said.rsplit("newswatch web: ", 1)[1].split()[0]
        r = httpx.get(url, timeout=30)
        assert r.status_code == 200 and "newswatch" in r.text
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        assert proc.stderr is not None
        proc.stderr.close()


def test_web_with_a_config_folder_that_is_not_there_is_an_error(tmp_path):
    # an explicit --config is taken at its word: no fallback behind the user's back
    r = runner.invoke(app, ["web", "--config", str(tmp_path / "nope"), "--port", "0"])
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == (
        f"Error: {tmp_path / 'nope'}: configuration directory not found"
    )


def test_eval_with_a_broken_thresholds_file_says_to_fix_it(tmp_path):
    bad = tmp_path / "thresholds.yaml"
    bad.write_text("micro:\n  actors: {precision: [\n", encoding="utf-8")
    labelled = Path(__file__).parent / "eval" / "en.jsonl"
    r = runner.invoke(app, ["eval", "-c", "config", "-t", str(bad), str(labelled)])
    assert r.exit_code == 2
    lines = r.stderr.splitlines()
    assert lines[0].startswith(f"Error: {bad}: line ") and "invalid YAML" in lines[0]
    assert lines[1:] == ["Hint: fix the file and run again; nothing was written"]


def test_eval_says_which_thresholds_it_could_not_check(tmp_path):
    import json

    # German passages naming no allegation: a per-language allegations floor says nothing
    # about German, and eval says so instead of counting it as met
    labelled = tmp_path / "set.jsonl"
    rows = [
        {
            "id": "de-1",
            "language": "de",
            "text": "Die Hamas hat eine Erklärung veröffentlicht.",
            "actors": ["hamas"],
            "allegations": [],
        },
        {
            "id": "en-1",
            "language": "en",
            "text": "North Korea supplied rockets and rifles to Hamas, officials said.",
            "actors": ["hamas", "north_korea"],
            "allegations": ["arms_transfer"],
        },
    ]
    labelled.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    limits = tmp_path / "thresholds.yaml"
    limits.write_text("per_language:\n  allegations: {f1: 0.8}\n", encoding="utf-8")
    r = runner.invoke(app, ["eval", "-c", "config", str(labelled)])
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines() == [
        "not checked: allegations f1 (de) >= 0.800: nothing expected or found"
    ]
    r = runner.invoke(app, ["eval", "-c", "config", "-f", "json", str(labelled)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["below_thresholds"] == []
    assert d["unchecked_thresholds"] == ["allegations f1 (de) >= 0.800: nothing expected or found"]


def test_a_piped_table_cuts_no_cell(tmp_path):
    # `newswatch sql … | less`: a title longer than --max-width comes out whole
    db = _empty_db(tmp_path / "x.duckdb")
    long = "North Korea " * 12
    cmd = [sys.executable, "-m", "newswatch.cli", "sql", "--db", str(db), f"SELECT '{long}' AS t"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert long.strip() in r.stdout and "…" not in r.stdout


@pytest.mark.parametrize("command", [["flag", "-"], ["eval"]])
def test_flag_and_eval_with_a_missing_config_folder_say_so(tmp_path, command):
    missing = tmp_path / "nope"
    r = runner.invoke(app, [command[0], "-c", str(missing), *command[1:]], input="Hamas")
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {missing}: configuration directory not found\n"
        "Hint: give the folder with --config, or write a commented one with `newswatch init`\n"
    )


def test_status_says_its_times_are_utc(tmp_path):
    from datetime import datetime

    from newswatch.store import Store

    db = _empty_db(tmp_path / "x.duckdb")
    Store(str(db)).runs.start("r1", datetime(2026, 11, 20, 6, 5, 4), 0)
    r = runner.invoke(app, ["status", "--db", str(db), "-c", "config"])
    assert r.exit_code == 0, r.output
    (line,) = [x for x in r.stdout.splitlines() if "[r1]" in x]
    # the run id is text, not a Rich style tag that vanishes
    assert line == "  2026-11-20 06:05:04 UTC  running   0 feeds (0 failed), 0 new, 0 flagged  [r1]"


def test_eval_prints_a_passage_id_as_text(tmp_path):
    import json

    labelled = tmp_path / "set.jsonl"
    row = {"id": "[bold]p1", "language": "en", "text": "Nothing to see.", "actors": ["iran"]}
    labelled.write_text(json.dumps(row) + "\n", encoding="utf-8")
    r = runner.invoke(app, ["eval", "-c", "config", str(labelled)])
    assert "  [bold]p1: actors: missed iran" in r.stdout.splitlines(), r.stdout


def test_run_json_gives_its_times_with_their_zone(tmp_path):
    import json

    cdir = tmp_path / "config"
    cdir.mkdir()
    (cdir / "sources.yaml").write_text(
        "sources:\n  - name: Nowhere\n    url: http://127.0.0.1:9/feed.xml\n", encoding="utf-8"
    )
    (cdir / "newswatch.yaml").write_text(
        "fetch: {retries: 0, allow_private_addresses: true}\n", encoding="utf-8"
    )
    shutil.copy(Path("config") / "watchlist.yaml", cdir / "watchlist.yaml")
    db = tmp_path / "x.duckdb"
    r = runner.invoke(app, ["run", "-q", "-c", str(cdir), "--db", str(db), "-f", "json"])
    assert r.exit_code == 4, r.output  # no feed could be fetched
    d = json.loads(r.stdout)
    assert d["started_at"].endswith("+00:00") and d["finished_at"].endswith("+00:00"), d


def test_digest_preview_in_a_fresh_init_folder_before_any_run(tmp_path, monkeypatch):
    # README: `newswatch init DIR && cd DIR && newswatch digest --dry-run`
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["digest", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert r.stdout == "example: nothing would be sent\n"
    assert "No database yet at data/newswatch.duckdb" in r.stderr
    assert not (tmp_path / "data").exists()  # a preview writes nothing, not even a folder
    # sending for real still needs a digest defined
    assert runner.invoke(app, ["digest"]).exit_code == 2
