"""The workbench over real HTTP: a `python -m newswatch.web` process on 127.0.0.1 against the
demo database, driven with httpx. Views and their data twins, security, verdicts."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from test_web_support import (
    REPO,
    WEB,
    build_demo_db,
    csrf_of,
    wait_until,
    workbench,
    write_config,
)


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_db(tmp_path_factory.mktemp("webdemo") / "demo.duckdb")


@pytest.fixture
def demo(tmp_path: Path, demo_file: Path) -> tuple[Path, Path]:
    """A private copy of the demo database and a config folder for it."""
    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_file, db)
    return db, write_config(tmp_path / "config", db)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, demo_file: Path):
    """One workbench for the read-only tests of this module."""
    tmp = tmp_path_factory.mktemp("webshared")
    db = tmp / "demo.duckdb"
    shutil.copy(demo_file, db)
    with workbench(write_config(tmp / "config", db), db) as wb:
        yield wb, db


def one(db: Path, sql: str, params: list | None = None):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def top_flag(db: Path) -> tuple[str, str, str]:
    """(article_id, title, story_id) of the highest-scored flagged article."""
    return one(
        db,
        "SELECT f.article_id, a.title, a.story_id FROM flags f JOIN articles a USING (article_id) "
        "ORDER BY f.score DESC, f.article_id LIMIT 1",
    )[0]


# -- views and twins -----------------------------------------------------------------------
def test_every_view_answers_with_html_and_its_data_twins(shared):
    wb, db = shared
    aid, _, sid = top_flag(db)
    source = one(db, "SELECT name FROM sources ORDER BY name LIMIT 1")[0][0]
    pages = [
        "/",
        "/articles",
        "/articles?actor=north_korea&sort=time",
        f"/articles/{aid}",
        f"/stories/{sid}",
        "/trends",
        "/trends?days=7&kind=allegation&scale=shared",
        "/sources",
        f"/sources/{source}",
        "/runs",
        "/problems",
        f"/bench?article={aid}",
        "/digests",
        "/digests/demo",
        "/digests/demo/preview",
        "/verdicts",
        "/help",
    ]
    with wb.client() as c:
        for url in pages:
            r = c.get(url)
            assert r.status_code == 200, (url, r.text[:500])
            assert r.headers["content-type"].startswith("text/html"), url
            assert "Traceback" not in r.text
        for url in [
            "/board.json",
            "/articles.json",
            f"/articles/{aid}.json",
            f"/stories/{sid}.json",
            "/trends.json",
            "/sources.json",
            "/runs.json",
            "/problems.json",
            "/digests.json",
            "/verdicts.json",
        ]:
            r = c.get(url)
            assert r.status_code == 200, url
            assert r.headers["content-type"].startswith("application/json"), url
            json.loads(r.text)
        for url in ["/articles.csv", "/trends.csv", "/sources.csv", "/runs.csv", "/verdicts.csv"]:
            r = c.get(url)
            assert r.status_code == 200, url
            assert r.headers["content-type"].startswith("text/csv"), url
            assert len(list(csv.reader(io.StringIO(r.text)))) >= 1
        assert c.get("/digests/demo/chart.png").content.startswith(b"\x89PNG")
        assert c.get("/articles/0000000000000000").status_code == 404
        assert c.get("/stories/nope").status_code == 404
        assert c.get("/digests/nope").status_code == 404


def test_flagged_list_counts_facets_and_twins_agree_with_the_database(shared):
    wb, db = shared
    n_flags = one(db, "SELECT count(*) FROM flags")[0][0]
    n_nk = one(db, "SELECT count(*) FROM flags WHERE list_contains(actors, 'north_korea')")[0][0]
    n_ko = one(
        db,
        "SELECT count(*) FROM flags f JOIN articles a USING (article_id) "
        "WHERE list_contains(f.actors, 'north_korea') AND a.language = 'ko'",
    )[0][0]
    assert n_ko >= 1
    with wb.client() as c:
        rows = list(csv.DictReader(io.StringIO(c.get("/articles.csv").text)))
        assert len(rows) == n_flags
        assert len({r["article_id"] for r in rows}) == n_flags
        scores = [float(r["score"]) for r in rows]
        assert scores == sorted(scores, reverse=True)
        page = c.get("/articles?actor=north_korea").text
        assert f"<strong>{n_nk}</strong> article" in page
        data = c.get("/articles.json?actor=north_korea&language=ko").json()
        assert len(data["rows"]) == n_ko
        assert all("north_korea" in r["actors"] and r["language"] == "ko" for r in data["rows"])
        # the facet link for a language keeps the other filters and adds that one
        assert "/articles?actor=north_korea&amp;language=ko" in page


def test_keyset_pages_cover_every_flag_once_in_order(shared):
    wb, db = shared
    n = one(db, "SELECT count(*) FROM flags")[0][0]
    for sort in ("score", "time"):
        seen: list[dict] = []
        url = f"/articles.json?sort={sort}&limit=4"
        with wb.client() as c:
            while url:
                data = c.get(url).json()
                assert len(data["rows"]) <= 4
                seen += data["rows"]
                url = data["next"]
        assert len(seen) == n
        assert len({r["article_id"] for r in seen}) == n
        key = "score" if sort == "score" else "t"
        values = [r[key] for r in seen]
        assert values == sorted(values, reverse=True)


def test_search_uses_bm25_with_the_index_and_substring_without(shared, tmp_path):
    wb, db = shared
    with wb.client() as c:
        page = c.get("/articles?q=KOMID").text
        assert "BM25" in page
        data = c.get("/articles.json?q=KOMID").json()
        assert data["rows"] and all(r["relevance"] is not None for r in data["rows"])
    n_komid = one(
        db,
        "SELECT count(*) FROM flags f JOIN articles a USING (article_id) "
        "WHERE contains(lower(a.title), 'komid') OR contains(lower(a.text), 'komid')",
    )[0][0]
    # without a full-text index (as on a DuckLake): a plain substring match
    plain = tmp_path / "plain.duckdb"
    shutil.copy(db, plain)
    with duckdb.connect(str(plain)) as con:
        con.execute("DROP SCHEMA fts_main_articles CASCADE")
    with workbench(write_config(tmp_path / "config", plain), plain) as wb2, wb2.client() as c:
        assert "plain substring" in c.get("/articles?q=KOMID").text
        rows = c.get("/articles.json?q=komid").json()["rows"]
        assert len(rows) == n_komid
        assert all(r["relevance"] is None for r in rows)


def test_the_article_page_lists_every_mention_with_its_rule_and_the_score(shared):
    wb, db = shared
    aid, _, _ = top_flag(db)
    mentions = one(
        db, "SELECT rule, start_offset, end_offset FROM mentions WHERE article_id = ?", [aid]
    )
    score = one(db, "SELECT score FROM flags WHERE article_id = ?", [aid])[0][0]
    with wb.client() as c:
        data = c.get(f"/articles/{aid}.json").json()
        page = c.get(f"/articles/{aid}").text
    assert len(data["mentions"]) == len(mentions)
    # the contributions add up to the stored score (same rule as the matcher's)
    assert sum(m["contribution"] for m in data["mentions"]) == pytest.approx(score, abs=0.01)
    assert page.count('<tr id="mention-') == len(mentions)
    assert page.count("<mark ") >= len(mentions) // 2
    assert data["article"]["link"].startswith("http://127.0.0.1:")
    assert "utm_" not in data["article"]["link"]


# -- security ------------------------------------------------------------------------------
def test_security_headers_on_every_response(shared):
    wb, db = shared
    aid, _, _ = top_flag(db)
    with wb.client() as c:
        for url in [
            "/",
            "/articles.json",
            "/static/app.css",
            "/static/app.js",
            "/nope",
            f"/articles/{aid}",
        ]:
            r = c.get(url)
            assert r.headers["x-content-type-options"] == "nosniff", url
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp, url
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, url
            assert "http:" not in csp and "https:" not in csp and "*" not in csp, url
        preview = c.get("/digests/demo/preview")
        assert "script-src" not in preview.headers["content-security-policy"]  # default none
        assert "sandbox" in preview.headers["content-security-policy"]
        assert "<script" not in c.get("/").text.replace('<script src="/static/app.js" defer>', "")


def test_no_endpoint_runs_sql_or_serves_files_outside_the_package(shared):
    wb, _ = shared
    with wb.client() as c:
        for url in [
            "/sql?q=SELECT+1",
            "/static/../app.py",
            "/static/%2e%2e/app.py",
            "/articles.json?sort=1;DROP+TABLE+flags",
        ]:
            r = c.get(url)
            assert r.status_code in (200, 400, 404), url
            assert "def create_app" not in r.text
        # a hostile filter value is a value, not SQL
        r = c.get("/articles.json", params={"actor": "x') OR 1=1 --"})
        assert r.status_code == 200 and r.json()["rows"] == []


def test_listening_beyond_loopback_needs_a_password(tmp_path, demo_file):
    cdir = write_config(tmp_path / "config", demo_file)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_WEB_")}
    r = subprocess.run(
        [*WEB, "--config", str(cdir), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert "refusing to listen on 0.0.0.0 without a password" in lines[0]
    assert "NEWSWATCH_WEB_PASSWORD" in lines[0]

    # the same through the command, as a user types it
    r = subprocess.run(
        [sys.executable, "-m", "newswatch.cli", "web", "--config", str(cdir), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2
    assert [x for x in r.stderr.splitlines() if x.strip()] == lines

    from newswatch.errors import ConfigError
    from newswatch.web.security import check_bind

    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("0.0.0.0", "secret")
    with pytest.raises(ConfigError):
        check_bind("192.0.2.10", "")


def test_with_a_password_requests_need_credentials_and_posts_a_csrf_token(demo, tmp_path):
    db, cdir = demo
    aid, _, _ = top_flag(db)
    env = {"NEWSWATCH_WEB_PASSWORD": "correct horse"}
    with workbench(cdir, db, env=env) as wb:
        with wb.client() as c:
            r = c.get("/")
            assert r.status_code == 401
            assert r.headers["www-authenticate"].startswith("Basic")
            assert r.headers["x-content-type-options"] == "nosniff"
            assert c.get("/articles.json").status_code == 401
            assert c.get("/static/app.css").status_code == 401
            assert c.get("/", auth=("ana", "wrong")).status_code == 401
        with wb.client(auth=("ana", "correct horse")) as c:
            page = c.get(f"/articles/{aid}")
            assert page.status_code == 200
            assert "ana" in page.text
            token = csrf_of(page.text)
            form = {"target": "flag", "verdict": "confirmed"}
            # no token, a wrong token, a token without its cookie, another site: refused
            assert c.post(f"/articles/{aid}/verdicts", data=form).status_code == 403
            bad = {**form, "csrf": "0" * 64}
            assert c.post(f"/articles/{aid}/verdicts", data=bad).status_code == 403
            ok = {**form, "csrf": token}
            cross = c.post(
                f"/articles/{aid}/verdicts", data=ok, headers={"sec-fetch-site": "cross-site"}
            )
            assert cross.status_code == 403
            other = c.post(
                f"/articles/{aid}/verdicts", data=ok, headers={"origin": "http://evil.example"}
            )
            assert other.status_code == 403
            with wb.client(auth=("ana", "correct horse")) as fresh:  # no cookie
                assert fresh.post(f"/articles/{aid}/verdicts", data=ok).status_code == 403
            assert c.get("/verdicts.json").json()["verdicts"] == []
            r = c.post(f"/articles/{aid}/verdicts", data=ok)
            assert r.status_code == 303, r.text[:300]
            assert "verdict=" in r.headers["location"]
            rows = wait_until(lambda: c.get("/verdicts.json").json()["verdicts"])
            assert [(v["analyst"], v["verdict"]) for v in rows] == [("ana", "confirmed")]


# -- verdicts ------------------------------------------------------------------------------
def _give(c, aid: str, target: str, verdict: str, note: str = "") -> str:
    """Post a verdict through the article's form; return once it is in the database."""
    before = len(c.get("/verdicts.json").json()["verdicts"])
    token = csrf_of(c.get(f"/articles/{aid}").text)
    r = c.post(
        f"/articles/{aid}/verdicts",
        data={"csrf": token, "target": target, "verdict": verdict, "note": note},
    )
    assert r.status_code == 303, r.text[:500]
    assert "verdict=saved" in r.headers["location"] or "verdict=queued" in r.headers["location"]
    # stored at once, or (on a busy machine) by the queue's thread a moment later
    wait_until(lambda: len(c.get("/verdicts.json").json()["verdicts"]) > before, what="the verdict")
    return r.headers["location"]


