"""Attribution of allegations: the labelled set's precision and recall, and its rules."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import pytest
import yaml

from newswatch.errors import ConfigError
from newswatch.flagging.attribution import Attributor
from newswatch.flagging.attribution_eval import evaluate_attribution, load_attribution_set
from newswatch.flagging.matcher import Matcher
from newswatch.flagging.watchlist import load_watchlist, parse_watchlist

ROOT = Path(__file__).resolve().parent.parent
SET = ROOT / "tests" / "provenance" / "attributions.jsonl"
LIMITS = yaml.safe_load((ROOT / "tests" / "provenance" / "thresholds.yaml").read_text())


@pytest.fixture(scope="module")
def attributor() -> Attributor:
    return Attributor(load_watchlist(ROOT / "config" / "watchlist.yaml"))


def test_labelled_set_is_big_and_varied():
    items = load_attribution_set(SET)
    assert len(items) >= 200
    langs = Counter(i["language"] for i in items)
    assert len(langs) >= 8 and all(
        langs[x] >= 20 for x in ["en", "ko", "ar", "he", "fr", "de", "es", "ru"]
    )
    assert sum(not i["attributions"] for i in items) >= 30  # none
    assert sum(len(i["attributions"]) >= 2 for i in items) >= 10  # two
    assert sum(any(a["source_id"] is None for a in i["attributions"]) for i in items) >= 20
    for i in items:
        for a in i["attributions"]:
            assert a["source"] in i["sentence"], i["id"]


def test_precision_and_recall_hold(attributor):
    s = evaluate_attribution(attributor, load_attribution_set(SET))
    lim = LIMITS["attribution"]
    assert s.overall.precision >= lim["precision"], s.errors
    assert s.overall.recall >= lim["recall"], s.errors
    for lang, c in s.by_language.items():
        assert c.precision >= lim["languages"]["precision"], (lang, s.errors)
        assert c.recall >= lim["languages"]["recall"], (lang, s.errors)


@pytest.mark.parametrize(
    ("lang", "sentence", "expected"),
    [
        ("en", "North Korea armed Hamas, according to officials of the JCS.", ["south_korea_jcs"]),
        ("en", "Sources close to Hezbollah said the tunnels were dug with Iranian help.", [None]),
        ("en", "Zehavi told RFA that Pyongyang trained Hezbollah.", ["alma_center", "rfa"]),
        ("en", "Researchers reported that Pyongyang trained Hamas in the 1980s.", []),
        ("ko", "합참 관계자는 북한제 무기가 하마스에 넘어갔다고 전했다.", ["south_korea_jcs"]),
        ("ko", "북한이 하마스에 무기를 제공했다고 밝혔다.", []),
        ("zh", "以色列国防军称，在哈马斯据点发现了朝鲜制造的步枪。", ["idf"]),
        ("he", 'מרכז עלמא וצה"ל אמרו כי צפון קוריאה סייעה לחיזבאללה.', ["alma_center", "idf"]),
    ],
)
def test_rules(attributor, lang, sentence, expected):
    assert [f.source_id for f in attributor.sentence(sentence, lang)] == expected


def test_article_offsets_point_at_the_source(attributor):
    text = (
        "Heavy fighting went on. North Korea helped Hezbollah dig tunnels, the JCS said. "
        "According to the Alma center, KOMID signed a tunnel contract with Hezbollah in 2014."
    )
    m = Matcher(attributor.watchlist)
    flag = m.match(text, title="Tunnels", language="en")
    found = attributor.article(flag, text, "Tunnels", "en")
    assert {a.source_id for a in found} >= {"south_korea_jcs", "alma_center"}
    for a in found:
        assert text[a.start : a.end] == a.source_text
        assert a.sentence in text and text[a.mention_start : a.mention_end]


def test_picklable_and_sources_do_not_change_the_flag_version(attributor):
    again = pickle.loads(pickle.dumps(attributor))
    assert (
        again.sentence("The IDF said Hamas used North Korean rockets.", "en")[0].source_id == "idf"
    )
    wl = attributor.watchlist
    bare = wl.model_copy(update={"sources": ()})
    assert Matcher(wl).version == Matcher(bare).version


def test_sources_are_checked():
    base = {"actors": [{"id": "hamas", "name": "Hamas", "aliases": {"en": ["Hamas"]}}]}
    with pytest.raises(ConfigError, match="duplicate id"):
        parse_watchlist(
            base
            | {
                "sources": [
                    {"id": "rfa", "name": "RFA", "kind": "media", "aliases": {"en": ["RFA"]}},
                    {"id": "rfa", "name": "RFA", "kind": "media", "aliases": {"en": ["RFA"]}},
                ]
            }
        )
    with pytest.raises(ConfigError, match="kind"):
        parse_watchlist(
            base | {"sources": [{"id": "x", "name": "X", "kind": "blog", "aliases": ["X"]}]}
        )
    with pytest.raises(ConfigError, match="at least one alias"):
        parse_watchlist(base | {"sources": [{"id": "x", "name": "X", "kind": "media"}]})
    # a source with a tracked actor's id describes that actor
    wl = parse_watchlist(
        base | {"sources": [{"id": "hamas", "name": "Hamas", "kind": "government"}]}
    )
    assert Attributor(wl).sentence("Hamas said it got no weapons.", "en")[0].kind == "government"
