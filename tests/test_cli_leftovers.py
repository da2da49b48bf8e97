"""Small CLI defects, each held by a test: flag's JSON shape, a broken configuration stopping
web, status and trends the way it stops every command, the demo's names, alias suggestions
without function words, and the status report's times in UTC with their zone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newswatch.cli import app

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config"
runner = CliRunner()

BROKEN_WATCHLIST = "actors:\n  - id: x\n    name: X\n    aliases: {en: ['']}\n"


def _error(path: Path, entry: str, message: str) -> str:
    """What every command prints for a file that exists and is wrong."""
    return (
        f"Error: {path}: {entry}: {message}\n"
        "Hint: fix the file and run again; nothing was written\n"
    )


def _config(cdir: Path, *, watchlist: str | None = None, settings: str | None = None) -> Path:
    """A configuration folder: one feed, the shipped watchlist unless ``watchlist`` is
    given, and ``settings`` as newswatch.yaml when given."""
    cdir.mkdir(parents=True)
    (cdir / "sources.yaml").write_text(
        "sources:\n  - name: Nowhere\n    url: http://127.0.0.1:9/feed.xml\n", encoding="utf-8"
    )
    if watchlist is None:
        shutil.copy(CONFIG / "watchlist.yaml", cdir / "watchlist.yaml")
    else:
        (cdir / "watchlist.yaml").write_text(watchlist, encoding="utf-8")
    if settings is not None:
        (cdir / "newswatch.yaml").write_text(settings, encoding="utf-8")
    return cdir


def _empty_db(path: Path) -> Path:
    from newswatch.store import Store

    Store(str(path)).migrate()
    return path


# --- 1. flag -f json: an array of rows, as every command that prints rows ------------------


def test_flag_json_is_an_array_for_one_path_as_for_several(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("North Korea helped Hezbollah dig tunnels.\n", encoding="utf-8")
    b = tmp_path / "b.txt"
    b.write_text("Nothing here.\n", encoding="utf-8")
    base = ["flag", "-c", str(CONFIG)]

    one = runner.invoke(app, [*base, "-f", "json", str(a)])
    assert one.exit_code == 0, one.output
    rows = json.loads(one.stdout)
    assert isinstance(rows, list) and [r["path"] for r in rows] == [str(a)]
    assert rows[0]["actors"] == ["hezbollah", "north_korea"]

    two = runner.invoke(app, [*base, "-f", "json", str(a), str(b)])
    assert two.exit_code == 0, two.output
    assert [r["path"] for r in json.loads(two.stdout)] == [str(a), str(b)]

    # jsonl: the same objects, one a line
    lines = runner.invoke(app, [*base, "-f", "jsonl", str(a)])
    assert lines.exit_code == 0, lines.output
    assert [json.loads(x) for x in lines.stdout.splitlines()] == rows

    # the convention flag follows: another command's -f json of one row is an array too
    ids = runner.invoke(
        app, ["watchlist", "ids", "-w", str(CONFIG / "watchlist.yaml"), "-f", "json"]
    )
    assert ids.exit_code == 0 and isinstance(json.loads(ids.stdout), list)


# --- 2. web: a broken watchlist stops it before it serves -------------------------------------


def test_web_with_a_broken_watchlist_fails_before_serving(tmp_path):
    cdir = _config(tmp_path / "config", watchlist=BROKEN_WATCHLIST)
    db = _empty_db(tmp_path / "x.duckdb")
    cmd = [sys.executable, "-m", "newswatch.cli", "web", "-c", str(cdir), "--db", str(db)]
    cmd += ["--port", "0"]
    env = {**os.environ, "COLUMNS": "200"}
    lines: list[str] = []
    with subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=env,
    ) as proc:  # fmt: skip
        try:
            assert proc.stderr is not None
            for line in proc.stderr:  # until it exits, or says that it serves
                lines.append(line)
                assert not line.startswith("newswatch web:"), "it served with a broken watchlist"
            assert proc.wait(timeout=60) == 2
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "".join(lines) == _error(
        cdir / "watchlist.yaml",
        "actors[0] (id: 'x').aliases.en[0]",
        "must not be empty (a phrase needs at least one letter or digit)",
    )


# --- 3. status: a broken newswatch.yaml is reported ----------------------------------------


@pytest.mark.parametrize("given", [False, True], ids=["./config", "--config"])
def test_status_reports_a_broken_settings_file(tmp_path, monkeypatch, given):
    monkeypatch.chdir(tmp_path)
    _config(tmp_path / "config", settings="pipeline: {workers: many}\n")
    db = _empty_db(tmp_path / "x.duckdb")
    args = ["status", "--db", str(db), *(["-c", "config"] if given else [])]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr == _error(
        Path("config") / "newswatch.yaml",
        "pipeline.workers",
        "Input should be a valid integer, unable to parse string as an integer",
    )


def test_status_without_a_configuration_folder_still_reads_the_database(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no config/ here: `status --db PATH` works from anywhere
    db = _empty_db(tmp_path / "x.duckdb")
    r = runner.invoke(app, ["status", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert f"Database {db}" in r.stdout


# --- 4. trends: a broken watchlist is an error, not a table of ids ------------------------------


def test_trends_with_a_broken_watchlist_exits_2_with_the_usual_error(tmp_path):
    cdir = _config(tmp_path / "config", watchlist=BROKEN_WATCHLIST)
    db = _empty_db(tmp_path / "x.duckdb")
    for fmt in ("table", "json"):
        r = runner.invoke(app, ["trends", "-c", str(cdir), "--db", str(db), "-f", fmt])
        assert r.exit_code == 2, (fmt, r.output)
        assert r.stdout == ""
        assert r.stderr == _error(
            cdir / "watchlist.yaml",
            "actors[0] (id: 'x').aliases.en[0]",
            "must not be empty (a phrase needs at least one letter or digit)",
        )


# --- 5. the demo's claim table names the sources -------------------------------------------------


def test_demo_claim_table_shows_the_sources_display_names(tmp_path):
    r = runner.invoke(app, ["demo", "--db", str(tmp_path / "demo.duckdb")])
    assert r.exit_code == 0, r.output
    claim = r.stdout.split("The claim across languages")[1].split("The results are in")[0]
    rows = [x for x in claim.splitlines() if x.startswith("│")]
    assert len(rows) == 3, claim
    # the watchlist's names (sources: alma_center, rfa), as the workbench and digest show them
    assert "Alma Research and Education Center, Radio Free Asia" in rows[0], claim
    assert "Radio Free Asia" in rows[1] and "Alma" not in rows[1], claim
    assert "alma_center" not in claim and '"rfa"' not in claim, claim


# --- 6. watchlist suggest: no function words ------------------------------------------------------


@pytest.fixture(scope="module")
def matcher():
    from newswatch.flagging.matcher import Matcher

    return Matcher.from_path(CONFIG / "watchlist.yaml")


def _rows(matcher, passages):
    return [
        (aid, lang, None, text, list(matcher.match(text, language=lang).actors))
        for aid, lang, text in passages
    ]


def test_suggest_proposes_no_function_words_in_any_language(matcher):
    from newswatch.flagging.suggest import suggest_aliases

    passages = [
        # "than" is spelled almost like "Tehran" (ratio 0.8), "Tehraan" is a real variant
        ("e1", "en", "Tehran spent more than it said. Officials in Tehraan denied it."),
        ("e2", "en", "Tehran has more rockets than before, Tehraan said."),
        ("e3", "en", "Tehran paid less than expected."),
        # the words before a bracket that holds a name: a piece of a sentence ("in the
        # villages of the south it launched"), not another name for the foundation
        ("a1", "ar", "في قرى الجنوب أطلقت (جهاد البناء) مشاريع جديدة."),
        ("a2", "ar", "في قرى الجنوب أطلقت (جهاد البناء) حملة ترميم."),
        # a hyphenated name beginning with a Spanish article is still a name
        ("s1", "es", "Hezbolá (al-Muqawama) respondió."),
        ("s2", "es", "Hezbolá (al-Muqawama) negó el ataque."),
    ]
    found = suggest_aliases(matcher, _rows(matcher, passages), min_articles=2)
    phrases = {s.phrase for s in found}
    assert "Tehraan" in phrases and "than" not in phrases, phrases
    assert not [p for p in phrases if p.startswith("في")], phrases
    assert "al-Muqawama" in phrases, phrases


def test_function_words_are_per_language(matcher):
    from newswatch.flagging.suggest import FUNCTION_WORDS, is_function_word

    assert set(FUNCTION_WORDS) >= {"en", "ko", "ar", "he", "fr", "de", "es", "ru", "ja", "zh"}
    assert set(FUNCTION_WORDS) >= {"fa", "tr", "id"}  # the watchlist's thirteen languages
    assert is_function_word("than", "en") and is_function_word("Than", "en")
    assert is_function_word("чем", "ru") and is_function_word("في", "ar")
    assert is_function_word("und", "de") and not is_function_word("und", "en")
    assert is_function_word("yang", "ms")  # Malay reads the Indonesian list
    assert is_function_word("der", None) and is_function_word("der", "any")  # unknown: all
    # no alias of the shipped watchlist begins or ends with one in its own language
    from newswatch.flagging.suggest import _starts_or_ends_with_function_word

    for a in matcher.watchlist.actors:
        for lang, phrase, _rule in a.alias_entries():
            assert not _starts_or_ends_with_function_word(phrase.removesuffix("*"), lang), (
                a.id,
                lang,
                phrase,
            )


# --- 7. status: aware UTC times, and the zone shown ---------------------------------------------


def test_status_report_times_are_aware_utc_and_shown_with_their_zone(tmp_path):
    from newswatch.models import FeedStatus
    from newswatch.reports.status import source_rows, status_report
    from newswatch.settings import Source
    from newswatch.store import Store
    from newswatch.store.sources import SourceUpdate

    db = _empty_db(tmp_path / "x.duckdb")
    store = Store(str(db))
    store.sources.sync([Source(name="S", url="http://127.0.0.1:9/feed.xml")])
    store.sources.update(
        [
            SourceUpdate(
                name="S",
                status=FeedStatus.OK,
                polled_at=datetime(2026, 11, 20, 6, 0),
                next_poll_at=datetime(2099, 1, 1, 7, 30),
            )
        ]
    )
    store.runs.start("r1", datetime(2026, 11, 20, 6, 5, 4), 1)

    report = status_report(store)
    (run,) = report["last_runs"]
    assert run["started_at"] == datetime(2026, 11, 20, 6, 5, 4, tzinfo=UTC)
    assert (
        run["started_at"].tzinfo is not None and run["started_at"].utcoffset().total_seconds() == 0
    )
    assert run["finished_at"] is None
    assert report["feeds"]["next_due_at"] == datetime(2099, 1, 1, 7, 30, tzinfo=UTC)
    assert report["feeds"]["next_due_at"].tzinfo is not None
    cols, rows = source_rows(store)
    times = [v for v in rows[0] if isinstance(v, datetime)]
    assert times and all(t.tzinfo is not None and t.utcoffset().total_seconds() == 0 for t in times)
    assert dict(zip(cols, rows[0], strict=True))["last_polled_at"] == datetime(
        2026, 11, 20, 6, 0, tzinfo=UTC
    )

    r = runner.invoke(app, ["status", "--db", str(db), "-c", str(_config(tmp_path / "c"))])
    assert r.exit_code == 0, r.output
    assert "next due 2099-01-01 07:30:00 UTC." in r.stdout
    assert "  2026-11-20 06:05:04 UTC  running " in r.stdout
    r = runner.invoke(app, ["status", "--db", str(db), "-c", str(tmp_path / "c"), "-f", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["last_runs"][0]["started_at"] == "2026-11-20T06:05:04+00:00"
    assert d["feeds"]["next_due_at"] == "2099-01-01T07:30:00+00:00"
