"""``newswatch eval tests/provenance``: attribution precision and recall, derivation accuracy.

Called by ``newswatch eval`` when its PATH is a provenance set: a file named
``attributions*.jsonl`` or ``copies*.jsonl``, or a folder holding such files. The
thresholds are ``thresholds.yaml`` beside PATH (or ``--thresholds``)::

    attribution:
      precision: 0.95            # exact source id, all languages together
      recall: 0.95
      languages: {precision: 0.9, recall: 0.8}    # each language
    derivation:
      parent_accuracy: 0.9
      first_report_accuracy: 1.0
      adds_reporting_accuracy: 0.9

Exit status 1 when a score is below its threshold, 2 for a bad file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from newswatch.cli.common import err_console, errors_to_exit
from newswatch.cli.output import write_rows
from newswatch.errors import ConfigError
from newswatch.flagging.attribution import Attributor
from newswatch.flagging.attribution_eval import (
    evaluate_attribution,
    load_attribution_set,
    read_jsonl,
)
from newswatch.flagging.watchlist import Watchlist
from newswatch.settings import read_yaml
from newswatch.stories.provenance import evaluate_derivations

__all__ = ["check_provenance", "eval_provenance", "is_provenance_set", "provenance_report"]

_PREFIXES = ("attributions", "copies")
_DERIVATION_KEYS = ("parent_accuracy", "first_report_accuracy", "adds_reporting_accuracy")


def _sets(path: Path) -> tuple[list[Path], list[Path]]:
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    return (
        [f for f in files if f.name.startswith("attributions")],
        [f for f in files if f.name.startswith("copies")],
    )


def is_provenance_set(path: Path) -> bool:
    """PATH is (or holds) attributions*.jsonl or copies*.jsonl."""
    attr, copies = _sets(path)
    return bool(attr or copies)


def provenance_report(path: Path, watchlist: Watchlist) -> dict[str, Any]:
    """The scores of the provenance sets at PATH (a section per set found)."""
    attr_files, copy_files = _sets(path)
    out: dict[str, Any] = {}
    if attr_files:
        items = [it for f in attr_files for it in load_attribution_set(f)]
        s = evaluate_attribution(Attributor(watchlist), items)
        out["attribution"] = {
            "sentences": s.sentences,
            "scores": [
                dict(zip(("scope", "tp", "fp", "fn", "precision", "recall"), r, strict=True))
                for r in s.rows()
            ],
            "errors": s.errors,
        }
    if copy_files:
        cases = [c for f in copy_files for c in read_jsonl(f, need=("docs",))]
        try:
            out["derivation"] = {"cases": len(cases), **evaluate_derivations(cases)}
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(
                f"a case is not {{id, docs: [{{id, source, published_at, text, parent}}]}}: {e!r}",
                file=", ".join(map(str, copy_files)),
            ) from None
    return out


def _load_limits(path: Path) -> dict[str, Any]:
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping", file=str(path))
    known = {"attribution": {"precision", "recall", "languages"}, "derivation": _DERIVATION_KEYS}
    for section, body in data.items():
        if section not in known:
            continue  # the flagging sections of a shared thresholds file
        if not isinstance(body, dict):
            raise ConfigError("expected a mapping", file=str(path), entry=section)
        for key in body:
            if key not in known[section]:
                raise ConfigError(
                    f"unknown key (use {', '.join(sorted(known[section]))})",
                    file=str(path),
                    entry=f"{section}.{key}",
                )
    return data


def check_provenance(report: dict[str, Any], limits: dict[str, Any]) -> list[str]:
    """One line per score below its threshold."""
    failures: list[str] = []
    lim = limits.get("attribution") or {}
    for row in report.get("attribution", {}).get("scores", []):
        floor = lim if row["scope"] == "all" else (lim.get("languages") or {})
        for metric in ("precision", "recall"):
            if metric in floor and row[metric] < float(floor[metric]):
                failures.append(
                    f"attribution {metric} ({row['scope']}) {row[metric]:.3f} < {floor[metric]}"
                )
    der = report.get("derivation")
    for key, floor in (limits.get("derivation") or {}).items():
        if der is not None and der[key] < float(floor):
            failures.append(f"derivation {key} {der[key]:.3f} < {floor}")
    return failures


def eval_provenance(
    path: Path, watchlist: Watchlist, thresholds: Path | None, fmt: str = "table"
) -> int:
    """Measure the provenance sets at PATH, print them (``table`` or ``json``) and return
    the exit status: 1 below a threshold, else 0."""
    with errors_to_exit():
        report = provenance_report(path, watchlist)
        guess = (path if path.is_dir() else path.parent) / "thresholds.yaml"
        where = thresholds if thresholds is not None else (guess if guess.exists() else None)
        limits = _load_limits(where) if where is not None else {}
    failures = check_provenance(report, limits)
    if not (set(limits) & {"attribution", "derivation"}):
        err_console.print(
            "No provenance thresholds: the scores were not checked against a floor "
            "(give a thresholds.yaml with attribution: and derivation: sections).",
            markup=False,
        )
    if fmt == "json":
        typer.echo(
            json.dumps({**report, "below_thresholds": failures}, ensure_ascii=False, indent=2)
        )
    else:
        if "attribution" in report:
            a = report["attribution"]
            print(f"Attribution (exact source id), {a['sentences']} sentences:")
            cols = ["scope", "tp", "fp", "fn", "precision", "recall"]
            write_rows(cols, [[r[c] for c in cols] for r in a["scores"]], "table", sys.stdout)
        if "derivation" in report:
            d = report["derivation"]
            print(f"Derivation, {d['cases']} cases, {d['articles']} later articles:")
            write_rows(
                ["metric", "value"], [(k, d[k]) for k in _DERIVATION_KEYS], "table", sys.stdout
            )
        for line in failures:
            typer.echo(f"below threshold: {line}", err=True)
    return 1 if failures else 0
