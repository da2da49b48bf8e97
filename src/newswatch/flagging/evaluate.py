"""Measure a matcher against a labelled set: precision, recall and F1.

A labelled set is a JSONL file, or a folder of them (``tests/eval/*.jsonl``); one passage
a line::

    {"id": "en-01", "language": "en", "title": "…" | null, "text": "…",
     "actors": ["hezbollah", "north_korea"], "allegations": ["tunnel_network"], "note": "…"}

Counts are per passage and id: an expected id found is a true positive, an id found but
not expected a false positive, an id expected but not found a false negative. Reported per
actor, per allegation, per language (actors and allegations separately) and micro-averaged.

Thresholds (``thresholds.yaml`` beside the set) say which numbers a change may not go below::

    micro: {actors: {f1: 0.95}, allegations: {f1: 0.85}}
    per_language: {actors: {f1: 0.85}}          # every language
    languages:                                  # one language, stricter or looser
      ja: {actors: {f1: 0.95, recall: 0.95}}
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newswatch.errors import ConfigError
from newswatch.flagging.matcher import Matcher
from newswatch.settings import read_yaml

__all__ = [
    "EvalItem",
    "EvalReport",
    "Scores",
    "check_thresholds",
    "evaluate",
    "load_eval_set",
    "load_thresholds",
    "unchecked_thresholds",
]


@dataclass(frozen=True, slots=True)
class EvalItem:
    id: str
    language: str
    text: str
    actors: frozenset[str]
    allegations: frozenset[str]
    title: str | None = None
    note: str | None = None


@dataclass(slots=True)
class Scores:
    """True positives, false positives, false negatives, and what follows from them."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 1.0 when nothing was found (see :meth:`defined`)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 1.0 when nothing was expected (see :meth:`defined`)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def defined(self, metric: str) -> bool:
        """Whether ``metric`` measures anything: precision needs something found, recall
        something expected, F1 either (with nothing of both, 2·tp / (2·tp + fp + fn) is
        0/0). An undefined score is reported as such (n/a, null, "not checked"), never
        as the 1.0 its property returns."""
        if metric == "precision":
            return self.tp + self.fp > 0
        if metric == "recall":
            return self.tp + self.fn > 0
        return self.tp + self.fp + self.fn > 0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def support(self) -> int:
        return self.tp + self.fn

    def add(self, expected: frozenset[str] | set[str], found: frozenset[str] | set[str]) -> None:
        self.tp += len(expected & found)
        self.fp += len(found - expected)
        self.fn += len(expected - found)

    def as_dict(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


@dataclass(frozen=True, slots=True)
class Miss:
    """A passage where the matcher and the label disagree."""

    id: str
    kind: str  # "actor" or "allegation"
    missing: tuple[str, ...]  # expected, not found
    extra: tuple[str, ...]  # found, not expected


@dataclass(slots=True)
class EvalReport:
    n_items: int = 0
    actors: dict[str, Scores] = field(default_factory=dict)
    allegations: dict[str, Scores] = field(default_factory=dict)
    languages_actors: dict[str, Scores] = field(default_factory=dict)
    languages_allegations: dict[str, Scores] = field(default_factory=dict)
    micro_actors: Scores = field(default_factory=Scores)
    micro_allegations: Scores = field(default_factory=Scores)
    misses: list[Miss] = field(default_factory=list)
    matcher_version: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.n_items,
            "matcher_version": self.matcher_version,
            "micro": {
                "actors": self.micro_actors.as_dict(),
                "allegations": self.micro_allegations.as_dict(),
            },
            "actors": {k: v.as_dict() for k, v in sorted(self.actors.items())},
            "allegations": {k: v.as_dict() for k, v in sorted(self.allegations.items())},
            "languages": {
                lang: {
                    "actors": self.languages_actors[lang].as_dict(),
                    "allegations": self.languages_allegations[lang].as_dict(),
                }
                for lang in sorted(self.languages_actors)
            },
            "misses": [
                {"id": m.id, "kind": m.kind, "missing": list(m.missing), "extra": list(m.extra)}
                for m in self.misses
            ],
        }


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise ConfigError("no *.jsonl files in this folder", file=str(path))
        return files
    if not path.exists():
        raise ConfigError("file not found", file=str(path))
    return [path]


def load_eval_set(path: Path | str) -> list[EvalItem]:
    """Read a labelled set (a JSONL file or a folder of them)."""
    items: list[EvalItem] = []
    seen: set[str] = set()
    for f in _files(Path(path)):
        for lineno, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"line {lineno}"
            try:
                d = json.loads(line)
                item = EvalItem(
                    id=str(d["id"]),
                    language=str(d["language"]),
                    text=str(d.get("text") or ""),
                    title=d.get("title"),
                    actors=frozenset(d.get("actors") or ()),
                    allegations=frozenset(d.get("allegations") or ()),
                    note=d.get("note"),
                )
            except json.JSONDecodeError as e:
                raise ConfigError(f"invalid JSON: {e.msg}", file=str(f), entry=where) from None
            except (KeyError, TypeError) as e:
                raise ConfigError(
                    f"each line needs 'id', 'language' and 'text' ({e})", file=str(f), entry=where
                ) from None
            if item.id in seen:
                raise ConfigError(f"duplicate id {item.id!r}", file=str(f), entry=where)
            seen.add(item.id)
            items.append(item)
    return items


