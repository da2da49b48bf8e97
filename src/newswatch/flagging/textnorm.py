"""Text normalisation for matching, with a way back to the original offsets.

Matching runs on a *normalised* copy of the text; evidence must quote the *original*.
:func:`normalize` returns both the normalised string and, when the two differ in length,
the original offset of every normalised character::

    n = normalize("HIZB‐ALLAH’s  Jihād")
    n.text                      # "hizb allah's jihad"
    n.span(0, 10)               # (0, 10): "HIZB‐ALLAH" in the original

What normalisation does, character by character (so offsets can be kept):

* Unicode NFKC (full-width letters, ligatures, Arabic presentation forms) and casefold;
* diacritics dropped for Latin, Greek, Cyrillic (é→e, ё→е), Arabic harakat and tatweel,
  Hebrew niqqud; Hangul is left whole (decomposing it would split syllables into jamo);
* Arabic letter variants: أ إ آ ٱ → ا, ى → ي, ة → ه, Persian ک ی → ك ي;
* every hyphen or dash (and the Hebrew maqaf) becomes a space, apostrophe variants
  (’ ‘ ʼ ׳ `) become ``'``; double quotes of every kind (" « » „ “ ” and the Hebrew
  gershayim ״) and zero-width characters are dropped;
* runs of whitespace become one space.

:func:`split_sentences` finds sentence spans in the original text (Latin, Cyrillic,
Korean, Arabic ``؟`` ``؛`` ``.``, Hebrew). The Arabic comma ``،`` is a comma: it does not
end a sentence (Arabic news prose chains long clauses with it).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "Normalized",
    "is_hangul",
    "normalize",
    "normalize_phrase",
    "sentence_index",
    "split_sentences",
]

_HYPHENS = "\u002d\u00ad\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"
_APOSTROPHES = "\u2018\u2019\u201b\u02bc\u02bb\u02b9\u2032\u05f3\u0060\u00b4\uff07"
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u0640"  # ZW space/joiners, word joiner, BOM, tatweel
# double quotation marks vanish, so a quoted name inside a phrase still matches:
# مركز «ألما» = مركز ألما, the „Hamas Metro“ = the Hamas Metro (apostrophes are kept)
_QUOTES = '"\u00ab\u00bb\u201c\u201d\u201e\u201f\u2039\u203a\u300c\u300d\u300e\u300f\uff02\u05f4'
_SPECIAL: dict[str, str] = {
    **{c: " " for c in _HYPHENS},
    **{c: "'" for c in _APOSTROPHES},
    **{c: "" for c in _ZERO_WIDTH},
    **{c: "" for c in _QUOTES},
    "\u00ad": "",  # soft hyphen: invisible, joins a word
    # Arabic letter variants
    "\u0623": "\u0627",  # أ
    "\u0625": "\u0627",  # إ
    "\u0622": "\u0627",  # آ
    "\u0671": "\u0627",  # ٱ
    "\u0649": "\u064a",  # ى → ي
    "\u0629": "\u0647",  # ة → ه
    "\u06a9": "\u0643",  # Persian keheh → kaf
    "\u06cc": "\u064a",  # Persian yeh → yeh
}


def _is_jamo(ch: str) -> bool:
    return "\u1100" <= ch <= "\u11ff"


def is_hangul(ch: str) -> bool:
    o = ord(ch)
    return 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F


@lru_cache(maxsize=65536)
def _map_char(ch: str) -> str:
    """The normalised form of one character (possibly empty or several characters)."""
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    if ch.isspace():
        return " "
    o = ord(ch)
    if o < 128:
        return ch.lower()
    if is_hangul(ch):
        return unicodedata.normalize("NFKC", ch)
    out = []
    for c in unicodedata.normalize("NFKC", ch).casefold():
        if c in _SPECIAL:
            out.append(_SPECIAL[c])
            continue
        if c.isspace():
            out.append(" ")
            continue
        # fold diacritics: decompose, drop combining marks (Latin, Greek, Cyrillic,
        # Hebrew niqqud, Arabic harakat and hamza marks all are category Mn)
        for d in unicodedata.normalize("NFD", c) if ord(c) < 0x2000 else c:
            if unicodedata.category(d) == "Mn":
                continue
            out.append(_SPECIAL.get(d, d))
    return "".join(out)


# ``str.translate`` table for every character seen so far (identity entries map to their
# own code point: a miss would raise and be slow)
_TABLE: dict[int, int | str] = {}
_ONE_TO_ONE: set[str] = set()  # characters whose normalised form is one other character
_RESIZING: set[str] = set()  # characters that vanish or become several
_SPACING: set[str] = set()  # characters (dashes, hyphens) that become a space
_KNOWN: set[str] = set()
_MULTISPACE = re.compile(r"\s{2,}")


def _learn(chars: set[str]) -> None:
    for ch in chars - _KNOWN:
        mapped = _map_char(ch)
        if len(mapped) != 1 or _is_jamo(ch):
            _RESIZING.add(ch)
        elif mapped != ch:
            _ONE_TO_ONE.add(ch)
            if mapped == " " and not ch.isspace():
                _SPACING.add(ch)
        _TABLE[ord(ch)] = ord(ch) if mapped == ch else mapped
        _KNOWN.add(ch)


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalised string and the way back to the original.

    The way back is a list of segments: normalised offset ``seg_norm[k]`` stands for
    original offset ``seg_orig[k]``; inside a *linear* segment both advance together
    (most of any text), inside a constant one (an expanded character such as ß → ss)
    every normalised character points at the same original character. None: identity.
    """

    original: str
    text: str
    seg_norm: tuple[int, ...] | None = None
    seg_orig: tuple[int, ...] = ()
    seg_linear: tuple[bool, ...] = ()

    def to_original(self, i: int) -> int:
        """Original offset of normalised offset ``i`` (0 ≤ i ≤ len(text))."""
        if self.seg_norm is None:
            return i
        if i >= len(self.text):
            return len(self.original)
        k = bisect_right(self.seg_norm, i) - 1
        if self.seg_linear[k]:
            return self.seg_orig[k] + i - self.seg_norm[k]
        return self.seg_orig[k]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original ``(start, end)`` of the normalised span ``[start, end)``."""
        if self.seg_norm is None:
            return start, end
        s = self.to_original(start)
        e = self.to_original(end)
        # characters dropped before the next kept one stay out of the span (quotes,
        # zero-width, spaces), except combining marks that belong to the last letter
        orig = self.original
        while e > s + 1 and (
            orig[e - 1].isspace()
            or (
                _map_char(orig[e - 1]) == ""
                and unicodedata.category(orig[e - 1]) not in ("Mn", "Me")
            )
        ):
            e -= 1
        if e <= s:  # the span ended inside one expanded character (ß → ss)
            e = s + 1
        return s, e


_IRREGULAR: re.Pattern[str] | None = None
_IRREGULAR_SIZE = (-1, -1)


def _irregular() -> re.Pattern[str]:
    """Stretches that need care: characters that vanish or expand, whitespace runs."""
    global _IRREGULAR, _IRREGULAR_SIZE
    if _IRREGULAR is None or (len(_RESIZING), len(_SPACING)) != _IRREGULAR_SIZE:
        cls = "".join(re.escape(c) for c in sorted(_RESIZING))
        sp = "".join(re.escape(c) for c in sorted(_SPACING))
        _IRREGULAR = re.compile(rf"[\s{cls}{sp}]{{2,}}|[{cls}]" if cls else rf"[\s{sp}]{{2,}}")
        _IRREGULAR_SIZE = (len(_RESIZING), len(_SPACING))
    return _IRREGULAR


def normalize(text: str) -> Normalized:
    """Normalise ``text`` for matching (see the module docstring)."""
    chars = set(text)
    _learn(chars)
    one_to_one = not _ONE_TO_ONE.isdisjoint(chars)
    if _RESIZING.isdisjoint(chars):
        out = text.translate(_TABLE) if one_to_one else text
        if "  " not in out:
            return Normalized(text, out)
    parts: list[str] = []
    seg_norm: list[int] = []
    seg_orig: list[int] = []
    seg_lin: list[bool] = []
    nlen = 0  # length of the normalised text so far
    prev_space = False
    pos = 0
    for m in _irregular().finditer(text):
        a, b = m.span()
        if a > pos:  # a regular stretch: one character for one
            chunk = text[pos:a].translate(_TABLE) if one_to_one else text[pos:a]
            seg_norm.append(nlen)
            seg_orig.append(pos)
            seg_lin.append(True)
            parts.append(chunk)
            nlen += len(chunk)
            prev_space = chunk[-1] == " "
        i = a
        while i < b:
            ch = text[i]
            if (
                "\u1100" <= ch <= "\u1112"
                and i + 1 < len(text)
                and "\u1161" <= text[i + 1] <= "\u1175"
            ):
                # decomposed Hangul (NFD, e.g. from macOS): compose the syllable again
                syl = 0xAC00 + ((ord(ch) - 0x1100) * 21 + ord(text[i + 1]) - 0x1161) * 28
                start = i
                i += 2
                if i < len(text) and "\u11a8" <= text[i] <= "\u11c2":
                    syl += ord(text[i]) - 0x11A7
                    i += 1
                seg_norm.append(nlen)
                seg_orig.append(start)
                seg_lin.append(False)
                parts.append(chr(syl))
                nlen += 1
                prev_space = False
                b = max(b, i)
                continue
            for c in _map_char(ch):
                if c == " ":
                    if prev_space:
                        continue
                    prev_space = True
                else:
                    prev_space = False
                seg_norm.append(nlen)
                seg_orig.append(i)
                seg_lin.append(False)
                parts.append(c)
                nlen += 1
            i += 1
        pos = b
    if pos < len(text):
        chunk = text[pos:].translate(_TABLE) if one_to_one else text[pos:]
        seg_norm.append(nlen)
        seg_orig.append(pos)
        seg_lin.append(True)
        parts.append(chunk)
    return Normalized(text, "".join(parts), tuple(seg_norm), tuple(seg_orig), tuple(seg_lin))


def normalize_phrase(phrase: str) -> str:
    """Normalise a watchlist phrase: as :func:`normalize`, then trimmed."""
    return normalize(phrase).text.strip()


# --- sentences -----------------------------------------------------------------------

# a sentence ends at . ! ? … (and Arabic ؟ ؛ Urdu ۔, CJK 。？！) followed by optional closing
# quotes/brackets and whitespace, or at a line break
_SENT_END = re.compile(
    r"""[.!?\u2026\u061f\u061b\u06d4\u3002\uff1f\uff01]+["'\u201d\u2019\u00bb\u201c)\]]*(?=\s|$)|\n"""
)
_ABBREV = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "gen",
        "lt",
        "col",
        "maj",
        "capt",
        "sgt",
        "st",
        "jr",
        "sr",
        "vs",
        "etc",
        "inc",
        "corp",
        "co",
        "ltd",
        "fig",
        "approx",
        "dept",
        "est",
        "govt",
        "sen",
        "rep",
        "gov",
        "pres",
        "adm",
        "cmdr",
        "brig",
        "ca",
        "cf",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "u.n",
        "z.b",
        "bzw",
        "usw",
        "vgl",
        "ggf",
        "mme",
        "mlle",
        "sr",
        "sra",
        "dra",
        "т.е",
        "т.д",
        "г",
        "гг",
        "ул",
    ]
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` in ``text``, trimmed of surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    start = 0
    n = len(text)
    for m in _SENT_END.finditer(text):
        end = m.end()
        if m.group() != "\n" and m.group()[0] == ".":
            k = j = m.start()
            while k > 0 and j - k < 24 and not text[k - 1].isspace():
                k -= 1
            w = text[k:j].lower().lstrip("(\"'")
            if w in _ABBREV or (len(w) == 1 and w.isalpha() and w.isascii()):
                continue
            # "e.g. the" — a lower-case Latin letter next means the sentence goes on
            nxt = end
            while nxt < n and text[nxt].isspace() and text[nxt] != "\n":
                nxt += 1
            if nxt < n and text[nxt].isascii() and text[nxt].islower():
                continue
        _add_span(text, start, end, spans)
        start = end
    _add_span(text, start, n, spans)
    return spans


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def sentence_index(starts: list[int], offset: int) -> int:
    """Index of the sentence (given the sentences' start offsets) holding ``offset``."""
    return max(0, bisect_right(starts, offset) - 1)
