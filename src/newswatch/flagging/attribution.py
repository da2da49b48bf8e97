"""Whom each allegation is attributed to: "according to the Alma center", "합참에 따르면".

    at = Attributor(watchlist)                       # once per process, picklable
    at.sentence("North Korea helped Hamas, the JCS said.", "en")   # -> [Found(...)]
    at.article(flag, text, title, language)          # -> tuple[Attribution, ...]

How it works, for one sentence:

1. **Who is named.** The watchlist's ``sources:`` (Radio Free Asia, the JCS, KCNA, …, and
   the ``anonymous`` entry's words: "officials", "관계자", "مصادر") and its tracked actors
   are compiled into one :class:`~newswatch.flagging.matcher.Matcher`, so names are found
   with the flagging rules: case, Unicode variants, Korean particles, Arabic clitics,
   Hebrew prefixes, the longest name winning. An unnamed source next to a named one
   ("Hamas officials", "합참 관계자", "مسؤولون في الجيش الإسرائيلي") is the named one;
   "sources close to X" stays anonymous.
2. **Cues.** Each language has cue patterns with a direction: the source follows
   ("according to X", "selon X", "بحسب X", "לפי X", "据X"), precedes ("X said", "X에
   따르면", "Xによると", "X zufolge", "X称"), or either ("said Zehavi" / "Zehavi said");
   "X told Y" names two (the speaker and the outlet). Korean and Japanese verb-final
   cues ("…했다고 합참은 밝혔다", "…と合同参謀本部は述べた") take the name standing between
   the quotation ending and the verb, else the sentence's topic.
3. **Normalisation.** A name found becomes its source id (a ``sources:`` id, or a
   tracked actor's id) and kind; an anonymous one has no id and kind ``anonymous``.

Pure: no I/O, no SQL. Cost: one automaton pass per distinct allegation sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from newswatch.flagging.matcher import Matcher, canonical_language
from newswatch.flagging.watchlist import Actor, Watchlist
from newswatch.models import Attribution, FlagResult, MentionKind

__all__ = ["ANONYMOUS", "Attributor", "Found"]

ANONYMOUS = "anonymous"  # the id of the sources entry that lists unnamed sources
AFTER, BEFORE, EITHER, BOTH, SUBJECT = "after", "before", "either", "both", "subject"


@dataclass(frozen=True, slots=True)
class Found:
    """One attribution in a sentence (offsets in the sentence)."""

    source_text: str
    start: int
    end: int
    source_id: str | None
    kind: str
    cue: str


@dataclass(frozen=True, slots=True)
class _Cue:
    pattern: re.Pattern[str]
    direction: str
    window: int  # how far the name may stand from the cue, in words (CJK: 2 characters)


def _c(pattern: str, direction: str, window: int = 6) -> tuple[str, str, int]:
    return (pattern, direction, window)


# (?<!\w) / (?!\w) keep cues whole words in alphabetic scripts
_W, _E = r"(?<!\w)", r"(?!\w)"
_HE = r"(?<![\u05d0-\u05ea])[וש]?"  # a Hebrew cue may carry ו / ש
_AR = r"(?<![\u0621-\u064a])[وف]?"  # an Arabic cue may carry و / ف

_CUES: dict[str, list[tuple[str, str, int]]] = {
    "en": [
        _c(r"according to", AFTER, 8),
        _c(r"citing|quoting|cited by|quoted by|reported by|published by", AFTER, 6),
        _c(
            r"(?:a|the|in a|in its) (?:new |recent )?(?:report|study|assessment|statement) (?:by|from|of)",
            AFTER,
            5,
        ),
        _c(r"in an interview with|speaking to|told", AFTER, 3),
        _c(
            r"(?:said|says|told|reported|stated|claimed|alleged|alleges|announced"
            r"|confirmed|wrote|noted|added|estimated|believe|believes|assessed|revealed"
            r"|disclosed|asserted|insisted|warned)",
            EITHER,
            5,
        ),
    ],
    "fr": [
        _c(r"selon|d'après|d’après|de source", AFTER, 8),
        _c(r"citant|cité par|citée par|rapporté par|publié par|dans un rapport d[eu]", AFTER, 6),
        _c(r"a confié à|a déclaré à|a indiqué à", AFTER, 3),
        _c(
            r"(?:a|ont) (?:déclaré|affirmé|indiqué|rapporté|annoncé|assuré|précisé|expliqué"
            r"|estimé|confirmé|révélé|soutenu|confié)|affirme|affirment|rapporte|rapportent"
            r"|indique|indiquent|estime|estiment|assure|assurent|souligne",
            EITHER,
            5,
        ),
    ],
    "de": [
        _c(r"laut|nach Angaben(?: des| der| von)?|unter Berufung auf|wie", AFTER, 8),
        _c(r"zufolge|nach eigenen Angaben", BEFORE, 6),
        _c(
            r"sagte(?: der| dem)?|sagten|berichtete|berichteten|berichtet|teilte|teilten|erklärte"
            r"|erklärten|hieß es (?:aus|von|bei)|schätzt|schätzen|behauptet|behauptete",
            EITHER,
            5,
        ),
    ],
    "es": [
        _c(r"según|de acuerdo con|citando a|citado por|citada por", AFTER, 8),
        _c(r"dijo a|declaró a|en declaraciones a", AFTER, 3),
        _c(
            r"dijo|dijeron|afirmó|afirmaron|aseguró|aseguraron|señaló|señalaron|declaró|declararon"
            r"|indicó|indicaron|informó|informaron|informa|estima|estimó|sostiene|reveló|confirmó",
            EITHER,
            5,
        ),
    ],
    "ru": [
        _c(
            r"по данным|по словам|по информации|по сведениям|по оценкам|по оценке|со ссылкой на"
            r"|ссылаясь на|как сообщил[аои]?|как сообщает|как заявил[аои]?",
            AFTER,
            8,
        ),
        _c(r"рассказал[аи]? (?:в интервью )?|в интервью", AFTER, 3),
        _c(
            r"сообщил[аои]?|сообщают|сообщает|заявил[аои]?|заявляют|утверждает|утверждают"
            r"|отметил[аои]?|считает|считают|пишет|пишут|подтвердил[аои]?",
            EITHER,
            5,
        ),
    ],
    "he": [
        _c(_HE + r"(?:לפי|על פי|עפ\"י|לדברי|כך לפי|כך נמסר מ|בצטטו את|כפי שדיווח)", AFTER, 8),
        _c(
            _HE + r"(?:אמר|אמרה|אמרו|מסר|מסרה|מסרו|דיווח|דיווחה|דיווחו|טען|טענה|טענו|הודיע|הודיעה"
            r"|הודיעו|ציין|ציינה|העריך|העריכה|חשף|חשפה|הוסיף|הוסיפה|פרסם|פרסמה)",
            EITHER,
            5,
        ),
    ],
    "ar": [
        _c(
            _AR
            + r"(?:وفق[اً]*\s?ل|بحسب|حسب|نقل[اً]*\s?عن|استنادا?[ًا]*\s?(?:إلى|الى)|طبق[اً]*\s?ل|على حد قول)",
            AFTER,
            8,
        ),
        _c(_AR + r"(?:في تصريح ل|في مقابلة مع)", AFTER, 3),
        _c(
            _AR + r"(?:قال|قالت|أفاد|أفادت|ذكر|ذكرت|أعلن|أعلنت|أكد|أكدت|زعم|زعمت|صرح|صرّح|أوضح|أوضحت"
            r"|كشف|كشفت|أشار|أشارت|نقلت|نقل|أضاف|أضافت|يقول|تقول)",
            EITHER,
            5,
        ),
    ],
    "fa": [
        _c(
            r"به گفته|به نقل از|به گزارش|طبق|بنا بر|بنابر|براساس|بر اساس|به ادعای|به اعتقاد",
            AFTER,
            8,
        ),
        _c(
            r"گفت|گفته است|اعلام کرد|اعلام کرده|گزارش داد|گزارش داده|مدعی شد|مدعی است|تأکید کرد"
            r"|فاش کرد|افزود|نوشت",
            BEFORE,
            6,
        ),
    ],
    "ko": [
        _c(
            r"에\s?따르면|에\s?의하면|의 발표에 따르면|의 보도에 따르면|에 인용된|을 인용해|를 인용해"
            r"|을 인용한|를 인용한|와의 인터뷰에서|과의 인터뷰에서|에 전했다|에 밝혔다|에 말했다"
            r"|(?:은|는|이|가|측은|측은|측이) 전했다",
            BEFORE,
            1,
        ),
        _c(
            r"밝혔다|전했다|말했다|주장했다|보도했다|발표했다|설명했다|강조했다|덧붙였다|지적했다"
            r"|분석했다|추정했다|전망했다|폭로했다|확인했다|밝혔습니다|전했습니다|말했습니다"
            r"|주장했습니다|보도했습니다|보고서에서|보고서를 통해",
            SUBJECT,
            12,
        ),
    ],
    "ja": [
        _c(
            r"によると|によれば|の報道では|の発表では|の分析では|を引用し|の取材に|に対し|が報じた"
            r"|が伝えた|が明らかにした|が発表した",
            BEFORE,
            1,
        ),
        _c(
            r"述べた|明らかにした|発表した|報じた|伝えた|指摘した|語った|説明した|主張した"
            r"|分析した|推計した|明かした",
            SUBJECT,
            15,
        ),
    ],
    "zh": [
        _c(r"(?:据|據)(?![点點悉])|根据|根據|援引|引述|引用|在接受", AFTER, 8),
        _c(
            r"称|稱|表示|说|說|指出|透露|报道|報導|宣称|宣稱|披露|证实|證實|认为|認為|报告说|声称|聲稱",
            BEFORE,
            4,
        ),
    ],
}
_CJK_LANGS = {"ja", "zh"}


@lru_cache(maxsize=32)
def _compiled(lang: str) -> tuple[_Cue, ...]:
    out = []
    for pat, direction, window in _CUES.get(lang, ()):
        wrap = pat if lang in ("ko", "ja", "zh", "he", "ar") else _W + "(?:" + pat + ")" + _E
        out.append(_Cue(re.compile(wrap, re.IGNORECASE), direction, window))
    return tuple(out)


_WORD = re.compile(r"[^\W\d_]+|\d+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


def _units(gap: str) -> int:
    """Distance in words; CJK characters count half a word each (no spaces there)."""
    cjk = len(_CJK.findall(gap))
    words = [w for w in _WORD.findall(_CJK.sub(" ", gap))]
    return len(words) + (cjk + 1) // 2


# what may stand between an unnamed source and the named one it belongs to
_CLOSE_TO = re.compile(
    r"close to|near|proches? d|nahe|cercan|близк|مقرب|המקורב|מקורב|가까운|近い|接近|نزدیک",
    re.IGNORECASE,
)
# what joins an unnamed source to the named one it belongs to: "officials of the JCS"
_OF = re.compile(
    r"\s*(?:(?:of|at|from|in|within|with|de|du|des|d'|au|aux|dans|der|des|aus|im|vom|von|bei"
    r"|del|en|в|из|во|при|في|من|داخل|لدى|של|ב|מ|از|در)\s*(?:the|la|le|l'|les|el|los|las|dem"
    r"|den|die|das)?\s*|\s+(?:ב|מ|ה)?)",
    re.IGNORECASE,
)
# "the Alma center and the IDF said": both speak
_AND = re.compile(
    r"\s*(?:,\s*)?(?:and|et|y|e|und|и|а также|و|ו|와|과|및|そして|と|及び|和|与|與|及|و)\s*"
    r"(?:the|le|la|l'|les|el|los|las|die|der|das|dem|den)?\s*|\s+ו|\s*[와과]\s+|\s*و",
    re.IGNORECASE,
)
_STOP_BEFORE = re.compile(r"[.;!?。,，、،]")
_STOP_AFTER = re.compile(r"[.;:!?。]")
# the source's subject particles in Korean and Japanese (for verb-final cues)
_KO_TOPIC = ("은", "는", "이", "가", "측은", "측이", "측도", "도")
_JA_TOPIC = ("は", "が", "側は", "も")
_KO_QUOTE = re.compile(r"(?:다|라|냐|자|이라)고\s*(?:[,，]\s*)?")
_TOLD_KO_JA = re.compile(
    r"(?:\s?[(（][^)）]{1,20}[)）])?(?:에게|에|와의 인터뷰|과의 인터뷰|に対し|に|の取材)"
)
_TITLE_THEN = re.compile(
    r"\s?[^\W\d_]{1,3}(?=(?:은|는|이|가)(?:\s|$))|\s측(?=[은이])"  # 자하비 소장은, 합참 측은
    r"|[\u3400-\u9fff\u30a0-\u30ff]{1,3}(?=[はが])"  # ザハビ所長は
)
_JA_QUOTE = re.compile(r"(?:と|とし|とした上で)[、,]?\s*")


@dataclass(frozen=True, slots=True)
class _Name:
    start: int
    end: int
    source_id: str | None
    kind: str
    anonymous: bool


class Attributor:
    """The watchlist's sources and actors, and the cue patterns, ready to attribute."""

    def __init__(self, watchlist: Watchlist):
        self.watchlist = watchlist
        sources = {s.id: s for s in watchlist.sources}
        self.kinds: dict[str, str] = {a.id: "actor" for a in watchlist.actors}
        self.kinds.update({s.id: s.kind for s in watchlist.sources})
        self.names: dict[str, str] = {a.id: a.name for a in watchlist.actors}
        self.names.update({s.id: s.name for s in watchlist.sources})
        entities: list[Actor] = []
        for a in watchlist.actors:
            extra = sources.get(a.id)
            aliases: dict[str, tuple] = dict(a.aliases)
            if extra is not None:
                for lang, phrases in extra.aliases.items():
                    aliases[lang] = (*aliases.get(lang, ()), *phrases)
            entities.append(
                Actor(id=a.id, name=a.name, aliases=aliases, exclude=a.exclude, weight=a.weight)
            )
        actor_ids = {a.id for a in watchlist.actors}
        for s in watchlist.sources:
            if s.id not in actor_ids and any(s.aliases.values()):
                entities.append(Actor(id=s.id, name=s.name, aliases=s.aliases))
        self._matcher = Matcher(Watchlist(actors=tuple(entities)))

    def __reduce__(self):  # rebuilt from the watchlist in a worker
        return (Attributor, (self.watchlist,))

    # -- one sentence ---------------------------------------------------------------------
    def _names(self, sentence: str, lang: str | None) -> list[_Name]:
        r = self._matcher.match(sentence, language=lang)
        found: list[_Name] = []
        for m in r.mentions:
            anon = self.kinds.get(m.entity_id) == ANONYMOUS
            found.append(
                _Name(
                    m.start,
                    m.end,
                    None if anon else m.entity_id,
                    ANONYMOUS if anon else self.kinds.get(m.entity_id, "actor"),
                    anon,
                )
            )
        found.sort(key=lambda n: (n.start, -n.end))
        # drop a name inside or overlapping an earlier, longer one (named wins over unnamed)
        out: list[_Name] = []
        for n in found:
            if out and n.start < out[-1].end:
                if out[-1].anonymous and not n.anonymous:
                    out[-1] = n
                continue
            out.append(n)
        # an unnamed source next to a named one is that one ("Hamas officials", "합참 관계자",
        # "officials of the JCS"); "sources close to Hezbollah" stays unnamed
        merged: list[_Name] = []
        for n in out:
            prev = merged[-1] if merged else None
            if prev is not None and prev.anonymous != n.anonymous:
                gap = sentence[prev.end : n.start]
                anon_text = sentence[prev.start : prev.end] if prev.anonymous else ""
                if prev.anonymous and _CLOSE_TO.search(anon_text + gap) and _units(gap) <= 2:
                    merged[-1] = _Name(prev.start, n.end, None, ANONYMOUS, anonymous=True)
                    continue
                joined = not gap.strip() if not prev.anonymous else bool(_OF.fullmatch(gap))
                if joined:
                    named = n if prev.anonymous else prev
                    merged[-1] = _Name(
                        prev.start, n.end, named.source_id, named.kind, anonymous=False
                    )
                    continue
            merged.append(n)
        return merged

    def sentence(self, sentence: str, language: str | None) -> list[Found]:
        """The attributions of one sentence, in order; one per source."""
        lang = canonical_language(language)
        names = self._names(sentence, lang)
        if not names:
            return []
        langs = [lang] if lang in _CUES else list(_CUES)
        picked: list[tuple[_Name, str]] = []
        for lg in langs:
            for cue in _compiled(lg):
                for m in cue.pattern.finditer(sentence):
                    for name in self._resolve(sentence, names, m.start(), m.end(), cue, lg):
                        picked.append((name, m.group().strip()))
        out: list[Found] = []
        seen: set[tuple[str | None, int]] = set()
        for name, cue_text in sorted(picked, key=lambda p: p[0].start):
            key = (name.source_id, -1 if name.source_id else name.start)
            if key in seen:
                continue
            seen.add(key)
            out.append(
                Found(
                    sentence[name.start : name.end],
                    name.start,
                    name.end,
                    name.source_id,
                    name.kind,
                    cue_text,
                )
            )
        return out

    def _resolve(
        self, s: str, names: list[_Name], cs: int, ce: int, cue: _Cue, lang: str
    ) -> Iterable[_Name]:
        def after(window: int, start: int = ce) -> _Name | None:
            for n in names:
                if n.start >= start:
                    gap = s[start : n.start]
                    if _units(gap) <= window and not _STOP_AFTER.search(gap):
                        return n
                    return None
            return None

        def before(window: int) -> _Name | None:
            for n in reversed(names):
                if n.end <= cs:
                    gap = s[n.end : cs]
                    if _units(gap) <= window and not _STOP_BEFORE.search(gap):
                        return n
                    return None
            return None

        def with_partners(n: _Name | None, backwards: bool) -> list[_Name]:
            if n is None:
                return []
            out = [n]
            i = names.index(n)
            step = -1 if backwards else 1
            j = i + step
            while 0 <= j < len(names):
                a, b = (names[j], out[-1]) if backwards else (out[-1], names[j])
                if not _AND.fullmatch(s[a.end : b.start]):
                    break
                out.append(names[j])
                j += step
            return out

        if cue.direction == AFTER:
            return with_partners(after(cue.window), backwards=False)
        if cue.direction == BEFORE:
            return with_partners(before(cue.window), backwards=True)
        if cue.direction == EITHER:
            n = before(cue.window)
            found = with_partners(n, backwards=True)
            if n is not None:
                # "Zehavi told RFA", "Zehavi sagte Radio Free Asia", "זהבי אמרה לרדיו …"
                m = after(1)
                if m is not None and self.kinds.get(m.source_id or "") == "media":
                    found.append(m)
                return found
            # "…, said Zehavi": inverted, after punctuation (verb-first in Arabic and Hebrew)
            lead = s[:cs].rstrip()
            verb_first = lang in ("ar", "he")
            if verb_first or not lead or lead[-1] in ',"”»:—–-(':
                return with_partners(after(3), backwards=False)
            return []
        if cue.direction == SUBJECT:
            return self._subject(s, names, cs, lang, cue.window)
        return []

    def _subject(self, s: str, names: list[_Name], cs: int, lang: str, window: int) -> list[_Name]:
        """Korean / Japanese verb-final cue: the name between the quotation's end and the
        verb, else the sentence's topic (the first name with a subject particle)."""
        quote = _KO_QUOTE if lang == "ko" else _JA_QUOTE
        topic: tuple[str, ...] = _KO_TOPIC if lang == "ko" else _JA_TOPIC
        if last_q_found := [m.end() for m in quote.finditer(s, 0, cs)]:
            # the quoted clause's own subject takes 이/가 (が): only a topic speaks
            topic = topic[:2] if lang == "ko" else topic[:1]
        last_q = last_q_found[-1] if last_q_found else -1
        out: list[_Name] = []
        # the outlet spoken to: "자유아시아방송(RFA)에 … 말했다", "RFAに語った"
        for n in names:
            media = self.kinds.get(n.source_id or "") == "media"
            if n.end <= cs and media and _TOLD_KO_JA.match(s, n.end):
                out.append(n)
        if last_q >= 0:
            inside = [n for n in names if n.start >= last_q and n.end <= cs]
            if inside:
                return [inside[0], *out]
        clause = max(s.rfind(", ", 0, cs), s.rfind("고 ", 0, last_q if last_q >= 0 else 0))
        ordered = names
        if lang == "ko" and clause > 0 and last_q < 0:  # "…도왔고, 이스라엘군도 이를 확인했다"
            ordered = [n for n in names if n.start > clause] + [
                n for n in names if n.start <= clause
            ]
        for n in ordered:
            if n.end > cs or (last_q >= 0 and n.start >= last_q):
                continue
            if n in out:
                continue
            # the name, perhaps a title after it (자하비 소장은, 알마 연구소 측은), then a particle
            m = _TITLE_THEN.match(s, n.end)
            rest = s[m.end() : m.end() + 2] if m else s[n.end : n.end + 2]
            if rest.startswith(topic) and _units(s[: n.start]) <= window:
                return [n, *out]
        return out

    # -- an article ----------------------------------------------------------------------
    def article(
        self,
        flag: FlagResult,
        text: str | None,
        title: str | None = None,
        language: str | None = None,
    ) -> tuple[Attribution, ...]:
        """The attributions of every allegation mention of ``flag`` (offsets in its field)."""
        out: list[Attribution] = []
        cache: dict[str, list[Found]] = {}
        for m in flag.mentions:
            if m.kind != MentionKind.ALLEGATION:
                continue
            body = (title if m.field == "title" else text) or ""
            base = body.find(m.sentence, max(0, m.end - len(m.sentence)))
            if base < 0 or base > m.start:
                base = body.find(m.sentence)
            if base < 0:
                base = 0
            if m.sentence not in cache:
                cache[m.sentence] = self.sentence(m.sentence, language)
            for f in cache[m.sentence]:
                out.append(
                    Attribution(
                        entity_id=m.entity_id,
                        mention_start=m.start,
                        mention_end=m.end,
                        source_text=f.source_text,
                        start=base + f.start,
                        end=base + f.end,
                        source_id=f.source_id,
                        kind=f.kind,
                        cue=f.cue,
                        sentence=m.sentence,
                        field=m.field,
                    )
                )
        return tuple(out)
