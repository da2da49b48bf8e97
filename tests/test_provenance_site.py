"""Provenance end to end: a local news site (an original report, a verbatim copy published
later, an edited copy with a new paragraph, Korean and Arabic translations, an unrelated
report of the same day), the real pipeline, a real DuckDB file."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from newsfixtures import page, rss, write_config
from newswatch.cli.app import app
from newswatch.demo.localsite import LocalSite
from newswatch.pipeline.run import run_pass
from newswatch.settings import load_config
from newswatch.store import Store
from newswatch.store.provenance import claim_timeline, claims, digest_line

P1 = (
    "North Korea helped Hezbollah build its tunnel network in southern Lebanon, according "
    "to the Alma Research and Education Center, which said the two signed a $13 million "
    "contract in 2014."
)
P2 = (
    "Zehavi told RFA that North Korean engineers advised Hezbollah on tunnel design and "
    "that the know-how later reached Hamas in Gaza."
)
P3 = (
    "South Korea's Joint Chiefs of Staff said North Korean weapons and tunnel equipment "
    "had turned up among Hamas stockpiles this year."
)
P4 = (
    "Analysts in Seoul say the deal fits a long pattern of North Korean arms sales to "
    "groups in the Middle East, paid for in cash and in kind."
)
NEW = (
    "A former Lebanese army officer told this newspaper that North Korean instructors "
    "visited Hezbollah tunnel sites near the border in 2015 and in 2016, staying for weeks."
)
KO = [
    "알마 연구교육센터에 따르면 북한은 2014년 헤즈볼라와 1,300만 달러 규모의 계약을 맺고 레바논 "
    "남부의 땅굴 건설 기술을 전수했다.",
    "자하비 소장은 자유아시아방송(RFA)에 북한 기술자들이 헤즈볼라에 땅굴 설계를 자문했고 그 "
    "기술이 가자지구의 하마스에게도 넘어갔다고 말했다.",
    "합참은 올해 하마스 무기고에서 북한제 무기와 땅굴 장비가 발견됐다고 밝혔다.",
]
AR = [
    "بحسب مركز ألما للأبحاث والتعليم، ساعدت كوريا الشمالية حزب الله في بناء شبكة أنفاقه في "
    "جنوب لبنان بموجب عقد قيمته 13 مليون دولار وقع عام 2014.",
    "وقالت زهافي لإذاعة آسيا الحرة إن مهندسين كوريين شماليين قدموا لحزب الله استشارات في "
    "تصميم الأنفاق وإن هذه الخبرة وصلت لاحقا إلى حماس في غزة.",
]
OTHER = [
    "Heavy rain flooded roads in Seoul on Tuesday, and the city closed two riverside parks.",
    "Forecasters expect the rain to ease by Thursday, when temperatures will rise again.",
]

_T = "Tue, 17 Nov 2026 {}:00:00 GMT"
OUTLETS = {
    # outlet: (path, published, title, paragraphs, language)
    "Origin Wire": (
        "orig", _T.format("06"), "North Korea helped Hezbollah dig tunnels, researchers say",
        [P1, P2, P3, P4], "en",
    ),
    "Copy Daily": (
        "copy", _T.format("09"), "North Korea helped Hezbollah dig tunnels", [P1, P2, P3, P4], "en"
    ),
    "Edit Post": (
        "edit", _T.format("11"), "Report: North Korea aided Hezbollah tunnels",
        [P1, P2, NEW, P3, P4], "en",
    ),
    "Seoul Ilbo": ("ko", _T.format("12"), "북한, 헤즈볼라 땅굴 건설 도왔다", KO, "ko"),
    "Beirut Akhbar": ("ar", _T.format("13"), "كوريا الشمالية ساعدت حزب الله في حفر الأنفاق", AR, "ar"),
    "Weather Desk": ("rain", _T.format("07"), "Rain floods Seoul roads", OTHER, "en"),
}  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("prov")
    site = LocalSite()
    sources = []
    for outlet, (path, date, title, paras, lang) in OUTLETS.items():
        site.add(f"/{path}/a.html", page(title, paras, lang=lang, sidebar=False))
        site.add(
            f"/{path}/feed.xml",
            "",  # filled once the port is known
            content_type="application/rss+xml",
        )
        sources.append((outlet, path, date, title, lang))
    with site:
        for _outlet, path, date, title, _lang in sources:
            site.add(
                f"/{path}/feed.xml",
                rss([{"title": title, "link": site.url(f"/{path}/a.html"), "date": date}]),
                content_type="application/rss+xml",
            )
        cfg = write_config(
            tmp / "config",
            [
                {"name": o, "url": site.url(f"/{p}/feed.xml"), "language": lg}
                for o, p, _d, _t, lg in sources
            ],
            db=tmp / "nw.duckdb",
        )
        summary = run_pass(load_config(cfg))
        assert summary.articles_new == len(OUTLETS)
    return str(tmp / "nw.duckdb")


def q(db: str, sql: str, *params):
    con = duckdb.connect(db, read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def _ids(db: str) -> dict[str, tuple[str, str]]:
    return {s: (a, st) for a, s, st in q(db, "SELECT article_id, source, story_id FROM articles")}


def test_first_report_and_each_copys_parent(db):
    ids = _ids(db)
    orig, copy, edit = ids["Origin Wire"], ids["Copy Daily"], ids["Edit Post"]
    assert orig[1] == copy[1] == edit[1]  # one story
    rows = q(
        db,
        "SELECT outlet, derived_from, overlap, adds_reporting, order_confidence "
        "FROM story_timeline WHERE story = ? ORDER BY time",
        orig[1],
    )
    assert [r[0] for r in rows] == ["Origin Wire", "Copy Daily", "Edit Post"]
    first, verbatim, edited = rows
    assert first[1] is None and first[3] is True and first[4] == 1.0
    assert verbatim[1] == orig[0] and verbatim[2] > 0.9 and verbatim[3] is False
    assert edited[1] in (orig[0], copy[0]) and edited[3] is True  # a new paragraph
    line = digest_line(duckdb.connect(db, read_only=True), orig[1])
    assert line is not None
    assert line["first_outlet"] == "Origin Wire" and line["outlets"] == 3
    assert {"alma_center", "rfa", "south_korea_jcs"} <= set(line["attributed_to"])


def test_attributions_of_the_seed_like_article(db):
    aid = _ids(db)["Origin Wire"][0]
    rows = q(
        db,
        "SELECT DISTINCT source_id, kind, source_text FROM attributions WHERE article_id = ?",
        aid,
    )
    by_id = {r[0]: r for r in rows}
    assert set(by_id) == {"alma_center", "rfa", "south_korea_jcs"}
    assert by_id["rfa"][1] == "media" and by_id["south_korea_jcs"][1] == "military"
    # offsets point at the source in the text
    for text, start, end, src in q(
        db,
        "SELECT a.text, t.source_start, t.source_end, t.source_text FROM attributions t "
        "JOIN articles a USING (article_id) WHERE t.field = 'text' AND a.article_id = ?",
        aid,
    ):
        assert text[start:end] == src
    ko = _ids(db)["Seoul Ilbo"][0]
    ko_ids = {r[0] for r in q(db, "SELECT source_id FROM attributions WHERE article_id = ?", ko)}
    assert {"alma_center", "rfa", "south_korea_jcs"} <= ko_ids


def test_claim_links_the_translations_not_the_weather(db):
    ids = _ids(db)
    con = duckdb.connect(db, read_only=True)
    try:
        _, rows = claims(con)
        linked = [r for r in rows if ids["Origin Wire"][1] in r[1]]
        assert len(linked) == 1
        claim, stories, languages, confidence = linked[0]
        assert set(stories) == {ids[o][1] for o in ("Origin Wire", "Seoul Ilbo", "Beirut Akhbar")}
        assert ids["Weather Desk"][1] not in stories
        assert claim == ids["Origin Wire"][1] and languages[0] == "en" and confidence >= 0.5
        found = claim_timeline(con, claim)
        assert found is not None
        _, tl = found
        assert [(r[3], r[6]) for r in tl] == [
            ("Origin Wire", True),
            ("Seoul Ilbo", True),
            ("Beirut Akhbar", True),
        ]
    finally:
        con.close()


def test_story_and_claim_commands(db):
    sid = _ids(db)["Origin Wire"][1]
    r = CliRunner().invoke(app, ["story", sid, "--db", db, "-f", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [x["outlet"] for x in rows] == ["Origin Wire", "Copy Daily", "Edit Post"]
    r = CliRunner().invoke(app, ["story", sid, "--db", db])
    assert r.exit_code == 0 and "Origin Wire" in r.output
    r = CliRunner().invoke(app, ["claim", sid, "--db", db, "-f", "json"])
    assert r.exit_code == 0, r.output
    assert [x["language"] for x in json.loads(r.output)] == ["en", "ko", "ar"]
    r = CliRunner().invoke(app, ["story", "nope", "--db", db])
    assert r.exit_code == 1 and "unknown story id" in r.output


def test_store_opens_the_file_it_wrote(db):
    assert Path(db).exists() and Store(db).exists()
