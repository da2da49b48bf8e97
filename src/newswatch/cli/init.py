"""``newswatch init [DIR]``: a commented configuration to start from.

Writes ``DIR/config/`` with the files newswatch ships: ``sources.yaml`` (the feeds),
``watchlist.yaml`` (the actors and allegations) and ``newswatch.yaml`` (every setting at its
default, commented, and a commented digest). An existing file is never overwritten without
``--force``; when one is in the way, nothing at all is written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from newswatch.cli.common import errors_to_exit, safe_text
from newswatch.errors import UsageError

__all__ = ["FILES", "init_command", "register"]

FILES = ("sources.yaml", "watchlist.yaml", "newswatch.yaml")


def init_command(
    directory: Path = typer.Argument(
        Path("."), metavar="DIR", help="Where to create config/ (default: the current folder)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite files that exist."),
) -> None:
    """Write a commented config/ to start from: feeds, watchlist and every setting.

    DIR/config/ gets sources.yaml and watchlist.yaml (newswatch's own) and newswatch.yaml
    (every setting at its default, with what it does, and a commented digest). Existing
    files are left alone unless --force: if one is there, nothing is written.

    [bold]Examples[/bold]

      newswatch init                      # ./config/
      newswatch init ~/monitoring && cd ~/monitoring && newswatch digest --dry-run
      newswatch init --force              # back to the defaults
    """
    from newswatch.settings import shipped_config_dir

    with errors_to_exit():
        source = shipped_config_dir()
        target = directory / "config"
        if target.exists() and not target.is_dir():
            raise UsageError(f"{target} exists and is not a folder")
        present = [target / f for f in FILES if (target / f).exists()]
        if present and not force:
            raise UsageError(
                f"{', '.join(str(p) for p in present)} already "
                f"{'exists' if len(present) == 1 else 'exist'}; nothing was written",
                hint="--force overwrites them with the defaults",
            )
        try:
            target.mkdir(parents=True, exist_ok=True)
            for name in FILES:
                shutil.copyfile(source / name, target / name)
        except OSError as e:
            raise UsageError(f"{target}: cannot write: {e.strerror or e}") from None
    for name in FILES:
        typer.echo(f"Wrote {safe_text(target / name)}")
    where = "" if directory == Path(".") else f"cd {safe_text(directory)} && "
    typer.echo(
        f"Next: {where}newswatch run  (one pass over the feeds), then newswatch digest --dry-run"
    )


def register(app: typer.Typer) -> None:
    app.command("init")(init_command)
