"""The workbench in a real browser: Debian's chromium driven by Playwright, against a real
`python -m newswatch.web` on 127.0.0.1 and the demo database. Skipped (with the reason)
only when chromium is not installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from test_web_support import (
    PageWatch,
    browser,
    build_demo_db,
    chromium_or_skip,
    wait_until,
    workbench,
    write_config,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chromium_or_skip()
    return build_demo_db(tmp_path_factory.mktemp("browserdemo") / "demo.duckdb")


@pytest.fixture
def site(tmp_path: Path, demo_file: Path):
    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_file, db)
    with workbench(write_config(tmp_path / "config", db), db) as wb:
        yield wb, db


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b


def rows(db: Path, sql: str, params: list | None = None) -> list:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_every_view_loads_with_no_console_error_and_no_failed_request(site, chromium):
    wb, db = site
    aid, sid = rows(
        db,
        "SELECT f.article_id, a.story_id FROM flags f JOIN articles a USING (article_id) "
        "ORDER BY f.score DESC LIMIT 1",
    )[0]
    source = rows(db, "SELECT name FROM sources ORDER BY name LIMIT 1")[0][0]
    page = chromium.new_page()
    watch = PageWatch(page)
    try:
        for url in [
            "/",
            "/articles",
            "/articles?actor=hamas&sort=time",
            "/articles?q=KOMID",
            f"/articles/{aid}",
            f"/stories/{sid}",
            "/trends",
            "/trends?days=90&scale=shared",
            "/sources",
            f"/sources/{source}",
            "/runs",
            "/problems",
            "/bench",
            f"/bench?article={aid}",
            "/digests",
            "/digests/demo",
            "/verdicts",
            "/help",
        ]:
            r = page.goto(wb.url + url, wait_until="load")
            assert r is not None and r.status == 200, url
            page.wait_for_load_state("networkidle")
            assert page.locator("header.top").count() == 1, url
        # the preview frame and its chart load too
        page.goto(wb.url + "/digests/demo")
        page.frame_locator("iframe").locator("img").first.wait_for()
        page.wait_for_load_state("networkidle")
        # the bench's form posts and shows the matches
        page.goto(wb.url + "/bench")
        page.fill("textarea[name=text]", "North Korea sold tunnel know-how to Hezbollah.")
        page.click("form.bench-form button[type=submit]")
        page.wait_for_load_state("load")
        assert page.locator(".bench-result mark").count() >= 2
    finally:
        page.close()
    assert watch.problems == []


def test_board_tile_to_list_to_article_to_story_is_three_clicks(site, chromium):
    wb, _ = site
    page = chromium.new_page()
    watch = PageWatch(page)
    try:
        page.goto(wb.url + "/")
        tile = page.locator("article.tile:not(.quiet) a.tile-link").first
        name = tile.inner_text()
        tile.click()  # 1
        page.wait_for_url(re.compile(r"/articles\?(actor|allegation)="))
        assert page.locator("table.list tr.item").count() >= 1
        assert name in page.locator(".active-filters").inner_text()
        page.locator("table.list a.title").first.click()  # 2
        page.wait_for_url(re.compile(r"/articles/[0-9a-f]{16}$"))
        marks = page.locator(".text mark, .headline mark")
        assert marks.count() >= 1  # the evidence, highlighted
        assert page.locator("table.mentions tbody tr").count() >= 1
        page.locator("#story-link").click()  # 3
        page.wait_for_url(re.compile(r"/stories/[0-9a-f]{16}$"))
        assert page.locator("#copies .badge.first").count() == 1
        assert page.locator("ul.evidence mark").count() >= 1
    finally:
        page.close()
    assert watch.problems == []


JS_MARKS = """
() => {
  const cp = (s) => Array.from(s).length;          // code points, as Python counts
  const out = [];
  for (const field of ["title", "text"]) {
    const root = document.querySelector(`[data-field="${field}"]`);
    if (!root) continue;
    const blocks = field === "title" ? [root] : Array.from(root.querySelectorAll("p[data-offset]"));
    for (const block of blocks) {
      let pos = null;
      for (const el of block.querySelectorAll(":scope > span[data-offset], :scope > mark[data-offset]")) {
        const offset = Number(el.dataset.offset);
        if (pos !== null && offset !== pos) out.push({field, error: "gap", at: offset, expected: pos});
        pos = offset + cp(el.textContent);
        if (el.tagName === "MARK") out.push({field, offset, text: el.textContent, m: el.dataset.m});
      }
    }
  }
  return out;
}
"""


def test_the_article_highlights_exactly_the_stored_mention_offsets(site, chromium):
    wb, db = site
    # the richest articles: Korean, Arabic and Hebrew texts among them
    arts = rows(
        db,
        "SELECT a.article_id, a.title, a.text FROM flags f JOIN articles a USING (article_id) "
        "ORDER BY f.score DESC LIMIT 6",
    )
    assert {r[0] for r in rows(db, "SELECT language FROM articles")} >= {"ko", "ar", "he"}
    page = chromium.new_page()
    watch = PageWatch(page)
    try:
        for aid, title, text in arts:
            mentions = rows(
                db,
                "SELECT field, start_offset, end_offset FROM mentions WHERE article_id = ? "
                "ORDER BY field = 'text', start_offset, kind, entity_id",
                [aid],
            )
            page.goto(f"{wb.url}/articles/{aid}")
            marks = page.evaluate(JS_MARKS)
            assert not [m for m in marks if "error" in m], marks
            fields = {"title": title or "", "text": text or ""}
            for i, (fld, start, end) in enumerate(mentions):
                mine = sorted(
                    (m for m in marks if m["field"] == fld and str(i) in m["m"].split()),
                    key=lambda m: m["offset"],
                )
                assert mine, (aid, i, fld, start, end)
                # the marks of mention i start at its offset and spell exactly field[start:end]
                assert mine[0]["offset"] == start
                assert "".join(m["text"] for m in mine) == fields[fld][start:end]
                assert mine[-1]["offset"] + len(mine[-1]["text"]) == end
            # and nothing else is marked
            marked = {(m["field"], m["offset"]) for m in marks}
            covered = set()
            for fld, start, end in mentions:
                covered |= {(fld, o) for o in range(start, end)}
            assert marked <= covered
    finally:
        page.close()
    assert watch.problems == []


def test_a_verdict_given_in_the_browser_shows_in_the_history_and_the_table(site, chromium):
    wb, db = site
    aid, actor = rows(
        db,
        "SELECT article_id, actors[1] FROM flags ORDER BY score DESC LIMIT 1",
    )[0]
    page = chromium.new_page()
    watch = PageWatch(page)
    try:
        page.goto(f"{wb.url}/articles/{aid}")
        form = page.locator(f'form.verdict-form[data-target="actor:{actor}"]')
        form.locator("summary").click()
        form.locator("input[name=note]").fill("named only in a quote")
        form.locator('button[value="false_positive"]').click()
        page.wait_for_url(re.compile(r"verdict=(saved|queued)"))
        assert "named only in a quote" in page.locator("ol.history").inner_text()
        # the keyboard: x marks the whole flag a false positive
        with page.expect_navigation():
            page.keyboard.press("x")
        assert page.locator("ol.history li").count() == 2
        page.goto(wb.url + "/verdicts")
        assert page.locator("#verdict-history tbody tr").count() == 2
    finally:
        page.close()
    assert watch.problems == []
    # stored at once, or (on a busy machine) by the queue's thread a moment later
    stored = wait_until(lambda: sorted(rows(db, "SELECT kind, verdict FROM verdicts")) or None)
    assert stored == [("actor", "false_positive"), ("flag", "false_positive")]


def test_everything_works_without_javascript(site, chromium):
    wb, db = site
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(wb.url + "/")
        page.locator("article.tile:not(.quiet) a.tile-link").first.click()
        page.locator("table.list a.title").first.click()
        page.wait_for_url(re.compile(r"/articles/[0-9a-f]{16}$"))
        page.locator('form.verdict-form[data-target="flag"] button[value="confirmed"]').click()
        page.wait_for_url(re.compile(r"verdict=(saved|queued)"))
        page.goto(wb.url + "/articles?sort=time")
        page.locator("select[name=sort]").select_option("score")
        page.locator("form.filters button[type=submit]").click()
        page.wait_for_url(re.compile(r"sort=score|/articles\?"))
        assert page.locator("table.list tr.item").count() >= 1
    finally:
        context.close()
    assert wait_until(lambda: rows(db, "SELECT verdict FROM verdicts")) == [("confirmed",)]


# -- hostile content -----------------------------------------------------------------------
HOSTILE_TITLES = [
    "<script>window.__pwned = 1</script> Hamas tunnels reach the border",
    '<img src=x onerror="window.__pwned = 2"> Hezbollah names a tunnel commander',
    "\u202eHamas arms smuggling\u202c: North Korean rockets found",
]


def _hostile_feed_site():
    from newsfixtures import page as news_page
    from newsfixtures import rss
    from newswatch.demo.localsite import LocalSite

    site = LocalSite()
    items = []
    for i, title in enumerate(HOSTILE_TITLES):
        path = f"/hostile/{i}.html"
        body = [
            f"Hamas and Hezbollah were named again on day {i}: North Korean engineers "
            "helped dig the tunnels, officials said. <script>window.__pwned = 4</script>",
            'Readers were told to click <a href="javascript:window.__pwned=5">here</a> '
            "for more about the North Korean rockets supplied to Hamas.",
        ]
        site.add(path, news_page(title.replace("<", "&lt;").replace(">", "&gt;"), body))
        xml_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        items.append({"title": xml_title, "link": site.url(path)})
    site.add("/hostile.xml", rss(items, title="Hostile Wire"), content_type="application/rss+xml")
    return site


def _hostile_db(tmp_path: Path, demo_file: Path) -> Path:
    """The demo database, plus a pass over a feed with hostile headlines and pages, plus
    records written through the store with what a feed could never bring through the
    pipeline (a javascript: URL, markup in the outlet's name)."""
    from newsfixtures import write_config as news_config
    from newswatch.flagging.matcher import Matcher
    from newswatch.models import ArticleRecord
    from newswatch.store import Store

    db = tmp_path / "hostile.duckdb"
    shutil.copy(demo_file, db)
    site = _hostile_feed_site()
    with site:
        cdir = news_config(
            tmp_path / "passconfig",
            [{"name": "Hostile Wire", "url": site.url("/hostile.xml"), "language": "en"}],
            db=db,
        )
        r = subprocess.run(
            [sys.executable, "-m", "newswatch.cli", "run", "--config", str(cdir), "--quiet"],
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert r.returncode == 0, r.stdout + r.stderr
    matcher = Matcher.from_path(Path(cdir) / "watchlist.yaml")
    records = []
    for i, (title, url, source) in enumerate(
        [
            (HOSTILE_TITLES[0], "javascript:window.__pwned=6", "<b onmouseover=x>Evil</b>"),
            (
                "Hamas tunnels: a data: link",
                "data:text/html,<script>window.__pwned=7</script>",
                "Data Wire",
            ),
            (
                "\u202egnirts\u202c Hezbollah and Hamas",
                "http://127.0.0.1:9/x?utm_source=a",
                "RLO Wire",
            ),
        ]
    ):
        text = (
            "Hamas fighters used tunnels dug with North Korean help, Hezbollah said. "
            f"<script>window.__pwned = 8</script> <img src=x onerror=window.__pwned=9> #{i}"
        )
        records.append(
            ArticleRecord(
                article_id=f"{i:016x}",
                url=url,
                canonical_url=url,
                source=source,
                title=title,
                author="<i>someone</i>",
                published_at=datetime(2026, 11, 20, 8, i),
                fetched_at=datetime(2026, 11, 20, 9, i),
                language="en",
                text=text,
                summary=None,
                extraction="trafilatura",
                content_hash=f"h{i}",
                flag=matcher.match(text, title=title),
            )
        )
    Store(db).articles.write_batch(records, watchlist_version=matcher.version)
    return db


def test_hostile_headlines_links_and_text_show_as_text_and_no_script_runs(
    tmp_path, demo_file, chromium
):
    db = _hostile_db(tmp_path, demo_file)
    stored = [r[0] for r in rows(db, "SELECT title FROM articles WHERE source = 'Hostile Wire'")]
    assert any("<script>" in t or "onerror" in t for t in stored), stored
    hostile = rows(
        db,
        "SELECT f.article_id, a.story_id FROM flags f JOIN articles a USING (article_id) "
        "WHERE a.source IN ('Hostile Wire', '<b onmouseover=x>Evil</b>', 'Data Wire', 'RLO Wire')",
    )
    assert len(hostile) >= 4
    with workbench(write_config(tmp_path / "config", db), db) as wb:
        page = chromium.new_page()
        watch = PageWatch(page)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        try:
            urls = ["/", "/articles?sort=time", "/articles?q=hamas", "/verdicts", "/sources"]
            urls += [f"/articles/{a}" for a, _ in hostile] + [f"/stories/{s}" for _, s in hostile]
            urls += [f"/bench?article={a}" for a, _ in hostile] + ["/digests/demo"]
            for url in urls:
                page.goto(wb.url + url, wait_until="load")
                page.wait_for_load_state("networkidle")
                assert page.evaluate("typeof window.__pwned") == "undefined", url
                # the only script is ours; no element came from the web's markup
                srcs = page.evaluate("Array.from(document.scripts).map(s => s.getAttribute('src'))")
                assert srcs == ["/static/app.js"], (url, srcs)
                assert page.locator("img[src=x], b[onmouseover], i").count() == 0, url
                hrefs = page.evaluate(
                    "Array.from(document.querySelectorAll('[href]')).map(a => a.getAttribute('href'))"
                )
                bad = [h for h in hrefs if not h.startswith(("/", "http://", "https://", "?", "#"))]
                assert bad == [], (url, bad)
            # the text shows as text: the headline's markup is visible characters
            page.goto(f"{wb.url}/articles?sort=time")
            titles = page.locator("table.list a.title").all_inner_texts()
            assert any("<script>window.__pwned = 1</script>" in t for t in titles), titles
            assert any('<img src=x onerror="window.__pwned = 2">' in t for t in titles), titles
            # right-to-left overrides cannot reorder the page: shown as U+FFFD
            assert not any("\u202e" in t for t in titles)
            assert any("\ufffdgnirts\ufffd" in t for t in titles), titles
            page.goto(f"{wb.url}/articles/{0:016x}")
            assert page.locator("#original-link").count() == 0  # javascript: is not a link
            assert "javascript:window.__pwned=6" in page.locator(".original").inner_text()
            assert "<script>window.__pwned = 8</script>" in page.locator(".text").inner_text()
            page.goto(f"{wb.url}/bench")
            page.fill("input[name=title]", HOSTILE_TITLES[1])
            page.fill("textarea[name=text]", "<script>window.__pwned=10</script> Hamas")
            page.click("form.bench-form button[type=submit]")
            page.wait_for_load_state("load")
            assert page.evaluate("typeof window.__pwned") == "undefined"
            assert (
                "<script>window.__pwned=10</script>" in page.locator(".bench-result").inner_text()
            )
        finally:
            page.close()
    assert dialogs == []
    assert watch.problems == []
