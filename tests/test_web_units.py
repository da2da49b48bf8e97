"""The workbench's pieces on their own: highlighting, links and text, CSV cells, the query
helpers against the public views, BM25 against match_bm25, the labelled set, the read pool."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.store import Store
from newswatch.store.verdicts import Verdict, record_verdicts
from newswatch.web.highlight import paragraphs, segments
from newswatch.web.render import csv_lines, qs
from newswatch.web.security import clean_text, is_loopback, safe_url
from test_web_support import REPO, build_demo_db


# -- highlighting --------------------------------------------------------------------------
@st.composite
def text_and_mentions(draw):
    text = draw(st.text(alphabet=st.sampled_from("ab 북한\nحزب"), min_size=0, max_size=60))
    spans = draw(
        st.lists(st.tuples(st.integers(0, max(0, len(text))), st.integers(1, 8)), max_size=6)
    )
    mentions = [
        {"field": "text", "start_offset": a, "end_offset": min(len(text), a + n), "kind": k}
        for (a, n), k in zip(spans, ["actor", "allegation"] * 3, strict=False)
    ]
    return text, mentions


@settings(max_examples=300, deadline=None)
@given(text_and_mentions())
def test_segments_cut_the_text_exactly_at_every_stored_offset(case):
    text, mentions = case
    segs = segments(text, mentions, "text")
    assert "".join(s.text for s in segs) == text
    pos = 0
    for s in segs:
        assert s.start == pos
        pos += len(s.text)
    for i, m in enumerate(mentions):
        a, b = m["start_offset"], m["end_offset"]
        if not 0 <= a < b <= len(text):
            assert all(i not in s.marks for s in segs)
            continue
        covered = [s for s in segs if i in s.marks]
        assert covered[0].start == a
        assert "".join(s.text for s in covered) == text[a:b]
        assert covered[-1].start + len(covered[-1].text) == b
    # paragraphs keep every offset and lose only the newlines
    paras = paragraphs(segs)
    kept = "".join(x.text for p in paras for x in p)
    assert kept.replace(" ", "") == "".join(text.split("\n")).replace(" ", "")
    for p in paras:
        for x in p:
            assert text[x.start : x.start + len(x.text)] == x.text


def test_offsets_outside_the_stored_field_are_not_marked():
    segs = segments(
        "short", [{"field": "text", "start_offset": 3, "end_offset": 40, "kind": "actor"}], "text"
    )
    assert [s.marks for s in segs] == [()]


# -- text and links ------------------------------------------------------------------------
def test_only_http_links_are_links():
    assert safe_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
    assert safe_url("HTTP://EXAMPLE.ORG/") == "HTTP://EXAMPLE.ORG/"
    for bad in [
        "javascript:alert(1)",
        " javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>",
        "vbscript:x",
        "//evil.example/",
        "http:///x",
        "https://exa mple.org/",
        "https://example.org/\u202e",
        "ftp://example.org/",
        None,
        42,
    ]:
        assert safe_url(bad) is None, bad


def test_bidi_overrides_and_controls_show_as_replacement_characters_one_for_one():
    s = "a\u202eb\u2066c\x00d\u200fe"
    out = clean_text(s)
    assert out == "a\ufffdb\ufffdc\ufffdd\u200fe"  # RLM is kept: it is ordinary Hebrew text
    assert len(out) == len(s)


def test_loopback_names():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("[::1]")
    assert is_loopback("localhost") and is_loopback("127.8.9.10")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2") and not is_loopback("")


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted():
    lines = "".join(
        csv_lines(["a", "b", "c"], [{"a": "=HYPERLINK(1)", "b": "-3.5", "c": "@SUM(A1)"}])
    )
    assert lines.splitlines()[1] == "'=HYPERLINK(1),-3.5,'@SUM(A1)"


def test_query_strings_change_one_filter_and_keep_the_rest():
    base = [("actor", "hamas"), ("actor", "iran"), ("language", "ko")]
    assert qs(base, language=None) == "?actor=hamas&actor=iran"
    assert qs(base, after="x~y") == "?actor=hamas&actor=iran&language=ko&after=x~y"
    assert qs([], q="a b&c") == "?q=a+b%26c"


# -- query helpers against the public views ------------------------------------------------
@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic archive with waves (so there are spikes), built by the benchmark."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import bench_web
    finally:
        sys.path.remove(str(REPO / "bench"))
    path = tmp_path_factory.mktemp("archive") / "archive.duckdb"
    bench_web.build(path, 20_000)
    return path


def test_period_queries_equal_the_public_views(archive):
    from newswatch.web.filters import fetch_slack
    from newswatch.web.queries import cooccurrence, daily_stories, spikes

    con = duckdb.connect(str(archive), read_only=True)
    try:
        slack = fetch_slack(con)
        view = con.execute(
            "SELECT day, kind, entity_id, stories, baseline, zscore FROM spikes"
        ).fetchall()
        assert len(view) >= 10
        lo, hi = min(r[0] for r in view), max(r[0] for r in view)
        mine = spikes(con, lo, hi, slack)

        def norm(rows):
            return sorted((d, k, e, n, round(b, 9), round(z, 9)) for d, k, e, n, b, z in rows)

        assert norm(mine) == norm(view)
        mid = lo + (hi - lo) / 2
        part = [r for r in view if mid <= r[0] <= hi]
        assert norm(spikes(con, mid, hi, slack)) == norm(part)

        start, end = date(2025, 6, 1), date(2025, 8, 31)
        trends = con.execute(
            "SELECT kind, entity_id, day, stories FROM daily_trends WHERE day BETWEEN ? AND ?",
            [start, end],
        ).fetchall()
        got = daily_stories(con, start, end, slack)
        assert sorted(trends) == sorted(
            (k, e, d, n) for (k, e), by in got.items() for d, n in by.items()
        )

        co = con.execute(
            """
            SELECT actor_id, allegation_id, count(DISTINCT story_id) FROM (
                SELECT a.story_id, unnest(list_distinct(f.actors)) AS actor_id, f.allegations
                FROM flags f JOIN articles a USING (article_id)
                WHERE coalesce(a.published_at, a.fetched_at)::DATE BETWEEN ? AND ?
            ), unnest(list_distinct(allegations)) AS g(allegation_id) GROUP BY ALL
            """,
            [start, end],
        ).fetchall()
        assert sorted(co) == sorted(cooccurrence(con, start, end, slack))
        # and the view's own day rows agree with the period's (a cross-check of the view)
        view_co = con.execute(
            "SELECT actor_id, allegation_id, sum(stories) FROM cooccurrence "
            "WHERE day BETWEEN ? AND ? GROUP BY ALL",
            [start, end],
        ).fetchall()
        assert {(a, g) for a, g, _ in view_co} == {(a, g) for a, g, _ in co}
    finally:
        con.close()


def test_bm25_scores_equal_match_bm25(archive):
    from newswatch.store.search import fts_install
    from newswatch.web.filters import bm25_sql, bm25_terms

    con = duckdb.connect(str(archive), read_only=True)
    try:
        fts_install(con)
        for q in ["komid tunnels", "hezbollah", "kalo", "no-such-wordzz"]:
            macro = dict(
                con.execute(
                    "SELECT article_id, s FROM (SELECT article_id, "
                    "fts_main_articles.match_bm25(article_id, ?) AS s FROM articles) "
                    "WHERE s IS NOT NULL",
                    [q],
                ).fetchall()
            )
            mine = dict(
                con.execute(f"SELECT sid, relevance FROM {bm25_sql(bm25_terms(con, q))}").fetchall()
            )
            assert set(mine) == set(macro), q
            assert all(abs(mine[k] - macro[k]) < 1e-9 for k in macro), q
    finally:
        con.close()


# -- the labelled set ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_db(tmp_path_factory.mktemp("unitdemo") / "demo.duckdb")


def test_the_labelled_set_applies_the_latest_verdicts(demo_file, tmp_path):
    from newswatch.flagging.evaluate import evaluate, load_eval_set
    from newswatch.flagging.matcher import Matcher
    from newswatch.reports.verdicts import labelled_set, write_labelled_set

    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_file, db)
    store = Store(db)
    with store.reader() as con:
        flags = con.execute(
            "SELECT article_id, actors, allegations FROM flags "
            "WHERE len(actors) >= 2 AND len(allegations) >= 1 ORDER BY score DESC LIMIT 4"
        ).fetchall()
    (a1, act1, al1), (a2, act2, _), (a3, _, _), (a4, act4, _) = flags
    t0 = datetime(2026, 11, 30, 8)

    def v(i, aid, kind, eid, verdict, who="ana", minutes=0):
        return Verdict(f"v{i}", aid, kind, eid, verdict, who, t0 + timedelta(minutes=minutes))

    record_verdicts(
        store,
        [
            # a1: one actor false, the rest of the flag confirmed
            v(1, a1, "actor", act1[0], "false_positive"),
            v(2, a1, "flag", None, "confirmed"),
            # a2: whole flag false, then ben confirms one actor
            v(3, a2, "flag", None, "false_positive"),
            v(4, a2, "actor", act2[0], "confirmed", "ben", 5),
            # a3: only unsure: left out
            v(5, a3, "flag", None, "unsure"),
            # a4: ana says false positive, ben later says confirmed: the latest counts
            v(6, a4, "actor", act4[0], "false_positive", "ana", 0),
            v(7, a4, "actor", act4[0], "confirmed", "ben", 9),
        ],
    )
    with store.reader() as con:
        items = {x["id"]: x for x in labelled_set(con)}
        out = tmp_path / "set.jsonl"
        assert write_labelled_set(con, out) == 3
    assert set(items) == {a1, a2, a4}
    assert items[a1]["actors"] == sorted(act1[1:]) and items[a1]["allegations"] == sorted(al1)
    assert items[a2]["actors"] == [act2[0]] and items[a2]["allegations"] == []
    assert act4[0] in items[a4]["actors"]
    assert "unjudged" in items[a4]["note"] and "ben" in items[a4]["note"]
    # the file is a labelled set newswatch eval reads
    assert [x.id for x in load_eval_set(out)] == [
        json.loads(x)["id"] for x in out.read_text().splitlines()
    ]
    report = evaluate(out, Matcher.from_path(REPO / "config" / "watchlist.yaml"))
    assert report.n_items == 3
    assert report.micro_actors.fp >= 2  # act1[0] in a1, and the unconfirmed actors of a2


# -- the read pool -------------------------------------------------------------------------
HOLD_AND_WRITE = textwrap.dedent(
    """
    import sys, time
    from newswatch.store import Store
    t = time.monotonic()
    with Store(sys.argv[1], lock_timeout=60).transaction() as con:
        con.execute("UPDATE runs SET status = status")
    print(f"{time.monotonic() - t:.3f}", flush=True)
    """
)


def test_the_warm_read_connection_lets_a_waiting_writer_in_and_then_sees_its_rows(
    demo_file, tmp_path
):
    from newswatch.web.readpool import ReadPool

    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_file, db)
    pool = ReadPool(Store(db), idle=3600, poll=0.02)
    pool.start()
    try:
        with pool.cursor() as con:
            before = con.execute("SELECT count(*) FROM runs").fetchone()[0]
        assert pool.opened == 1
        # the connection stays open between requests…
        with pool.cursor() as con:
            con.execute("SELECT 1").fetchall()
        assert pool.opened == 1
        # …and a pass that wants to write gets the file within a fraction of a second
        r = subprocess.run(
            [sys.executable, "-c", HOLD_AND_WRITE, str(db)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        assert float(r.stdout.strip()) < 5.0
        assert pool.yielded >= 1
        with duckdb.connect(str(db)) as w:  # nothing holds it now: a plain writer gets in
            w.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('new', now(), 'ok')")
        with pool.cursor() as con:
            after = con.execute("SELECT count(*) FROM runs").fetchone()[0]
        assert after == before + 1
        # the memo belongs to one snapshot
        with pool.cursor():
            assert pool.memo("k", lambda: 1) == 1
            assert pool.memo("k", lambda: 2) == 1
    finally:
        pool.close()
    start = time.monotonic()
    with duckdb.connect(str(db)) as w:  # closed: a writer gets in at once
        w.execute("SELECT 1")
    assert time.monotonic() - start < 5
