"""Public trend views, spikes, full-text search and the trends command, on a small
hand-made database (newswatch export: tests/test_cli_export.py)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime

import pytest
from typer.testing import CliRunner

from newswatch.models import ArticleRecord, FlagResult, Mention
from newswatch.reports.trends import sparkline, trend_rows
from newswatch.settings import StorySettings
from newswatch.store import Store
from newswatch.store.provenance import refresh_derivations
from newswatch.store.schema import STORIES_SQL as MIGRATION_SQL
from newswatch.store.schema import TREND_VIEWS_SQL as VIEWS_SQL
from newswatch.store.search import fts_rebuild, search
from newswatch.store.stories import apply_trend_settings


def rec(
    aid, day, source, actors=(), allegations=(), *, title=None, text="text", lang="en", month=5
):
    mentions = tuple(Mention("actor", a, a, a, 0, len(a)) for a in actors) + tuple(
        Mention("allegation", a, a, a, 0, len(a)) for a in allegations
    )
    return ArticleRecord(
        article_id=aid,
        url=f"https://{source}.example/{aid}",
        canonical_url=f"https://{source}.example/{aid}",
        source=source,
        title=title or f"title {aid}",
        author=None,
        published_at=datetime(2024, month, day, 9),
        fetched_at=datetime(2024, month, day, 10),
        language=lang,
        text=text,
        summary=None,
        extraction="trafilatura",
        content_hash=aid,
        flag=FlagResult(
            actors=tuple(actors), allegations=tuple(allegations), mentions=mentions, score=1.0
        ),
    )


def build(path, records, stories: dict[str, str] | None = None) -> Store:
    store = Store(path)
    store.articles.write_batch(records)
    with store.writer() as con:
        con.execute(MIGRATION_SQL)
        con.execute(VIEWS_SQL)
        for aid, sid in (stories or {}).items():  # what the lead's integration sets
            con.execute("UPDATE articles SET story_id = ? WHERE article_id = ?", [sid, aid])
    return store


@pytest.fixture
def store(tmp_path):
    recs = [rec(f"q{d}", d, "x", ["acme"]) for d in range(1, 10)]  # one story a day, days 1-9
    # day 10: six stories about acme; s1 and s2 syndicated (3 and 2 outlets); two about fraud
    recs += [
        rec("s1", 10, "x", ["acme"], ["fraud"], title="Acme raided", lang="en"),
        rec("s1b", 10, "y", ["acme"], ["fraud"], lang="de"),
        rec("s1c", 10, "z", ["acme"], ["fraud"], lang="en"),
        rec("s2", 10, "x", ["acme"], ["fraud", "bribery"]),
        rec("s2b", 10, "y", ["acme"], ["fraud", "bribery"]),
        rec("s3", 10, "x", ["acme"]),
        rec("s4", 10, "y", ["acme"]),
        rec("s5", 10, "z", ["acme"]),
        rec("s6", 10, "x", ["acme"]),
        rec("n1", 10, "x", [], ["fraud"]),  # an allegation without an actor is not flagged
        rec("k1", 8, "k", ["globex"], text="검찰은 북한 해킹 조직을 수사하고 있다", lang="ko"),
        rec("e1", 8, "k", ["globex"], title="Tunnels found", text="Engineers located two tunnels"),
    ]
    return build(tmp_path / "t.duckdb", recs, {"s1b": "s1", "s1c": "s1", "s2b": "s2"})


def test_stories_view(store):
    with store.reader() as con:
        row = con.execute("SELECT * FROM stories WHERE story_id = 's1'").fetchone()
        assert row[1:] == (
            "Acme raided",
            datetime(2024, 5, 10, 9),
            datetime(2024, 5, 10, 9),
            3,
            3,
            ["de", "en"],
        )
        assert con.execute("SELECT count(*) FROM stories").fetchone()[0] == 21 - 3


def test_daily_trends_counts_articles_stories_and_outlets(store):
    with store.reader() as con:
        rows = con.execute(
            "SELECT * FROM daily_trends WHERE day = DATE '2024-05-10' ORDER BY kind, entity_id"
        ).fetchall()
    assert rows == [
        (date(2024, 5, 10), "actor", "acme", 9, 6, 3),
        (date(2024, 5, 10), "allegation", "bribery", 2, 1, 2),
        (date(2024, 5, 10), "allegation", "fraud", 5, 2, 3),
    ]


def test_cooccurrence_counts_stories(store):
    with store.reader() as con:
        rows = con.execute("SELECT * FROM cooccurrence ORDER BY all").fetchall()
    assert rows == [
        (date(2024, 5, 10), "acme", "bribery", 1),
        (date(2024, 5, 10), "acme", "fraud", 2),
    ]


def test_spikes_find_the_burst_and_nothing_else(store):
    with store.reader() as con:
        rows = con.execute("SELECT * FROM spikes").fetchall()
    assert len(rows) == 1
    day, kind, entity, stories, baseline, z = rows[0]
    assert (day, kind, entity, stories) == (date(2024, 5, 10), "actor", "acme", 6)
    assert baseline == pytest.approx(1.0) and z == pytest.approx(5.0)


def test_spike_settings_come_from_the_table(store):
    with store.writer() as con:
        apply_trend_settings(con, StorySettings(spike_zscore=6.0))
        assert con.execute("SELECT count(*) FROM spikes").fetchone()[0] == 0
        apply_trend_settings(con, StorySettings(spike_window_days=3, spike_min_stories=1))
        assert con.execute("SELECT entity_id FROM spikes").fetchall() == [("acme",)]


def test_spikes_with_few_data_points(tmp_path):
    # two days of data: a jump from 1 to 8 stories is not a spike without history
    recs = [rec("a", 1, "x", ["acme"])] + [rec(f"b{i}", 2, "x", ["acme"]) for i in range(8)]
    store = build(tmp_path / "few.duckdb", recs)
    with store.reader() as con:
        assert con.execute("SELECT count(*) FROM spikes").fetchone()[0] == 0
    # a single story after a quiet week is not a spike either (noise floor of 1)
    recs = [rec(f"c{d}", d, "x", ["acme"] if d in (1, 9) else ["other"]) for d in range(1, 10)]
    store = build(tmp_path / "quiet.duckdb", recs)
    with store.reader() as con:
        assert con.execute("SELECT count(*) FROM spikes").fetchone()[0] == 0


def test_fts_finds_korean_and_english_words(store):
    with store.writer() as con:
        fts_rebuild(con)
    with store.reader() as con:
        assert [r["article_id"] for r in search(con, "북한")] == ["k1"]
        assert [r["article_id"] for r in search(con, "tunnel")] == ["e1"]  # stemmed
        assert search(con, "nothing-like-this") == []


def test_sparkline():
    assert sparkline([0, 1, 2, 4]) == "▁▃▅█"
    assert sparkline([0, 0]) == "▁▁"


@pytest.fixture
def app():
    from newswatch.cli import app

    return app


WATCHLIST = """
actors:
  - id: acme
    name: Acme Corporation
    aliases: {en: [Acme]}
  - id: globex
    name: Globex
    aliases: {en: [Globex]}
