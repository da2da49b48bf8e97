"""Provenance of a story: who reported first, who copied whom, and one claim across languages.

    tree = derive(docs)              # docs: the articles of one story (any order)
    tree[0].article_id, tree[0].order_confidence     # the first report
    node.derived_from, node.overlap, node.adds_reporting

How:

* **Order.** Earliest ``published_at``; an article without one is placed at its
  ``fetched_at`` and after a dated one of the same time; ties are broken by fetch time,
  then id. The first report's ``order_confidence`` is 1.0 when it has a published time
  at least an hour before every other; 0.75 when the next is within the hour; 0.5 when
  times tie or the first has no published time.
* **Parent.** Passages are shingles of 8 consecutive words (CJK: 8 characters) of the
  normalised text. A later article's parent is the earlier one holding the largest share
  of its passages (containment; ties: the earlier); below ``min_overlap`` it is an
  independent report (a root). It ``adds_reporting`` when at least ``new_words`` of its
  words stand in sentences found in no earlier article (a new paragraph, not a new lead
  or the outlet's boilerplate); roots always do. Parents are
  always earlier in the order, so the tree has no cycle.
* **Claims.** Stories in different languages are one claim when they share an
  allegation and an actor, and anchors: numbers with their units ("$13 million" =
  "1,300만 달러" = "13 مليون دولار" = 13000000 usd), years, named sources.

Pure: no SQL, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = [
    "Claim",
    "Doc",
    "Node",
    "StoryFacts",
    "anchors",
    "derive",
    "evaluate_derivations",
    "first_confidence",
    "link_claims",
    "order",
    "passages",
]

SHINGLE = 8
MIN_OVERLAP = 0.2
NEW_WORDS = 20  # words in new sentences that make new reporting (not a new lead or boilerplate)


@dataclass(frozen=True, slots=True)
class Doc:
    article_id: str
    source: str
    language: str | None
    published_at: datetime | None
    fetched_at: datetime
    text: str | None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Node:
    article_id: str
    source: str
    language: str | None
    time: datetime
    derived_from: str | None  # None: the first report or an independent one
    overlap: float  # share of its passages found in the parent (0 for a root)
    adds_reporting: bool
    order_confidence: float  # how sure its place in the order is (first report: see above)


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_TOKEN = re.compile(r"\w+")
_HANGUL = re.compile(r"[\uac00-\ud7af]")


_h = hash  # in-process only: passages are compared within one call and never stored


def _words(text: str) -> list[str]:
    """The words of passages: NFKC, casefolded; Han and kana runs one character a word."""
    norm = unicodedata.normalize("NFKC", text).casefold()
    words = _TOKEN.findall(norm)
    if _CJK.search(norm):
        split: list[str] = []
        for w in words:
            if _CJK.search(w) and not _HANGUL.search(w):
                split.extend(w)  # Chinese / Japanese: characters
            else:
                split.append(w)
        words = split
    return words


def _hashes(words: list[str], k: int) -> list[int]:
    # the k-tuples of consecutive words (a tuple's hash reuses its words' cached hashes)
    return list(map(_h, zip(*(words[j:] for j in range(k)), strict=False)))


def passages(text: str | None, k: int = SHINGLE) -> frozenset[int]:
    """Hashed k-word shingles of a text (Han and kana runs count one character a word).
    The hashes are Python's own: comparable within one process, never to be stored."""
    if not text:
        return frozenset()
    words = _words(text)
    if len(words) < k:
        return frozenset({_h(tuple(words))}) if words else frozenset()
    return frozenset(_hashes(words, k))


def _shingled(
    text: str | None, k: int = SHINGLE
) -> tuple[frozenset[int], list[tuple[str, frozenset[int]]]]:
    """``passages(text)`` and each sentence with ``passages(sentence)``, hashed once: a
    sentence's shingles are the text's that lie inside it."""
    sents = _SENT.split(text or "")
    per = [_words(x) for x in sents]
    words = [w for p in per for w in p]
    hashes = _hashes(words, k) if len(words) >= k else []
    body = (
        frozenset(hashes) if hashes else (frozenset({_h(tuple(words))}) if words else frozenset())
    )
    out: list[tuple[str, frozenset[int]]] = []
    a = 0
    for sent, p in zip(sents, per, strict=True):
        b = a + len(p)
        if not p:
            ps: frozenset[int] = frozenset()
        elif len(p) < k:
            ps = frozenset({_h(tuple(p))})
        else:
            ps = frozenset(hashes[a : b - k + 1])
        out.append((sent, ps))
        a = b
    return body, out


