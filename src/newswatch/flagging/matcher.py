"""Flag articles: find tracked actors and the allegations made about them.

    m = Matcher.from_path("config/watchlist.yaml")     # compiled once, picklable
    r = m.match(text, title=title)                     # -> FlagResult
    r.actors, r.allegations, r.mentions, r.score, m.version

How it works:

1. Every phrase of the watchlist (aliases, exclusions, allegation terms, cues, ``not``
   terms) is normalised (:mod:`newswatch.flagging.textnorm`) and put into ONE Aho–Corasick
   automaton, so a pass over an article costs the same for 10 or 10,000 phrases.
2. Candidate hits are kept only on word boundaries, script by script:

   * Latin, Cyrillic, Greek…: no letter or digit may touch the phrase ("Hamas" is not
     in "Hamasa"); a phrase ending in ``*`` takes any word ending ("Hisbollah*").
   * Korean: particles and a few noun suffixes may follow with no space (북한이, 북한의,
     헤즈볼라를, 하마스에서는, KOMID는); anything else may not (북한산 is a mountain);
     prefixes 친/반/대/범 (pro-, anti-, towards, pan-) may precede.
   * Arabic: proclitics و ف ب ك ل and ال may precede (وحماس, بحزب الله, للحرس الثوري).
   * Hebrew: up to three prefix letters of ו ה ב ל מ ש כ may precede (והחמאס, שחיזבאללה).

3. An actor hit that overlaps one of that actor's ``exclude`` phrases is dropped
   ("Iran's Construction Jihad" is not Hezbollah's Jihad al-Binaa).
4. An allegation counts only where one of its terms stands near a tracked actor (and a
   second actor, cue, absence of ``not`` terms) as its rule says: same sentence, within
   N words or within N sentences, inside one field (title or text).

Score: each actor counts its best mention plus a little for repeats; each allegation its
best mention. A mention's weight is the entity's weight, ×2 in the title, and in the text
falls linearly from 1 at the top to 0.5 at the very end (passing mentions weigh less).
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ahocorasick

from newswatch.flagging.textnorm import Normalized, is_hangul, normalize, split_sentences
from newswatch.flagging.watchlist import Watchlist, load_watchlist
from newswatch.models import FlagResult, Mention

__all__ = ["MATCHER_REVISION", "TITLE_FACTOR", "Matcher"]

# bump when matching behaviour changes, so stored flags can be recomputed (part of version)
MATCHER_REVISION = "1"
TITLE_FACTOR = 2.0
END_FACTOR = 0.5  # weight of a mention at the very end of the text, relative to the top
REPEAT_FACTOR = 0.1  # each further mention of an actor adds this much of its weight…
REPEAT_CAP = 1.0  # …up to this much in all
MAX_SENTENCE_CHARS = 400

# roles of a phrase
ALIAS, EXCLUDE, TERM, CUE, NOT = range(5)

# --- script-aware boundaries -----------------------------------------------------------

_KO_PARTICLES = tuple(
    sorted(
        [
            "이",
            "가",
            "은",
            "는",
            "을",
            "를",
            "의",
            "에",
            "에서",
            "에게",
            "에게서",
            "께",
            "께서",
            "한테",
            "와",
            "과",
            "랑",
            "이랑",
            "도",
            "만",
            "로",
            "으로",
            "부터",
            "까지",
            "보다",
            "처럼",
            "같이",
            "이나",
            "나",
            "이며",
            "며",
            "이고",
            "고",
            "이다",
            "다",
            "였다",
            "이었다",
            "인",
            "이라는",
            "라는",
            "이란",
            "란",
            "이라고",
            "라고",
            "조차",
            "마저",
            "뿐",
            "측",
            "군",
            "제",
            "계",
            "식",
            "인들",
            "정권",
            "당국",
            "내",
            "간",
            "등",
            "들",
            "과의",
            "와의",
            "으로의",
            "로의",
            "에의",
        ],
        key=len,
        reverse=True,
    )
)
_KO_PREFIXES = frozenset("친반대범")
_HE_PREFIXES = frozenset("והבלמשכ")
_AR_PROCLITICS = re.compile(r"^(?:[وف]?(?:[بكل]?ال|لل|[بكل])?)$")


def _is_arabic_letter(ch: str) -> bool:
    return "\u0620" <= ch <= "\u064a" or "\u066e" <= ch <= "\u06d3"


def _is_hebrew_letter(ch: str) -> bool:
    return "\u05d0" <= ch <= "\u05ea"


@lru_cache(maxsize=4096)
def _korean_suffix_ok(run: str, depth: int = 0) -> bool:
    """Is ``run`` (Hangul right after a phrase) a sequence of up to three particles?"""
    if not run:
        return True
    if depth >= 3:
        return False
    return any(
        run.startswith(p) and _korean_suffix_ok(run[len(p) :], depth + 1) for p in _KO_PARTICLES
    )


def _left_ok(s: str, start: int, first: str, contracted: bool) -> bool:
    if start == 0:
        return not contracted
    prev = s[start - 1]
    if not prev.isalnum():
        return not contracted
    if _is_arabic_letter(first) and _is_arabic_letter(prev):
        j = start - 1
        while j > 0 and _is_arabic_letter(s[j - 1]) and start - j < 5:
            j -= 1
        if j > 0 and _is_arabic_letter(s[j - 1]):
            return False
        run = s[j:start]
        if contracted:  # "لحرس الثوري" stands for ال + …, after the preposition ل (للحرس)
            return run in ("ل", "ول", "فل")
        return bool(_AR_PROCLITICS.match(run))
    if contracted:
        return False
    if _is_hebrew_letter(first) and _is_hebrew_letter(prev):
        j = start - 1
        while j > 0 and _is_hebrew_letter(s[j - 1]) and start - j < 4:
            j -= 1
        if j > 0 and _is_hebrew_letter(s[j - 1]):
            return False
        return all(c in _HE_PREFIXES for c in s[j:start])
    if is_hangul(first) and is_hangul(prev):
        return prev in _KO_PREFIXES and (start < 2 or not s[start - 2].isalnum())
    return False


def _right_end(s: str, end: int, last: str, wildcard: bool) -> int:
    """End of the hit (extended over a word ending for ``*``), or -1 if not a word end."""
    n = len(s)
    if wildcard:
        while end < n and s[end].isalnum():
            end += 1
        return end
    if end == n or not last.isalnum():
        return end
    nxt = s[end]
    if not nxt.isalnum():
        return end
    if is_hangul(nxt):
        j = end
        while j < n and is_hangul(s[j]):
            j += 1
        if j - end <= 6 and _korean_suffix_ok(s[end:j]) and (j == n or not s[j].isalnum()):
            return end
    return -1


# --- compiled patterns -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pattern:
    role: int
    entity: str  # actor or allegation id
    label: str  # "en: Hizballah"
    wildcard: bool
    contracted: bool  # Arabic ال variant, only after the preposition ل


@dataclass(slots=True)
class _Hit:
    role: int
    entity: str
    label: str
    start: int  # normalised offsets
    end: int


def _merge_labels(pats: list[_Pattern]) -> tuple[_Pattern, ...]:
    """One pattern per (role, entity, options); the same phrase in several languages is
    labelled once: ``en, fr: Hezbollah``."""
    merged: dict[tuple, _Pattern] = {}
    for p in pats:
        k = (p.role, p.entity, p.wildcard, p.contracted)
        old = merged.get(k)
        if old is None:
            merged[k] = p
            continue
        lang, _, phrase = p.label.partition(": ")
        old_langs, _, old_phrase = old.label.partition(": ")
        if phrase == old_phrase and lang not in old_langs.split(", "):
            merged[k] = _Pattern(
                p.role, p.entity, f"{old_langs}, {lang}: {phrase}", p.wildcard, p.contracted
            )
    return tuple(merged.values())


def _phrases(by_lang: dict[str, tuple[str, ...]]) -> Iterable[tuple[str, str]]:
    for lang, phrases in by_lang.items():
        for p in phrases:
            yield lang, p


class Matcher:
    """A watchlist compiled into one automaton. Build once; call :meth:`match` per article."""

    def __init__(self, watchlist: Watchlist):
        self.watchlist = watchlist
        self.version = hashlib.sha256(
            f"{MATCHER_REVISION}:{watchlist.content_hash}".encode()
        ).hexdigest()[:12]
        self._actor_weight = {a.id: a.weight for a in watchlist.actors}
        self._allegations = {a.id: a for a in watchlist.allegations}
        table: dict[str, list[_Pattern]] = {}

        def add(role: int, entity: str, lang: str, phrase: str) -> None:
            wildcard = phrase.endswith("*")
            core = phrase[:-1] if wildcard else phrase
            key = normalize(core).text.strip()
            label = f"{lang}: {phrase}"
            table.setdefault(key, []).append(_Pattern(role, entity, label, wildcard, False))
            if key.startswith("ال") and len(key) > 3 and _is_arabic_letter(key[2]):
                table.setdefault("ل" + key[2:], []).append(
                    _Pattern(role, entity, label, wildcard, True)
                )

        for actor in watchlist.actors:
            for lang, p in _phrases(actor.aliases):
                add(ALIAS, actor.id, lang, p)
            for lang, p in _phrases(actor.exclude):
                add(EXCLUDE, actor.id, lang, p)
        for al in watchlist.allegations:
            for lang, p in _phrases(al.terms):
                add(TERM, al.id, lang, p)
            for lang, p in _phrases(al.rule.cues):
                add(CUE, al.id, lang, p)
            for lang, p in _phrases(al.rule.not_terms):
                add(NOT, al.id, lang, p)
        auto = ahocorasick.Automaton()
        for key, pats in table.items():
            auto.add_word(key, (len(key), key[0], key[-1], _merge_labels(pats)))
        auto.make_automaton()
        self._automaton = auto
        self.n_phrases = sum(len(v) for v in table.values())

    @classmethod
    def from_path(cls, path: Path | str) -> Matcher:
        return cls(load_watchlist(path))

    def __reduce__(self):  # rebuilt from the watchlist in a worker: cheap and version-safe
        return (Matcher, (self.watchlist,))

    def __repr__(self) -> str:
        w = self.watchlist
        return (
            f"<Matcher version={self.version} actors={len(w.actors)} "
            f"allegations={len(w.allegations)} phrases={self.n_phrases}>"
        )

    # --- matching ---------------------------------------------------------------------

    def _hits(self, n: Normalized) -> list[_Hit]:
        s = n.text
        hits: list[_Hit] = []
        for end_incl, (klen, first, last, pats) in self._automaton.iter(s):
            start = end_incl + 1 - klen
            end = end_incl + 1
            left = None
            ends: dict[bool, int] = {}
            for p in pats:
                if p.contracted:
                    if not _left_ok(s, start, first, True):
                        continue
                else:
                    if left is None:
                        left = not first.isalnum() or _left_ok(s, start, first, False)
                    if not left:
                        continue
                e = ends.get(p.wildcard)
                if e is None:
                    e = ends[p.wildcard] = _right_end(s, end, last, p.wildcard)
                if e >= 0:
                    hits.append(_Hit(p.role, p.entity, p.label, start, e))
        return hits

    def match(
        self, text: str | None, title: str | None = None, language: str | None = None
    ) -> FlagResult:
        """Flag one article. ``language`` is accepted for the record; matching is
        script-driven, so names quoted in another language are found too."""
        mentions: list[Mention] = []
        for field, value in (("title", title), ("text", text)):
            if value:
                mentions.extend(self._match_field(value, field))
        if not mentions:
            return FlagResult()
        actors = sorted({m.entity_id for m in mentions if m.kind == "actor"})
        allegations = sorted({m.entity_id for m in mentions if m.kind == "allegation"})
        score = 0.0
        for aid in actors:
            ws = sorted(
                (m.weight for m in mentions if m.kind == "actor" and m.entity_id == aid),
                reverse=True,
            )
            score += ws[0] + min(REPEAT_CAP, REPEAT_FACTOR * sum(ws[1:]))
        for gid in allegations:
            score += max(
                m.weight for m in mentions if m.kind == "allegation" and m.entity_id == gid
            )
        return FlagResult(tuple(actors), tuple(allegations), tuple(mentions), round(score, 4))

    def _match_field(self, original: str, field: str) -> list[Mention]:
        n = normalize(original)
        hits = self._hits(n)
        actor_hits = [h for h in hits if h.role == ALIAS]
        if not actor_hits:
            return []
        excludes = [h for h in hits if h.role == EXCLUDE]
        if excludes:
            actor_hits = [
                h
                for h in actor_hits
                if not any(
                    x.entity == h.entity and x.start < h.end and h.start < x.end for x in excludes
                )
            ]
        actor_hits = _longest(actor_hits)
        if not actor_hits:
            return []

        sentences = split_sentences(original)
        sent_starts = [a for a, _ in sentences]
        ctx = _Context(n, sentences, sent_starts, field, len(original))
        out: list[Mention] = []
        for h in actor_hits:
            out.append(ctx.mention("actor", h, h.label, self._actor_weight[h.entity]))

        term_hits = _longest([h for h in hits if h.role == TERM])
        if term_hits:
            others = [h for h in hits if h.role in (CUE, NOT)]
            for al_id in dict.fromkeys(h.entity for h in term_hits):
                out.extend(self._allegation(al_id, term_hits, actor_hits, others, ctx))
        out.sort(key=lambda m: (m.start, m.kind != "actor", m.entity_id))
        return out

    def _allegation(
        self,
        al_id: str,
        term_hits: list[_Hit],
        actor_hits: list[_Hit],
        others: list[_Hit],
        ctx: _Context,
    ) -> list[Mention]:
        al = self._allegations[al_id]
        rule = al.rule
        near = rule.near
        first = (
            actor_hits
            if rule.actors == "any"
            else [h for h in actor_hits if h.entity in rule.actors]
        )
        if not first:
            return []
        second = [h for h in actor_hits if h.entity in rule.with_actors]
        if rule.with_actors and not second:
            return []
        cues = [h for h in others if h.role == CUE and h.entity == al_id]
        if rule.cues and not cues:
            return []
        nots = [h for h in others if h.role == NOT and h.entity == al_id]

        out = []
        for t in term_hits:
            if t.entity != al_id:
                continue
            close = [a for a in first if ctx.near(t, a, near)]
            if not close:
                continue
            if rule.with_actors:
                partners = [b for b in second if ctx.near(t, b, near)]
                if not any(a.entity != b.entity for a in close for b in partners):
                    continue
                close_ids = sorted({a.entity for a in close} | {b.entity for b in partners})
            else:
                close_ids = sorted({a.entity for a in close})
            cue = next((c for c in cues if ctx.near(t, c, near)), None)
            if rule.cues and cue is None:
                continue
            if any(ctx.near(t, x, near) for x in nots):
                continue
            desc = f"{t.label} near {' + '.join(close_ids)}"
            if cue is not None:
                desc += f" with cue {cue.label}"
            desc += f" ({near.describe()})"
            out.append(ctx.mention("allegation", t, desc, al.weight))
        return out


def _longest(hits: list[_Hit]) -> list[_Hit]:
    """Of overlapping hits of the same entity and role, keep the longest (leftmost on ties)."""
    if len(hits) < 2:
        return hits
    hits = sorted(hits, key=lambda h: (h.entity, h.role, h.start, -(h.end - h.start)))
    out: list[_Hit] = []
    for h in hits:
        last = out[-1] if out else None
        if last and last.entity == h.entity and last.role == h.role and h.start < last.end:
            if h.end - h.start > last.end - last.start:
                out[-1] = h
            continue
        out.append(h)
    out.sort(key=lambda h: h.start)
    return out


class _Context:
    """Where hits stand in one field: sentences, words, original offsets."""

    _WORD = re.compile(r"\w+")

    def __init__(self, n: Normalized, sentences, sent_starts, field: str, length: int):
        self.n = n
        self.sentences = sentences
        self.sent_starts = sent_starts
        self.field = field
        self.length = max(1, length)
        self._word_starts: list[int] | None = None
        self._sent: dict[int, int] = {}

    def sentence_of(self, h: _Hit) -> int:
        i = self._sent.get(h.start)
        if i is None:
            i = self._sent[h.start] = max(
                0, bisect_right(self.sent_starts, self.n.to_original(h.start)) - 1
            )
        return i

    def word_of(self, offset: int) -> int:
        if self._word_starts is None:
            self._word_starts = [m.start() for m in self._WORD.finditer(self.n.text)]
        return bisect_left(self._word_starts, offset)

    def near(self, a: _Hit, b: _Hit, near) -> bool:
        if near.within_words is not None:
            if a.start <= b.start:
                gap = self.word_of(b.start) - self.word_of(a.end)
            else:
                gap = self.word_of(a.start) - self.word_of(b.end)
            return gap <= near.within_words
        limit = near.within_sentences or 0
        return abs(self.sentence_of(a) - self.sentence_of(b)) <= limit

    def mention(self, kind: str, h: _Hit, rule: str, weight: float) -> Mention:
        start, end = self.n.span(h.start, h.end)
        original = self.n.original
        if self.field == "title":
            w = weight * TITLE_FACTOR
        else:
            w = weight * (1.0 - (1.0 - END_FACTOR) * start / self.length)
        si = max(0, bisect_right(self.sent_starts, start) - 1)
        s0, s1 = self.sentences[si] if self.sentences else (0, len(original))
        if s1 - s0 > MAX_SENTENCE_CHARS:  # keep evidence readable: a window around the hit
            half = (MAX_SENTENCE_CHARS - (end - start)) // 2
            s0, s1 = max(s0, start - max(0, half)), min(s1, end + max(0, half))
        return Mention(
            kind=kind,
            entity_id=h.entity,
            matched_text=original[start:end],
            sentence=original[s0:s1].strip(),
            start=start,
            end=end,
            field=self.field,
            rule=rule,
            weight=round(w, 4),
        )
