"""``newswatch web``: the analyst's workbench in the browser (see :mod:`newswatch.web`)."""

from __future__ import annotations

from pathlib import Path

import typer

from newswatch.cli.common import ConfigOpt, DbOpt, err_console, errors_to_exit

__all__ = ["register", "web_command"]

_HELP = """Serve the analyst's workbench on this machine until Ctrl-C.

The board, the flagged articles with their evidence, stories, trends, sources, the
watchlist bench, digests, runs, and verdicts that teach the watchlist: one URL per view,
each list also as .json and .csv. It reads the same database as every other command and
never keeps a scheduled pass from writing.

It listens on 127.0.0.1 unless told otherwise; any other address needs a password in
NEWSWATCH_WEB_PASSWORD (analysts then log in with their name and that password, HTTP basic
auth: put TLS in front of it). Without a password, verdicts are recorded under
NEWSWATCH_WEB_USER (default: your login name).

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
            config_dir,
            db,
            host,
            port,
            on_ready=lambda url: err_console.print(f"newswatch web: {url}  (Ctrl-C stops it)"),
        )


def register(app: typer.Typer) -> None:
    app.command("web", help=_HELP)(web_command)