def _order_key(d: Doc) -> tuple[datetime, bool, datetime, str]:
    return (d.published_at or d.fetched_at, d.published_at is None, d.fetched_at, d.article_id)


def _confidence(first: Doc, rest: Sequence[Doc]) -> float:
    if not rest:
        return 1.0 if first.published_at is not None else 0.5
    if first.published_at is None:
        return 0.5
    nxt = min((d.published_at or d.fetched_at) for d in rest)
    gap = nxt - first.published_at
    if gap <= timedelta(0):
        return 0.5
    return 0.75 if gap < timedelta(hours=1) else 1.0


_SENT = re.compile(r"(?<=[.!?。؟])\s+|(?<=[。])")


def _new_words(
    sentences: list[tuple[str, frozenset[int]]],
    body: frozenset[int],
    earlier: Sequence[frozenset[int]],
) -> int:
    """Words in the sentences (with their passages; ``body``: the whole text's) that are
    mostly in none of the ``earlier`` articles' passages."""
    unseen = body.difference(*earlier)  # no union of the earlier ones is built
    n = 0
    for sent, ps in sentences:
        if not ps:
            continue
        if ps <= body:
            fresh = len(ps & unseen)
        else:  # a sentence shorter than a shingle has a hash of its own
            fresh = sum(1 for h in ps if not any(h in b for b in earlier))
        if fresh / len(ps) > 0.7:
            n += len(_TOKEN.findall(sent)) + len(_CJK.findall(sent)) // 2
    return n


def order(docs: Iterable[Doc]) -> list[Doc]:
    """The articles of a story in derivation order (the first report first)."""
    return sorted(docs, key=_order_key)


def first_confidence(ordered: Sequence[Doc]) -> float:
    """How sure the first report of these (ordered) articles is to be the first."""
    return _confidence(ordered[0], ordered[1:]) if ordered else 1.0


def derive(
    docs: Iterable[Doc],
    *,
    min_overlap: float = MIN_OVERLAP,
    new_words: int = NEW_WORDS,
    known: int = 0,
    body: Callable[[Doc], frozenset[int]] | None = None,
    remember: Callable[[Doc, frozenset[int]], None] | None = None,
) -> list[Node]:
    """The derivation tree of one story, in order (the first report first).

    ``known``: the first ``known`` articles in order have their nodes already (a node
    depends only on the articles before it, except the first report's order_confidence:
    see :func:`first_confidence`); only the nodes after them are computed and returned, and
    the known ones are read only through ``body`` (their passages: a cache's, so their
    text is not needed). ``body`` defaults to the passages of the text (else the title);
    ``remember`` is told the passages of each article computed here (for such a cache).
    """
    ordered = order(docs)
    if not ordered:
        return []
    if len(ordered) == 1 and not known:  # most stories: one report, nothing to compare
        d = ordered[0]
        conf = _confidence(d, ())
        return [Node(d.article_id, d.source, d.language, _order_key(d)[0], None, 0.0, True, conf)]
    body_of = body or (lambda d: passages(d.text) or passages(d.title))
    bodies = [body_of(d) for d in ordered[:known]]
    sentences: dict[int, tuple[frozenset[int], list[tuple[str, frozenset[int]]]]] = {}
    for i in range(known, len(ordered)):
        d = ordered[i]
        sentences[i] = _shingled(d.text)
        bodies.append(sentences[i][0] or passages(d.title))
        if remember is not None:
            remember(d, bodies[i])
    out: list[Node] = []
    for i in range(known, len(ordered)):
        d = ordered[i]
        mine = bodies[i]
        best, best_j = 0.0, -1
        for j in range(i):
            if not mine:
                break
            share = len(mine & bodies[j]) / len(mine)
            if share > best + 1e-9:
                best, best_j = share, j
        conf = _confidence(d, ordered[i + 1 :]) if i == 0 else _later_confidence(ordered, i)
        if best_j < 0 or best < min_overlap:
            out.append(
                Node(d.article_id, d.source, d.language, _order_key(d)[0], None, 0.0, True, conf)
            )
        else:
            out.append(
                Node(
                    d.article_id,
                    d.source,
                    d.language,
                    _order_key(d)[0],
                    ordered[best_j].article_id,
                    round(best, 4),
                    _new_words(sentences[i][1], sentences[i][0], bodies[:i]) >= new_words,
                    conf,
                )
            )
    return out


