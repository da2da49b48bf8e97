"""``newswatch watchlist check | ids | test | suggest``: see into the watchlist.

The work is in :mod:`newswatch.flagging.check` (check, ids, test),
:mod:`newswatch.flagging.suggest` and :mod:`newswatch.reports.watchlist_suggest`; this
module only parses options and prints.

Exit codes: ``check`` 0 (warnings are printed), 1 with ``--strict`` and a warning, 2 when
the watchlist cannot be used; ``test`` 0 when the rule fires and 1 when it does not (like
grep), 2 for an unknown id; ``suggest`` 0, and never writes the watchlist.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from newswatch.cli.common import SUMMARY, ConfigOpt, DbOpt, FormatOpt, check_format, errors_to_exit

__all__ = ["register"]

watchlist_app = typer.Typer(
    name="watchlist",
    help="See into the watchlist: validate it, list its ids, test a rule, suggest aliases.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

SUGGEST_FORMATS = ("yaml", "json")
FileOpt = typer.Option(
    None,
    "--watchlist",
    "-w",
    help="A watchlist file (default: watchlist.yaml in the configuration folder).",
    show_default=False,
)

FileArg = typer.Argument(None, metavar="FILE", help="Watchlist file (default: the configured one).")
OutputOpt = typer.Option(
    None, "--output", "-o", help="Write the YAML snippet here (default: standard output)."
)


def _path(config_dir: Path | None, file: Path | None) -> Path:
    if file is not None:
        return file
    from newswatch.settings import default_config_dir, shipped_config_dir

    cdir = config_dir if config_dir is not None else default_config_dir()
    path = cdir / "watchlist.yaml"
    if config_dir is None and not path.exists():
        path = shipped_config_dir() / "watchlist.yaml"
        typer.echo(f"(no {cdir / 'watchlist.yaml'}: using the default watchlist {path})", err=True)
    return path


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True, markup=False)


@watchlist_app.command("check")
def check(
    file: Path | None = FileArg,
    config_dir: Path | None = ConfigOpt,
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when there are warnings."),
    fmt: str = FormatOpt("text", SUMMARY),
) -> None:
    """Validate the watchlist without flagging anything.

    Errors stop the watchlist from loading (a misspelt setting, an unknown actor id, an
    alias that looks like a regular expression such as Hez(b|bb)ollah); warnings are
    mistakes it still loads with (one phrase under two actors, a one-character Chinese
    alias, an exclusion that hides an alias).

    [bold]Examples[/bold]

      newswatch watchlist check
      newswatch watchlist check my-watchlist.yaml --strict
      newswatch watchlist check -f json
    """
    from newswatch.flagging.check import check_watchlist

    with errors_to_exit():
        fmt = check_format(fmt, SUMMARY)
    path = _path(config_dir, file)
    problems = check_watchlist(path)
    if fmt == "json":
        print(json.dumps([p.as_dict() for p in problems], ensure_ascii=False, indent=2))
    else:
        out = _out()
        for p in problems:
            out.print(str(p))
        errors = sum(p.severity == "error" for p in problems)
        warnings = len(problems) - errors
        if not problems:
            out.print(f"{path}: OK")
        else:
            out.print(f"{path}: {errors} error(s), {warnings} warning(s)")
    if any(p.severity == "error" for p in problems):
        raise typer.Exit(2)
    if strict and problems:
        raise typer.Exit(1)


@watchlist_app.command("ids")
def ids(
    config_dir: Path | None = ConfigOpt,
    file: Path | None = FileOpt,
    fmt: str = FormatOpt("table"),
) -> None:
    """Every actor and allegation id with its display name and languages.

    [bold]Examples[/bold]

      newswatch watchlist ids
      newswatch watchlist ids -f csv > ids.csv
    """
    from newswatch.cli.output import write_rows
    from newswatch.flagging.check import watchlist_ids
    from newswatch.flagging.watchlist import load_watchlist

    with errors_to_exit():
        fmt = check_format(fmt)
        rows = watchlist_ids(load_watchlist(_path(config_dir, file)))
        cols = ["kind", "id", "name", "languages", "phrases"]
        write_rows(cols, [[getattr(r, c) for c in cols] for r in rows], fmt, sys.stdout)


@watchlist_app.command("test")
def test(
    rule_id: str = typer.Argument(..., metavar="ID", help="An actor or allegation id."),
    text: str = typer.Argument(
        ..., metavar="TEXT", help="The text to try, or - for standard input."
    ),
    title: str | None = typer.Option(None, "--title", help="A title to try with the text."),
    language: str | None = typer.Option(
        None, "--language", "-l", help="The text's language (default: detected)."
    ),
    config_dir: Path | None = ConfigOpt,
    file: Path | None = FileOpt,
    fmt: str = FormatOpt("text", SUMMARY),
) -> None:
    """Try one actor or allegation on a text: what matched, and what was missing.

    Exits 0 when the rule fires and 1 when it does not, so a rule's own examples can be
    kept as a script.

    [bold]Examples[/bold]

      newswatch watchlist test hezbollah "Lübnan Hizbullahı'nın açıklaması" -l tr
      newswatch watchlist test arms_transfer "North Korea sold rockets to Hamas."
      echo "Hizbullah davası…" | newswatch watchlist test hezbollah - -l tr
    """
    from newswatch.flagging.check import test_rule
    from newswatch.flagging.explain import RuleExplanation
    from newswatch.flagging.matcher import Matcher

    with errors_to_exit():
        fmt = check_format(fmt, SUMMARY)
        body = sys.stdin.read() if text == "-" else text
        lang = language
        if lang is None:
            from newswatch.ingest.language import detect_language

            lang = detect_language(((title or "") + "\n" + body).strip())
        result = test_rule(
            Matcher.from_path(_path(config_dir, file)), rule_id, body, title=title, language=lang
        )
    if fmt == "json":
        d = result.as_dict()
        d["language"] = lang
        print(json.dumps(d, ensure_ascii=False, indent=2))
    else:
        out = _out()
        verdict = "fires" if result.fired else "does not fire"
        out.print(f"{result.id} ({result.kind}) {verdict} [language: {lang or 'unknown'}]")
        out.print(f"  {result.summary}")
        out.print(f"  needs {result.requires}")
        e = result.explanation
        evidence = e.evidence if isinstance(e, RuleExplanation) else (*e.counted, *e.not_counted)
        for ev in evidence:
            note = f" [{ev.note}]" if ev.note else ""
            out.print(f'  {ev.role:<8} "{ev.text}" ({ev.rule}){note}: {ev.sentence}')
    if not result.fired:
        raise typer.Exit(1)


@watchlist_app.command("suggest")
def suggest(
    actor: str | None = typer.Option(None, "--actor", help="Only this actor id."),
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    file: Path | None = FileOpt,
    limit: int = typer.Option(5000, "--limit", help="Read at most this many flagged articles."),
    min_articles: int = typer.Option(
        2, "--min-articles", help="Only candidates seen in at least this many articles."
    ),
    output: Path | None = OutputOpt,
    fmt: str = FormatOpt("yaml", SUGGEST_FORMATS),
) -> None:
    """Mine stored articles for likely variants of tracked names, for review.

    Looks in flagged articles for spellings beside a tracked name (in brackets), inflected
    forms and near spellings, ranks them by how many articles show them, and writes a YAML
    snippet with an example for each. It never changes the watchlist: copy what is right
    into it by hand, then run newswatch eval.

    [bold]Examples[/bold]

      newswatch watchlist suggest
      newswatch watchlist suggest --actor hezbollah -o hezbollah-aliases.yaml
      newswatch watchlist suggest -f json --min-articles 3
    """
    from newswatch.cli.common import current_store, default_db
    from newswatch.flagging.check import require_ids
    from newswatch.flagging.watchlist import load_watchlist
    from newswatch.reports.watchlist_suggest import watchlist_suggest

    with errors_to_exit():
        fmt = check_format(fmt, SUGGEST_FORMATS)
        path = _path(config_dir, file)
        if actor is not None:
            require_ids(load_watchlist(path), actors=[actor], option="--actor")
        found, snippet = watchlist_suggest(
            current_store(db or default_db(config_dir)),
            path,
            actor=actor,
            limit=limit,
            min_articles=min_articles,
        )
    text = (
        json.dumps([s.as_dict() for s in found], ensure_ascii=False, indent=2) + "\n"
        if fmt == "json"
        else snippet
    )
    if output is not None:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"{len(found)} suggestion(s) written to {output}; the watchlist is unchanged.")
    else:
        sys.stdout.write(text)


def register(app: typer.Typer) -> None:
    """Add the ``watchlist`` command group to the newswatch Typer app."""
    app.add_typer(watchlist_app, name="watchlist")
