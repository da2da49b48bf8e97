"""``newswatch worker``: a Prefect process worker for the newswatch work pool, on this host."""

from __future__ import annotations

import os
import subprocess

import typer

from newswatch.cli.common import fail
from newswatch.orchestration.worker import worker_argv

__all__ = ["register", "worker_argv", "worker_command"]

_HELP = """Run the newswatch flows sent to a Prefect work pool, on this host, until Ctrl-C.

A thin wrapper of `prefect worker start --pool POOL --type process`: one flow run at a time
(--limit 1: a polling pass already uses every core through its extraction processes; start
one worker per host). Each polling run leases its feeds a chunk at a time, so several
workers on several hosts share a pass and no feed is fetched twice.

Needs PREFECT_API_URL (your Prefect server) and, in this environment, what the flows need:
NEWSWATCH_CONFIG, NEWSWATCH_DB (a shared store: ducklake:postgres:dbname=… host=…) and
NEWSWATCH_DATA_PATH (a folder every host sees, or object storage). See README, "Scaling out".

\b
Examples:
  PREFECT_API_URL=http://prefect:4200/api newswatch worker
  newswatch worker --pool newswatch --name "$(hostname)"
"""


def worker_command(
    pool: str = typer.Option(
        "newswatch", "--pool", "-p", help="The Prefect work pool (type process)."
    ),
    limit: int = typer.Option(1, "--limit", min=1, help="Flow runs at a time on this host."),
    name: str | None = typer.Option(None, "--name", help="Worker name (default: Prefect's)."),
) -> None:
    if not os.environ.get("PREFECT_API_URL"):
        fail(
            "PREFECT_API_URL is not set: a worker needs a Prefect server",
            hint="export PREFECT_API_URL=http://<server>:4200/api "
            "(one host can use `newswatch serve` instead)",
            code=2,
        )
    env = dict(os.environ)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        code = subprocess.call(worker_argv(pool, limit=limit, name=name), env=env)
    except KeyboardInterrupt:
        code = 130
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("worker", help=_HELP)(worker_command)
