"""Flag articles: find tracked actors and the allegations made about them.

    m = Matcher.from_path("config/watchlist.yaml")     # compiled once, picklable
    r = m.match(text, title=title, language="fr")      # -> FlagResult
    r.actors, r.allegations, r.mentions, r.score, m.version

How it works:

1. Every phrase of the watchlist (aliases, exclusions, allegation terms, cues, ``not``
   terms, the context words of context rules) is normalised
   (:mod:`newswatch.flagging.textnorm`) and put into ONE Aho–Corasick automaton, so a pass
   over an article costs the same for 10 or 10,000 phrases.
2. Candidate hits are kept only on word boundaries, script by script. Where the script
   changes (``KOMIDは``, ``北朝鮮のKOMID``, ``Hamas가``) there is always a boundary; inside
   one script:

   * Latin, Cyrillic, Greek…: no letter or digit may touch the phrase ("Hamas" is not
     in "Hamasa"); a phrase ending in ``*`` takes any word ending ("Hisbollah*"). In
     Turkish text, suffixes may follow with no apostrophe (Hizbullahı, Hamaslı, Kuzey
     Koreli); in Indonesian and Malay text, prefixes may precede (melatih, dilatih,
     persenjataan) and clitics follow (-nya, -lah); in German text, an allegation term or
     cue may end a compound (Panzerabwehr|raketen, aus|geliefert), a name may not.
   * Korean: particles and a few noun suffixes may follow with no space (북한이, 북한의,
     헤즈볼라를, 하마스에서는, KOMID는); anything else may not (북한산 is a mountain);
     prefixes 친/반/대/범 (pro-, anti-, towards, pan-) may precede.
   * Arabic: proclitics و ف ب ك ل and ال may precede (وحماس, بحزب الله, للحرس الثوري).
   * Hebrew: up to three prefix letters of ו ה ב ל מ ש כ may precede (והחמאס, שחיזבאללה).
   * Chinese and Japanese have no spaces: a Han phrase matches anywhere (北朝鮮の, 朝鲜的);
     a katakana phrase may not touch other katakana (ハマス is not in ハマスタ, a stadium).

3. An actor hit that overlaps one of that actor's ``exclude`` phrases is dropped
   ("Iran's Construction Jihad" is not Hezbollah's Jihad al-Binaa), unless the hit is a
   longer name that contains the excluded phrase. A hit of an alias with a context rule
   counts only if the rule holds (context words near, no ``unless`` words near, its own
   language). A name inside a longer name of another actor counts for the longer one only
   (朝鲜 inside 朝鲜矿业开发贸易公司 is KOMID).
4. An allegation counts only where one of its terms stands near a tracked actor (and a
   second actor, cue, absence of ``not`` terms) as its rule says: same sentence, within
   N words or within N sentences, inside one field (title or text). Terms, cues and
   ``not`` terms count only in text of their own language (see :mod:`.watchlist`). A term
   or cue inside an actor's name does not count (教育 in アルマ研究教育センター), nor a term
   inside one of the allegation's ``exclude`` phrases ("arms" in "arms dealer").

Score: each actor counts its best mention plus a little for repeats; each allegation its
best mention. A mention's weight is the entity's weight, ×2 in the title, and in the text
falls linearly from 1 at the top to 0.5 at the very end (passing mentions weigh less).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import lru_cache
from pathlib import Path
from typing import Any

import ahocorasick

from newswatch.flagging.textnorm import Normalized, is_hangul, normalize, split_sentences
from newswatch.flagging.watchlist import (
    AliasRule,
    Allegation,
    Near,
    Watchlist,
    Window,
    load_watchlist,
)
from newswatch.models import FlagResult, Mention

__all__ = ["MATCHER_REVISION", "TITLE_FACTOR", "Matcher", "canonical_language"]

# bump when matching behaviour changes, so stored flags can be recomputed (part of version)
MATCHER_REVISION = "2"
TITLE_FACTOR = 2.0
END_FACTOR = 0.5  # weight of a mention at the very end of the text, relative to the top
REPEAT_FACTOR = 0.1  # each further mention of an actor adds this much of its weight…
REPEAT_CAP = 1.0  # …up to this much in all
MAX_SENTENCE_CHARS = 400

# roles of a phrase
ALIAS, EXCLUDE, TERM, CUE, NOT, CONTEXT, TERM_EXCLUDE = range(7)
_LANGUAGE_BOUND = (TERM, CUE, NOT, TERM_EXCLUDE)

# --- languages ---------------------------------------------------------------------------

# codes that share one list in the watchlist: Malay uses the Indonesian terms, old codes
# their new ones, regional variants their language
_LANGUAGE_GROUPS = {"ms": "id", "zsm": "id", "iw": "he", "in": "id", "nb": "no", "nn": "no"}


def canonical_language(code: str | None) -> str | None:
    """``"zh-TW"`` → ``"zh"``, ``"ms"`` → ``"id"``; None stays None."""
    if not code:
        return None
    c = code.strip().lower().replace("_", "-")
    if c == "any":
        return c
    base = c.split("-")[0]
    return _LANGUAGE_GROUPS.get(c) or _LANGUAGE_GROUPS.get(base) or base


# --- script-aware boundaries -----------------------------------------------------------

_ALPHA, _HANGUL, _KATA, _HIRA, _HAN = 1, 2, 3, 4, 5


def _script(ch: str) -> int:
    """0 for a non-word character, else the script class that decides word boundaries."""
    o = ord(ch)
    if o < 0x1100:
        return _ALPHA if ch.isalnum() else 0
    if o <= 0x11FF:
        return _HANGUL
    if o < 0x3000:
        return _ALPHA if ch.isalnum() else 0
    if o < 0x3040:
        return _HAN if ch in "\u3005\u3006\u3007" else 0  # 々 〆 〇
    if o < 0x30A0:
        return _HIRA
    if o < 0x3100:
        return _KATA if ch != "\u30fb" else 0
    if 0x3130 <= o <= 0x318F or 0xAC00 <= o <= 0xD7A3:
        return _HANGUL
    if 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9F:
        return _KATA
    if 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3FFFF:
        return _HAN
    return _ALPHA if ch.isalnum() else 0


def _words(s: str) -> list[str]:
    return s.split()


_KO_PARTICLES = tuple(
    sorted(
        _words(
            """이 가 은 는 을 를 의 에 에서 에게 에게서 께 께서 한테 와 과 랑 이랑 도 만 로 으로
        부터 까지 보다 처럼 같이 이나 나 이며 며 이고 고 이다 다 였다 이었다 인 이라는 라는
        이란 란 이라고 라고 조차 마저 뿐 측 군 제 계 식 인들 정권 당국 내 간 등 들 과의
        와의 으로의 로의 에의"""
        ),
        key=len,
        reverse=True,
    )
)
_KO_PREFIXES = frozenset("친반대범")
_HE_PREFIXES = frozenset("והבלמשכ")
_AR_PROCLITICS = re.compile(r"^(?:[وف]?(?:[بكل]?ال|لل|[بكل])?)$")

# Turkish suffixes written onto a name with no apostrophe (after folding: ı→i, ü→u, ç→c,
# ş→s, ğ→g): Lübnan Hizbullahı, Hamaslı, Kuzey Koreliler, İranlılar
_TR_SUFFIXES = tuple(
    sorted(
        _words(
            """i u e a si su in un nin nun ni nu yi yu ye ya na ne da de ta te nda nde dan den
        tan ten ndan nden la le yla yle li lu lik luk ci cu lar ler dir dur tir tur ki ca
        ce"""
        ),
        key=len,
        reverse=True,
    )
)
# Indonesian / Malay: prefixes before a word (melatih, dilatih, pelatihan, persenjataan)
# and clitics after it (senjatanya, Hamaslah)
_ID_PREFIXES = frozenset(
    _words("di ke se ber be ter te me mem men meng meny pe pem pen peng peny per memper diper")
)
_ID_SUFFIXES = ("", "nya", "lah", "kah", "pun")
_ID_DERIVATIONAL = ("an", "kan", "i")


def _is_arabic_letter(ch: str) -> bool:
    return "\u0620" <= ch <= "\u064a" or "\u066e" <= ch <= "\u06d3"


def _is_hebrew_letter(ch: str) -> bool:
    return "\u05d0" <= ch <= "\u05ea"


def _is_latin(ch: str) -> bool:
    return ch.isascii() or "\u00c0" <= ch <= "\u024f"


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


@lru_cache(maxsize=4096)
def _turkish_suffix_ok(run: str, depth: int = 0) -> bool:
    """Is ``run`` (letters right after a phrase, in Turkish) up to three suffixes?"""
    if not run:
        return depth > 0
    if depth >= 3:
        return False
    return any(
        run.startswith(p) and _turkish_suffix_ok(run[len(p) :], depth + 1) for p in _TR_SUFFIXES
    )


@lru_cache(maxsize=4096)
def _indonesian_suffix_ok(run: str) -> bool:
    return run in _ID_SUFFIXES or any(
        run.startswith(a) and run[len(a) :] in _ID_SUFFIXES for a in _ID_DERIVATIONAL
    )


@dataclass(frozen=True, slots=True)
class _Affixes:
    """What may stick to a Latin-script phrase in one language."""

    prefixes: frozenset[str] = frozenset()
    suffix_ok: Callable[[str], bool] | None = None
    compounds: bool = False  # a term may end a compound word (Panzerabwehr|raketen)


_NO_AFFIXES = _Affixes()
_AFFIXES = {
    "tr": _Affixes(suffix_ok=_turkish_suffix_ok),
    "az": _Affixes(suffix_ok=_turkish_suffix_ok),
    "id": _Affixes(prefixes=_ID_PREFIXES, suffix_ok=_indonesian_suffix_ok),
    "de": _Affixes(compounds=True),
}


def _left_ok(s: str, start: int, first: str, contracted: bool, affixes: _Affixes) -> bool:
    if start == 0:
        return not contracted
    prev = s[start - 1]
    sp = _script(prev)
    if sp == 0:
        return not contracted
    sf = _script(first)
    if sf == _ALPHA and sp == _ALPHA:
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
        if affixes.prefixes and _is_latin(first):
            j = start - 1
            while j > 0 and _script(s[j - 1]) == _ALPHA and start - j < 6:
                j -= 1
            if j > 0 and _script(s[j - 1]) == _ALPHA:
                return False
            return s[j:start] in affixes.prefixes
        return False
    if contracted:
        return False
    if sf == _HANGUL:
        if sp == _HANGUL:
            return prev in _KO_PREFIXES and (start < 2 or not s[start - 2].isalnum())
        return sp != _ALPHA
    if sf in (_KATA, _HIRA):
        return sp != sf
    return True  # the script changes here, or Han (written without spaces)


def _right_end(s: str, end: int, last: str, wildcard: bool, affixes: _Affixes) -> int:
    """End of the hit (extended over a word ending for ``*``), or -1 if not a word end."""
    n = len(s)
    sl = _script(last)
    if wildcard:
        if sl in (_ALPHA, _HANGUL, _KATA):
            while end < n and _script(s[end]) == sl:
                end += 1
        return end
    if end == n or sl == 0:
        return end
    nxt = s[end]
    sn = _script(nxt)
    if sn == 0:
        return end
    if sl == _ALPHA:
        if sn != _ALPHA:
            return end
        if affixes.suffix_ok is not None and _is_latin(last):
            j = end
            while j < n and _script(s[j]) == _ALPHA and j - end <= 10:
                j += 1
            if (j == n or _script(s[j]) != _ALPHA) and affixes.suffix_ok(s[end:j]):
                return end
        return -1
    if sl == _HANGUL:
        if sn == _HANGUL:
            j = end
            while j < n and is_hangul(s[j]):
                j += 1
            if j - end <= 6 and _korean_suffix_ok(s[end:j]) and (j == n or not s[j].isalnum()):
                return end
            return -1
        return -1 if sn == _ALPHA else end
    if sl in (_KATA, _HIRA):
        return -1 if sn == sl else end
    return end


# --- compiled patterns -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pattern:
    role: int
    entity: str  # actor or allegation id (for CONTEXT: the context rule's number)
    label: str  # "en: Hizballah"
    wildcard: bool
    contracted: bool  # Arabic ال variant, only after the preposition ل
    langs: frozenset[str]  # the watchlist languages the phrase is listed under
    gate: int = -1  # an alias with a context rule: its number
    unless: bool = False  # CONTEXT: an ``unless`` phrase (else a ``near`` one)


@dataclass(slots=True)
class _Hit:
    role: int
    entity: str
    label: str
    start: int  # normalised offsets
    end: int
    gate: int = -1
    unless: bool = False
    note: str = ""  # how a context rule was met, for the evidence

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.end


@dataclass(frozen=True, slots=True)
class _Gate:
    """A context rule of one alias, compiled."""

    actor: str
    langs: frozenset[str]
    phrase: str
    rule: AliasRule


def _merge_labels(pats: list[_Pattern]) -> tuple[_Pattern, ...]:
    """One pattern per (role, entity, options); the same phrase in several languages is
    labelled once: ``en, fr: Hezbollah``."""
    merged: dict[tuple[Any, ...], _Pattern] = {}
    for p in pats:
        k = (p.role, p.entity, p.wildcard, p.contracted, p.gate, p.unless)
        old = merged.get(k)
        if old is None:
            merged[k] = p
            continue
        lang, _, phrase = p.label.partition(": ")
        old_langs, _, old_phrase = old.label.partition(": ")
        label = old.label
        if phrase == old_phrase and lang not in old_langs.split(", "):
            label = f"{old_langs}, {lang}: {phrase}"
        merged[k] = _Pattern(
            p.role, p.entity, label, p.wildcard, p.contracted, old.langs | p.langs, p.gate, p.unless
        )
    return tuple(merged.values())


def _select_by_language(pats: tuple[_Pattern, ...]) -> dict[str, tuple[_Pattern, ...]] | None:
    """For a phrase listed under several languages with different context rules: the
    patterns that apply in text of each language (that language's entries decide)."""
    aliases = [p for p in pats if p.role == ALIAS]
    by_entity: dict[str, list[_Pattern]] = {}
    for p in aliases:
        by_entity.setdefault(p.entity, []).append(p)
    if not any(len(v) > 1 and any(p.gate >= 0 for p in v) for v in by_entity.values()):
        return None
    langs = {lang for p in aliases for lang in p.langs}
    out: dict[str, tuple[_Pattern, ...]] = {}
    for lang in langs:
        chosen: list[_Pattern] = [p for p in pats if p.role != ALIAS]
        for group in by_entity.values():
            own = [p for p in group if lang in p.langs]
            chosen.extend(own or group)
        out[lang] = tuple(chosen)
    return out


def _space_variants(key: str) -> list[str]:
    """``ジハド アル ビナ`` also without the spaces a middle dot left (Japanese and Chinese
    transliterations are written with and without them)."""
    idx = [
        i
        for i, c in enumerate(key)
        if c == " "
        and 0 < i < len(key) - 1
        and _script(key[i - 1]) in (_KATA, _HAN, _HIRA)
        and _script(key[i + 1]) in (_KATA, _HAN, _HIRA)
    ][:3]
    out = []
    for keep in itertools.product((True, False), repeat=len(idx)):
        if all(keep):
            continue
        drop = {i for i, k in zip(idx, keep, strict=True) if not k}
        out.append("".join(c for i, c in enumerate(key) if i not in drop))
    return out


class Matcher:
    """A watchlist compiled into one automaton. Build once; call :meth:`match` per article."""

    def __init__(self, watchlist: Watchlist):
        self.watchlist = watchlist
        self.version = hashlib.sha256(
            f"{MATCHER_REVISION}:{watchlist.content_hash}".encode()
        ).hexdigest()[:12]
        self._actor_weight = {a.id: a.weight for a in watchlist.actors}
        self._allegations: dict[str, Allegation] = {a.id: a for a in watchlist.allegations}
        self._gates: list[_Gate] = []
        table: dict[str, list[_Pattern]] = {}

        def add(
            role: int, entity: str, lang: str, phrase: str, gate: int = -1, unless: bool = False
        ) -> None:
            wildcard = phrase.endswith("*")
            core = phrase[:-1] if wildcard else phrase
            key = normalize(core).text.strip()
            label = f"{lang}: {phrase}"
            langs = frozenset({canonical_language(lang) or lang})
            for k in (key, *_space_variants(key)):
                table.setdefault(k, []).append(
                    _Pattern(role, entity, label, wildcard, False, langs, gate, unless)
                )
            if key.startswith("ال") and len(key) > 3 and _is_arabic_letter(key[2]):
                table.setdefault("ل" + key[2:], []).append(
                    _Pattern(role, entity, label, wildcard, True, langs, gate, unless)
                )

        for actor in watchlist.actors:
            for lang, phrase, rule in actor.alias_entries():
                if rule is None:
                    add(ALIAS, actor.id, lang, phrase)
                    continue
                k = len(self._gates)
                self._gates.append(
                    _Gate(actor.id, frozenset({canonical_language(lang) or lang}), phrase, rule)
                )
                add(ALIAS, actor.id, lang, phrase, gate=k)
                for p in rule.near:
                    add(CONTEXT, str(k), lang, p, gate=k)
                for p in rule.unless:
                    add(CONTEXT, str(k), lang, p, gate=k, unless=True)
            for lang, phrases in actor.exclude.items():
                for p in phrases:
                    add(EXCLUDE, actor.id, lang, p)
        term_langs: set[str] = set()
        for al in watchlist.allegations:
            for role, lists in (
                (TERM, al.terms),
                (TERM_EXCLUDE, al.exclude),
                (CUE, al.rule.cues),
                (NOT, al.rule.not_terms),
            ):
                for lang, phrases in lists.items():
                    if lang != "any":
                        term_langs.add(canonical_language(lang) or lang)
                    for p in phrases:
                        add(role, al.id, lang, p)
        self.term_languages = frozenset(term_langs)
        auto = ahocorasick.Automaton()
        for key, pats in table.items():
            merged = _merge_labels(pats)
            auto.add_word(key, (len(key), key[0], key[-1], merged, _select_by_language(merged)))
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

    def active_languages(self, language: str | None) -> frozenset[str] | None:
        """The watchlist languages whose terms and cues apply to text in ``language``:
        that language and ``any``; None (every language) when the language is unknown or
        one the watchlist has no terms for."""
        lang = canonical_language(language)
        if lang is None or lang not in self.term_languages:
            return None
        return frozenset({lang, "any"})

    def _hits(self, n: Normalized, lang: str | None, active: frozenset[str] | None) -> list[_Hit]:
        s = n.text
        affixes = _AFFIXES.get(lang or "", _NO_AFFIXES)
        hits: list[_Hit] = []
        for end_incl, (klen, first, last, pats, by_lang) in self._automaton.iter(s):
            if by_lang is not None and lang is not None:
                pats = by_lang.get(lang, pats)
            start = end_incl + 1 - klen
            end = end_incl + 1
            left = None
            ends: dict[bool, int] = {}
            for p in pats:
                bound = p.role in _LANGUAGE_BOUND
                if active is not None and bound and p.langs.isdisjoint(active):
                    continue
                if p.contracted:
                    if not _left_ok(s, start, first, True, affixes):
                        continue
                else:
                    if left is None:
                        left = _script(first) == 0 or _left_ok(s, start, first, False, affixes)
                    if not left and not (
                        bound
                        and affixes.compounds
                        and start > 0
                        and _is_latin(first)
                        and s[start - 1].isalpha()
                        and _is_latin(s[start - 1])
                    ):
                        continue
                e = ends.get(p.wildcard)
                if e is None:
                    e = ends[p.wildcard] = _right_end(s, end, last, p.wildcard, affixes)
                if e >= 0:
                    hits.append(_Hit(p.role, p.entity, p.label, start, e, p.gate, p.unless))
        return hits

    def match(
        self, text: str | None, title: str | None = None, language: str | None = None
    ) -> FlagResult:
        """Flag one article. ``language`` (the article's, e.g. ``"fr"``) decides which
        allegation terms and cues apply and which affixes a word may carry; names are
        found in every language."""
        mentions: list[Mention] = []
        for f in self.analyse(text, title, language):
            mentions.extend(f.actor_mentions())
            if f.actors and f.terms:
                for al_id in dict.fromkeys(h.entity for h in f.terms):
                    mentions.extend(m for m, _ in self._allegation(al_id, f))
        if not mentions:
            return FlagResult()
        mentions.sort(key=lambda m: (m.field != "title", m.start, m.kind != "actor", m.entity_id))
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

    def analyse(
        self, text: str | None, title: str | None = None, language: str | None = None
    ) -> list[FieldScan]:
        """Both fields scanned: every hit, the actor mentions that count and those that did
        not (with the reason). :meth:`match` and :mod:`.explain` are built on this."""
        lang = canonical_language(language)
        active = self.active_languages(language)
        scans: list[FieldScan] = []
        for fname, value in (("title", title), ("text", text)):
            if value:
                n = normalize(value)
                scans.append(FieldScan(self, fname, n, self._hits(n, lang, active)))
        gated = [h for f in scans for h in f.aliases if h.gate >= 0]
        for f in scans:
            f.resolve_excludes()
        if gated:
            self._resolve_gates(scans, lang)
        for f in scans:
            f.finish_actors()
        return scans

    def _resolve_gates(self, scans: list[FieldScan], lang: str | None) -> None:
        """Decide every alias hit that has a context rule (two passes, so that an alias
        may need an actor that is itself found through a context rule)."""
        accepted: dict[int, list[_Hit]] = {
            id(f): [h for h in f.aliases if h.gate < 0] for f in scans
        }
        pending = {id(f): [h for h in f.aliases if h.gate >= 0] for f in scans}
        verdict: dict[int, str] = {}  # id(hit) -> reason it failed
        for _ in range(2):
            for f in scans:
                still = []
                for h in pending[id(f)]:
                    ok, why, note = self._gate_holds(h, f, scans, accepted, lang)
                    if ok:
                        h.note = note
                        accepted[id(f)].append(h)
                    else:
                        verdict[id(h)] = why
                        still.append(h)
                pending[id(f)] = still
        for f in scans:
            for h in pending[id(f)]:
                f.rejected.append((h, verdict[id(h)]))
            f.aliases = accepted[id(f)]

    def _gate_holds(
        self,
        h: _Hit,
        f: FieldScan,
        scans: list[FieldScan],
        accepted: dict[int, list[_Hit]],
        lang: str | None,
    ) -> tuple[bool, str, str]:
        g = self._gates[h.gate]
        rule = g.rule
        win = rule.window
        if rule.same_language and lang is not None and lang not in g.langs:
            return False, f"counts only in {'/'.join(sorted(g.langs))} text", ""
        where = scans if win.article else [f]

        def close(other: FieldScan, c: _Hit) -> bool:
            return win.article or other.near(h, c, win)

        for other in where:
            for c in other.contexts:
                if c.gate == h.gate and c.unless and close(other, c):
                    return False, f"'{other.quote(c)}' is near ({win.describe()})", ""
        if rule.near or rule.near_actors:
            for other in where:
                for c in other.contexts:
                    if c.gate == h.gate and not c.unless and close(other, c):
                        return True, "", f"near '{other.quote(c)}'"
                for a in accepted[id(other)]:
                    if a.entity in rule.near_actors and close(other, a):
                        return True, "", f"near {a.entity} '{other.quote(a)}'"
            needs = [f"'{p}'" for p in rule.near] + [f"actor {a}" for a in rule.near_actors]
            return False, f"needs {' or '.join(needs)} {win.describe()}", ""
        return True, "", ""

    def _allegation(self, al_id: str, f: FieldScan) -> list[tuple[Mention, _Hit]]:
        """The mentions of allegation ``al_id`` in one field (with the term hit of each)."""
        al = self._allegations[al_id]
        rule = al.rule
        near = rule.near
        first = (
            f.actors if rule.actors == "any" else [h for h in f.actors if h.entity in rule.actors]
        )
        if not first:
            return []
        second = [h for h in f.actors if h.entity in rule.with_actors]
        if rule.with_actors and not second:
            return []
        cues = [h for h in f.others if h.role == CUE and h.entity == al_id]
        if rule.cues and not cues:
            return []
        nots = [h for h in f.others if h.role == NOT and h.entity == al_id]

        out = []
        for t in f.terms:
            if t.entity != al_id:
                continue
            close = [a for a in first if f.near(t, a, near)]
            if not close:
                continue
            if rule.with_actors:
                partners = [b for b in second if f.near(t, b, near)]
                if not any(a.entity != b.entity for a in close for b in partners):
                    continue
                close_ids = sorted({a.entity for a in close} | {b.entity for b in partners})
            else:
                close_ids = sorted({a.entity for a in close})
            cue = f.best_cue(t, [c for c in cues if f.near(t, c, near)])
            if rule.cues and cue is None:
                continue
            if any(f.near(t, x, near) for x in nots):
                continue
            desc = f"{t.label} near {' + '.join(close_ids)}"
            if cue is not None:
                desc += f" with cue {cue.label}{f.sentence_offset_note(t, cue)}"
            desc += f" ({near.describe()})"
            out.append((f.mention("allegation", t, desc, al.weight), t))
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


def _merged(hits: list[_Hit]) -> list[_Hit]:
    """Overlapping hits of the same actor become one, over their joint span, labelled by
    the longest ("Korea Mining Development" + "Mining Development Trading Corporation")."""
    if len(hits) < 2:
        return hits
    hits = sorted(hits, key=lambda h: (h.entity, h.start, -(h.end - h.start)))
    out: list[_Hit] = []
    for h in hits:
        last = out[-1] if out else None
        if last is not None and last.entity == h.entity and h.start < last.end:
            longest = h if h.end - h.start > last.end - last.start else last
            out[-1] = _Hit(
                last.role,
                last.entity,
                longest.label,
                last.start,
                max(last.end, h.end),
                longest.gate,
                longest.unless,
                longest.note,
            )
            continue
        out.append(h)
    out.sort(key=lambda h: h.start)
    return out


def _inside(h: _Hit, spans: list[tuple[int, int]]) -> bool:
    return any(a <= h.start and h.end <= b for a, b in spans)


def _inside_longer(h: _Hit, others: list[_Hit]) -> _Hit | None:
    """The hit of another entity whose longer span contains ``h``, if any."""
    for g in others:
        if (
            g.entity != h.entity
            and g.start <= h.start
            and h.end <= g.end
            and g.end - g.start > h.end - h.start
        ):
            return g
    return None


_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]{1,2}|\w+")


