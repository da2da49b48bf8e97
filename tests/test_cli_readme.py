"""The README's command table ("## Commands") and ``--help`` agree: every command is in
the table, and every row of the table names a real command with options it has."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from newswatch.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"


def _commands() -> dict[str, Any]:
    """Every command a user can run, by its full name (``newswatch lake maintain``)."""
    out: dict[str, Any] = {}

    def walk(cmd: Any, path: str) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, f"{path} {name}")
        else:
            out[path] = cmd

    walk(typer.main.get_command(app), "newswatch")
    return out


def _table_rows() -> list[str]:
    """The first cell's code of every row of the table under ``## Commands``."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(newswatch[^`]*)` \|", section, re.M)


def _resolve(cell: str, commands: dict[str, Any]) -> str | None:
    """The longest command name the cell starts with."""
    words = cell.split()
    for n in range(len(words), 0, -1):
        name = " ".join(words[:n])
        if name in commands:
            return name
    return None


def _options(cmd: Any) -> set[str]:
    names = {"-h", "--help"}
    for p in cmd.params:
        names |= set(p.opts) | set(p.secondary_opts)
    return names


def test_every_command_is_in_the_readme_table():
    rows = _table_rows()
    assert rows, "README has no command table under ## Commands"
    commands = _commands()
    listed = {_resolve(r, commands) for r in rows}
    missing = sorted(set(commands) - listed)
    assert not missing, f"commands missing from README's table: {missing}"


def test_every_row_of_the_readme_table_is_a_real_command_with_real_options():
    commands = _commands()
    for cell in _table_rows():
        name = _resolve(cell, commands)
        assert name is not None, f"README lists `{cell}`, which is no command"
        rest = cell[len(name) :]
        used = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", rest))
        unknown = sorted(used - _options(commands[name]))
        assert not unknown, f"README's `{cell}`: {name} has no option {unknown}"
        # words after the name that are not placeholders, options or choices are typos of
        # a subcommand ("newswatch watchlist chek")
        first = rest.split()[0] if rest.split() else ""
        assert not re.fullmatch(r"[a-z][a-z-]*", first), f"README's `{cell}`: {first!r}?"