def test_verdict_round_trip_survives_reflag_changes_the_digest_and_is_exported(demo, tmp_path):
    db, cdir = demo
    aid, title, _ = top_flag(db)
    with workbench(cdir, db, env={"NEWSWATCH_WEB_USER": "ana"}) as wb, wb.client() as c:
        before = c.get("/digests/demo/preview").text
        assert title.split("…")[0][:20] in before
        loc = _give(c, aid, "flag", "false_positive", "a film review, not a report")
        page = c.get(loc).text
        assert "Verdict saved" in page or "Verdict queued" in page
        assert "a film review, not a report" in page
        rows = c.get("/verdicts.json").json()["verdicts"]
        assert [(r["article_id"], r["kind"], r["verdict"], r["analyst"]) for r in rows] == [
            (aid, "flag", "false_positive", "ana")
        ]
        assert c.get("/articles.json?verdict=false_positive").json()["rows"][0]["article_id"] == aid

        # re-flag the whole archive: flags and mentions are replaced, the verdict stays
        from newswatch.pipeline.reflag import reflag
        from newswatch.store import Store

        stats = reflag(Store(db), cdir / "watchlist.yaml", workers=1)
        assert stats.articles > 0
        assert c.get("/verdicts.json").json()["verdicts"][0]["article_id"] == aid
        assert "a film review, not a report" in c.get(f"/articles/{aid}").text

        # the digest no longer lists it (its story had no other copy)
        after = c.get("/digests/demo/preview").text
        assert f"/articles/{aid}" not in c.get("/digests/demo").text
        assert title.split("…")[0][:20] not in after
        from newswatch.digest.deliver import pending_items
        from newswatch.settings import DigestSettings

        d = DigestSettings(**{k: v for k, v in _digest().items()})
        with Store(db).reader() as con:
            assert aid not in {a for it in pending_items(con, d) for a in it.article_ids}
            keep = d.model_copy(update={"exclude_false_positives": False})
            assert aid in {a for it in pending_items(con, keep) for a in it.article_ids}

        # and the labelled set has it, with nothing expected
        exported = [json.loads(x) for x in c.get("/verdicts.jsonl").text.splitlines()]
    assert [(e["id"], e["actors"], e["allegations"]) for e in exported] == [(aid, [], [])]
    from newswatch.flagging.evaluate import evaluate
    from newswatch.flagging.matcher import Matcher
    from newswatch.reports.verdicts import write_labelled_set
    from newswatch.store import Store

    out = tmp_path / "verdicts.jsonl"
    with Store(db).reader() as con:
        assert write_labelled_set(con, out) == 1
    report = evaluate(out, Matcher.from_path(cdir / "watchlist.yaml"))
    assert report.n_items == 1
    assert report.micro_actors.fp == len(
        one(db, "SELECT actors FROM flags WHERE article_id = ?", [aid])[0][0]
    )


