"""Digest items say where a story comes from: "first reported by X on D; since then N outlets
in K languages; attributed to …", in the text and the HTML part (escaped), sent to a real
SMTP server (aiosmtpd) from a real DuckDB store whose flags and attributions come from the
shipped watchlist."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from newswatch.digest.deliver import SmtpSettings, send_digest, with_provenance
from newswatch.digest.render import provenance_text
from newswatch.flagging.attribution import Attributor
from newswatch.flagging.matcher import Matcher
from newswatch.models import ArticleRecord
from newswatch.settings import shipped_config_dir
from newswatch.store import Store
from newswatch.store.provenance import digest_line, refresh_derivations
from test_digest import NOW, digest, parts, server  # noqa: F401 (server is a fixture)

# invented reporting, written for this test
ORIGINAL = (
    "North Korea shipped tunnel boring parts to Hezbollah through a front company, according "
    "to the Alma center, which tracked the cargo over three years. "
    "South Korea's Joint Chiefs of Staff said North Korean tunnel equipment appeared in photos "
    "of Hezbollah sites taken near the Lebanese border last spring. "
    "Neither government answered questions about the shipments, and the front company has "
    "since closed its office in the port."
)
FRENCH = (
    " Le journal ajoute que les pièces auraient transité par deux ports avant d'arriver au "
    "Liban, selon des documents consultés par la rédaction."
)
FIRST = "Origin <Wire> & Sons"  # outlet names are data: escaped in HTML, as is in text


@pytest.fixture(scope="module")
def flagger():
    matcher = Matcher.from_path(shipped_config_dir() / "watchlist.yaml")
    return matcher, Attributor(matcher.watchlist)


def record(flagger, aid, source, text, *, hours_ago, language="en", title=None) -> ArticleRecord:
    matcher, attributor = flagger
    flag = matcher.match(text, title=None, language=language)
    published = NOW - dt.timedelta(hours=hours_ago)
    return ArticleRecord(
        article_id=aid,
        url=f"https://{aid}.example/news",
        canonical_url=f"https://{aid}.example/news",
        source=source,
        title=title or f"Tunnel parts report ({aid})",
        author=None,
        published_at=published,
        fetched_at=published + dt.timedelta(minutes=5),
        language=language,
        text=text,
        summary=None,
        extraction="trafilatura",
        content_hash=aid,
        flag=flag,
        attributions=attributor.article(flag, text, None, language),
    )


@pytest.fixture
def store(tmp_path, flagger) -> Store:
    """One story: the original, a verbatim copy by another outlet, and a French outlet's
    copy of the wire text with a paragraph of its own, each published later."""
    recs = [
        record(flagger, "o1", FIRST, ORIGINAL, hours_ago=30),
        record(flagger, "c1", "Copy Daily", ORIGINAL, hours_ago=20),
        record(flagger, "c2", "Le Relais", ORIGINAL + FRENCH, hours_ago=10, language="fr"),
    ]
    assert all(r.flag.allegations for r in recs), "the watchlist no longer flags the text"
    store = Store(tmp_path / "nw.duckdb")
    store.articles.write_batch(recs)
    with store.writer() as con:
        con.execute("UPDATE articles SET story_id = 'o1'")  # what clustering would decide
        refresh_derivations(con, ["o1"])
    return store


LABELS = {
    "alma_center": "Alma Research and Education Center",
    "south_korea_jcs": "South Korea's Joint Chiefs of Staff",
    "north_korea": "North Korea",
}


def test_the_items_provenance(store):
    d = digest(actors=())
    with store.reader() as con:
        with_parents = dict(
            con.execute("SELECT article, derived_from FROM story_timeline").fetchall()
        )
        assert with_parents["o1"] is None and with_parents["c1"] == "o1"
        assert with_parents["c2"] in ("o1", "c1")
        from newswatch.digest.deliver import pending_items

        (item,) = with_provenance(con, pending_items(con, d, d.recipients[0], now=NOW))
    p = item.provenance
    assert p is not None
    # the same as the store's own digest_line says of the story
    with store.reader() as con:
        line = digest_line(con, "o1")
    assert line is not None
    assert (p.first_outlet, p.first_time, p.order_confidence) == (
        line["first_outlet"],
        line["first_time"],
        line["order_confidence"],
    )
    assert list(p.attributed_to) == line["attributed_to"]
    assert p.independent_reports == line["independent_reports"] == 1
    assert (p.first_outlet, p.later_outlets, p.later_languages) == (FIRST, 2, ("en", "fr"))
    assert p.first_time == NOW - dt.timedelta(hours=30) and p.order_confidence == 1.0
    assert set(p.attributed_to) == {"alma_center", "south_korea_jcs"}
    day = (NOW - dt.timedelta(hours=30)).replace(tzinfo=dt.UTC).astimezone(d.tz)
    line = provenance_text(item, d.tz, LABELS)
    assert line.startswith(
        f"first reported by {FIRST} on {day:%d %b %Y}; since then 2 outlets in 2 languages "
        "(en, fr); attributed to "
    )
    undated = replace(item, provenance=replace(p, first_time=None, later_outlets=0))
    assert provenance_text(undated, d.tz, LABELS).startswith(
        f"first reported by {FIRST} (date unknown); no other outlet since; attributed to "
    )
    assert line.endswith(
        "Alma Research and Education Center, South Korea's Joint Chiefs of Staff"
    ) or line.endswith("South Korea's Joint Chiefs of Staff, Alma Research and Education Center")


def test_the_line_arrives_in_both_parts(store, server):  # noqa: F811 (the fixture)
    srv = server()
    d = digest(actors=(), recipients=("alice@example.org",))
    result = send_digest(store, d, srv.smtp(), now=NOW, labels=LABELS)
    assert result.status == "sent" and result.items_sent == 1
    (msg,) = srv.handler.to("alice@example.org")
    text, html = parts(msg)
    day = (NOW - dt.timedelta(hours=30)).replace(tzinfo=dt.UTC).astimezone(d.tz)
    head = f"on {day:%d %b %Y}; since then 2 outlets in 2 languages (en, fr); attributed to "
    assert f"   First reported by {FIRST} {head}" in text
    assert f"First reported by Origin &lt;Wire&gt; &amp; Sons {head}" in html
    assert FIRST not in html  # never as markup
    for name in ("Alma Research and Education Center", "South Korea&#x27;s Joint Chiefs of Staff"):
        assert name in html
    assert "South Korea's Joint Chiefs of Staff" in text
    # without display names, ids are made readable, never dropped
    srv2 = server()
    with store.writer() as con:
        con.execute("DELETE FROM digest_deliveries")
        con.execute("DELETE FROM digest_messages")
    send_digest(store, d, srv2.smtp(), now=NOW + dt.timedelta(days=1))
    text2, _ = parts(srv2.handler.to("alice@example.org")[0])
    assert "Alma Center" in text2 and "South Korea Jcs" in text2


def test_a_story_without_a_timeline_has_no_line(store, server):  # noqa: F811 (the fixture)
    with store.writer() as con:
        con.execute("DELETE FROM story_derivations")
    srv = server()
    d = digest(actors=(), recipients=("alice@example.org",))
    send_digest(store, d, srv.smtp(), now=NOW, labels=LABELS)
    text, html = parts(srv.handler.to("alice@example.org")[0])
    assert "first reported" not in text.lower() and "first reported" not in html.lower()


def test_a_dry_run_lists_the_provenance_it_would_send(store):
    smtp = SmtpSettings(host="127.0.0.1", sender="newswatch <nw@example.org>")
    result = send_digest(store, digest(actors=()), smtp, dry_run=True, now=NOW)
    assert result.status == "dry_run"
    items = [it for m in result.messages for it in m.items]
    assert len(items) == 2  # one story, two recipients
    assert all(it.provenance is not None and it.provenance.first_outlet == FIRST for it in items)
    assert items[0].provenance is items[1].provenance  # looked up once
