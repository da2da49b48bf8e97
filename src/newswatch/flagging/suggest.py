"""Alias discovery: likely variants of tracked names, mined from stored articles.

``newswatch watchlist suggest [--actor ID]`` reads flagged articles (the SQL lives in
:mod:`newswatch.reports.watchlist_suggest`) and hands the rows to :func:`suggest_aliases`,
which looks, in each article, only for the actors it is flagged with:

* **beside a name**: a phrase in brackets right after or before a matched alias, the way
  reports give a name in another script or an abbreviation (``真主党（Hezbollah）``,
  ``Jihad al-Binaa (جهاد البناء)``, ``Korea Mining Development Trading Corporation
  (KOMID)``);
* **inflected**: an alias with letters glued on that the matcher does not take (in a
  language without rules for it), ``Hizbullahın``, ``Хезболлой``;
* **near spelling**: a word group spelled almost like an alias, not matched by any
  (``Hizbulla``, ``Hesbollah``, ``ハマズ``), transliterations and typos.

A candidate that begins or ends with a function word of its articles' language (an
article, preposition, conjunction, pronoun: :data:`FUNCTION_WORDS`, for each language of
the watchlist) is a piece of a sentence, not a name, and is never suggested: ``than`` is
spelled almost like ``Tehran``, ``a think tank`` like ``Alma think tank``, and the words
before a bracket are often ``في قرى الجنوب …`` ("in the villages of the south …").

Candidates are ranked by the number of articles they appear in (and how sure the kind of
evidence is) and returned with examples. :func:`suggestions_yaml` writes a YAML snippet for
an analyst to review. Nothing here changes the watchlist.

Rows are plain tuples ``(article_id, language, title, text, actors)``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from newswatch.flagging.matcher import Matcher, _script, canonical_language
from newswatch.flagging.textnorm import Normalized, normalize, normalize_phrase

__all__ = [
    "FUNCTION_WORDS",
    "Row",
    "Suggestion",
    "is_function_word",
    "suggest_aliases",
    "suggestions_yaml",
]

Row = tuple[str, str | None, str | None, str | None, Iterable[str] | None]

KIND_WEIGHT = {"beside a name": 2.0, "inflected": 1.5, "near spelling": 1.0}
MIN_SIMILARITY = 0.8
MAX_EXAMPLES = 3

_BRACKETS = {"(": ")", "（": "）", "[": "]", "«": "»", "「": "」"}
_TOKEN = re.compile(r"\w+(?:'\w+)?")

# Function words by language, the watchlist's thirteen (Malay reads the Indonesian list).
# Only words that cannot be a name or part of one at the edge of a phrase: no "us" (US),
# "who" (WHO), "may" or "will"; Arabic transliterations such as al-Qods stay whole, since
# a word is what lies between spaces. Compared after normalisation, as aliases are.
FUNCTION_WORDS: dict[str, str] = {
    "en": """a an the and or but nor of to in on at by for from with without within into
        onto over under about above below after before between among against during since
        until than then that this these those there here which whom whose what when where
        while as if so not no is are was were be been being has have had do does did it its
        he she they them their his her him we our you your me my said says also such very
        more most less some any each every both either other another same only just via
        per upon out off again once too""",
    "fr": """le la les l un une des du de d au aux à et ou mais ni donc car que qu qui quoi
        dont où ce cet cette ces son sa ses leur leurs il elle ils elles on nous vous je se
        en dans sur sous par pour avec sans chez entre vers après avant pendant depuis
        contre plus moins très aussi ne pas est sont était été être a ont avait selon comme
        si lors""",
    "de": """der die das den dem des ein eine einer einen einem eines und oder aber doch
        sondern von vom zu zum zur in im an am auf aus bei beim mit nach seit über unter vor
        für gegen ohne um durch als wie wenn dass daß ob nicht kein keine ist sind war waren
        wird werden wurde hat haben hatte es er sie wir ihr sein seine ihre ihren dies diese
        dieser auch noch nur sich laut""",
    "es": """el la los las lo un una unos unas y e o u pero ni que quien cual cuyo de del al
        a en con sin por para sobre entre hasta desde hacia tras contra según como más
        menos muy también no es son era fue ser ha han había se su sus le les este esta
        estos estas ese esa eso donde cuando""",
    "ru": """и в во не что он она оно они на я с со как а то все по но за из у к ко от о об
        же бы ли до для при без над под про через после перед между это этот эта эти тот
        та те его ее её их был была были быть есть также или ни чем который которая
        которые где когда так уже еще ещё""",
    "ar": """في من إلى الى على عن مع أن ان إن لا ما لم لن هذا هذه ذلك تلك الذي التي الذين
        و أو او ثم بل حتى كما قد كان كانت هو هي هم فهو وهو وهي عبر بين بعد قبل خلال حول ضد
        دون عند لدى منذ بحسب وفق وفقا حسب أي كل بعض غير إلا الا لكن لأن أيضا باسم يكون""",
    "he": """של את על עם כי גם זה זו זאת לא אל או אם כל היא הוא הם הן אשר בין לפי אחרי לפני
        מן עד כמו אבל רק כבר יותר נגד ללא בלי אך יש אין היה הייתה היו""",
    "fa": """و در به از که را با این آن برای تا یا اما هم بر است بود شد می نیز یک او آنها
        ما شما من خود پس اگر چه چون هر بین پیش روی زیر درباره طبق وی""",
    "tr": """ve ile veya ya da de bir bu şu o için gibi kadar göre daha en çok ama fakat
        ancak ki ne mi mı mu mü olan olarak olduğu ise değil her bazı tüm sonra önce karşı
        üzere diye""",
    "id": """dan atau yang di ke dari pada untuk dengan dalam oleh ini itu tersebut adalah
        ialah akan telah sudah belum tidak bukan juga serta bahwa karena sebagai seperti
        antara tentang terhadap kepada bagi hingga sampai setelah sebelum para sang ia dia
        mereka kami kita saat ketika namun tetapi tapi menurut""",
    "ko": """및 등 그 이 저 또 또는 그리고 그러나 하지만 위해 대한 통해 따르면 의 에 를 을 는
        은 가 와 과 도 로 으로 에서 한 할 했다 있는 없는 것 수 더 매우 모든 각 같은 이번
        지난 당시""",
    # no spaces between words: these count when a candidate is one of them (a run of
    # characters between punctuation), which is what the near-spelling search compares
    "ja": """の は が を に で と も へ や から まで より など この その あの これ それ あれ
        そして また および 及び または 又は ため について による によると という""",
    "zh": """的 了 和 与 與 及 或 在 是 有 为 為 对 對 从 從 由 把 被 这 這 那 其 之 也 都 而 但
        并 並 据 據 称 稱 等 以 于 於 向 将 將 以及 因为 因為 但是 而且 并且 並且 或者 其中
        此外 另外 根据 根據 关于 關於 对于 對於 据称 據稱""",
}
_FUNCTION: dict[str, frozenset[str]] = {
    lang: frozenset(normalize_phrase(w) for w in words.split())
    for lang, words in FUNCTION_WORDS.items()
}
_ANY_FUNCTION = frozenset().union(*_FUNCTION.values())  # a language not known: all lists
_EDGE = re.compile(r"^\W+|\W+$")


def is_function_word(word: str, language: str | None) -> bool:
    """Whether ``word`` is a function word of ``language`` (of any list when the language
    is unknown, ``any``, or one without a list), compared after normalisation."""
    lang = canonical_language(language)
    words = _FUNCTION.get(lang or "", _ANY_FUNCTION)
    return normalize_phrase(word) in words


def _starts_or_ends_with_function_word(phrase: str, language: str | None) -> bool:
    """``phrase`` (as written): its first or last word, between spaces and without the
    punctuation around it, is a function word of ``language``. Split before normalising,
    which turns the hyphen of ``al-Qods`` or ``Jong-un`` into a space."""
    words = [w for w in (_EDGE.sub("", x) for x in phrase.split()) if w]
    if not words:
        return False
    return is_function_word(words[0], language) or is_function_word(words[-1], language)


@dataclass
class Suggestion:
    """A phrase that may be an alias of ``actor``, with the evidence for it."""

    actor: str
    phrase: str  # as written in the articles (the most frequent spelling)
    language: str  # the articles' language, or "any"
    kind: str  # "beside a name", "inflected", "near spelling"
    similar_to: str  # the alias it was found beside or resembles
    articles: int = 0
    similarity: float = 1.0
    examples: list[tuple[str, str]] = field(default_factory=list)  # (article id, sentence)
    _ids: set[str] = field(default_factory=set, repr=False)
    _spellings: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def score(self) -> float:
        return round(self.articles * KIND_WEIGHT[self.kind] * self.similarity, 3)

    def as_dict(self) -> dict[str, object]:
        return {
            "actor": self.actor,
            "phrase": self.phrase,
            "language": self.language,
            "kind": self.kind,
            "similar_to": self.similar_to,
            "articles": self.articles,
            "similarity": round(self.similarity, 3),
            "score": self.score,
            "examples": [{"article_id": a, "sentence": s} for a, s in self.examples],
        }


def _sentence_around(text: str, start: int, end: int, width: int = 160) -> str:
    a = max(0, start - width // 2)
    b = min(len(text), end + width // 2)
    for stop in (".", "。", "\n", "؟", "!", "?"):
        i = text.rfind(stop, a, start)
        if i >= 0:
            a = max(a, i + 1)
        j = text.find(stop, end, b)
        if j >= 0:
            b = min(b, j + 1)
    return text[a:b].strip()


def suggest_aliases(
    matcher: Matcher,
    rows: Iterable[Row],
    *,
    actor: str | None = None,
    min_articles: int = 2,
    limit: int = 50,
) -> list[Suggestion]:
    """Ranked alias candidates from ``rows``; only for ``actor`` when given."""
    wl = matcher.watchlist
    aliases: dict[str, list[tuple[str, str]]] = {}  # actor -> [(normalised key, phrase)]
    known: set[str] = set()  # every normalised alias, exclude and context phrase
    for a in wl.actors:
        for _lang, phrase, _rule in a.alias_entries():
            key = normalize_phrase(phrase.removesuffix("*"))
            aliases.setdefault(a.id, []).append((key, phrase))
            known.add(key)
        for phrases in a.exclude.values():
            known.update(normalize_phrase(p.removesuffix("*")) for p in phrases)
    found: dict[tuple[str, str], Suggestion] = {}

    def note(
        aid: str, lang: str, kind: str, spelled: str, like: str, sim: float, art: str, sent: str
    ) -> None:
        key = normalize_phrase(spelled)
        if not key or key in known or len(key.replace(" ", "")) < 2:
            return
        if _starts_or_ends_with_function_word(spelled, lang):
            return  # a piece of a sentence ("than", "a think tank"), not a name
        s = found.get((aid, key))
        if s is None:
            s = found[(aid, key)] = Suggestion(aid, spelled, lang, kind, like, similarity=sim)
        elif KIND_WEIGHT[kind] > KIND_WEIGHT[s.kind]:
            s.kind, s.similar_to, s.similarity = kind, like, sim
        if art not in s._ids:
            s._ids.add(art)
            s.articles += 1
            if len(s.examples) < MAX_EXAMPLES:
                s.examples.append((art, sent))
        s._spellings[spelled] = s._spellings.get(spelled, 0) + 1

    for article_id, language, title, text, flagged in rows:
        targets = [x for x in (flagged or ()) if x in aliases and (actor is None or x == actor)]
        if not targets:
            continue
        lang = canonical_language(language) or "any"
        for value in (title, text):
            if not value:
                continue
            r = matcher.match(value, language=language)
            spans = [(m.start, m.end) for m in r.mentions if m.kind == "actor"]
            for m in r.mentions:
                if m.kind != "actor" or m.entity_id not in targets:
                    continue
                for spelled, like in _beside(value, m.start, m.end, m.matched_text):
                    if any(a <= value.find(spelled, m.end) < b for a, b in spans):
                        continue  # the bracket holds another tracked name
                    sent = _sentence_around(value, m.start, m.end)
                    note(m.entity_id, lang, "beside a name", spelled, like, 1.0, article_id, sent)
            for aid in targets:
                _spelling(aid, aliases[aid], value, spans, lang, article_id, note)
    out = [s for s in found.values() if s.articles >= min_articles]
    for s in out:
        s.phrase = max(s._spellings, key=lambda k: (s._spellings[k], -len(k)))
    out.sort(key=lambda s: (-s.score, s.actor, s.phrase))
    return out[:limit]


def _beside(text: str, start: int, end: int, matched: str) -> list[tuple[str, str]]:
    """Phrases in brackets right after a matched name (``Name (X)``), and the words before
    a bracket that holds the name (``X (Name)``)."""
    out = []
    i = end
    while i < len(text) and text[i] == " ":
        i += 1
    if i < len(text) and text[i] in _BRACKETS:
        close = text.find(_BRACKETS[text[i]], i + 1, i + 80)
        if close > i + 1:
            out.append(text[i + 1 : close].strip())
    if (
        start > 0
        and text[start - 1] in _BRACKETS
        and end < len(text)
        and text[end] == _BRACKETS[text[start - 1]]
    ):
        k = start - 1
        while k > 0 and text[k - 1] == " ":
            k -= 1
        before = text[max(0, k - 60) : k]
        if _script(before[-1:] or " ") in (3, 5):  # CJK: the run of that script
            run = re.findall(r"[\u30a0-\u30ff\u3400-\u9fff]+$", before)
            if run:
                out.append(run[0][-12:])
        else:
            words = _TOKEN.findall(before)
            if words:
                out.append(" ".join(words[-4:]))
    return [(p, matched) for p in out if p and len(p) <= 60 and not p.isdigit()]


Note = Callable[[str, str, str, str, str, float, str, str], None]


def _spelling(
    aid: str,
    alias_list: list[tuple[str, str]],
    value: str,
    spans: list[tuple[int, int]],
    lang: str,
    article_id: str,
    note: Note,
) -> None:
    """Inflected forms and near spellings of the aliases of ``aid`` in ``value``
    (``spans``: where the matcher found names, in ``value``'s offsets)."""
    n = normalize(value)
    s = n.text
    tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(s)]
    for key, phrase in alias_list:
        if len(key) < 4:
            continue
        words = key.count(" ") + 1
        first_script = _script(key[0])
        if first_script in (3, 5):  # katakana / Han: no words; compare character runs
            _cjk_near(aid, key, phrase, n, spans, lang, article_id, note)
            continue
        for i in range(len(tokens) - words + 1):
            a, b = tokens[i][0], tokens[i + words - 1][1]
            cand = s[a:b]
            if cand == key or abs(len(cand) - len(key)) > max(3, len(key) // 3):
                continue
            oa, ob = n.span(a, b)
            if any(x < ob and oa < y for x, y in spans):
                continue  # already matched
            rest = cand[len(key) :]
            if cand.startswith(key) and rest.isalpha() and 2 <= len(rest) <= 5:
                kind, sim = "inflected", 1.0
            else:
                sm = difflib.SequenceMatcher(None, key, cand)
                if sm.real_quick_ratio() < MIN_SIMILARITY or sm.quick_ratio() < MIN_SIMILARITY:
                    continue
                sim = sm.ratio()
                if sim < MIN_SIMILARITY or cand[0] != key[0]:
                    continue
                kind = "near spelling"
            spelled = value[oa:ob]
            note(aid, lang, kind, spelled, phrase, sim, article_id, _sentence_around(value, oa, ob))


def _cjk_near(
    aid: str,
    key: str,
    phrase: str,
    n: Normalized,
    spans: list[tuple[int, int]],
    lang: str,
    article_id: str,
    note: Note,
) -> None:
    """Runs of the same script as ``key``, of about its length, spelled almost like it."""
    s = n.text
    sc = _script(key[0])
    i = 0
    while i < len(s):
        if _script(s[i]) != sc:
            i += 1
            continue
        j = i
        while j < len(s) and _script(s[j]) == sc:
            j += 1
        run = s[i:j]
        for length in (len(key) - 1, len(key), len(key) + 1):
            if length < 2 or length > len(run):
                continue
            for k in range(0, len(run) - length + 1):
                cand = run[k : k + length]
                if cand == key or key in cand or cand in key:
                    continue
                sim = difflib.SequenceMatcher(None, key, cand).ratio()
                if sim >= 0.75 and cand[0] == key[0]:
                    oa, ob = n.span(i + k, i + k + length)
                    if any(x < ob and oa < y for x, y in spans):
                        continue  # overlaps a name the matcher found
                    spelled = n.original[oa:ob]
                    sent = _sentence_around(n.original, oa, ob)
                    note(aid, lang, "near spelling", spelled, phrase, sim, article_id, sent)
        i = j


def suggestions_yaml(suggestions: list[Suggestion], *, articles_read: int | None = None) -> str:
    """A YAML snippet to review: per actor, per language, one candidate a line with its
    evidence as a comment. Paste what is right into the watchlist by hand."""
    head = [
        "# Alias suggestions from newswatch watchlist suggest"
        + (f" ({articles_read:,} articles read)" if articles_read is not None else "")
        + ".",
        "# Nothing was changed. Check each candidate against its examples, then copy the",
        "# good ones into the actor's aliases in watchlist.yaml and run newswatch eval.",
    ]
    if not suggestions:
        return "\n".join([*head, "actors: []", ""])
    lines = [*head, "actors:"]
    by_actor: dict[str, dict[str, list[Suggestion]]] = {}
    for s in suggestions:
        by_actor.setdefault(s.actor, {}).setdefault(s.language, []).append(s)
    for aid, langs in by_actor.items():
        lines += [f"  - id: {aid}", "    aliases:"]
        for lang, items in sorted(langs.items()):
            lines.append(f"      {lang}:")
            for s in items:
                ex = s.examples[0] if s.examples else ("", "")
                sentence = " ".join(ex[1].split())[:100]
                lines.append(f"        - {json.dumps(s.phrase, ensure_ascii=False)}")
                lines.append(
                    f"          # {s.kind} {json.dumps(s.similar_to, ensure_ascii=False)}; "
                    f"{s.articles} article{'s' if s.articles != 1 else ''}, score {s.score}"
                )
                if ex[0]:
                    lines.append(
                        f"          # e.g. {ex[0]}: {json.dumps(sentence, ensure_ascii=False)}"
                    )
    return "\n".join(lines) + "\n"
