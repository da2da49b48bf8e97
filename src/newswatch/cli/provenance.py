"""``newswatch story ID`` and ``newswatch claim ID``: where a story and a claim come from."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from newswatch.cli.common import (
    ConfigOpt,
    DbOpt,
    FormatOpt,
    check_format,
    current_store,
    default_db,
    errors_to_exit,
    fail,
)
from newswatch.cli.output import write_rows

__all__ = ["register"]


def story(
    story_id: str = typer.Argument(..., metavar="STORY_ID", help="A story id (articles.story_id)."),
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    fmt: str = FormatOpt("table"),
) -> None:
    """The timeline of a story: first report first, each copy with the article it derives
    from, the share of its passages found there, and whether it adds reporting.

    Examples:

        newswatch story 3f2a9c…                 # a table
        newswatch story 3f2a9c… -f json          # for scripts
    """
    from newswatch.store.provenance import story_timeline

    with errors_to_exit():
        check_format(fmt)
        store = current_store(db or default_db(config_dir))
        with store.reader() as con:
            cols, rows = story_timeline(con, story_id)
    if not rows:
        fail(f"unknown story id {story_id!r}", hint="ids are in: SELECT story_id FROM stories")
    write_rows(cols, rows, fmt, sys.stdout)


def claim(
    claim_id: str = typer.Argument(
        ..., metavar="CLAIM_ID", help="A claim id (the id of its first story), or 'all'."
    ),
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    fmt: str = FormatOpt("table"),
) -> None:
    """One claim across languages: each story carrying it, where each language first
    picked it up; newswatch claim all lists the claims.

    Examples:

        newswatch claim all
        newswatch claim 3f2a9c… -f json
    """
    from newswatch.store.provenance import claim_timeline, claims

    with errors_to_exit():
        check_format(fmt)
        store = current_store(db or default_db(config_dir))
        with store.reader() as con:
            found = claims(con) if claim_id == "all" else claim_timeline(con, claim_id)
    if found is None:
        fail(f"unknown claim id {claim_id!r}", hint="newswatch claim all lists them")
    cols, rows = found
    write_rows(cols, rows, fmt, sys.stdout)


def register(app: typer.Typer) -> None:
    app.command("story")(story)
    app.command("claim")(claim)
