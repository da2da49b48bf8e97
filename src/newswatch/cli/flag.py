"""``newswatch flag`` and ``newswatch eval``: try the watchlist on files, measure it.

The main CLI adds these with :func:`register`::

    app = typer.Typer()
    register(app)

Exit codes: 0 fine; 1 an input could not be read, or ``eval`` fell below a threshold;
2 the watchlist (or thresholds file) is invalid.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from newswatch.cli.common import (
    ConfigOpt,
    DbOpt,
    FormatOpt,
    check_format,
    err_console,
    errors_to_exit,
    fail,
    hint_for,
    load_checked,
    safe_text,
)
from newswatch.errors import ConfigError, NewswatchError, UsageError
from newswatch.flagging.evaluate import (
    EvalReport,
    Scores,
    check_thresholds,
    evaluate,
    load_thresholds,
    unchecked_thresholds,
)
from newswatch.flagging.explain import explain, format_explanations
from newswatch.flagging.matcher import Matcher
from newswatch.ingest.language import detect_language
from newswatch.models import FlagResult
from newswatch.settings import default_config_dir

__all__ = ["read_input", "register", "result_as_dict", "shipped_eval_dir"]

FLAG_HELP = """Flag files with the watchlist, without storing anything.

PATH is a text or HTML file, or - for standard input. HTML is reduced to its article text
first. Output (a table on a terminal, JSON when piped) gives the actors and allegations
found, and every mention with its sentence. JSON is an array with one object per path
(as every command's -f json is an array of rows, even of one), JSONL one line per path,
in order.

\b
Examples:
  newswatch flag article.html
  newswatch flag --format table saved/*.html
  newswatch flag --format jsonl a.txt b.html c.txt
  echo "North Korea helped Hezbollah dig tunnels." | newswatch flag -
  newswatch flag --config ~/my-config -
"""

EVAL_HELP = """Measure the watchlist on a labelled set: precision, recall and F1.

PATH is a JSONL file of labelled passages, or a folder of them (each line: id, language,
title, text, actors, allegations, note); without PATH, the team's labelled set that
newswatch ships (tests/eval/ in the repository). Prints scores per actor, per allegation,
per language and micro-averaged; n/a where nothing was expected or found. Exits 1 if a
score is below the thresholds file (default: thresholds.yaml in PATH's folder).

\b
Examples:
  newswatch eval                    # the shipped set, with its thresholds
  newswatch eval tests/eval
  newswatch eval --format json tests/eval > scores.json
  newswatch eval --thresholds strict.yaml tests/eval/en.jsonl
"""


EVAL_FORMATS = ("table", "json")
REFLAG_FORMATS = ("table", "json")


def _matcher(config: Path | None) -> Matcher:
    cdir = config if config is not None else default_config_dir()
    path = cdir / "watchlist.yaml"
    if config is None and not path.exists():
        # no configuration here: the watchlist newswatch ships with, so `newswatch flag FILE`
        # works from any folder (an explicit --config must exist)
        from newswatch.settings import shipped_config_dir

        path = shipped_config_dir() / "watchlist.yaml"
        typer.echo(f"(no {cdir / 'watchlist.yaml'}: using the default watchlist {path})", err=True)
    try:
        if config is not None and not config.is_dir():  # as every command says it
            raise ConfigError("configuration directory not found", file=str(config))
        return Matcher.from_path(path)
    except ConfigError as e:
        fail(str(e), hint=hint_for(e), code=e.exit_code)


def _looks_like_html(name: str, text: str) -> bool:
    if name.lower().endswith((".html", ".htm", ".xhtml")):
        return True
    head = text.lstrip()[:1000].lower()
    return head.startswith(("<!doctype html", "<html")) or "<body" in head


def _html_to_text(html: str) -> tuple[str | None, str]:
    """(title, article text) of an HTML page: trafilatura, else all of lxml's text."""
    import trafilatura

    title: str | None = None
    text: str | None = None
    try:
        doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False)
    except Exception:  # a page trafilatura cannot parse is still text to us
        doc = None
    if doc is not None:
        title = getattr(doc, "title", None)
        text = getattr(doc, "text", None)
    if not text:
        import lxml.html

        try:
            tree = lxml.html.fromstring(html)
            for bad in tree.xpath("//script|//style"):
                bad.drop_tree()
            title = title or (tree.findtext(".//title") or None)
            text = tree.text_content()
        except Exception:
            text = ""
    return (title.strip() if title else None), (text or "").strip()


def read_input(path: str) -> tuple[str | None, str]:
    """(title, text) of a file or ``-`` (stdin); HTML is reduced to its text. Raises
    :class:`BinaryInput` for bytes that are not text (NUL bytes, or mostly undecodable)."""
    if path == "-":
        raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
        name = "<stdin>"
    else:
        raw = Path(path).read_bytes()
        name = path
    head = raw[:8192]
    if b"\x00" in head:
        raise BinaryInput("binary data (NUL bytes), not text")
    text = raw.decode("utf-8", errors="replace")
    if head and text[:8192].count("\ufffd") > len(text[:8192]) // 10:
        raise BinaryInput("not UTF-8 text")
    if _looks_like_html(name, text):
        return _html_to_text(text)
    return None, text


def result_as_dict(
    path: str, r: FlagResult, *, language: str | None, version: str, title: str | None = None
) -> dict[str, Any]:
    return {
        "path": path,
        "title": title,
        "language": language,
        "flagged": r.flagged,
        "actors": list(r.actors),
        "allegations": list(r.allegations),
        "score": r.score,
        "watchlist_version": version,
        "mentions": [
            {
                "kind": m.kind,
                "id": m.entity_id,
                "matched_text": m.matched_text,
                "sentence": m.sentence,
                "field": m.field,
                "start": m.start,
                "end": m.end,
                "rule": m.rule,
                "weight": m.weight,
            }
            for m in r.mentions
        ],
    }


def flag_command(
    paths: list[str] | None = typer.Argument(
        None, metavar="PATH", help="Text or HTML files; - for stdin.", show_default=False
    ),
    config: Path | None = ConfigOpt,
    fmt: str | None = FormatOpt(
        None, note=" (default: table on a terminal, json when piped or redirected)"
    ),
    explain_rules: bool = typer.Option(
        False,
        "--explain",
        help="For every allegation rule, what matched and, when it did not fire, what was missing.",
    ),
) -> None:
    if not paths:
        fail(
            "newswatch flag needs something to read: one or more text or HTML files, "
            "or - for standard input",
            hint='newswatch flag article.html, or: echo "North Korea and Hamas" | newswatch flag -',
            code=2,
        )
    if fmt is None:
        fmt = "table" if sys.stdout.isatty() else "json"
    with errors_to_exit():
        fmt = check_format(fmt)
    matcher = _matcher(config)
    results = []
    skipped = 0
    for p in paths:
        try:
            title, text = read_input(p)
        except OSError as e:  # one unreadable file does not hide the others' results
            err_console.print(
                f"Warning: {p}: cannot read: {e.strerror or e}; skipped", markup=False
            )
            skipped += 1
            continue
        except BinaryInput as e:
            err_console.print(f"Warning: {p}: {e}; skipped", markup=False)
            skipped += 1
            continue
        lang = detect_language(text)
        r = matcher.match(text, title=title, language=lang)
        d = result_as_dict(p, r, language=lang, version=matcher.version, title=title)
        if explain_rules:
            exps = explain(matcher, text, title=title, language=lang)
            d["explain"] = [e.as_dict() for e in exps]
            d["_explain_text"] = format_explanations(exps)
        results.append(d)
    if fmt == "json":
        # an array whatever the number of paths, as every command that prints rows does:
        # a script reads one shape (jq '.[0]'), not an object for one path and a list for two
        clean = [{k: v for k, v in d.items() if not k.startswith("_")} for d in results]
        typer.echo(json.dumps(clean, ensure_ascii=False, indent=2))
    elif fmt == "jsonl":
        for d in results:
            typer.echo(
                json.dumps(
                    {k: v for k, v in d.items() if not k.startswith("_")}, ensure_ascii=False
                )
            )
    else:
        _flag_table(results, fmt)
        for d in results if fmt == "table" else ():
            if explain_rules:
                typer.echo(f"\n{safe_text(d['path'])}:")
                typer.echo(d["_explain_text"])
    if skipped:
        raise typer.Exit(1)  # the others were flagged and printed; say that not all were


class BinaryInput(Exception):
    """The input is not text (a database, an image, an archive …)."""


def _flag_table(results: list[dict[str, Any]], fmt: str) -> None:
    from newswatch.cli.output import write_rows

    rows = []
    for d in results:
        if not d["mentions"]:
            rows.append((d["path"], "", "(nothing flagged)", "", ""))
        for m in d["mentions"]:
            rows.append((d["path"], m["kind"], m["id"], m["matched_text"], m["sentence"]))
    write_rows(["path", "kind", "id", "matched", "sentence"], rows, fmt, sys.stdout, max_width=120)


def eval_command(
    path: Path | None = typer.Argument(
        None, metavar="PATH", help="Labelled JSONL file, or a folder of them.", show_default=False
    ),
    config: Path | None = ConfigOpt,
    thresholds: Path | None = typer.Option(
        None, "--thresholds", "-t", help="Thresholds YAML (default: thresholds.yaml beside PATH)."
    ),
    fmt: str = FormatOpt("table", EVAL_FORMATS),
    from_verdicts: Path | None = typer.Option(
        None,
        "--from-verdicts",
        help="Write the analysts' verdicts (the workbench's) to this JSONL labelled set first, "
        "then measure the watchlist on it.",
        show_default=False,
    ),
    db: str | None = DbOpt,
) -> None:
    with errors_to_exit():
        fmt = check_format(fmt, EVAL_FORMATS)
    matcher = _matcher(config)
    if from_verdicts is not None:
        path = _write_verdicts(from_verdicts, config, db, matcher)
    if path is None:
        path = shipped_eval_dir()
        err_console.print(f"(no PATH: the team's labelled set, {path})", markup=False)
    from newswatch.cli.eval_provenance import eval_provenance, is_provenance_set

    if is_provenance_set(path):  # attributions.jsonl / copies.jsonl: the provenance sets
        raise typer.Exit(eval_provenance(path, matcher.watchlist, thresholds, fmt))
    try:
        report = evaluate(path, matcher)
        if thresholds is None:
            guess = (path if path.is_dir() else path.parent) / "thresholds.yaml"
            limits = load_thresholds(guess) if guess.exists() else {}
        else:
            limits = load_thresholds(thresholds)
    except NewswatchError as e:
        fail(str(e), hint=hint_for(e), code=e.exit_code)
    failures = check_thresholds(report, limits)
    unchecked = unchecked_thresholds(report, limits)
    if not limits:
        err_console.print(
            "No thresholds file: the scores were not checked against a floor "
            "(give one with --thresholds, or put thresholds.yaml beside PATH).",
            markup=False,
        )
    if fmt == "json":
        d = _undefined_as_null(report.as_dict())
        d["below_thresholds"] = failures
        d["unchecked_thresholds"] = unchecked
        typer.echo(json.dumps(d, ensure_ascii=False, indent=2))
    else:
        _eval_tables(report)
        for line in failures:
            typer.echo(f"below threshold: {line}", err=True)
    # neither a pass nor a failure: the labelled set says nothing there (on stderr in both
    # formats, so a reader of the table or of the JSON alike is told)
    for line in unchecked:
        err_console.print(f"not checked: {line}", markup=False, soft_wrap=True)
    if failures:
        raise typer.Exit(1)


def shipped_eval_dir() -> Path:
    """The team's labelled set, as shipped: inside the installed package (the wheel maps
    tests/eval/ to newswatch/default_eval/), else the repository's tests/eval/."""
    here = Path(__file__).resolve().parent.parent  # src/newswatch, or site-packages/newswatch
    for cand in (here / "default_eval", here.parent.parent / "tests" / "eval"):
        if (cand / "thresholds.yaml").is_file():
            return cand
    fail(
        "this installation has no labelled set (newswatch/default_eval is missing)",
        hint="give one: newswatch eval PATH (JSONL, or a folder of them)",
        code=2,
    )


def _write_verdicts(out: Path, config: Path | None, db: str | None, matcher: Matcher) -> Path:
    from newswatch.cli.common import current_store, default_db
    from newswatch.reports.verdicts import write_labelled_set

    with errors_to_exit():
        store = current_store(db or default_db(config))
        known = {a.id for a in matcher.watchlist.actors} | {
            g.id for g in matcher.watchlist.allegations
        }
        with store.reader() as con:
            n = write_labelled_set(con, out, known=known)
    err_console.print(f"Wrote {n} judged passages to {out}", markup=False)
    return out


def _defined(tp: int, fp: int, fn: int) -> tuple[bool, bool, bool]:
    """Whether precision, recall and F1 are defined (:meth:`Scores.defined`). An entity no
    passage has and nothing found has none of them; it is not a perfect score, and shows as
    n/a (null in JSON)."""
    s = Scores(tp=tp, fp=fp, fn=fn)
    return s.defined("precision"), s.defined("recall"), s.defined("f1")


def _undefined_as_null(d: Any) -> Any:
    """``report.as_dict()`` with the scores that are not defined as None."""
    if isinstance(d, dict):
        if {"precision", "recall", "f1", "tp", "fp", "fn"} <= d.keys():
            p, r, f = _defined(d["tp"], d["fp"], d["fn"])
            return d | {
                "precision": d["precision"] if p else None,
                "recall": d["recall"] if r else None,
                "f1": d["f1"] if f else None,
            }
        return {k: _undefined_as_null(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_undefined_as_null(v) for v in d]
    return d


def _eval_tables(report: EvalReport) -> None:
    console = Console(soft_wrap=False, markup=False)  # ids and names are data, not styles

    def table(title: str, rows: dict[str, Scores]) -> None:
        t = Table("", "P", "R", "F1", "TP", "FP", "FN", title=title, title_justify="left")
        for name, s in rows.items():
            p, r, f = _defined(s.tp, s.fp, s.fn)
            t.add_row(
                name,
                f"{s.precision:.3f}" if p else "n/a",
                f"{s.recall:.3f}" if r else "n/a",
                f"{s.f1:.3f}" if f else "n/a",
                str(s.tp),
                str(s.fp),
                str(s.fn),
            )
        console.print(t)

    table("actors", report.actors)
    table("allegations", report.allegations)
    table("actors by language", dict(sorted(report.languages_actors.items())))
    table("allegations by language", dict(sorted(report.languages_allegations.items())))
    table("micro", {"actors": report.micro_actors, "allegations": report.micro_allegations})
    console.print(f"{report.n_items} passages, watchlist version {report.matcher_version}")
    for m in report.misses:
        parts = []
        if m.missing:
            parts.append("missed " + ", ".join(m.missing))
        if m.extra:
            parts.append("wrongly found " + ", ".join(m.extra))
        console.print(f"  {m.id}: {m.kind}s: {'; '.join(parts)}")


def reflag(
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only articles published (or fetched) on or after this date, YYYY-MM-DD.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what the watchlist edit would change; write nothing."
    ),
    fmt: str = FormatOpt("table", REFLAG_FORMATS),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run the watchlist again over stored articles, after editing it.

    Replaces each article's mentions and flags and records the watchlist version used, then
    shows the diff: articles gaining or losing each actor and allegation. With --dry-run,
    computes that diff and writes nothing. Safe to interrupt: run it again to finish.

    [bold]Examples[/bold]

      newswatch reflag --dry-run              # what would the edit change?
      newswatch reflag --dry-run -f json | jq '.ids[] | select(.lost > 0)'
      newswatch reflag
      newswatch reflag --since 2026-11-01
    """
    from datetime import date

    from newswatch.cli.output import write_rows
    from newswatch.flagging.watchlist import watchlist_labels
    from newswatch.pipeline.reflag import reflag as do_reflag
    from newswatch.store import Store

    with errors_to_exit():
        fmt = check_format(fmt, REFLAG_FORMATS)
        config = load_checked(config_dir, db)
        day = None
        if since:
            try:
                day = date.fromisoformat(since)
            except ValueError:
                raise UsageError(f"--since {since!r} is not a date (YYYY-MM-DD)") from None
        from rich.progress import Progress

        with Progress(
            console=err_console, transient=True, disable=quiet or not err_console.is_terminal
        ) as prog:
            task = prog.add_task("re-flagging", total=None)
            stats = do_reflag(
                Store(config.db),
                config.watchlist_path,
                since=day,
                workers=config.settings.pipeline.workers,
                progress=lambda done, total: prog.update(task, completed=done, total=total),
                dry_run=dry_run,
            )
        if fmt == "json":
            out = {
                "dry_run": dry_run,
                "watchlist_version": stats.watchlist_version,
                **stats.diff.as_dict(),
            }
            typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
            return
        rows = stats.diff.table_rows(watchlist_labels(config.watchlist_path))
        if rows:
            cols = list(rows[0])
            write_rows(cols, [tuple(r.values()) for r in rows], "table", sys.stdout)
        verb = "Would re-flag" if dry_run else "Re-flagged"
        typer.echo(
            f"{verb} {stats.articles} articles with watchlist {stats.watchlist_version}: "
            f"{stats.flagged_before} flagged before, {stats.flagged_after} "
            f"{'after' if dry_run else 'now'}; {stats.diff.summary()}."
            + (" Nothing was written." if dry_run else "")
        )


def register(app: typer.Typer) -> None:
    """Add ``flag`` and ``eval`` to the newswatch Typer app."""
    app.command("flag", help=FLAG_HELP)(flag_command)
    app.command("eval", help=EVAL_HELP)(eval_command)
    app.command("reflag")(reflag)
