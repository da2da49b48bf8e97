"""The CLI's conventions (issue 15): usage errors in one line, hints that fit the error,
scores that are not defined shown as such, and one output option set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newswatch.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch):
    """Errors are checked to the letter: no NEWSWATCH_* variable of the caller's may add to
    them (an override is named in a settings error)."""
    import os

    for key in list(os.environ):
        if key.startswith("NEWSWATCH_"):
            monkeypatch.delenv(key)


HELP_HINT = "Hint: {} --help shows the usage and examples\n"


@pytest.mark.parametrize(
    ("args", "error", "command"),
    [
        (["run", "--bogus"], "No such option: --bogus", "newswatch run"),
        (["nope"], "No such command 'nope'.", "newswatch"),
        (["sql", "--db"], "Option '--db' requires an argument.", "newswatch sql"),
        (
            ["watchlist", "chek"],
            "No such command 'chek'. Did you mean 'check'?",
            "newswatch watchlist",
        ),
        (
            ["trends", "--days", "x"],
            "Invalid value for '--days' / '-n': Input should be a valid integer, unable to "
            "parse string as an integer",
            "newswatch trends",
        ),
    ],
)
def test_usage_error_is_one_line_and_a_hint(args, error, command):
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr == f"Error: {error}\n" + HELP_HINT.format(command)


def test_flag_without_a_path_says_what_it_wants():
    r = runner.invoke(app, ["flag"])
    assert r.exit_code == 2
    assert r.stderr == (
        "Error: newswatch flag needs something to read: one or more text or HTML files, or - "
        "for standard input\n"
        'Hint: newswatch flag article.html, or: echo "North Korea and Hamas" | newswatch flag -\n'
    )


def test_version_and_bare_command_still_work():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.startswith("newswatch ")
    r = runner.invoke(app, [])
    assert r.exit_code == 2 and "Usage" in r.output and "Error" not in r.output


def test_fix_the_file_only_for_an_error_in_a_file(tmp_path):
    # a missing folder is not a file to fix
    r = runner.invoke(app, ["run", "--config", str(tmp_path / "nowhere")])
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {tmp_path / 'nowhere'}: configuration directory not found\n"
        "Hint: give the folder with --config, or write a commented one with `newswatch init`\n"
    )
    # a bad entry in a file that exists is
    cdir = tmp_path / "config"
    cdir.mkdir()
    (cdir / "newswatch.yaml").write_text("fetch:\n  timeout_secnds: 3\n", encoding="utf-8")
    r = runner.invoke(app, ["run", "--config", str(cdir)])
    assert r.exit_code == 2
    assert r.stderr == (
        f"Error: {cdir / 'newswatch.yaml'}: fetch.timeout_secnds: unknown setting (check the "
        "spelling)\nHint: fix the file and run again; nothing was written\n"
    )
    # a bad option is not about a file either: its hint is the command's help, as for the
    # usage errors click finds
    r = runner.invoke(app, ["sql", "--db", str(tmp_path / "x.duckdb"), "-f", "xml", "SELECT 1"])
    assert r.exit_code == 2
    assert r.stderr == (
        "Error: unknown --format 'xml'; choose one of table, csv, json, jsonl\n"
        + HELP_HINT.format("newswatch sql")
    )


def test_missing_database_names_the_demo_and_db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSWATCH_DB", raising=False)
    monkeypatch.delenv("NEWSWATCH_DATABASE", raising=False)
    monkeypatch.delenv("NEWSWATCH_CONFIG", raising=False)
    r = runner.invoke(app, ["sql", "SELECT 1"])
    assert r.exit_code == 1
    first, hint = r.stderr.splitlines()
    assert first.startswith("Error: data/newswatch.duckdb: database does not exist")
    assert hint == (
        "Hint: `newswatch demo` writes a sample database, data/demo.duckdb: add --db "
        "data/demo.duckdb to query it (or --db PATH for another database)"
    )
    for args in (["status"], ["sources"], ["trends"], ["export", "out"], ["story", "x"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 1, (args, r.output)
        assert r.stderr.splitlines()[-1] == hint, args
    assert not (tmp_path / "out").exists()


def _passage(i: int, text: str, actors: list[str], allegations: list[str], lang: str) -> str:
    return json.dumps(
        {
            "id": f"t-{i}",
            "language": lang,
            "title": None,
            "text": text,
            "actors": actors,
            "allegations": allegations,
            "note": "written for this test",
        }
    )


@pytest.fixture
def eval_set(tmp_path) -> Path:
    # German passages name actors but no allegation, and none is found: "allegations by
    # language" for de has nothing expected and nothing found
    path = tmp_path / "set.jsonl"
    path.write_text(
        "\n".join(
            [
                _passage(
                    1,
                    "Die Hamas hat am Dienstag eine Erklärung veröffentlicht.",
                    ["hamas"],
                    [],
                    "de",
                ),
                _passage(2, "Hisbollah-Vertreter trafen sich in Beirut.", ["hezbollah"], [], "de"),
                _passage(
                    3,
                    "North Korea supplied rockets and rifles to Hamas, officials said.",
                    ["hamas", "north_korea"],
                    ["arms_transfer"],
                    "en",
                ),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return path


def test_eval_shows_undefined_scores_as_na(eval_set):
    r = runner.invoke(app, ["eval", "--config", "config", str(eval_set)])
    assert r.exit_code == 0, r.output
    table = r.stdout.split("allegations by language")[1].split("micro")[0]
    de = next(line for line in table.splitlines() if " de " in line)
    assert [c.strip() for c in de.strip("│ ").split("│")] == [
        "de",
        "n/a",
        "n/a",
        "n/a",
        "0",
        "0",
        "0",
    ]
    assert "1.000" not in de
    r = runner.invoke(app, ["eval", "--config", "config", "-f", "json", str(eval_set)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["languages"]["de"]["allegations"] == {
        "precision": None,
        "recall": None,
        "f1": None,
        "tp": 0,
        "fp": 0,
        "fn": 0,
    }
    # defined scores are untouched
    assert d["languages"]["de"]["actors"]["precision"] == 1.0
    # an allegation expected once and found: defined
    assert d["allegations"]["arms_transfer"]["recall"] in (0.0, 1.0)


def _leaf_commands():
    import typer

    out = {}

    def walk(cmd, path):
        if getattr(cmd, "commands", None):
            for name, sub in cmd.commands.items():
                walk(sub, f"{path} {name}")
        else:
            out[path] = cmd

    walk(typer.main.get_command(app), "newswatch")
    return out


# where -f names something other than what is printed: the files export writes, the YAML
# snippet suggest writes, and flag (a table on a terminal, JSON when piped)
_OTHER_DEFAULTS = {"newswatch export", "newswatch watchlist suggest", "newswatch flag"}


def test_one_option_set_everywhere():
    from newswatch.cli.common import ConfigOpt, DbOpt

    seen_format = 0
    for name, cmd in _leaf_commands().items():
        for p in cmd.params:
            assert "--json" not in p.opts, f"{name} has --json: use -f json"
            if "--config" in p.opts:
                assert p.opts == ["--config", "-c"] and p.help == ConfigOpt.help, name
            if "--db" in p.opts and name != "newswatch demo":  # demo's --db is what it writes
                assert p.help == DbOpt.help, name
            if "--format" in p.opts:
                seen_format += 1
                assert "-f" in p.opts, name
                choices = p.help.split("Output format: ")[1].split(" (")[0].rstrip(".")
                assert set(choices.split(", ")) <= {
                    "table",
                    "text",
                    "csv",
                    "json",
                    "jsonl",
                    "parquet",
                    "yaml",
                }, (name, p.help)
                if name not in _OTHER_DEFAULTS:
                    assert p.default in ("table", "text"), (name, p.default)
                    assert "json" in choices, name
    assert seen_format >= 15


@pytest.mark.parametrize(
    "args",
    [
        ["run", "-f", "yaml"],
        ["status", "-f", "csv"],
        ["digest", "-f", "csv"],
        ["reflag", "-f", "csv"],
        ["eval", "-f", "csv", "tests/eval"],
        ["watchlist", "check", "-f", "csv"],
        ["lake", "maintain", "-f", "csv"],
        ["story", "-f", "xml", "x"],
    ],
)
def test_an_unknown_format_is_one_usage_error(args, tmp_path):
    r = runner.invoke(app, [*args[:1], *args[1:]], catch_exceptions=False)
    assert r.exit_code == 2, r.output
    line, hint = r.stderr.splitlines()
    assert line.startswith(
        f"Error: unknown --format {args[args.index('-f') + 1]!r}; choose one of "
    )
    words = args[:2] if args[0] in ("watchlist", "lake") else args[:1]
    command = " ".join(["newswatch", *words])
    assert hint == HELP_HINT.format(command).rstrip("\n")


def test_table_is_text_where_a_command_prints_a_summary(tmp_path):
    r = runner.invoke(app, ["watchlist", "check", "-c", "config", "-f", "table"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip().endswith(": OK") or "warning(s)" in r.stdout


def test_flag_prints_a_table_on_a_terminal_and_json_when_piped(tmp_path):
    import os
    import pty
    import subprocess
    import sys

    article = tmp_path / "a.txt"
    article.write_text("North Korea helped Hezbollah dig tunnels.\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "newswatch.cli", "flag", "-c", "config", str(article)]
    env = {**os.environ, "COLUMNS": "200"}
    piped = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)[0]["actors"] == ["hezbollah", "north_korea"]
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(cmd, stdout=follower, stderr=subprocess.DEVNULL, env=env)
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal closed: the command is done
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=120) == 0
    finally:
        os.close(leader)
    shown = b"".join(chunks).decode("utf-8", "replace")
    assert shown.lstrip().startswith("┏") and "path" in shown and "north_korea" in shown


def test_flag_csv_is_the_table_as_csv(tmp_path):
    import csv
    import io

    r = runner.invoke(
        app, ["flag", "-c", "config", "-f", "csv", "-"], input="North Korea armed Hamas.\n"
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["path", "kind", "id", "matched", "sentence"]
    assert {(row[1], row[2]) for row in rows[1:]} >= {("actor", "north_korea"), ("actor", "hamas")}
