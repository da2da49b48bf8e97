"""Doors that stay shut: a read-only SQL surface that is really read-only, text from the web
that stays text, a damaged database reported as damaged.

The commands run as a user runs them, in their own process, against real DuckDB files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

import stores
from newswatch.errors import StoreError
from newswatch.models import ArticleRecord, FlagResult
from newswatch.store import Store, lock

pytestmark = pytest.mark.attack


def newswatch(*args: str, stdin: str | None = None, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "newswatch.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
        timeout=120,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "nw.duckdb"
    store = Store(path)
    records = stores.make_records(range(3))
    hostile = ArticleRecord(
        article_id="hostile",
        url="http://127.0.0.1/x",
        canonical_url="http://127.0.0.1/x",
        source="[bold]Outlet[/bold]",
        title="[/quote] [link=javascript:alert(1)]click[/link] \x1b[2J\x1b[31mred\r\nfake line \u202eevil",
        author=None,
        published_at=datetime(2026, 11, 20, 8),
        fetched_at=datetime(2026, 11, 20, 9),
        language="en",
        text="text",
        summary=None,
        extraction="trafilatura",
        content_hash="h",
        flag=FlagResult(),
        signature=None,
    )
    store.articles.write_batch([*records, hostile])
    return path


def test_explain_analyze_cannot_write_a_file(db: Path, tmp_path: Path):
    target = tmp_path / "leak.csv"
    r = newswatch("sql", "--db", str(db), f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{target}'")
    assert r.returncode == 1
    assert "read-only" in r.stderr and "COPY" in r.stderr
    assert not target.exists()


def test_explain_analyze_cannot_install_an_extension(db: Path, tmp_path: Path):
    home = tmp_path / "home"
    r = newswatch("sql", "--db", str(db), "EXPLAIN ANALYZE INSTALL httpfs", env={"HOME": str(home)})
    assert r.returncode == 1 and "read-only" in r.stderr
    assert not (home / ".duckdb").exists()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_blob('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM read_text('http://127.0.0.1:9/x')",
    ],
)
def test_no_file_or_url_outside_the_database(db: Path, query: str):
    r = newswatch("sql", "--db", str(db), query)
    assert r.returncode == 1
    assert "does not read files outside the database" in r.stderr
    assert "root:" not in r.stdout


def test_allow_files_lets_the_shell_user_read_a_local_file(db: Path, tmp_path: Path):
    data = tmp_path / "extra.csv"
    data.write_text("a,b\n1,2\n3,4\n")
    r = newswatch(
        "sql", "--db", str(db), "--allow-files", "-f", "json", f"SELECT sum(a) AS s FROM '{data}'"
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"s": 4}]


def test_configuration_cannot_be_changed_back(db: Path):
    r = newswatch("sql", "--db", str(db), "SET enable_external_access = true; SELECT 1")
    assert r.returncode == 1 and "SET statement is refused" in r.stderr


def test_several_statements_print_each_result(db: Path):
    r = newswatch("sql", "--db", str(db), "-f", "jsonl", "SELECT 1 AS a; SELECT 2 AS b")
    assert r.returncode == 0, r.stderr
    assert [json.loads(line) for line in r.stdout.splitlines()] == [{"a": 1}, {"b": 2}]
    r = newswatch("sql", "--db", str(db), "-f", "json", "SELECT 1 AS a; SELECT 2 AS b")
    assert r.returncode == 2 and "one at a time" in r.stderr


def test_sql_from_a_file(db: Path, tmp_path: Path):
    q = tmp_path / "q.sql"
    q.write_text("SELECT count(*) AS n FROM articles")
    r = newswatch("sql", "--db", str(db), "--file", str(q), "-f", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"n": 4}]


def test_json_is_json_and_timestamps_carry_their_zone(db: Path):
    r = newswatch(
        "sql",
        "--db",
        str(db),
        "-f",
        "json",
        "SELECT 'NaN'::DOUBLE AS nan, 'inf'::DOUBLE AS inf, fetched_at FROM articles "
        "WHERE article_id = 'hostile'",
    )
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)[0]  # strict JSON: NaN would not parse in most readers
    assert "NaN" not in r.stdout and "Infinity" not in r.stdout
    assert row["nan"] is None and row["inf"] is None
    assert row["fetched_at"] == "2026-11-20T09:00:00+00:00"


def test_markup_and_control_characters_in_data_stay_text(db: Path):
    r = newswatch(
        "sql", "--db", str(db), "SELECT source, title FROM articles WHERE article_id = 'hostile'"
    )
    assert r.returncode == 0, r.stderr  # '[/quote]' used to crash the table
    assert "[/quote]" in r.stdout and "[bold]Outlet[/bold]" in r.stdout
    assert "[link=javascript:alert(1)]" in r.stdout
    assert "\x1b" not in r.stdout and "\r" not in r.stdout and "\u202e" not in r.stdout
    assert "\\x1b[2J" in r.stdout  # shown, escaped


def test_a_damaged_database_is_reported_as_damaged_at_once(tmp_path: Path):
    path = tmp_path / "broken.duckdb"
    path.write_bytes(os.urandom(1 << 16))
    # with an hour of lock timeout, a 'locked' diagnosis would hang until the test's timeout
    with pytest.raises(StoreError, match="damaged") as e, Store(path, lock_timeout=3600).reader():
        pass
    assert "locked" not in str(e.value)
    r = newswatch("sql", "--db", str(path), "SELECT 1")
    assert r.returncode == 1 and "damaged" in r.stderr and "locked" not in r.stderr


def test_a_long_query_gives_way_to_a_waiting_writer(db: Path, monkeypatch):
    """A reader holding the file while a pass waits to write is interrupted, with a message."""
    import newswatch.cli.sql as sql_cli

    monkeypatch.setattr(sql_cli, "WRITER_GRACE_SECONDS", 1.0)
    con = duckdb.connect(str(db), read_only=True)
    marker = lock.marker_path(db)
    try:
        watch = sql_cli._WriterWatch(str(db), con)
        # a writer announces that it waits, as a pass in another (live) process would
        marker.write_text(str(os.getppid()))
        try:
            with pytest.raises(duckdb.Error, match=r"(?i)interrupt"):
                # runs until interrupted
                con.execute("SELECT count(*) FROM range(100000000000) t1, range(10) t2").fetchall()
        finally:
            marker.unlink()
            watch.stop()
        assert watch.interrupted
    finally:
        con.close()


# -- feeds: one bad byte, a hundred thousand entries -----------------------------------------
def _korean_feed(site_url: str, bad: bool) -> bytes:
    doc = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>연합</title>'
        "<item><title>북한, 헤즈볼라에 땅굴 기술 전수</title>"
        f"<link>{site_url}/ko/1.html</link><description>설명 MARK 끝</description></item>"
        "</channel></rss>"
    ).encode()
    return doc.replace(b"MARK", b"\xff" if bad else b"ok")


def test_one_invalid_byte_does_not_garble_a_feed():
    from newswatch.ingest.feeds import parse_feed

    raw = _korean_feed("http://127.0.0.1:1", bad=True)
    parsed = parse_feed(
        "Yonhap",
        raw,
        url="http://127.0.0.1:1/f.xml",
        headers={"Content-Type": "application/rss+xml; charset=utf-8"},
    )
    assert parsed.entries[0].title == "북한, 헤즈볼라에 땅굴 기술 전수"
    assert parsed.entries[0].summary == "설명 \ufffd 끝"  # only the bad byte is replaced
    assert parsed.bozo and "1 byte(s) invalid" in (parsed.bozo_reason or "")


def test_one_invalid_byte_in_a_served_feed_keeps_its_korean_matching(tmp_path: Path):
    from newsfixtures import page, write_config
    from newswatch.demo.localsite import LocalSite
    from newswatch.pipeline.run import run_pass
    from newswatch.settings import load_config

    with LocalSite() as site:
        site.add(
            "/ko/1.html",
            page(
                "북한, 헤즈볼라에 땅굴 기술 전수",
                ["북한이 헤즈볼라에 땅굴 기술을 전수했다고 연구소가 밝혔다."],
                lang="ko",
            ),
        )
        site.add(
            "/f.xml",
            _korean_feed(site.base_url, bad=True),
            content_type="application/rss+xml; charset=utf-8",
        )
        cdir = write_config(
            tmp_path / "c",
            [{"name": "Yonhap", "url": site.url("/f.xml"), "language": "ko"}],
            db=tmp_path / "k.duckdb",
        )
        run_pass(load_config(cdir))
    con = duckdb.connect(str(tmp_path / "k.duckdb"), read_only=True)
    try:
        title, actors = con.execute(
            "SELECT a.title, f.actors FROM articles a JOIN flags f USING (article_id)"
        ).fetchone()
        (problem,) = con.execute("SELECT reason FROM problems WHERE stage = 'parse'").fetchone()
    finally:
        con.close()
    assert title == "북한, 헤즈볼라에 땅굴 기술 전수"
    assert {"north_korea", "hezbollah"} <= set(actors)
    assert "invalid in the declared encoding" in problem


def test_a_huge_feed_is_cut_before_it_is_parsed():
    from newswatch.ingest.feeds import MAX_ENTRIES, parse_feed

    items = "".join(
        f"<item><title>Item {i}</title><link>http://127.0.0.1:1/{i}</link></item>"
        for i in range(MAX_ENTRIES + 2500)
    )
    raw = f'<?xml version="1.0"?><rss version="2.0"><channel><title>big</title>{items}</channel></rss>'.encode()
    parsed = parse_feed("Big", raw, url="http://127.0.0.1:1/big.xml")
    assert len(parsed.entries) == MAX_ENTRIES
    assert parsed.skipped[0] == (
        "2500 more entries",
        f"the feed has more than {MAX_ENTRIES} entries",
    )
