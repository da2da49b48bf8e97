"""The ``newswatch`` Typer app: every command group registered explicitly, in help order.

Each module of this package holds one command group and a ``register(app)``; none imports
another command module except for shared helpers (``common``, ``output``, ``run``'s
progress display), so there is no cycle and nothing is found by name at run time.
"""

from __future__ import annotations

import typer

from newswatch import __version__
from newswatch.cli import (
    demo,
    digest,
    flag,
    lake,
    provenance,
    run,
    serve,
    sql,
    status,
    trends,
    watchlist,
    web,
    worker,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="newswatch",
    help=(
        "Follow allegations through the world's press: poll news feeds, extract article text, "
        "flag tracked actors and allegations, and store deduplicated results in DuckDB.\n\n"
        "Start with [bold]newswatch demo[/bold]; then [bold]newswatch run[/bold] on your own "
        "config/ and query with [bold]newswatch sql[/bold]."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"newswatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    pass


for _group in (run, sql, flag, trends, status, digest, serve, worker, lake, demo, watchlist, web):
    _group.register(app)
provenance.register(app)  # story, claim


def main() -> None:
    app()
