"""Story provenance, pure: the labelled copies, anchors, and the tree's invariants."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.stories.provenance import (
    _SENT,
    Doc,
    StoryFacts,
    _shingled,
    anchors,
    derive,
    evaluate_derivations,
    link_claims,
    passages,
)

ROOT = Path(__file__).resolve().parent.parent
COPIES = ROOT / "tests" / "provenance" / "copies.jsonl"
LIMITS = yaml.safe_load((ROOT / "tests" / "provenance" / "thresholds.yaml").read_text())


def test_copies_set_holds_its_thresholds():
    cases = [json.loads(x) for x in COPIES.read_text(encoding="utf-8").splitlines() if x]
    assert len(cases) >= 10
    notes = " ".join(c["note"] for c in cases)
    for kind in ("verbatim", "new reporting", "translation", "independent"):
        assert kind in notes
    scores = evaluate_derivations(cases)
    for key, limit in LIMITS["derivation"].items():
        assert scores[key] >= limit, scores


def test_anchors_are_the_same_across_languages():
    same = [
        "a $13 million contract signed in 2014",
        "2014년 1,300만 달러 규모의 계약",
        "عقد بقيمة 13 مليون دولار عام 2014",
        "un contrat de 13 millions de dollars signé en 2014",
        "контракт на 13 миллионов долларов в 2014 году",
        "2014年に1300万ドルの契約",
    ]
    for text in same:
        assert anchors(text) == {"13000000 usd", "y2014"}, text
    assert anchors("about 500 km of tunnels") == {"500 km"}
    assert anchors("13 rockets") == frozenset()


def test_claims_need_an_allegation_an_actor_and_anchors():
    t = datetime(2026, 11, 17)
    base = {
        "actors": frozenset({"north_korea", "hezbollah"}),
        "allegations": frozenset({"tunnel_technology_transfer"}),
    }
    en = StoryFacts("en", "en", t, anchors=frozenset({"13000000 usd", "y2014"}), **base)
    ko = StoryFacts("ko", "ko", t + timedelta(hours=3), anchors=frozenset({"13000000 usd"}), **base)
    other = StoryFacts(
        "x", "ar", t, base["actors"], frozenset({"arms_transfer"}), anchors=en.anchors
    )
    (claim,) = link_claims([ko, other, en])
    assert claim.claim_id == "en" and claim.stories == ("en", "ko")
    assert claim.languages == ("en", "ko")
    assert link_claims([en, StoryFacts("y", "fr", t, **base)]) == []  # no shared anchor


_WORDS = [
    "north",
    "korea",
    "hezbollah",
    "tunnels",
    "contract",
    "engineers",
    "lebanon",
    "gaza",
    "hamas",
    "rockets",
]
text_st = st.lists(st.sampled_from(_WORDS), min_size=0, max_size=40).map(" ".join)
doc_st = st.builds(
    lambda i, text, pub, fetch, dated: Doc(
        f"a{i}",
        f"s{i % 3}",
        "en",
        datetime(2026, 1, 1) + timedelta(hours=pub) if dated else None,
        datetime(2026, 1, 1) + timedelta(hours=fetch),
        text,
    ),
    st.integers(0, 10_000),
    text_st,
    st.integers(0, 48),
    st.integers(0, 48),
    st.booleans(),
)
docs_st = st.lists(doc_st, min_size=1, max_size=8, unique_by=lambda d: d.article_id)


@settings(max_examples=150, deadline=None)
@given(docs_st)
def test_the_tree_has_no_cycle_and_parents_come_first(docs):
    tree = derive(docs)
    assert sorted(n.article_id for n in tree) == sorted(d.article_id for d in docs)
    pos = {n.article_id: i for i, n in enumerate(tree)}
    for n in tree:
        if n.derived_from is not None:
            assert pos[n.derived_from] < pos[n.article_id]
        seen, cur = set(), n
        while cur.derived_from is not None:  # walking up ends at a root
            assert cur.article_id not in seen
            seen.add(cur.article_id)
            cur = tree[pos[cur.derived_from]]
    assert tree[0].derived_from is None


@settings(max_examples=150, deadline=None)
@given(docs_st, text_st, st.integers(1, 24))
def test_a_later_copy_never_changes_the_first_report(docs, text, hours):
    tree = derive(docs)
    last = max(max(d.published_at or d.fetched_at, d.fetched_at) for d in docs)
    late = Doc(
        "late", "late", "en", last + timedelta(hours=hours), last + timedelta(hours=hours), text
    )
    again = derive([*docs, late])
    assert again[0].article_id == tree[0].article_id
    assert {n.article_id: n.derived_from for n in again if n.article_id != "late"} == {
        n.article_id: n.derived_from for n in tree
    }


_PIECES = [
    "North Korea sold Hezbollah two machines.",
    "The claims could not be verified.",
    "북한은 헤즈볼라에 굴착기 두 대를 팔았다.",
    "据报道，朝鲜向真主党出售了两台掘进机。",
    "باعت كوريا الشمالية حزب الله آلتين لحفر الأنفاق!",
    "Short one?",
    "A much longer sentence about tunnels under several villages near the Litani river, "
    "which the army watches closely from the hills above.",
    "ﬁne ligature Ⅻ and full-width ＡＢＣ text.",
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(_PIECES), min_size=0, max_size=8), st.sampled_from([" ", "\n\n", "  "])
)
def test_shingling_once_equals_hashing_each_sentence(pieces, sep):
    """derive hashes a text once: its passages, and each sentence's, are what passages()
    gives for the text and for each sentence."""
    text = sep.join(pieces)
    body, sentences = _shingled(text)
    assert body == passages(text)
    assert [s for s, _ in sentences] == _SENT.split(text)
    for sent, ps in sentences:
        assert ps == passages(sent), sent