def _later_confidence(ordered: Sequence[Doc], i: int) -> float:
    d, prev = ordered[i], ordered[i - 1]
    if d.published_at is None or prev.published_at is None:
        return 0.5
    return 0.5 if d.published_at == prev.published_at else 1.0


# -- claims across languages ---------------------------------------------------------------
_SCALE = {
    "thousand": 1e3, "million": 1e6, "billion": 1e9, "millions": 1e6, "milliards": 1e9,
    "milliard": 1e9, "millionen": 1e6, "milliarden": 1e9, "mio": 1e6, "mrd": 1e9,
    "millones": 1e6, "millón": 1e6, "mil millones": 1e9, "миллионов": 1e6, "миллиона": 1e6,
    "миллион": 1e6, "млн": 1e6, "млрд": 1e9, "مليون": 1e6, "ملايين": 1e6, "مليار": 1e9,
    "מיליון": 1e6, "מיליארד": 1e9, "میلیون": 1e6, "میلیارد": 1e9,
    "만": 1e4, "억": 1e8, "천": 1e3, "万": 1e4, "萬": 1e4, "億": 1e8, "亿": 1e8,
}  # fmt: skip
_UNIT = {
    "$": "usd", "dollars": "usd", "dollar": "usd", "usd": "usd", "달러": "usd", "دولار": "usd",
    "دولارا": "usd", "דולר": "usd", "de dollars": "usd", "de dólares": "usd", "dólares": "usd",
    "долларов": "usd", "доллара": "usd", "ドル": "usd", "美元": "usd", "دلار": "usd",
    "km": "km", "kilometres": "km", "kilometers": "km", "kilomètres": "km", "kilometer": "km",
    "kilómetros": "km", "километров": "km", "км": "km", "킬로미터": "km", "كيلومتر": "km",
    "كم": "km", "קילומטרים": "km", "קילומטר": "km", "キロ": "km", "公里": "km", "کیلومتر": "km",
}  # fmt: skip
_PERSIAN_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_NUM = re.compile(
    r"(?P<cur>\$)?\s?(?P<n>\d+(?:[.,]\d+)*)\s?(?P<scale>"
    + "|".join(sorted(map(re.escape, _SCALE), key=len, reverse=True))
    + r")?\s?(?P<unit>"
    + "|".join(sorted(map(re.escape, (u for u in _UNIT if u != "$")), key=len, reverse=True))
    + r")?",
    re.IGNORECASE,
)
_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)(?!\d)")


def _number(raw: str) -> float | None:
    s = raw
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", s):
        s = re.sub(r"[.,]", "", s)
    else:
        s = s.replace(",", ".")
    try:
        return float(s)
    except ValueError:
        return None


def anchors(text: str | None) -> frozenset[str]:
    """Language-free anchors of a text: amounts with units (``13000000 usd``,
    ``500 km``) and years (``y2014``)."""
    if not text:
        return frozenset()
    t = unicodedata.normalize("NFKC", text).translate(_PERSIAN_DIGITS)
    out: set[str] = {f"y{y}" for y in _YEAR.findall(t)}
    for m in _NUM.finditer(t):
        unit = "usd" if m.group("cur") else _UNIT.get((m.group("unit") or "").lower())
        if unit is None:
            continue
        n = _number(m.group("n"))
        if n is None:
            continue
        n *= _SCALE.get((m.group("scale") or "").lower(), 1.0)
        out.add(f"{round(n):d} {unit}")
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class StoryFacts:
    """What a story says, for claim linking (its first report's language and time)."""

    story_id: str
    language: str | None
    first_seen: datetime
    actors: frozenset[str]
    allegations: frozenset[str]
    sources: frozenset[str] = frozenset()  # attributed source ids
    anchors: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Claim:
    claim_id: str  # the id of its earliest story
    stories: tuple[str, ...]  # in order of first_seen
    confidence: float
    languages: tuple[str, ...] = field(default=())


