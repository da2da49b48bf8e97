"""``newswatch web``: the analyst's workbench in the browser (see :mod:`newswatch.web`)."""

from __future__ import annotations

from pathlib import Path

import typer

from newswatch.cli.common import ConfigOpt, DbOpt, err_console, errors_to_exit

__all__ = ["register", "web_command", "web_config_dir"]

_HELP = """Serve the analyst's workbench on this machine until Ctrl-C.

The board, the flagged articles with their evidence, stories, trends, sources, the
watchlist bench, digests, runs, and verdicts that teach the watchlist: one URL per view,
each list also as .json and .csv. It reads the same database as every other command and
never keeps a scheduled pass from writing.

It listens on 127.0.0.1 unless told otherwise; any other address needs a password in
NEWSWATCH_WEB_PASSWORD (analysts then log in with their name and that password, HTTP basic
auth: put TLS in front of it). Without a password, verdicts are recorded under
NEWSWATCH_WEB_USER (default: your login name). Run from a folder without config/ (and
without --config or NEWSWATCH_CONFIG), it uses the configuration newswatch ships, as flag
does, so that a database can be browsed from anywhere with --db.

\b
Examples:
  newswatch web
  newswatch web --db data/demo.duckdb --port 8090
  NEWSWATCH_WEB_PASSWORD=… newswatch web --host 0.0.0.0
"""


def web_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", "-p", min=0, max=65535, help="Port (0: a free one)."),
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    from newswatch.web.server import serve_web

    with errors_to_exit():
        serve_web(
            web_config_dir(config_dir),
            db,
            host,
            port,
            on_ready=lambda url: err_console.print(f"newswatch web: {url}  (Ctrl-C stops it)"),
        )


def web_config_dir(config_dir: Path | None) -> Path | None:
    """The configuration the workbench reads: ``--config``, else ``$NEWSWATCH_CONFIG``, else
    ./config; when none of them is there, the one newswatch ships (its watchlist names the
    actors and allegations of any database newswatch wrote), said on standard error. A
    folder given explicitly must exist: that is an error, not a fallback."""
    import os

    from newswatch.settings import ENV_PREFIX, default_config_dir, shipped_config_dir

    if config_dir is not None or os.environ.get(ENV_PREFIX + "CONFIG"):
        return config_dir
    here = default_config_dir()
    if here.is_dir():
        return None
    shipped = shipped_config_dir()
    err_console.print(
        f"(no {here}/ here: using the configuration newswatch ships, {shipped}; "
        "`newswatch init` writes your own)",
        markup=False,
        soft_wrap=True,
    )
    return shipped


def register(app: typer.Typer) -> None:
    app.command("web", help=_HELP)(web_command)
