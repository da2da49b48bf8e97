"""End to end: a real local news site, the real pipeline, a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from newsfixtures import build_site, site_sources, write_config
from newswatch.pipeline.run import run_pass
from newswatch.settings import load_config


@pytest.fixture
def site():
    s = build_site()
    with s:
        yield s


@pytest.fixture
def config(tmp_path: Path, site):
    cdir = write_config(tmp_path / "config", site_sources(site), db=tmp_path / "nw.duckdb")
    return load_config(cdir)


def q(db: str, sql: str, *params):
    con = duckdb.connect(db, read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_first_pass_stores_flags_and_records_failures(config, site):
    summary = run_pass(config)
    db = config.db
    c = summary.counts()
    assert c["feeds_total"] == 5
    status = {f.name: f.status for f in summary.feeds}
    assert status == {
        "Test Wire": "ok",
        "Test Atom": "ok",
        "Moved Feed": "ok",
        "Broken Feed": "broken",
        "Down Feed": "failed",
    }
    # the tunnels story is linked three times (utm link, atom with #fragment, the moved feed): stored once
    urls = [r[0] for r in q(db, "SELECT canonical_url FROM articles ORDER BY 1")]
    assert len(urls) == len(set(urls))
    assert site.url("/wire/tunnels.html") in urls
    assert sum(1 for u in urls if "tunnels" in u) == 1
    # gone.html is a permanent 404: kept with the feed's summary; the entry without a link is skipped
    rows = dict(q(db, "SELECT canonical_url, extraction FROM articles"))
    assert rows[site.url("/gone.html")] == "feed_summary"
    assert rows[site.url("/paywall/story.html")] == "feed_summary"
    assert rows[site.url("/wire/tunnels.html")] == "trafilatura"
    assert len(rows) == 6
    # flags: the seed story carries its actors and allegations, with evidence
    flags = {
        r[0]: (set(r[1]), set(r[2]))
        for r in q(
            db,
            "SELECT a.canonical_url, f.actors, f.allegations FROM flags f JOIN articles a USING (article_id)",
        )
    }
    actors, allegations = flags[site.url("/wire/tunnels.html")]
    assert {"north_korea", "hezbollah", "hamas", "komid", "jihad_construction_foundation"} <= actors
    assert {"tunnel_technology_transfer", "tunnel_network"} <= allegations
    assert "arms_transfer" in flags[site.url("/wire/arms.html")][1]
    # the weather story's sidebar names Hezbollah and Hamas; the article does not
    assert site.url("/wire/weather.html") not in flags
    assert site.url("/wire/metro.html") not in flags
    ev = q(
        db,
        "SELECT matched_text, sentence FROM mentions m JOIN articles a USING (article_id) "
        "WHERE a.canonical_url = ? AND m.entity_id = 'komid'",
        site.url("/wire/tunnels.html"),
    )
    assert ev and all(m in s for m, s in ev)
    # problems are recorded with where and why
    problems = q(db, "SELECT source, stage, reason FROM problems")
    assert any(p[0] == "Down Feed" and "500" in p[2] for p in problems)
    assert any(p[0] == "Broken Feed" and p[1] == "parse" for p in problems)
    assert any(p[1] == "entry" and "no link" in p[2] for p in problems)
    assert any(p[1] == "page" and "404" in p[2] for p in problems)
    # sources table shows each feed's state
    src = {
        r[0]: r[1:]
        for r in q(
            db, "SELECT name, last_status, consecutive_failures, last_polled_at FROM sources"
        )
    }
    assert src["Down Feed"][0] == "failed" and src["Down Feed"][1] == 1
    assert (
        src["Test Wire"][0] == "ok" and src["Test Wire"][1] == 0 and src["Test Wire"][2] is not None
    )
    run = q(db, "SELECT status, articles_new FROM runs")
    assert run == [("completed", 6)]


def test_second_pass_fetches_nothing_in_full_and_stores_nothing_twice(config, site):
    run_pass(config)
    n_articles = q(config.db, "SELECT count(*) FROM articles")[0][0]
    page_hits = sum(v for k, v in site.hits.items() if k.startswith("/wire/"))
    site.responses.clear()
    second = run_pass(config)
    assert q(config.db, "SELECT count(*) FROM articles")[0][0] == n_articles
    assert second.articles_new == 0
    # every feed that answered 200 before answers 304 now: no feed body is sent again
    feed_responses = [
        (p, s)
        for p, s in site.responses
        if p.startswith("/feeds/") and p not in ("/feeds/down.xml", "/feeds/moved.xml")
    ]
    assert feed_responses and all(s == 304 for p, s in feed_responses if p != "/feeds/broken.xml")
    # no article page is fetched again
    assert sum(v for k, v in site.hits.items() if k.startswith("/wire/")) == page_hits
    src = dict(q(config.db, "SELECT name, consecutive_failures FROM sources"))
    assert src["Down Feed"] == 2 and src["Test Wire"] == 0


def test_unchanged_body_without_validators_is_not_parsed_again(tmp_path, site):
    # a server that ignores conditional requests: the body hash catches it
    site.add(
        "/feeds/plain.xml",
        site.routes["/feeds/main.xml"].body,
        content_type="application/rss+xml",
        conditional=False,
    )
    cdir = write_config(
        tmp_path / "c",
        [{"name": "Plain", "url": site.url("/feeds/plain.xml")}],
        db=tmp_path / "p.duckdb",
    )
    config = load_config(cdir)
    run_pass(config)
    second = run_pass(config)
    assert [f.status for f in second.feeds] == ["unchanged"]


def test_transient_page_failure_is_retried_next_pass(tmp_path, site):
    state = {"calls": 0}

    def flaky(req):
        state["calls"] += 1
        if state["calls"] <= 2:  # first attempt and its retry
            return 503, {"Content-Type": "text/plain"}, b"busy"
        return (
            200,
            {"Content-Type": "text/html; charset=utf-8"},
            site.routes["/wire/arms.html"].body,
        )

    site.add_handler("/flaky.html", flaky)
    site.add(
        "/feeds/flaky.xml",
        f"""<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>
<item><title>Rockets</title><link>{site.url("/flaky.html")}</link></item></channel></rss>""",
        content_type="application/rss+xml",
        conditional=False,
    )
    cdir = write_config(
        tmp_path / "c",
        [{"name": "Flaky", "url": site.url("/feeds/flaky.xml")}],
        db=tmp_path / "f.duckdb",
    )
    config = load_config(cdir)
    first = run_pass(config)
    assert first.pages_failed == 1 and first.articles_new == 0
    # the feed body did not change, but its entry was never stored: the next pass must get it
    second = run_pass(config)
    assert second.articles_new == 1
    assert q(config.db, "SELECT extraction FROM articles") == [("trafilatura",)]