def evaluate(path: Path | str, matcher: Matcher) -> EvalReport:
    """Run ``matcher`` over the labelled set at ``path`` and score it."""
    items = load_eval_set(path)
    wl = matcher.watchlist
    known_actors = {a.id for a in wl.actors}
    known_allegations = {a.id for a in wl.allegations}
    for it in items:
        unknown = (it.actors - known_actors) | (it.allegations - known_allegations)
        if unknown:
            raise ConfigError(
                f"labels not in the watchlist: {', '.join(sorted(unknown))}",
                file=str(path),
                entry=it.id,
            )
    report = EvalReport(n_items=len(items), matcher_version=matcher.version)
    for aid in sorted(known_actors):
        report.actors[aid] = Scores()
    for gid in sorted(known_allegations):
        report.allegations[gid] = Scores()
    for it in items:
        r = matcher.match(it.text, title=it.title, language=it.language)
        found_a, found_g = frozenset(r.actors), frozenset(r.allegations)
        for ids, exp, found in (
            (report.actors, it.actors, found_a),
            (report.allegations, it.allegations, found_g),
        ):
            for k, sc in ids.items():
                sc.add({k} & exp, {k} & found)
        report.micro_actors.add(it.actors, found_a)
        report.micro_allegations.add(it.allegations, found_g)
        report.languages_actors.setdefault(it.language, Scores()).add(it.actors, found_a)
        report.languages_allegations.setdefault(it.language, Scores()).add(it.allegations, found_g)
        for kind, exp, found in (
            ("actor", it.actors, found_a),
            ("allegation", it.allegations, found_g),
        ):
            if exp != found:
                report.misses.append(
                    Miss(it.id, kind, tuple(sorted(exp - found)), tuple(sorted(found - exp)))
                )
    return report


# --- thresholds ------------------------------------------------------------------------

_METRICS = ("precision", "recall", "f1")


def load_thresholds(path: Path | str) -> dict[str, dict[str, dict[str, float]]]:
    """Read ``thresholds.yaml``: {micro|per_language: {actors|allegations: {metric: min}}},
    and ``languages: {xx: {...}}`` (kept as scope ``language:xx``)."""
    path = Path(path)
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping", file=str(path))
    out: dict[str, dict[str, dict[str, float]]] = {}
    sections: list[tuple[str, str, Any]] = []
    for scope, groups in data.items():
        if scope not in ("micro", "per_language", "languages"):
            raise ConfigError(
                "unknown section (use micro, per_language or languages)",
                file=str(path),
                entry=str(scope),
            )
        if not isinstance(groups, dict):
            raise ConfigError("expected a mapping", file=str(path), entry=str(scope))
        if scope == "languages":
            for lang, lgroups in groups.items():
                if not isinstance(lgroups, dict):
                    raise ConfigError(
                        "expected a mapping", file=str(path), entry=f"languages.{lang}"
                    )
                sections.append((f"language:{lang}", f"languages.{lang}", lgroups))
        else:
            sections.append((str(scope), str(scope), groups))
    for scope, label, groups in sections:
        for group, metrics in groups.items():
            where = f"{label}.{group}"
            if group not in ("actors", "allegations") or not isinstance(metrics, dict):
                raise ConfigError(
                    "expected actors or allegations with metrics", file=str(path), entry=where
                )
            for metric, value in metrics.items():
                if (
                    metric not in _METRICS
                    or not isinstance(value, (int, float))
                    or not 0 <= value <= 1
                ):
                    raise ConfigError(
                        "expected precision, recall or f1 with a number from 0 to 1",
                        file=str(path),
                        entry=f"{where}.{metric}",
                    )
                out.setdefault(scope, {}).setdefault(group, {})[metric] = float(value)
    return out


def _threshold_targets(
    report: EvalReport, thresholds: dict[str, dict[str, dict[str, float]]]
) -> Iterator[tuple[str, str, Scores, str, float]]:
    """(group, name, scores, metric, minimum) for every threshold and what it applies to."""
    for scope, groups in thresholds.items():
        for group, metrics in groups.items():
            if scope == "micro":
                targets = {
                    "micro": report.micro_actors if group == "actors" else report.micro_allegations
                }
            elif scope.startswith("language:"):
                lang = scope.removeprefix("language:")
                by_lang = (
                    report.languages_actors if group == "actors" else report.languages_allegations
                )
                # a language the set has no passages in cannot pass a threshold on it
                targets = {lang: by_lang.get(lang, Scores(fn=1))}
            else:
                targets = (
                    report.languages_actors if group == "actors" else report.languages_allegations
                )
            for name, sc in sorted(targets.items()):
                for metric, minimum in metrics.items():
                    yield group, name, sc, metric, minimum


def check_thresholds(
    report: EvalReport, thresholds: dict[str, dict[str, dict[str, float]]]
) -> list[str]:
    """Every threshold the report falls below, as readable lines (empty: all met). A score
    that is not defined (nothing expected and nothing found) neither passes nor fails:
    :func:`unchecked_thresholds` lists those."""
    failures: list[str] = []
    for group, name, sc, metric, minimum in _threshold_targets(report, thresholds):
        if not sc.defined(metric):
            continue
        value = getattr(sc, metric)
        if value + 1e-9 < minimum:
            failures.append(f"{group} {metric} ({name}) {value:.3f} < {minimum:.3f}")
    return failures


def unchecked_thresholds(
    report: EvalReport, thresholds: dict[str, dict[str, dict[str, float]]]
) -> list[str]:
    """The thresholds that could not be checked because their score is not defined: the
    labelled set expects nothing there and the watchlist found nothing (a language whose
    passages name no allegation, say). Not a pass: the set says nothing about it."""
    out: list[str] = []
    for group, name, sc, metric, minimum in _threshold_targets(report, thresholds):
        if not sc.defined(metric):
            what = {"precision": "nothing found", "recall": "nothing expected"}.get(
                metric, "nothing expected or found"
            )
            out.append(f"{group} {metric} ({name}) >= {minimum:.3f}: {what}")
    return out
