"""What every command shares: the options for config, database and output format, the rule
that picks the database, and the one error printer.

Errors are one line on standard error (``Error: …``), then a hint when there is one, and a
non-zero exit status: 2 for bad configuration or usage, 1 otherwise. Text in an error may
come from the web (a feed's error message, a header): it is printed as text, never as Rich
markup, and control characters are shown escaped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from newswatch.errors import ConfigError, NewswatchError, StoreError, UsageError

if TYPE_CHECKING:
    from newswatch.settings import Config
    from newswatch.store import Store

__all__ = [
    "FORMATS",
    "MISSING_DB_HINT",
    "SUMMARY",
    "ConfigOpt",
    "DbOpt",
    "FormatOpt",
    "check_format",
    "current_store",
    "default_db",
    "err_console",
    "errors_to_exit",
    "fail",
    "help_hint",
    "hint_for",
    "load_checked",
    "safe_text",
]

err_console = Console(stderr=True, highlight=False)

FORMATS = ("table", "csv", "json", "jsonl")
# what a command that prints a summary (not rows) offers: text for people (``table`` is
# taken as the same), JSON for scripts
SUMMARY = ("text", "json")

ConfigOpt = typer.Option(
    None,
    "--config",
    "-c",
    help="Configuration folder (default: $NEWSWATCH_CONFIG or ./config).",
    show_default=False,
)
DbOpt = typer.Option(
    None,
    "--db",
    help="DuckDB file, or a DuckLake target (ducklake:postgres:dbname=… or "
    "ducklake:<catalog file>); default: $NEWSWATCH_DB, the config's database:, or "
    "./data/newswatch.duckdb.",
    show_default=False,
)


def FormatOpt(
    default: str | None = "table", formats: tuple[str, ...] = FORMATS, *, note: str = ""
) -> Any:  # typer's OptionInfo, used as a parameter default
    """``-f/--format`` with the same vocabulary on every command that prints rows (table,
    csv, json, jsonl) or a summary (text, json)."""
    return typer.Option(
        default,
        "--format",
        "-f",
        help=f"Output format: {', '.join(formats)}{note}.",
        show_default=default is not None,
    )


def check_format(fmt: str, formats: tuple[str, ...] = FORMATS) -> str:
    """``fmt`` if ``formats`` has it (``table`` stands for ``text`` where a command prints
    a summary); a UsageError naming the choices otherwise."""
    if fmt == "table" and "text" in formats:
        return "text"
    if fmt not in formats:
        raise UsageError(f"unknown --format {fmt!r}; choose one of {', '.join(formats)}")
    return fmt


_CONTROL = {c: f"\\x{c:02x}" for c in range(32) if c not in (9,)} | {127: "\\x7f"}
_BIDI = {c: f"\\u{c:04x}" for c in (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def safe_text(s: object) -> str:
    """``s`` for a terminal: control characters (escape sequences, CR, LF) and bidirectional
    overrides are shown escaped, so text from the web cannot move the cursor, recolour the
    terminal or reorder what is shown."""
    return str(s).translate(_CONTROL | _BIDI)


def fail(message: str, *, hint: str | None = None, code: int = 1) -> NoReturn:
    """Print ``Error: message`` (and ``Hint: hint``) as plain text and exit with ``code``.
    A missing database gets its hint here whichever command reports it."""
    if hint is None and "database does not exist" in str(message):
        hint = MISSING_DB_HINT
    line = Text("Error: ", style="red")
    # one line: a multi-line message (DuckDB's, with its caret) is joined, and what is left
    # of control characters is shown escaped
    line.append(safe_text(" ".join(str(message).split())))
    err_console.print(line, soft_wrap=True)
    if hint:
        err_console.print(Text("Hint: " + safe_text(hint)), soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def errors_to_exit() -> Iterator[None]:
    """Turn newswatch errors (and database errors) into one ``Error: …`` line and an exit."""
    try:
        yield
    except NewswatchError as e:
        fail(str(e), hint=hint_for(e), code=e.exit_code)
    except KeyboardInterrupt:
        err_console.print("Interrupted; what was committed stays committed.")
        raise typer.Exit(130) from None
    except Exception as e:
        import duckdb

        if not isinstance(e, duckdb.Error):
            raise
        fail(f"database: {e}")


_CONFIG_FILES = ("newswatch.yaml", "sources.yaml", "watchlist.yaml")
MISSING_DB_HINT = (
    "`newswatch demo` writes a sample database, data/demo.duckdb: add --db data/demo.duckdb "
    "to query it (or --db PATH for another database)"
)


def help_hint(command: str | None = None) -> str | None:
    """``newswatch sql --help shows the usage and examples``: the hint under a usage error,
    for ``command`` or the command being run."""
    if command is None:
        from typer._click.globals import get_current_context

        ctx = get_current_context(silent=True)
        if ctx is None:
            return None
        command = ctx.command_path
    return f"{command} --help shows the usage and examples"


def hint_for(e: NewswatchError) -> str | None:
    """The hint printed under an error: its own, else the command's --help for a usage
    error, "fix the file" for an error about a file that exists (not a missing folder, not
    an option), a way to a configuration for a missing one, and the demo database and --db
    for a missing database."""
    if e.hint:
        return e.hint
    if isinstance(e, UsageError):  # as for click's own usage errors (see app.py)
        return help_hint()
    if isinstance(e, ConfigError) and e.file:
        path = Path(e.file.split(" (or a ")[0])  # "<file> (or a NEWSWATCH_… variable)"
        if path.is_file():
            return "fix the file and run again; nothing was written"
        if e.message.startswith("configuration directory not found"):
            return "give the folder with --config, or write a commented one with `newswatch init`"
        if e.message == "file not found" and path.name in _CONFIG_FILES:
            return f"`newswatch init` writes a commented config/ with {path.name} to start from"
        return None
    if isinstance(e, StoreError) and "database does not exist" in str(e):
        return MISSING_DB_HINT
    return None


def default_db(config_dir: Path | None = None) -> str:
    """The database a command uses when ``--db`` is not given (see ``settings.resolve_db``)."""
    from newswatch.settings import resolve_db

    return resolve_db(config_dir)


def current_store(target: str) -> Store:
    """A Store whose schema is current: an older database is migrated first (schema only)."""
    from newswatch.store import Store

    store = Store(target)
    store.ensure_current()
    return store


def load_checked(config_dir: Path | None, db: str | None) -> Config:
    """The configuration, with the watchlist validated before anything is written."""
    from newswatch.flagging.matcher import Matcher
    from newswatch.settings import load_config

    config = load_config(config_dir, db=db)
    Matcher.from_path(config.watchlist_path)
    return config
