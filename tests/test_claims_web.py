"""The workbench's story page over real HTTP: the derivation tree and the claim's spread
across languages, on the demo's provenance story; text from the web stays text."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from newswatch.demo import demo_manifest
from test_web_support import build_demo_db, workbench, write_config


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_db(tmp_path_factory.mktemp("claimsweb") / "demo.duckdb")


def story_of(db: Path, role: str) -> list[tuple[str, str, str]]:
    """(story_id, article_id, source) of the demo's provenance articles with this role."""
    paths = [
        a["path"]
        for a in demo_manifest()["articles"]
        if (a.get("provenance") or {}).get("role") == role
    ]
    with duckdb.connect(str(db), read_only=True) as con:
        return [
            con.execute(
                "SELECT story_id, article_id, source FROM articles "
                "WHERE canonical_url LIKE '%' || ?",
                [p],
            ).fetchall()[0]
            for p in paths
        ]


class Depths(HTMLParser):
    """The <ul> depth (inside the tree) at which each piece of text stands."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.inside = False
        self.seen: list[tuple[int, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "ul" and ("class", "tree") in attrs:
            self.inside = True
        if self.inside and tag == "ul":
            self.depth += 1

    def handle_endtag(self, tag):
        if self.inside and tag == "ul":
            self.depth -= 1
            self.inside = self.depth > 0

    def handle_data(self, data):
        if self.inside and data.strip():
            self.seen.append((self.depth, data.strip()))


def test_story_page_draws_the_tree_and_the_spread(tmp_path, demo_file):
    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_file, db)
    ((story, first, _),) = story_of(db, "original")
    ((_, verbatim, _),) = story_of(db, "verbatim_copy")
    translations = story_of(db, "translation")
    with workbench(write_config(tmp_path / "config", db), db) as wb, wb.client() as c:
        page = c.get(f"/stories/{story}")
        data = c.get(f"/stories/{story}.json").json()
        ko_page = c.get(f"/stories/{translations[0][0]}").text
    assert page.status_code == 200
    html = page.text
    p = Depths()
    p.feed(html)
    depth = {text: d for d, text in p.seen}
    assert depth["The Tidewater Tribune"] == 1
    assert depth["The Northgate Herald"] == 2 and depth["HaMigdalor"] == 2
    tree = html[html.index('<ul class="tree">') : html.index('id="claim"')]
    assert tree.index("The Northgate Herald") < tree.index("no new reporting")
    assert "adds reporting" in tree[tree.index("HaMigdalor") :]
    assert "first report" in tree
    # the spread: en first, then ko and ar with their delay, each linked to its story
    spread = html[html.index('<ol class="spread">') : html.index("</ol>")]
    assert [x for x in ("<strong>en</strong>", "<strong>ko</strong>", "<strong>ar</strong>")
            if x in spread] == ["<strong>en</strong>", "<strong>ko</strong>", "<strong>ar</strong>"]  # fmt: skip
    assert spread.index("<strong>ko</strong>") < spread.index("<strong>ar</strong>")
    assert "+5.0 h" in spread and "+6.6 h" in spread
    for sid, _, _ in translations:
        assert f'href="/stories/{sid}"' in html
    assert [r["language"] for r in data["claim"]] == ["en", "ko", "ar"]
    assert data["derived"][verbatim]["from"] == first
    assert "this story" in ko_page and "The claim across languages" in ko_page


def test_outlet_names_in_the_tree_are_text(tmp_path, demo_file):
    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_file, db)
    ((story, _, _),) = story_of(db, "original")
    ((_, verbatim, _),) = story_of(db, "verbatim_copy")
    with duckdb.connect(str(db)) as con:
        con.execute(
            "UPDATE articles SET source = '<img src=x onerror=alert(1)>' WHERE article_id = ?",
            [verbatim],
        )
    with workbench(write_config(tmp_path / "config", db), db) as wb, wb.client() as c:
        html = c.get(f"/stories/{story}").text
    tree = html[html.index('<ul class="tree">') : html.index('id="claim"')]
    assert "&lt;img src=x onerror=alert(1)&gt;" in tree
    assert "<img src=x" not in html