def _digest() -> dict:
    from test_web_support import DEMO_DIGEST

    return dict(DEMO_DIGEST)


def test_two_analysts_both_appear_and_the_latest_counts(demo):
    db, cdir = demo
    aid, _, _ = top_flag(db)
    actor = one(db, "SELECT actors[1] FROM flags WHERE article_id = ?", [aid])[0][0]
    with workbench(cdir, db, env={"NEWSWATCH_WEB_PASSWORD": "pw"}) as wb:
        with wb.client(auth=("ana", "pw")) as c:
            _give(c, aid, f"actor:{actor}", "false_positive")
        with wb.client(auth=("ben", "pw")) as c:
            _give(c, aid, f"actor:{actor}", "confirmed", "named in the second paragraph")
            data = c.get("/verdicts.json").json()
            page = c.get(f"/articles/{aid}").text
            # an entity that is not in the flag is refused
            token = csrf_of(page)
            r = c.post(
                f"/articles/{aid}/verdicts",
                data={"csrf": token, "target": "actor:not_tracked", "verdict": "confirmed"},
            )
            assert r.status_code == 400
    history = [(v["analyst"], v["verdict"], v["latest"]) for v in data["verdicts"]]
    assert history == [("ben", "confirmed", True), ("ana", "false_positive", False)]
    assert data["latest_counts"] == {"confirmed": 1}
    assert page.count("verdict verdict-") >= 3  # current badge + two history entries
    latest = one(db, "SELECT analyst, verdict FROM latest_verdicts")
    assert latest == [("ben", "confirmed")]


