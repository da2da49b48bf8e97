"""The claim views (``claim_links``, ``claim_stories``, ``claims``, ``claim_timeline``) on
both back-ends, their anchors backfill, and their agreement with the pure linker."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

import stores
from newswatch.models import ArticleRecord, Attribution, FlagResult, Mention
from newswatch.store import Store
from newswatch.store.provenance import claim_timeline, claims
from newswatch.stories.provenance import StoryFacts, anchors, link_claims

store_target = stores.store_target  # fixture
pg_server = stores.pg_server  # fixture

T0 = datetime(2026, 11, 17, 6)


def record(
    aid: str,
    lang: str,
    hours: int,
    text: str,
    *,
    actors=("north_korea", "hezbollah"),
    allegations=("tunnel_technology_transfer",),
    sources=(),
) -> ArticleRecord:
    flag = FlagResult(
        actors=tuple(actors),
        allegations=tuple(allegations),
        score=2.0,
        mentions=tuple(Mention("actor", a, a, text, 0, 1) for a in actors)
        + tuple(Mention("allegation", a, a, text, 0, 1) for a in allegations),
    )
    attrs = tuple(
        Attribution(allegations[0], 0, 1, s, 0, 1, s, "media", "said", text) for s in sources
    )
    return ArticleRecord(
        article_id=aid,
        url=f"https://n.example/{aid}",
        canonical_url=f"https://n.example/{aid}",
        source=f"Outlet {aid}",
        title=None,
        author=None,
        published_at=T0 + timedelta(hours=hours),
        fetched_at=T0 + timedelta(days=2),
        language=lang,
        text=text,
        summary=None,
        extraction="trafilatura",
        content_hash=aid,
        flag=flag if actors or allegations else FlagResult(),
        attributions=attrs,
    )


EN = "North Korea sold Hezbollah tunnel know-how under a $13 million contract in 2014."
KO = "북한은 2014년 1,300만 달러 규모의 계약으로 헤즈볼라에 땅굴 기술을 넘겼다."
AR = "باعت كوريا الشمالية حزب الله خبرة الأنفاق بعقد قيمته 13 مليون دولار عام 2014."
OTHER = "Hamas moved rockets through a tunnel in 2014, officials said, paid $13 million."


def batch() -> list[ArticleRecord]:
    return [
        record("en1", "en", 0, EN, sources=("alma_center",)),
        record("ko1", "ko", 3, KO, sources=("alma_center", "rfa")),
        record("ar1", "ar", 5, AR),
        # same anchors, another allegation and actor: not the claim
        record("xx1", "en", 1, OTHER, actors=("hamas",), allegations=("rocket_transfer",)),
    ]


def test_claim_views_link_the_translations_on_both_backends(store_target):
    store = store_target.store()
    store.articles.write_batch(batch())
    with store.reader() as con:
        cols, rows = claims(con)
        assert cols == ["claim", "stories", "languages", "confidence"]
        assert rows == [
            ("en1", ["en1", "ko1", "ar1"], ["en", "ko", "ar"], 0.75)
        ]  # the weakest link: ko1-ar1, 2 of 4 marks
        found = claim_timeline(con, "ko1")  # a story of the claim finds it
        assert found is not None
        tcols, tl = found
        got = [dict(zip(tcols, r, strict=True)) for r in tl]
        assert [(r["story"], r["language"], r["first_in_language"]) for r in got] == [
            ("en1", "en", True),
            ("ko1", "ko", True),
            ("ar1", "ar", True),
        ]
        assert [r["attributed_to"] for r in got] == [["alma_center"], ["alma_center", "rfa"], []]
        assert claim_timeline(con, "xx1") is None
        links = con.execute("SELECT story_a, story_b FROM claim_links ORDER BY ALL").fetchall()
        assert ("ar1", "en1") in links and not any("xx1" in p for p in links)
    # a later story in a language the claim has joins it, not first in its language
    store.articles.write_batch([record("en2", "en", 30, EN)])
    with store.reader() as con:
        found = claim_timeline(con, "en1")
        assert found is not None
        assert [(r[1], r[6]) for r in found[1]] == [
            ("en1", True),
            ("ko1", True),
            ("ar1", True),
            ("en2", False),
        ]


def test_anchors_missing_from_older_articles_are_backfilled(tmp_path):
    store = Store(str(tmp_path / "nw.duckdb"))
    store.articles.write_batch(batch())
    with store.transaction() as con:  # as an archive written before version 11 looks
        con.execute("DELETE FROM article_anchors WHERE article_id IN ('ko1', 'ar1')")
    with store.reader() as con:
        assert claims(con)[1] == []  # two anchors short of a numeric link
    store.articles.write_batch([record("zz1", "en", 50, "Unrelated.", actors=(), allegations=())])
    with store.reader() as con:
        n = con.execute("SELECT count(*) FROM article_anchors").fetchone()
        assert n == (4,)  # the flagged ones, not the unflagged new one
        assert [r[1] for r in claims(con)[1]] == [["en1", "ko1", "ar1"]]


def test_the_views_agree_with_the_pure_linker(tmp_path):
    """Random stories (actors, allegations, anchors, sources drawn from small pools, so
    links and chains happen): the SQL views and link_claims give the same claims."""
    rng = random.Random(17)
    actors = ["north_korea", "hezbollah", "hamas", "iran"]
    allegations = ["tunnels", "rockets", "training"]
    amounts = ["$13 million", "$5 million", "500 km", "in 2014", "in 2019", "in 2021"]
    srcs = ["alma_center", "rfa", "idf", "kcna"]
    for round_ in range(3):
        store = Store(str(tmp_path / f"r{round_}.duckdb"))
        recs, facts = [], []
        for i in range(24):
            ac = tuple(rng.sample(actors, rng.randint(1, 2)))
            al = tuple(rng.sample(allegations, rng.randint(1, 2)))
            an = rng.sample(amounts, rng.randint(0, 3))
            so = tuple(rng.sample(srcs, rng.randint(0, 2)))
            text = "Reported: " + ", ".join(an) + "."
            lang = rng.choice(["en", "ko", "ar", "he"])
            rec = record(f"s{i:02d}", lang, i, text, actors=ac, allegations=al, sources=so)
            recs.append(rec)
            facts.append(
                StoryFacts(
                    rec.article_id,
                    lang,
                    rec.published_at or rec.fetched_at,
                    frozenset(ac),
                    frozenset(al),
                    frozenset(so),
                    anchors(f" {text}"),
                )
            )
        store.articles.write_batch(recs)
        want = [
            (c.claim_id, list(c.stories), list(c.languages), c.confidence)
            for c in link_claims(facts)
        ]
        with store.reader() as con:
            got = claims(con)[1]
        assert sorted(got) == sorted(want), round_
        assert want, "no claim in this round: the pools are too sparse to test anything"


@pytest.mark.parametrize("bad", ["nope", ""])
def test_an_unknown_claim_is_none(tmp_path, bad):
    store = Store(str(tmp_path / "nw.duckdb"))
    store.articles.write_batch(batch())
    with store.reader() as con:
        assert claim_timeline(con, bad) is None
