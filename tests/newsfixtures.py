"""A small news site for the pipeline tests, written for them (no copied text).

Pages:
  /wire/tunnels.html     the seed-style report: North Korea → Hezbollah → Hamas tunnelling
  /wire/weather.html     a weather story whose sidebar names Hezbollah and Hamas
  /wire/metro.html       a near miss: tunnel-boring machines for a city metro
  /wire/arms.html        North Korean rockets found with Hamas fighters
  /paywall/story.html    a page that yields no text (the feed summary is kept)
  /gone.html             404
Feeds:
  /feeds/main.xml        RSS 2.0 with the pages above (one link with utm_ tracking parameters,
                         one entry without a link, one relative link)
  /feeds/atom.xml        Atom feed linking the tunnels story again (stored once)
  /feeds/moved.xml       301 → /feeds/atom.xml
  /feeds/broken.xml      HTML, not a feed
  /feeds/down.xml        always 500
"""

from __future__ import annotations

from pathlib import Path

import yaml

from newswatch.demo.localsite import LocalSite

SIDEBAR = """
<aside class="most-read"><h3>Most read</h3><ul>
<li><a href="/x/1.html">Hezbollah names new commander in southern Lebanon</a></li>
<li><a href="/x/2.html">Hamas and Israel trade accusations over ceasefire talks</a></li>
<li><a href="/x/3.html">Pyongyang parades new missiles</a></li></ul></aside>
"""


def page(
    title: str,
    paragraphs: list[str],
    *,
    canonical: str | None = None,
    lang: str = "en",
    sidebar: bool = True,
) -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    canon = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title} | Test Wire</title>{canon}
<meta name="author" content="Test Desk"></head>
<body><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<main><article><h1>{title}</h1>
{body}
</article></main>
{SIDEBAR if sidebar else ""}
<footer><p>Copyright Test Wire. All rights reserved. Contact the newsroom.</p></footer>
</body></html>"""


TUNNELS = page(
    "North Korea sold tunnel know-how to Hezbollah, researchers say",
    [
        "Researchers at an Israeli institute said on Tuesday that North Korea helped Hezbollah "
        "build a network of attack tunnels in southern Lebanon during the last decade.",
        "According to their report, Korea Mining Development Trading Corporation, known as KOMID, "
        "signed a contract worth about $13 million with Hezbollah's construction arm, the Jihad "
        "Construction Foundation, in 2014 to supply tunnelling technology and advisers.",
        "The researchers believe the same North Korean tunnelling expertise later reached Hamas in "
        "Gaza, where the group dug a network of tunnels that Israeli officers call the Hamas Metro "
        "and that is estimated to run for some 500 kilometres.",
        "Pyongyang has not commented on the findings. Officials in Seoul said they were studying "
        "the report and would share information with their partners.",
        "Analysts caution that the documents behind the report have not been independently "
        "verified, and that some of the transfers may have passed through Iran.",
    ],
    canonical="/wire/tunnels.html",
)
WEATHER = page(
    "Autumn storm brings heavy rain to the coast",
    [
        "A strong autumn storm brought heavy rain and gusty winds to the coast on Monday, "
        "flooding several low-lying streets and delaying trains in the morning rush hour.",
        "Forecasters expect the rain to ease by Wednesday, with cooler air following behind the "
        "front and the first frost possible inland by the weekend.",
        "Residents were advised to clear drains and gutters and to avoid driving through standing "
        "water, which can hide deep holes and debris washed in from the fields.",
        "The national weather service said rainfall totals had reached eighty millimetres in "
        "places, the highest for a single day since last winter.",
    ],
)
METRO = page(
    "City metro extension: giant boring machines start digging",
    [
        "Two giant tunnel-boring machines began digging the new metro line under the river on "
        "Thursday, the city's transport authority said.",
        "The machines, each as long as a football pitch, will bore twin tunnels of nine kilometres "
        "that will link the airport with the central station by the end of the decade.",
        "Engineers said the tunnelling technology supplied by a European firm allows the "
        "machines to advance about fifteen metres a day through soft clay and sand.",
        "The project has been delayed twice by disputes over funding and by the discovery of "
        "medieval remains at one of the station sites.",
    ],
)
ARMS = page(
    "North Korean rockets found with Hamas fighters, army says",
    [
        "The army said on Sunday that soldiers had found North Korean F-7 rocket-propelled "
        "grenades among weapons seized from Hamas fighters in the south of the Gaza Strip.",
        "Officers said the markings on the launchers pointed to factories in North Korea and that "
        "the weapons had probably been smuggled to Hamas through third countries.",
        "Experts on the arms trade have long said that Pyongyang sells cheap rockets and "
        "anti-tank weapons to armed groups in the Middle East to raise foreign currency.",
        "The North Korean mission to the United Nations did not respond to a request for comment "
        "on the army's statement.",
    ],
)
PAYWALL = """<!doctype html><html><head><title>Subscribe</title></head>
<body><div class="paywall">Subscribe to read.</div></body></html>"""


def rss(items: list[dict], *, title: str = "Test Wire") -> str:
    out = []
    for it in items:
        link = f"<link>{it['link']}</link>" if it.get("link") else ""
        out.append(
            f"<item><title>{it['title']}</title>{link}"
            f"<description>{it.get('summary', '')}</description>"
            f"<pubDate>{it.get('date', 'Tue, 17 Nov 2026 08:00:00 GMT')}</pubDate></item>"
        )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{title}</title><link>http://example.invalid/</link>
<description>Test feed</description><language>en</language><ttl>30</ttl>
{"".join(out)}
</channel></rss>"""


