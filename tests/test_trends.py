"""Public trend views, spikes, full-text search and the trends/export commands, on a small
hand-made database."""

from __future__ import annotations

import json
from datetime import date, datetime

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from newswatch.cli import trends as cli_trends
from newswatch.models import ArticleRecord, FlagResult, Mention
from newswatch.reports.trends import sparkline
from newswatch.settings import StorySettings
from newswatch.store import Store
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
    app = typer.Typer()
    cli_trends.register(app)
    return app


def test_cli_trends(store, app, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["trends", "--db", store.target, "--days", "10", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["end"] == "2024-05-10" and data["start"] == "2024-05-01"
    acme = data["trends"][0]
    assert (acme["entity_id"], acme["stories"], acme["series"]) == ("acme", 15, [1] * 9 + [6])
    assert [s["entity_id"] for s in data["spikes"]] == ["acme"]

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


def test_cli_export(store, app, tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", "--db", store.target, str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        f"{n}.parquet"
        for n in (
            "articles",
            "mentions",
            "flags",
            "sources",
            "stories",
            "daily_trends",
            "cooccurrence",
            "spikes",
        )
    )
    assert duckdb.sql(f"SELECT count(*) FROM '{out}/stories.parquet'").fetchone()[0] == 18
    result = runner.invoke(
        app, ["export", "--db", store.target, "--format", "csv", str(tmp_path / "csv")]
    )
    assert result.exit_code == 0 and (tmp_path / "csv" / "daily_trends.csv").read_text().startswith(
        "day,kind"
    )
    result = runner.invoke(app, ["export", "--db", store.target, "--format", "xlsx", str(out)])
    assert result.exit_code == 2 and "Error:" in result.output
    assert "Examples" in runner.invoke(app, ["export", "--help"]).output
    assert "Examples" in runner.invoke(app, ["trends", "--help"]).output


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
    r = CliRunner().invoke(app, ["trends", "--db", db, "--actor", "acme", "--json"])
    assert r.exit_code == 0, r.output