@dataclass(eq=False)
class FieldScan:
    """One field (title or text) of an article, scanned: where every hit stands."""

    matcher: Matcher
    field: str
    n: Normalized
    hits: list[_Hit]
    aliases: list[_Hit] = dc_field(default_factory=list)
    actors: list[_Hit] = dc_field(default_factory=list)  # the actor hits that count
    terms: list[_Hit] = dc_field(default_factory=list)
    others: list[_Hit] = dc_field(default_factory=list)  # cues and not terms
    contexts: list[_Hit] = dc_field(default_factory=list)
    excludes: list[_Hit] = dc_field(default_factory=list)
    term_excludes: list[_Hit] = dc_field(default_factory=list)
    rejected: list[tuple[_Hit, str]] = dc_field(default_factory=list)
    _sentences: list[tuple[int, int]] | None = None
    _sent_starts: list[int] | None = None
    _word_starts: list[int] | None = None
    _sent: dict[int, int] = dc_field(default_factory=dict)

    def __post_init__(self) -> None:
        for h in self.hits:
            r = h.role
            if r == ALIAS:
                self.aliases.append(h)
            elif r == TERM:
                self.terms.append(h)
            elif r in (CUE, NOT):
                self.others.append(h)
            elif r == EXCLUDE:
                self.excludes.append(h)
            elif r == TERM_EXCLUDE:
                self.term_excludes.append(h)
            else:
                self.contexts.append(h)

    # --- actors ------------------------------------------------------------------------

    def resolve_excludes(self) -> None:
        if not self.excludes or not self.aliases:
            return
        kept = []
        for h in self.aliases:
            x = next(
                (
                    x
                    for x in self.excludes
                    if x.entity == h.entity
                    and x.start < h.end
                    and h.start < x.end
                    and not (
                        h.start <= x.start and x.end <= h.end and h.end - h.start > x.end - x.start
                    )
                ),
                None,
            )
            if x is None:
                kept.append(h)
            else:
                self.rejected.append((h, f"inside the excluded phrase '{self.quote(x)}'"))
        self.aliases = kept

    def finish_actors(self) -> None:
        hits = self.aliases
        if len(hits) > 1:
            kept = []
            for h in hits:
                g = _inside_longer(h, hits)
                if g is None:
                    kept.append(h)
                else:
                    self.rejected.append((h, f"part of the name '{self.quote(g)}' of {g.entity}"))
            hits = kept
        self.actors = _merged(hits)
        if not self.actors:
            self.terms = []
            return
        # a word inside a name is part of the name, not a term or cue: 教育 in
        # アルマ研究教育センター (Education Center), "Trading" in KOMID's name
        spans = [(a.start, a.end) for a in self.actors]
        terms = [h for h in self.terms if not _inside(h, spans)]
        if self.term_excludes:
            terms = [h for h in terms if not self._term_excluded(h)]
        self.terms = _longest(terms)
        if self.others:
            self.others = [h for h in self.others if h.role == NOT or not _inside(h, spans)]

    def _term_excluded(self, h: _Hit) -> bool:
        for x in self.term_excludes:
            if (
                x.entity == h.entity
                and x.start < h.end
                and h.start < x.end
                and not (
                    h.start <= x.start and x.end <= h.end and h.end - h.start > x.end - x.start
                )
            ):
                return True
        return False

    def actor_mentions(self) -> list[Mention]:
        out = []
        for h in self.actors:
            rule = f"{h.label} ({h.note})" if h.note else h.label
            out.append(self.mention("actor", h, rule, self.matcher._actor_weight[h.entity]))
        return out

    # --- where things stand ------------------------------------------------------------

    @property
    def sentences(self) -> list[tuple[int, int]]:
        if self._sentences is None:
            self._sentences = split_sentences(self.n.original)
            self._sent_starts = [a for a, _ in self._sentences]
        return self._sentences

    @property
    def sent_starts(self) -> list[int]:
        if self._sent_starts is None:
            _ = self.sentences
        assert self._sent_starts is not None
        return self._sent_starts

    def sentence_of(self, h: _Hit) -> int:
        i = self._sent.get(h.start)
        if i is None:
            i = self._sent[h.start] = max(
                0, bisect_right(self.sent_starts, self.n.to_original(h.start)) - 1
            )
        return i

    def sentence_text(self, i: int) -> str:
        if not self.sentences:
            return self.n.original.strip()
        s0, s1 = self.sentences[i]
        return self.n.original[s0:s1]

    def word_of(self, offset: int) -> int:
        if self._word_starts is None:
            self._word_starts = [m.start() for m in _WORD.finditer(self.n.text)]
        return bisect_left(self._word_starts, offset)

    def near(self, a: _Hit, b: _Hit, near: Near | Window) -> bool:
        if near.within_words is not None:
            if a.start <= b.start:
                gap = self.word_of(b.start) - self.word_of(a.end)
            else:
                gap = self.word_of(a.start) - self.word_of(b.end)
            return gap <= near.within_words
        limit = near.within_sentences or 0
        return abs(self.sentence_of(a) - self.sentence_of(b)) <= limit

    def best_cue(self, t: _Hit, cues: list[_Hit]) -> _Hit | None:
        """The cue to show for term ``t``: one in its own sentence if there is one, else
        the closest."""
        if not cues:
            return None
        st = self.sentence_of(t)
        return min(
            cues,
            key=lambda c: (
                abs(self.sentence_of(c) - st),
                min(abs(c.start - t.end), abs(t.start - c.end)),
            ),
        )

    def sentence_offset_note(self, t: _Hit, other: _Hit) -> str:
        d = self.sentence_of(other) - self.sentence_of(t)
        if d == 0:
            return ""
        if abs(d) == 1:
            return " in the next sentence" if d > 0 else " in the previous sentence"
        return f" {abs(d)} sentences {'later' if d > 0 else 'earlier'}"

    def quote(self, h: _Hit) -> str:
        s, e = self.n.span(h.start, h.end)
        return self.n.original[s:e]

    def mention(self, kind: str, h: _Hit, rule: str, weight: float) -> Mention:
        start, end = self.n.span(h.start, h.end)
        original = self.n.original
        length = max(1, len(original))
        if self.field == "title":
            w = weight * TITLE_FACTOR
        else:
            w = weight * (1.0 - (1.0 - END_FACTOR) * start / length)
        sentences = self.sentences
        si = max(0, bisect_right(self.sent_starts, start) - 1)
        s0, s1 = sentences[si] if sentences else (0, len(original))
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