WRITER = textwrap.dedent(
    """
    import sys
    from newswatch.store import Store
    # a pass writing a batch: Store's writer waits for readers (announcing itself, so the
    # workbench lets its read connection go) and then holds the file until it commits
    with Store(sys.argv[1]).transaction() as con:
        con.execute("UPDATE runs SET status = status")
        print("holding", flush=True)
        sys.stdin.readline()                    # until the test lets go
    print("released", flush=True)
    """
)


def test_a_verdict_given_while_a_pass_holds_the_database_is_queued_then_stored(demo):
    db, cdir = demo
    aid, _, _ = top_flag(db)
    with workbench(cdir, db) as wb, wb.client() as c:
        token = csrf_of(c.get(f"/articles/{aid}").text)
        queue = Path(str(db) + ".verdicts-queue.jsonl")
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert writer.stdout is not None and writer.stdin is not None
            assert writer.stdout.readline().strip() == "holding"
            r = c.post(
                f"/articles/{aid}/verdicts",
                data={"csrf": token, "target": "flag", "verdict": "false_positive"},
            )
            assert r.status_code == 303
            assert "verdict=queued" in r.headers["location"]
            queued = [json.loads(x) for x in queue.read_text().splitlines()]
            assert [(q["article_id"], q["verdict"]) for q in queued] == [(aid, "false_positive")]
            writer.stdin.write("\n")
            writer.stdin.flush()
            assert writer.stdout.readline().strip() == "released"
        finally:
            if writer.poll() is None:
                writer.kill()
            writer.wait(timeout=10)
            for pipe in (writer.stdin, writer.stdout):
                if pipe is not None:
                    pipe.close()
        # the queue's thread writes it as soon as the database is free
        wait_until(
            lambda: c.get("/verdicts.json").json()["verdicts"], timeout=60, what="the verdict"
        )
        assert wait_until(lambda: queue.read_text() == "", what="an empty queue")
    assert one(db, "SELECT article_id, verdict FROM verdicts") == [(aid, "false_positive")]


