"""Load the labelled story pairs (articles.yaml + pairs.yaml) and score a clustering on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import yaml

from newswatch.settings import StorySettings
from newswatch.store.schema import STORIES_SQL as MIGRATION_SQL
from newswatch.store.stories import assign_stories
from newswatch.stories import StoryItem, signature

HERE = Path(__file__).parent
BASE_TIME = datetime(2024, 5, 6, 8, 0)


@dataclass(frozen=True)
class Article:
    id: str
    lang: str
    title: str
    text: str
    published_at: datetime


def _derive(spec: dict, src: Article, key: str) -> Article:
    paras = src.text.split("\n\n")
    if "keep" in spec:
        paras = paras[: spec["keep"]]
    if "insert" in spec:
        at, extra = spec["insert"]
        paras = [*paras[:at], extra, *paras[at:]]
    text = "\n\n".join(paras)
    for old, new in spec.get("replace", []):
        assert old in text, f"{key}: {old!r} not in {src.id}"
        text = text.replace(old, new)
    if "prepend" in spec:
        text = spec["prepend"] + " " + text
    if "append" in spec:
        text = text + "\n\n" + spec["append"]
    return Article(
        key,
        src.lang,
        spec.get("title", src.title),
        text,
        src.published_at + timedelta(hours=spec.get("hours", 0)),
    )


def load_articles() -> dict[str, Article]:
    raw = yaml.safe_load((HERE / "articles.yaml").read_text(encoding="utf-8"))
    out: dict[str, Article] = {}
    for key, spec in raw.items():
        if "from" in spec:
            out[key] = _derive(spec, out[spec["from"]], key)
        else:
            out[key] = Article(
                key,
                spec["lang"],
                spec["title"],
                spec["text"],
                BASE_TIME + timedelta(hours=spec.get("hours", 0)),
            )
    # follow-ups are published two days later
    for key, a in list(out.items()):
        if key.endswith("_followup"):
            out[key] = Article(a.id, a.lang, a.title, a.text, a.published_at + timedelta(days=2))
    return out


def load_pairs() -> list[tuple[str, str, bool, str]]:
    return [tuple(p) for p in yaml.safe_load((HERE / "pairs.yaml").read_text(encoding="utf-8"))]


def predict(settings: StorySettings) -> list[tuple[str, str, bool, str, bool]]:
    """Cluster each pair on its own (fresh database, two batches) → (a, b, same, kind, predicted)."""
    arts = load_articles()
    sigs = {k: signature(a.text, a.title, settings) for k, a in arts.items()}
    out = []
    for a, b, same, kind in load_pairs():
        con = duckdb.connect()
        con.execute(MIGRATION_SQL)
        first, second = sorted((arts[a], arts[b]), key=lambda x: x.published_at)
        r1 = assign_stories(
            con, [StoryItem(first.id, sigs[first.id], first.published_at, first.title)], settings
        )
        r2 = assign_stories(
            con,
            [StoryItem(second.id, sigs[second.id], second.published_at, second.title)],
            settings,
        )
        out.append((a, b, same, kind, r1[first.id] == r2[second.id]))
        con.close()
    return out


def precision_recall(rows) -> tuple[float, float]:
    tp = sum(1 for r in rows if r[2] and r[4])
    fp = sum(1 for r in rows if not r[2] and r[4])
    fn = sum(1 for r in rows if r[2] and not r[4])
    return tp / max(1, tp + fp), tp / max(1, tp + fn)
