"""The ``newswatch`` Typer app: every command group registered explicitly, in help order.

Each module of this package holds one command group and a ``register(app)``; none imports
another command module except for shared helpers (``common``, ``output``, ``run``'s
progress display), so there is no cycle and nothing is found by name at run time.
"""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
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


_EXAMPLES = re.compile(r"^(\[bold\])?Examples(\[/bold\])?:?$")
_SENTENCE = re.compile(r"^[A-Z][a-z]")


def tidy_help(text: str) -> str:
    """One layout for every command's help, whoever wrote it: prose paragraphs as one line
    each (Typer's Rich help keeps a docstring's line breaks, so at 80 columns every line
    longer than the terminal broke in two), a bold "Examples" heading, and the examples
    under it one per line, indented by two spaces. A paragraph is kept line by line when it
    is marked ``\\b`` (click's no-rewrap mark), has an indented line, or follows the
    heading and is not a sentence."""
    paragraphs: list[str] = []
    in_examples = False
    block: list[str] = []  # example lines collected under the heading

    def flush() -> None:
        if block:
            body = textwrap.dedent("\n".join(block))
            paragraphs.append(textwrap.indent(body, "  "))
            block.clear()

    for para in inspect.cleandoc(text).split("\n\n"):
        raw = para.split("\n")
        marked = any(line.strip() == "\b" for line in raw)
        lines = [line for line in raw if line.strip() not in ("", "\b")]
        if not lines:
            continue
        if _EXAMPLES.match(lines[0].strip()):
            flush()
            paragraphs.append("[bold]Examples[/bold]")
            in_examples = True
            lines = lines[1:]
            if not lines:
                continue
            marked = True
        verbatim = marked or any(line[:1].isspace() for line in lines)
        if in_examples and (verbatim or not _SENTENCE.match(lines[0])):
            block.extend(lines)
            continue
        flush()
        in_examples = False
        paragraphs.append("\n".join(lines) if verbatim else " ".join(x.strip() for x in lines))
    flush()
    out = "\n\n".join(paragraphs)
    # Typer dedents what follows the first paragraph as a docstring, its first line aside:
    # when that line is the heading, the examples under it would lose their indent
    first, _, rest = out.partition("\n\n")
    return f"{first}\n\n\n{rest}" if rest.startswith("[bold]Examples") else out


def _tidy_all(typer_app: typer.Typer) -> None:
    """:func:`tidy_help` on every command and group of ``typer_app``."""
    from typer.models import DefaultPlaceholder

    if typer_app.info.help and not isinstance(typer_app.info.help, DefaultPlaceholder):
        typer_app.info.help = tidy_help(typer_app.info.help)
    for command in typer_app.registered_commands:
        text = command.help or inspect.getdoc(command.callback)
        if text:
            command.help = tidy_help(text)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _tidy_all(group.typer_instance)


_tidy_all(app)


def main() -> None:
    app()