def _link(a: StoryFacts, b: StoryFacts) -> float:
    if not (a.allegations & b.allegations) or not (a.actors & b.actors):
        return 0.0
    shared = (a.anchors & b.anchors) | (a.sources & b.sources)
    numeric = {x for x in a.anchors & b.anchors if not x.startswith("y")}
    if not numeric and len(shared) < 2:
        return 0.0
    union = a.anchors | b.anchors | a.sources | b.sources
    return round(min(1.0, 0.5 + 0.5 * len(shared) / max(1, len(union))), 3)


def link_claims(stories: Sequence[StoryFacts], *, min_confidence: float = 0.5) -> list[Claim]:
    """Stories carrying the same allegation about the same actors with shared anchors,
    joined transitively; a claim of one story is not returned. A claim's confidence is
    its weakest link's. The store's ``claims`` view computes the same in SQL."""
    items = sorted(stories, key=lambda s: (s.first_seen, s.story_id))
    parent = list(range(len(items)))
    conf: dict[int, float] = {}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    links: list[tuple[int, float]] = []
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            c = _link(items[i], items[j])
            if c >= min_confidence:
                ri, rj = root(i), root(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
                links.append((i, c))
    for i, c in links:  # a claim is as sure as its weakest link
        r = root(i)
        conf[r] = min(conf.get(r, 1.0), c)
    groups: dict[int, list[int]] = {}
    for i in range(len(items)):
        groups.setdefault(root(i), []).append(i)
    out = []
    for r, members in groups.items():
        if len(members) < 2:
            continue
        ids = tuple(items[i].story_id for i in members)
        langs = tuple(dict.fromkeys(items[i].language or "?" for i in members))
        out.append(Claim(ids[0], ids, conf.get(r, 0.5), langs))
    return sorted(out, key=lambda c: c.claim_id)


# -- evaluation on labelled copies (tests/provenance/copies.jsonl) ---------------------------
def evaluate_derivations(cases: Iterable[dict]) -> dict[str, float | int]:
    """Parent accuracy (every article after a case's first, with a published time), the
    first report's accuracy, and adds_reporting accuracy where labelled. A case is
    ``{"id", "docs": [{"id", "source", "language", "published_at", "fetched_at"?, "text",
    "parent": id or null, "adds_reporting"?: bool}]}``."""
    parents = parents_ok = firsts = firsts_ok = adds = adds_ok = 0
    for case in cases:
        docs = []
        for d in case["docs"]:
            pub = datetime.fromisoformat(d["published_at"]) if d.get("published_at") else None
            fet = datetime.fromisoformat(d.get("fetched_at") or d["published_at"])
            docs.append(Doc(d["id"], d["source"], d.get("language"), pub, fet, d["text"]))
        tree = {n.article_id: n for n in derive(docs)}
        first = next(iter(tree))
        gold_first = min(
            (d for d in case["docs"] if d["parent"] is None), key=lambda d: d["published_at"]
        )
        firsts += 1
        firsts_ok += first == gold_first["id"]
        for d in case["docs"]:
            n = tree[d["id"]]
            if d["id"] != gold_first["id"] and d.get("published_at"):
                parents += 1
                parents_ok += n.derived_from == d["parent"]
            if "adds_reporting" in d:
                adds += 1
                adds_ok += n.adds_reporting == d["adds_reporting"]
    return {
        "articles": parents,
        "parent_accuracy": round(parents_ok / parents, 3) if parents else 1.0,
        "first_report_accuracy": round(firsts_ok / firsts, 3) if firsts else 1.0,
        "adds_reporting_accuracy": round(adds_ok / adds, 3) if adds else 1.0,
    }