def test_a_verdict_left_queued_by_a_workbench_that_stopped_is_written_by_the_next(demo):
    db, cdir = demo
    aid, _, _ = top_flag(db)
    from datetime import datetime

    from newswatch.store.verdicts import Verdict

    v = Verdict("v-left-over", aid, "flag", None, "unsure", "ana", datetime(2026, 11, 30, 9, 0))
    Path(str(db) + ".verdicts-queue.jsonl").write_text(json.dumps(v.as_dict()) + "\n")
    with workbench(cdir, db) as wb, wb.client() as c:
        rows = wait_until(lambda: c.get("/verdicts.json").json()["verdicts"], what="the verdict")
    assert [(r["verdict_id"], r["analyst"]) for r in rows] == [("v-left-over", "ana")]


def test_cli_module_prints_its_address_and_stops_on_sigterm(demo):
    db, cdir = demo
    with workbench(cdir, db) as wb:
        assert wb.url.startswith("http://127.0.0.1:")
        assert any("newswatch web: http://127.0.0.1:" in x for x in wb.log)
    assert wb.proc.returncode == 0


def test_readme_section_names_the_tables_it_documents():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    for name in ("verdicts", "latest_verdicts", "NEWSWATCH_WEB_PASSWORD", "--from-verdicts"):
        assert name in text


def test_the_story_page_says_who_copied_whom_and_whom_the_claims_are_attributed_to(shared):
    wb, db = shared
    derived = one(
        db,
        "SELECT t.story, t.article, p.source, t.overlap FROM story_timeline t "
        "JOIN articles p ON p.article_id = t.derived_from WHERE t.derived_from IS NOT NULL",
    )
    assert derived, "the demo has no copied story (story_timeline)"
    story, article, parent_outlet, _ = derived[0]
    sources = one(
        db,
        "SELECT DISTINCT source_text FROM attributions WHERE article_id IN "
        "(SELECT article_id FROM articles WHERE story_id = ?)",
        [story],
    )
    with wb.client() as c:
        page = c.get(f"/stories/{story}").text
        data = c.get(f"/stories/{story}.json").json()
    assert "Copied from" in page and parent_outlet in page
    assert data["derived"][article]["from"] is not None
    for (text,) in sources:
        assert text in page
    assert ("Whom the claims are attributed to" in page) == bool(sources)


def test_the_digest_preview_says_where_each_story_comes_from_as_the_email_does(shared):
    wb, _ = shared
    with wb.client() as c:
        preview = c.get("/digests/demo/preview")
    assert preview.status_code == 200
    # the same provenance line the sent message carries (digest.deliver.with_provenance)
    assert "first reported by" in preview.text.lower()
