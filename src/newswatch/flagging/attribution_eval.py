"""Precision and recall of attribution on a labelled set (``tests/provenance/attributions.jsonl``).

One JSON object a line: ``id``, ``language``, ``sentence``, ``attributions`` (a list of
``{"source": span as written, "source_id": id or null}``; null = an unnamed source), and an
optional ``note``. A prediction counts when its exact source id (or "anonymous") is among
the sentence's labels; each label is found at most once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from newswatch.errors import ConfigError
from newswatch.flagging.attribution import ANONYMOUS, Attributor

__all__ = [
    "AttributionScores",
    "evaluate_attribution",
    "load_attribution_set",
    "read_jsonl",
]


@dataclass
class _Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class AttributionScores:
    overall: _Counts = field(default_factory=_Counts)
    by_language: dict[str, _Counts] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    sentences: int = 0

    def rows(self) -> list[tuple[str, int, int, int, float, float]]:
        """(scope, tp, fp, fn, precision, recall): all, then each language."""
        out = [("all", *self._row(self.overall))]
        for lang in sorted(self.by_language):
            out.append((lang, *self._row(self.by_language[lang])))
        return out

    @staticmethod
    def _row(c: _Counts) -> tuple[int, int, int, float, float]:
        return (c.tp, c.fp, c.fn, round(c.precision, 3), round(c.recall, 3))


def read_jsonl(path: Path, *, need: tuple[str, ...] = ()) -> list[dict]:
    """The objects of a JSONL file; a line that is not a JSON object holding ``need`` is a
    ConfigError naming the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read it: {e}", file=str(path)) from None
    items: list[dict] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(f"not JSON: {e.msg}", file=str(path), entry=f"line {n}") from None
        if not isinstance(item, dict):
            raise ConfigError("expected a JSON object", file=str(path), entry=f"line {n}")
        missing = [k for k in need if k not in item]
        if missing:
            raise ConfigError(f"missing {', '.join(missing)}", file=str(path), entry=f"line {n}")
        items.append(item)
    return items


def load_attribution_set(path: Path | str) -> list[dict]:
    """The sentences of ``attributions*.jsonl`` (a file, or every such file of a folder)."""
    path = Path(path)
    files = sorted(path.glob("attributions*.jsonl")) if path.is_dir() else [path]
    items: list[dict] = []
    for f in files:
        items.extend(read_jsonl(f, need=("sentence",)))
    return items


def _key(source_id: str | None) -> str:
    return source_id or ANONYMOUS


def evaluate_attribution(attributor: Attributor, items: Iterable[dict]) -> AttributionScores:
    scores = AttributionScores()
    for it in items:
        scores.sentences += 1
        lang = it.get("language")
        c = scores.by_language.setdefault(lang or "?", _Counts())
        gold = [_key(a.get("source_id")) for a in it.get("attributions", [])]
        found = attributor.sentence(it["sentence"], lang)
        pred = [_key(f.source_id) for f in found]
        left = list(gold)
        fps = []
        for p in pred:
            if p in left:
                left.remove(p)
                c.tp += 1
                scores.overall.tp += 1
            else:
                fps.append(p)
        c.fp += len(fps)
        c.fn += len(left)
        scores.overall.fp += len(fps)
        scores.overall.fn += len(left)
        if fps or left:
            scores.errors.append(
                {
                    "id": it.get("id"),
                    "sentence": it["sentence"],
                    "extra": fps,
                    "missed": left,
                    "found": [(f.source_text, f.cue) for f in found],
                }
            )
    return scores