def atom(entries: list[dict], base: str) -> str:
    out = []
    for e in entries:
        out.append(
            f'<entry><title>{e["title"]}</title><link rel="alternate" href="{e["link"]}"/>'
            f"<id>{e['link']}</id><updated>2026-11-18T09:00:00Z</updated>"
            f"<summary>{e.get('summary', '')}</summary></entry>"
        )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Test Atom</title><id>{base}/feeds/atom.xml</id>
<updated>2026-11-18T09:00:00Z</updated>{"".join(out)}</feed>"""


def build_site() -> LocalSite:
    site = LocalSite()
    b = site.base_url
    site.add(
        "/wire/tunnels.html",
        TUNNELS.replace('href="/wire/tunnels.html"', f'href="{b}/wire/tunnels.html"'),
    )
    site.add("/wire/weather.html", WEATHER)
    site.add("/wire/metro.html", METRO)
    site.add("/wire/arms.html", ARMS)
    site.add("/paywall/story.html", PAYWALL)
    site.add(
        "/feeds/main.xml",
        rss(
            [
                {
                    "title": "North Korea sold tunnel know-how to Hezbollah, researchers say",
                    "link": f"{b}/wire/tunnels.html?utm_source=rss&amp;utm_medium=feed",
                },
                {
                    "title": "Autumn storm brings heavy rain to the coast",
                    "link": f"{b}/wire/weather.html",
                },
                {
                    "title": "City metro extension: giant boring machines start digging",
                    "link": "/wire/metro.html",
                },
                {
                    "title": "North Korean rockets found with Hamas fighters, army says",
                    "link": f"{b}/wire/arms.html",
                },
                {
                    "title": "Premium: Hezbollah's finances under strain",
                    "link": f"{b}/paywall/story.html",
                    "summary": "Hezbollah faces a cash squeeze as donors from Iran cut back, officials say; "
                    "the group has delayed salaries for its fighters in southern Lebanon.",
                },
                {"title": "An entry without a link"},
                {
                    "title": "A page that is gone",
                    "link": f"{b}/gone.html",
                    "summary": "Hamas officials met mediators in Cairo on Monday.",
                },
            ]
        ),
        content_type="application/rss+xml",
    )
    site.add(
        "/feeds/atom.xml",
        atom(
            [
                {
                    "title": "Tunnel know-how: North Korea and Hezbollah",
                    "link": f"{b}/wire/tunnels.html#top",
                }
            ],
            b,
        ),
        content_type="application/atom+xml",
    )
    site.redirect("/feeds/moved.xml", f"{b}/feeds/atom.xml")
    site.add(
        "/feeds/broken.xml",
        "<html><body><p>This is not a feed.</p></body></html>",
        content_type="text/html",
    )
    site.add(
        "/feeds/down.xml", "server error", status=500, content_type="text/plain", conditional=False
    )
    return site


def write_config(
    directory: Path,
    sources: list[dict],
    *,
    db: Path,
    settings: dict | None = None,
    watchlist: Path | None = None,
) -> Path:
    """A config folder: the given sources, the default watchlist, settings for local tests."""
    directory.mkdir(parents=True, exist_ok=True)
    repo = Path(__file__).resolve().parent.parent
    (directory / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}), encoding="utf-8")
    (directory / "watchlist.yaml").write_text(
        (watchlist or repo / "config" / "watchlist.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    base = {
        "database": str(db),
        "fetch": {
            "allow_private_addresses": True,
            "unthrottled_hosts": ["127.0.0.1"],
            "retries": 1,
            "backoff_seconds": 0.05,
            "timeout_seconds": 5,
        },
        "pipeline": {"workers": 2},
        # serve's workbench has tests of its own (test_demo); off here, so that parallel
        # serve tests do not compete for its port
        "web": {"enabled": False},
    }
    for k, v in (settings or {}).items():
        if isinstance(v, dict):
            base.setdefault(k, {}).update(v)
        else:
            base[k] = v
    (directory / "newswatch.yaml").write_text(yaml.safe_dump(base), encoding="utf-8")
    return directory


def site_sources(site: LocalSite) -> list[dict]:
    return [
        {"name": "Test Wire", "url": site.url("/feeds/main.xml"), "language": "en"},
        {"name": "Test Atom", "url": site.url("/feeds/atom.xml"), "language": "en"},
        {"name": "Moved Feed", "url": site.url("/feeds/moved.xml")},
        {"name": "Broken Feed", "url": site.url("/feeds/broken.xml")},
        {"name": "Down Feed", "url": site.url("/feeds/down.xml")},
    ]
