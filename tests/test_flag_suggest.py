"""Alias suggestions: ranked candidates with evidence, a YAML snippet, the watchlist untouched."""

import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from newswatch.cli import app
from newswatch.flagging.matcher import Matcher
from newswatch.flagging.suggest import suggest_aliases, suggestions_yaml
from newswatch.models import ArticleRecord
from newswatch.reports.watchlist_suggest import suggestion_rows, watchlist_suggest
from newswatch.store import Store

DEFAULT = Path(__file__).parent.parent / "config" / "watchlist.yaml"

PASSAGES = [
    (
        "a1",
        "en",
        "Hezbollah (Hizbu'llah) said its fighters were ready; Hezbolla said so too.",
    ),
    (
        "a2",
        "en",
        "Officials said Hezbolah commanders met envoys. Hezbollah (Hizbu'llah) denied it.",
    ),
    ("a3", "en", "Hezbollah, also spelt Hezbolah by some, fired rockets."),
    ("a4", "fr", "Le Hezbollah a nié. Les Hezbollahis ont défilé à Beyrouth."),
    ("a5", "fr", "Des Hezbollahis ont été vus près du Hezbollah."),
    ("a6", "en", "Hamas said nothing about Hezbolah today."),  # flagged for hamas only
]


@pytest.fixture(scope="module")
def m() -> Matcher:
    return Matcher.from_path(DEFAULT)


def rows(m):
    out = []
    for aid, lang, text in PASSAGES:
        out.append((aid, lang, None, text, list(m.match(text, language=lang).actors)))
    return out


def test_suggestions_are_ranked_with_evidence(m):
    found = suggest_aliases(m, rows(m), min_articles=2)
    by_phrase = {s.phrase: s for s in found}
    assert set(by_phrase) >= {"Hizbu'llah", "Hezbolah", "Hezbollahis"}
    beside = by_phrase["Hizbu'llah"]
    assert (beside.actor, beside.kind, beside.articles) == ("hezbollah", "beside a name", 2)
    assert beside.examples[0][0] == "a1" and "Hizbu'llah" in beside.examples[0][1]
    assert (
        by_phrase["Hezbollahis"].kind == "inflected" and by_phrase["Hezbollahis"].language == "fr"
    )
    assert by_phrase["Hezbolah"].kind == "near spelling"
    # a6 mentions Hezbolah but is flagged for hamas only: it is not evidence for hezbollah
    assert by_phrase["Hezbolah"].articles == 2 and "a6" not in {
        a for a, _ in by_phrase["Hezbolah"].examples
    }
    scores = [s.score for s in found]
    assert scores == sorted(scores, reverse=True)
    # names already in the watchlist are never suggested
    assert "Hezbollah" not in by_phrase and "Hezbolla" not in by_phrase
    # one actor only, and a threshold on articles
    assert {s.actor for s in suggest_aliases(m, rows(m), actor="hamas", min_articles=1)} <= {
        "hamas"
    }
    assert all(s.articles >= 3 for s in suggest_aliases(m, rows(m), min_articles=3))


def test_the_snippet_is_yaml_to_review(m):
    found = suggest_aliases(m, rows(m), min_articles=2)
    text = suggestions_yaml(found, articles_read=6)
    assert text.startswith("# Alias suggestions") and "Nothing was changed" in text
    data = yaml.safe_load(text)
    (hz,) = data["actors"]
    assert hz["id"] == "hezbollah" and "Hezbollahis" in hz["aliases"]["fr"]
    assert yaml.safe_load(suggestions_yaml([]))["actors"] == []


def _record(aid: str, lang: str, text: str, m: Matcher) -> ArticleRecord:
    return ArticleRecord(
        article_id=aid,
        url=f"https://n.example/{aid}",
        canonical_url=f"https://n.example/{aid}",
        source="S",
        title=None,
        author=None,
        published_at=datetime(2026, 11, int(aid[1:]) + 1, 8),
        fetched_at=datetime(2026, 11, 21),
        language=lang,
        text=text,
        summary=None,
        extraction="trafilatura",
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        flag=m.match(text, language=lang),
    )


def test_suggest_from_a_store_never_changes_the_watchlist(m, tmp_path):
    store = Store(str(tmp_path / "s.duckdb"))
    store.ensure_current()
    store.articles.write_batch([_record(a, lang, t, m) for a, lang, t in PASSAGES], run_id="r1")
    got = suggestion_rows(store, actor="hezbollah")
    assert [r[0] for r in got] == ["a5", "a4", "a3", "a2", "a1"]  # newest first, flagged only
    assert all("hezbollah" in r[4] for r in got)
    wl = tmp_path / "watchlist.yaml"
    wl.write_bytes(DEFAULT.read_bytes())
    before = wl.read_bytes()
    found, snippet = watchlist_suggest(store, wl, actor="hezbollah")
    assert {"Hizbu'llah", "Hezbollahis"} <= {s.phrase for s in found}
    assert "(5 articles read)" in snippet
    out = tmp_path / "s.yaml"
    r = CliRunner().invoke(
        app,
        ["watchlist", "suggest", "--db", str(tmp_path / "s.duckdb"), "-w", str(wl), "-o", str(out)],
    )
    assert r.exit_code == 0, r.output
    assert "the watchlist is unchanged" in r.stdout
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["actors"][0]["id"] == "hezbollah"
    r = CliRunner().invoke(
        app,
        ["watchlist", "suggest", "--db", str(tmp_path / "s.duckdb"), "-w", str(wl), "-f", "json"],
    )
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["examples"]
    r = CliRunner().invoke(
        app,
        [
            "watchlist",
            "suggest",
            "--db",
            str(tmp_path / "s.duckdb"),
            "-w",
            str(wl),
            "--actor",
            "hezbolah",
        ],
    )
    assert r.exit_code == 2 and "did you mean 'hezbollah'?" in r.stderr
    assert wl.read_bytes() == before
