"""The bundled demo news web (``newswatch.demo``) and the default ``config/sources.yaml``.

Everything goes over real HTTP to a LocalSite on 127.0.0.1; nothing touches the internet.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import feedparser
import httpx
import pytest
import trafilatura

from newswatch.demo import FEED_CONTENT_TYPES, demo_manifest, demo_site, demo_sources, site_files
from newswatch.settings import Source, load_sources

REPO = Path(__file__).resolve().parent.parent

ACTORS = {
    "north_korea",
    "hezbollah",
    "hamas",
    "iran",
    "komid",
    "jihad_construction_foundation",
    "alma_center",
}
ALLEGATIONS = {"tunnel_technology_transfer", "tunnel_network", "arms_transfer", "military_training"}
FEED_VERSIONS = {"rss2": "rss20", "atom": "atom10", "rdf": "rss10"}


@pytest.fixture(scope="module")
def site():
    with demo_site() as s:
        yield s


@pytest.fixture(scope="module")
def client():
    with httpx.Client(trust_env=False, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def manifest():
    return demo_manifest()


@pytest.fixture(scope="module")
def pages(site, client, manifest):
    """Every article page as served: {path: html}."""
    out = {}
    for a in manifest["articles"]:
        r = client.get(site.url(a["path"]))
        assert r.status_code == 200, a["path"]
        out[a["path"]] = r.text
    return out


def test_every_file_is_served_with_its_placeholders_filled(site, client):
    files = site_files()
    assert "/robots.txt" in files and "/index.html" in files
    assert "/site.yaml" not in files  # the manifest is ground truth, not part of the web
    for path in [*files, "/", "/al-manara/"]:
        r = client.get(site.url(path))
        assert r.status_code == 200, path
        assert "{{BASE}}" not in r.text, path
        if path.endswith((".html", "/")):
            assert r.headers["content-type"] == "text/html; charset=utf-8", path


def test_robots_txt_allows_everything_but_private(site, client):
    rp = RobotFileParser()
    rp.parse(client.get(site.url("/robots.txt")).text.splitlines())
    assert rp.can_fetch("newswatch", site.url("/tidewater-tribune/rss.xml"))
    assert not rp.can_fetch("newswatch", site.url("/private/drafts.html"))


def test_feeds_parse_and_every_link_resolves_to_an_article(site, client, manifest):
    outlets = {o["feed"]: o for o in manifest["outlets"]}
    articles = {a["path"]: a for a in manifest["articles"]}
    linked: list[str] = []
    relative_links = 0
    for src in demo_sources(site):
        o = outlets[urlsplit(src["url"]).path]
        r = client.get(src["url"])
        assert r.status_code == 200
        assert r.headers["content-type"] == FEED_CONTENT_TYPES[o["format"]]
        d = feedparser.parse(
            r.content,
            response_headers={
                "content-location": src["url"],
                "content-type": r.headers["content-type"],
            },
        )
        assert not d.bozo, (src["name"], d.get("bozo_exception"))
        assert d.version == FEED_VERSIONS[o["format"]]
        assert d.feed.get("language", "").startswith(o["language"])
        assert d.entries, src["name"]
        if o["links"] == "relative":
            relative_links += len(re.findall(r"<link>(?!https?://)[^<]+</link>", r.text))
        for e in d.entries:
            assert e.title and (e.get("summary") or e.get("description"))
            assert e.get("published_parsed") or e.get("updated_parsed")
            url = urljoin(src["url"], e.link)
            assert url.startswith(site.base_url), e.link
            page = client.get(url)
            assert page.status_code == 200, url
            path = urlsplit(url).path
            assert path in articles, path
            assert articles[path]["outlet"] == o["id"]
            linked.append(path)
    assert relative_links >= 1  # one feed exercises relative links
    assert sorted(linked) == sorted(articles), "every article is in exactly one feed"


def test_manifest_covers_every_article_page(manifest):
    outlet_ids = {o["id"] for o in manifest["outlets"]}
    html = {p for p in site_files() if p.endswith(".html") and not p.endswith("index.html")}
    paths = [a["path"] for a in manifest["articles"]]
    assert len(paths) == len(set(paths))
    assert set(paths) == html
    assert 25 <= len(paths) <= 40
    assert 5 <= len(outlet_ids) <= 6
    for a in manifest["articles"]:
        assert a["outlet"] in outlet_ids and a["path"].startswith(f"/{a['outlet']}/")
        assert set(a["actors"]) <= ACTORS, a["path"]
        assert set(a["allegations"]) | set(a.get("may_flag", [])) <= ALLEGATIONS, a["path"]
        assert a["published"].startswith("2026-11-")


def test_manifest_has_the_promised_mix(manifest):
    arts = manifest["articles"]
    kinds = Counter(a["kind"] for a in arts)
    assert kinds["seed"] >= 4 and kinds["near_miss"] >= 6 and kinds["actor_only"] >= 4
    assert kinds["sidebar_trap"] >= 1
    assert {a["language"] for a in arts} >= {"en", "ko", "ar", "he", "fr", "de"}
    seed_langs = {a["language"] for a in arts if a["kind"] == "seed"}
    assert seed_langs >= {"en", "ko", "ar", "he"}
    groups = Counter(a["syndication"] for a in arts if "syndication" in a)
    assert list(groups.values()) == [2]
    assert {o["format"] for o in manifest["outlets"]} == {"rss2", "atom", "rdf"}
    assert any(o["links"] == "relative" for o in manifest["outlets"])
    days = sorted(a["published"][:10] for a in arts)
    assert days[0] <= "2026-11-05" and days[-1] >= "2026-11-20"


def test_pages_are_real_articles_that_extract_well(site, pages, manifest):
    for a in manifest["articles"]:
        html = pages[a["path"]]
        assert re.search(rf'<html lang="{a["language"]}', html), a["path"]
        assert f'<link rel="canonical" href="{site.url(a["path"])}">' in html
        assert 'property="article:published_time"' in html and 'name="author"' in html
        text = trafilatura.extract(html) or ""
        assert len(text.split()) >= 100, (a["path"], len(text.split()))


def test_sidebar_traps_name_actors_only_outside_the_article(pages, manifest):
    names = ("Hezbollah", "Hamas", "헤즈볼라", "하마스")
    traps = [a for a in manifest["articles"] if a["kind"] == "sidebar_trap"]
    assert traps
    for a in traps:
        html = pages[a["path"]]
        aside = html[html.index("<aside") : html.index("</aside>")]
        assert any(n in aside for n in names), a["path"]
        text = trafilatura.extract(html) or ""
        assert not any(n in text for n in names), a["path"]
        assert a["actors"] == [] and a["allegations"] == []


def test_syndicated_copies_share_the_wire_text(pages, manifest):
    copies = [a for a in manifest["articles"] if "syndication" in a]
    texts = [trafilatura.extract(pages[a["path"]]) or "" for a in copies]
    heads = {a["title"] for a in copies}
    assert len(heads) == 2  # different headlines
    leads = [next(line for line in t.splitlines() if "(Compass Wire)" in line) for t in texts]
    assert leads[0] == leads[1]  # the wire's lead paragraph, word for word
    assert texts[0] != texts[1]


def test_demo_sources_are_valid_sources(site):
    srcs = demo_sources(site)
    assert len(srcs) == len(demo_manifest()["outlets"])
    for d in srcs:
        s = Source(**d)
        assert s.url.startswith(site.base_url)
        assert "demo" in s.tags
    assert len({d["name"] for d in srcs}) == len(srcs)


def test_default_sources_yaml_loads():
    sources = load_sources(REPO / "config" / "sources.yaml")
    assert len(sources) >= 20
    langs = {s.language for s in sources}
    assert len(langs) >= 4 and {"en", "ko", "ar", "he"} <= langs
    assert all(s.url.startswith("https://") for s in sources)
