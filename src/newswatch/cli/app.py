"""The ``newswatch`` Typer app: every command group registered explicitly, in help order.

Each module of this package holds one command group and a ``register(app)``; none imports
another command module except for shared helpers (``common``, ``output``, ``run``'s
progress display), so there is no cycle and nothing is found by name at run time.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer._click import exceptions as click_errors  # Typer's own copy of click
from typer.core import TyperGroup

from newswatch import __version__
from newswatch.cli import (
    demo,
    digest,
    flag,
    init,
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


class NewswatchGroup(TyperGroup):
    """The root command: a usage error (an unknown option or command, a missing argument)
    is one ``Error:`` line and a hint naming the help, not click's usage block or Rich's
    five-line box; everything else runs as Typer runs it."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except click_errors.NoArgsIsHelpError as e:  # `newswatch` alone: the help
            e.show()
            code = e.exit_code
        except click_errors.ClickException as e:
            code = _usage_error(e, self._path(prog_name, args))
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            code = 1
        else:
            code = rv if isinstance(rv, int) else 0
            if not standalone_mode:
                return rv
        if not standalone_mode:
            return code
        sys.exit(code)

    def _path(self, prog_name: str | None, args: Sequence[str] | None) -> str:
        """``newswatch watchlist ids``: the command the arguments name, for the hint when
        click's error carries no context (an option missing its value)."""
        words = [prog_name or "newswatch"]
        group: Any = self
        for arg in sys.argv[1:] if args is None else args:
            cmd = getattr(group, "commands", {}).get(arg)
            if cmd is None:
                if not arg.startswith("-"):
                    break
                continue
            words.append(arg)
            group = cmd
        return " ".join(words)


def _usage_error(e: click_errors.ClickException, path: str) -> int:
    """``Error: <click's message>`` and ``Hint: <command> --help …``; the exit status."""
    from rich.text import Text

    from newswatch.cli.common import err_console, help_hint, safe_text

    ctx = getattr(e, "ctx", None)
    line = Text("Error: ", style="red")
    line.append(safe_text(" ".join(e.format_message().split())))
    err_console.print(line, soft_wrap=True)
    command = ctx.command_path if ctx is not None else path
    err_console.print(Text(f"Hint: {help_hint(command)}"), soft_wrap=True)
    return e.exit_code


app = typer.Typer(
    cls=NewswatchGroup,
    name="newswatch",
    help=(
        "Follow allegations through the world's press: poll news feeds, extract article text, "
        "flag tracked actors and allegations, and store deduplicated results in DuckDB.\n\n"
        "Start with [bold]newswatch demo[/bold]; [bold]newswatch init[/bold] writes a commented "
        "config/ of your own; then [bold]newswatch run[/bold] polls it and "
        "[bold]newswatch sql[/bold] queries the result.\n\n"
        "Every command takes -h; those that print rows take -f table|csv|json|jsonl, and "
        "-c/--config and --db where they read them. Exit status: 0 success, 1 an error, "
        "2 bad configuration or usage (run: 3 and 4, see its help)."
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


for _group in (
    init,
    run,
    sql,
    flag,
    trends,
    status,
    digest,
    serve,
    worker,
    lake,
    demo,
    watchlist,
    web,
):
    _group.register(app)
provenance.register(app)  # story, claim
sql.register_export(app)  # after trends: this export replaces the one trends.py registers


def main() -> None:
    app()