allegations:
  - id: fraud
    name: Accounting fraud
    terms: {en: [fraud]}
  - id: bribery
    name: Bribery of officials
    terms: {en: [bribe*]}
"""


@pytest.fixture
def config(tmp_path):
    cdir = tmp_path / "config"
    cdir.mkdir()
    (cdir / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    return cdir


def test_cli_trends(store, app, tmp_path, config):
    runner = CliRunner()
    args = ["trends", "--db", store.target, "-c", str(config), "--days", "10"]
    result = runner.invoke(app, [*args, "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    acme = data[0]
    assert (acme["start"], acme["end"]) == ("2024-05-01", "2024-05-10")
    assert (acme["entity_id"], acme["name"], acme["stories"], acme["series"]) == (
        "acme",
        "Acme Corporation",
        15,
        [1] * 9 + [6],
    )
    assert acme["count"] == "stories" and acme["spike_days"] == ["2024-05-10"]
    assert [r["entity_id"] for r in data if r["spike_days"]] == ["acme"]

    png = tmp_path / "chart.png"
    result = runner.invoke(
        app,
        ["trends", "--db", store.target, "--actor", "acme", "--plot", str(png)],
        env={"COLUMNS": "120"},
    )
    assert result.exit_code == 0, result.output
    assert "▁▁▁▁▂▂▂▂▂▂▂▂▂█" in result.output and "Spikes" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    result = runner.invoke(app, ["trends", "--db", str(tmp_path / "missing.duckdb")])
    assert result.exit_code == 1 and "Error:" in result.output and "does not exist" in result.output
    result = runner.invoke(app, ["trends", "--db", store.target, "--end", "May"])
    assert result.exit_code == 2 and "Error: --end" in result.output
    result = runner.invoke(app, ["trends", "--db", store.target, "-f", "xml"])
    assert result.exit_code == 2 and "Error: unknown --format 'xml'" in result.output
    result = runner.invoke(app, ["trends", "--db", store.target, "--count", "copies"])
    assert result.exit_code == 2 and "Error: unknown --count 'copies'" in result.output
    assert "--json" not in runner.invoke(app, ["trends", "--help"]).output


def test_cli_trends_csv_and_jsonl(store, app, config):
    runner = CliRunner()
    args = ["trends", "--db", store.target, "-c", str(config), "--days", "10"]
    result = runner.invoke(app, [*args, "-f", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    by_id = {r["entity_id"]: r for r in rows}
    assert by_id["fraud"]["name"] == "Accounting fraud" and by_id["fraud"]["stories"] == "2"
    assert json.loads(by_id["acme"]["series"]) == [1] * 9 + [6]
    result = runner.invoke(app, [*args, "-f", "jsonl"])
    lines = [json.loads(x) for x in result.output.splitlines()]
    assert [x["entity_id"] for x in lines] == [r["entity_id"] for r in rows]


def test_piped_table_never_cuts_ids_or_sparklines(tmp_path, app):
    """Piped (CliRunner is not a terminal), a long id and a 400-day sparkline come out
    whole, on one line each, however narrow COLUMNS says the terminal is."""
    long_id = "an_actor_with_a_very_long_identifier_" + "x" * 60
    recs = [rec(f"a{d}", d, "x", [long_id], month=1 + (d % 12)) for d in range(1, 29)]
    store = build(tmp_path / "long.duckdb", recs)
    result = CliRunner().invoke(
        app, ["trends", "--db", store.target, "--days", "400"], env={"COLUMNS": "60"}
    )
    assert result.exit_code == 0, result.output
    with store.reader() as con:
        _, _, rows = trend_rows(con, days=400)
    assert len(rows[0].spark) == 400
    line = next(x for x in result.output.splitlines() if long_id in x)
    assert rows[0].spark in line and "…" not in line


def test_on_a_terminal_ids_and_sparklines_are_never_cut(tmp_path, app):
    """On a terminal (FORCE_COLOR makes Rich treat the runner as one) the output fits its
    width: a table when the table fits, else one block per row; either way a long id and a
    400-day sparkline are there whole (wrapped, never cut)."""
    long_id = "an_actor_with_a_very_long_identifier_" + "x" * 60
    recs = [rec(f"a{d}", d, "x", [long_id], month=1 + (d % 12)) for d in range(1, 29)]
    store = build(tmp_path / "long.duckdb", recs)
    with store.reader() as con:
        _, _, rows = trend_rows(con, days=400)
    for columns, layout in (("60", "-[ 1 ]"), ("140", "┃ kind")):
        result = CliRunner().invoke(
            app,
            ["trends", "--db", store.target, "--days", "400"],
            env={"COLUMNS": columns, "FORCE_COLOR": "1", "TERM": "xterm"},
        )
        assert result.exit_code == 0, result.output
        plain = re.sub(r"\x1b\[[0-9;]*m", "", result.output)
        lines = plain.splitlines()
        assert max(len(x) for x in lines) <= int(columns), columns
        assert layout in plain, columns
        assert not any("…" in x for x in lines[1:]), columns  # the title's range aside
        if layout == "-[ 1 ]":  # blocks: a value wraps under itself
            squeezed = re.sub(r"\s", "", plain)
            assert long_id in squeezed and rows[0].spark in squeezed
        else:  # a table: read the entity and trend columns down
            body = [x.split("│") for x in lines if x.startswith("│")]
            assert long_id == "".join(c[2].strip() for c in body)
            assert rows[0].spark == "".join(c[8].strip() for c in body)


def _provenance_store(path) -> Store:
    """An original, two verbatim copies published later, and an independent report on the
    same story (its own words), all about acme on 10 May."""
    original = (
        "Acme executives moved money through shell companies in three countries, the "
        "regulator's filing says, and the auditors missed the transfers for two years. "
        "The filing lists forty payments made between 2021 and 2023."
    )
    own = (
        "Reporters visited the warehouse in the harbour district and spoke to former staff, "
        "who described ledgers kept by hand and shipments that never left the dock."
    )
    recs = [
        rec("o1", 10, "origin", ["acme"], ["fraud"], text=original),
        rec("c1", 10, "copy-a", ["acme"], ["fraud"], text=original),
        rec("c2", 10, "copy-b", ["acme"], ["fraud"], text=original),
        rec("i1", 10, "indep", ["acme"], ["fraud"], text=own),
    ]
    hours = {"o1": 6, "c1": 8, "c2": 9, "i1": 11}
    store = Store(path)
    store.articles.write_batch(recs)
    with store.writer() as con:
        for aid, h in hours.items():
            con.execute(
                "UPDATE articles SET story_id = 'o1', published_at = ? WHERE article_id = ?",
                [datetime(2024, 5, 10, h), aid],
            )
        refresh_derivations(con, ["o1"])
    return store


def test_counts_stories_articles_and_independent_reports(tmp_path, app):
    store = _provenance_store(tmp_path / "prov.duckdb")
    with store.reader() as con:
        parents = dict(con.execute("SELECT article, derived_from FROM story_timeline").fetchall())
        assert parents == {"o1": None, "c1": "o1", "c2": "o1", "i1": None}
        got = {}
        for count in ("stories", "articles", "independent"):
            _, _, rows = trend_rows(con, days=1, count=count, actor="acme")
            (r,) = rows
            got[count] = r.series
            assert (r.stories, r.articles, r.independent, r.count) == (1, 4, 2, count)
    assert got == {"stories": (1,), "articles": (4,), "independent": (2,)}
    result = CliRunner().invoke(
        app, ["trends", "--db", store.target, "--days", "1", "--count", "independent", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    assert [(r["entity_id"], r["series"]) for r in json.loads(result.output)] == [
        ("acme", [2]),
        ("fraud", [2]),
    ]


def test_a_store_without_timeline_counts_every_article_as_independent(store):
    """Articles the timeline does not know (written before provenance) are roots."""
    with store.writer() as con:
        con.execute("DELETE FROM story_derivations")
    with store.reader() as con:
        _, _, rows = trend_rows(con, days=1, count="independent", actor="acme")
    assert rows[0].series == (9,) and rows[0].independent == 9


def test_an_unknown_id_gets_a_did_you_mean(store):
    """An id neither the watchlist nor the stored flags know is refused with a suggestion;
    an id only the stored flags know (an older watchlist's) is still accepted."""
    from newswatch.cli import app

    db = str(store.target)
    r = CliRunner().invoke(app, ["trends", "--db", db, "--actor", "hezbolah"])
    assert r.exit_code == 2
    assert "unknown actor id 'hezbolah' (did you mean 'hezbollah'?)" in r.output
    r = CliRunner().invoke(app, ["trends", "--db", db, "--allegation", "tunnel_tech"])
    assert r.exit_code == 2 and "unknown allegation id 'tunnel_tech'" in r.output
    r = CliRunner().invoke(app, ["trends", "--db", db, "--actor", "acme", "-f", "json"])
    assert r.exit_code == 0, r.output
