"""How fast is flagging? MB of article text per second, one process.

    uv run python bench/bench_flag.py [--mb 8] [--passages DIR] [--memory]

Text: the labelled passages of tests/eval (thirteen languages, many hits) mixed with
neutral news-like filler, cut into ~3 KB articles, each matched with its passage's
language. Watchlists: the default one, and the default plus 2,000 generated actors (four
aliases each, in Latin, Hangul, Arabic and Cyrillic script) to show that cost does not
grow with the number of aliases. Prints a markdown table.

``--passages DIR`` takes the passages from another labelled set (to compare with a run on
an older set); ``--memory`` instead reports the peak memory of one process that builds
the default matcher and flags the dense corpus (what one worker holds).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from newswatch.flagging.evaluate import load_eval_set  # noqa: E402
from newswatch.flagging.matcher import Matcher  # noqa: E402
from newswatch.flagging.watchlist import load_watchlist, parse_watchlist  # noqa: E402

FILLER = [
    "The central bank left interest rates unchanged on Thursday, citing steady inflation.",
    "Officials said the new bridge would open to traffic next spring after delays.",
    "« Nous avons besoin de plus de temps », a déclaré le ministre lors d'une conférence.",
    "Die Regierung kündigte am Mittwoch neue Investitionen in die Bahn an.",
    "서울시는 내년부터 버스 노선을 대폭 개편한다고 밝혔다.",
    "وقال المتحدث إن المحادثات ستستأنف الأسبوع المقبل في القاهرة.",
    "הממשלה אישרה את התקציב לאחר דיון ארוך בכנסת.",
    "Правительство объявило о новых мерах поддержки малого бизнеса.",
    "El Gobierno aprobó el martes un nuevo plan de vivienda — con críticas de la oposición.",
]

LATIN = [
    "ba",
    "be",
    "bi",
    "bo",
    "bu",
    "ka",
    "ke",
    "ki",
    "ko",
    "ku",
    "la",
    "le",
    "li",
    "lo",
    "lu",
    "ma",
    "me",
    "mi",
    "mo",
    "mu",
    "na",
    "ne",
    "ni",
    "no",
    "nu",
    "ra",
    "re",
    "ri",
    "ro",
    "ru",
    "sa",
    "se",
    "si",
    "so",
    "su",
    "ta",
    "te",
    "ti",
    "to",
    "tu",
    "va",
    "ve",
    "vi",
    "vo",
    "vu",
    "za",
    "ze",
    "zi",
    "zo",
    "zu",
]
HANGUL = [
    "가",
    "나",
    "다",
    "라",
    "마",
    "바",
    "사",
    "아",
    "자",
    "차",
    "카",
    "타",
    "파",
    "하",
    "고",
    "노",
    "도",
    "로",
    "모",
    "보",
    "소",
    "오",
    "조",
    "초",
    "코",
    "토",
    "포",
    "호",
    "구",
    "누",
    "두",
    "루",
    "무",
    "부",
    "수",
    "우",
    "주",
]
ARABIC = list("بتثجحخدذرزسشصضطظعغفقكلمنهوي")
CYR = [
    "ба",
    "бе",
    "би",
    "бо",
    "бу",
    "ка",
    "ке",
    "ки",
    "ко",
    "ку",
    "ла",
    "ле",
    "ли",
    "ло",
    "лу",
    "ма",
    "ме",
    "ми",
    "мо",
    "му",
    "на",
    "не",
    "ни",
    "но",
    "ну",
    "ра",
    "ре",
    "ри",
    "ро",
    "ру",
]


def synthetic_watchlist(n: int, rnd: random.Random):
    base = load_watchlist(ROOT / "config" / "watchlist.yaml").model_dump(mode="json", by_alias=True)
    names = []
    for i in range(n):
        latin = "".join(rnd.choice(LATIN) for _ in range(3)).capitalize()
        names.append(latin)
        base["actors"].append(
            {
                "id": f"synthetic_{i}",
                "name": f"{latin} Group",
                "aliases": {
                    "en": [f"{latin} Group", f"{latin} Holdings*"],
                    "ko": ["".join(rnd.choice(HANGUL) for _ in range(4))],
                    "ar": ["".join(rnd.choice(ARABIC) for _ in range(6))],
                    "ru": ["".join(rnd.choice(CYR) for _ in range(3)).capitalize() + "*"],
                },
                "exclude": [f"{latin} Group Stadium"],
            }
        )
    return parse_watchlist(base), names


PASSAGES = ROOT / "tests" / "eval"


def corpus(
    mb: float, rnd: random.Random, extra_names: list[str], density: float = 0.15
) -> list[tuple[str, str | None]]:
    """(text, language) of ~3 KB articles; an article takes the language of its first
    labelled passage (None when it has none)."""
    passages = [((it.title or "") + "\n" + it.text, it.language) for it in load_eval_set(PASSAGES)]
    docs, size, target = [], 0, int(mb * 1_000_000)
    while size < target:
        parts, n = [], 0
        lang = None
        while n < 3000:
            r = rnd.random()
            if r < density:
                s, pl = rnd.choice(passages)
                lang = lang or pl
            elif r < density + 0.05 and extra_names:
                s = f"Shares of {rnd.choice(extra_names)} Group rose on the news."
            else:
                s = rnd.choice(FILLER)
            parts.append(s)
            n += len(s.encode("utf-8"))
        doc = " ".join(parts)
        docs.append((doc, lang))
        size += len(doc.encode("utf-8"))
    return docs


def run(matcher: Matcher, docs: list[tuple[str, str | None]]) -> tuple[float, float, int]:
    for d, lang in docs[:20]:  # warm the normalisation cache
        matcher.match(d, language=lang)
    total = sum(len(d.encode("utf-8")) for d, _ in docs)
    flagged = 0
    t0 = time.perf_counter()
    for d, lang in docs:
        if matcher.match(d, language=lang).actors:
            flagged += 1
    dt = time.perf_counter() - t0
    return total / 1e6 / dt, len(docs) / dt, flagged


def main() -> None:
    global PASSAGES
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=8.0, help="MB of text per run (default 8)")
    ap.add_argument("--actors", type=int, default=2000, help="generated actors (default 2000)")
    ap.add_argument(
        "--passages", type=Path, default=None, help="labelled set to take passages from"
    )
    ap.add_argument(
        "--memory", action="store_true", help="report one flagging process's peak memory instead"
    )
    args = ap.parse_args()
    PASSAGES = args.passages or PASSAGES
    rnd = random.Random(7)
    if args.memory:
        memory(args.mb, rnd)
        return

    t0 = time.perf_counter()
    default = Matcher.from_path(ROOT / "config" / "watchlist.yaml")
    build_default = time.perf_counter() - t0
    wl, names = synthetic_watchlist(args.actors, rnd)
    t0 = time.perf_counter()
    big = Matcher(wl)
    build_big = time.perf_counter() - t0

    rows = []
    # dense: 15% of sentences are labelled passages (hits everywhere, worst case);
    # sparse: 1%, closer to a general news feed where most articles flag nothing
    for corpus_label, density in (("dense", 0.15), ("sparse", 0.01)):
        docs = corpus(args.mb, rnd, names, density)
        mb = sum(len(d.encode("utf-8")) for d, _ in docs) / 1e6
        for label, m, build in (
            ("default", default, build_default),
            (f"default + {args.actors} synthetic", big, build_big),
        ):
            mbps, docs_s, flagged = run(m, docs)
            rows.append(
                (
                    corpus_label,
                    label,
                    len(m.watchlist.actors),
                    m.n_phrases,
                    build,
                    mbps,
                    docs_s,
                    f"{flagged}/{len(docs)}",
                    mb,
                )
            )

    print(f"Python {sys.version.split()[0]}, one process\n")
    print("| text | watchlist | actors | phrases | build (s) | MB/s | articles/s | flagged |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for corpus_label, label, n_actors, n_phr, build, mbps, docs_s, flagged, mb in rows:
        print(
            f"| {corpus_label} ({mb:.1f} MB) | {label} | {n_actors} | {n_phr} | {build:.2f} "
            f"| {mbps:.2f} | {docs_s:.0f} | {flagged} |"
        )


def memory(mb: float, rnd: random.Random) -> None:
    """Peak resident memory of this process: the default matcher and a dense corpus, as
    one worker would hold them (the corpus itself is counted out)."""
    import resource

    def peak_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    docs = corpus(mb, rnd, [], 0.15)
    base = peak_mb()
    m = Matcher.from_path(ROOT / "config" / "watchlist.yaml")
    built = peak_mb()
    for d, lang in docs:
        m.match(d, language=lang)
    done = peak_mb()
    print(f"Python {sys.version.split()[0]}, one process, {len(docs)} articles\n")
    print("| after | peak RSS (MB) |")
    print("|---|---:|")
    print(f"| imports + corpus | {base:.1f} |")
    print(f"| + default matcher built | {built:.1f} |")
    print(f"| + every article flagged | {done:.1f} |")
    print(f"\nmatcher and flagging: {done - base:.1f} MB")


if __name__ == "__main__":
    main()
