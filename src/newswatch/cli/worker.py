"""``newswatch worker``: a Prefect process worker for the newswatch work pool, on this host."""

from __future__ import annotations

import os

import typer

from newswatch.cli.common import fail
from newswatch.orchestration.worker import WorkerSupervisor, worker_argv

__all__ = ["register", "worker_argv", "worker_command"]

_HELP = """Run the newswatch flows sent to a Prefect work pool, on this host, until stopped.

Runs Prefect's process worker for POOL (what `prefect worker start --type process
--with-healthcheck` runs, with a drain) and supervises it: one flow run at a time
(--limit 1: a polling pass already uses every core through its extraction processes;
start one worker per host). Each polling run leases its feeds a chunk
at a time, so several workers on several hosts share a pass and no feed is fetched twice.

Stopping (SIGTERM from `docker stop` or Kubernetes, or Ctrl-C): no new flow runs are taken,
the current one gets --grace-seconds to finish, then it is stopped (Prefect marks it
Crashed; a polling pass is safe to stop) and no process is left behind. A second signal
stops at once. Give the orchestrator a longer grace than this (compose.yaml:
stop_grace_period; Kubernetes: terminationGracePeriodSeconds).

Health: Prefect's worker answers GET http://<host>:8080/health (PREFECT_WORKER_WEBSERVER_PORT,
PREFECT_WORKER_WEBSERVER_HOST) while it polls its work pool; --no-healthcheck turns it off.

Needs PREFECT_API_URL (your Prefect server) and, in this environment, what the flows need:
NEWSWATCH_CONFIG, NEWSWATCH_DB (a shared store: ducklake:postgres:dbname=… host=…) and
NEWSWATCH_DATA_PATH (a folder every host sees, or object storage). See README, "Scaling out".

\b
Examples:
  PREFECT_API_URL=http://prefect:4200/api newswatch worker
  newswatch worker --pool newswatch --name "$(hostname)"
  newswatch worker --pool newswatch-digests     # the digests' own pool
"""


def worker_command(
    pool: str = typer.Option(
        "newswatch", "--pool", "-p", help="The Prefect work pool (type process)."
    ),
    limit: int = typer.Option(1, "--limit", min=1, help="Flow runs at a time on this host."),
    name: str | None = typer.Option(None, "--name", help="Worker name (default: Prefect's)."),
    queue: list[str] = typer.Option(
        [], "--queue", "-q", help="Only these work queues of the pool (repeatable)."
    ),
    grace_seconds: float = typer.Option(
        300.0,
        "--grace-seconds",
        min=0,
        envvar="NEWSWATCH_WORKER_GRACE_SECONDS",
        help="On SIGTERM/SIGINT: how long the current flow run may take to finish.",
    ),
    healthcheck: bool = typer.Option(
        True, "--healthcheck/--no-healthcheck", help="Serve Prefect's worker /health endpoint."
    ),
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
    argv = worker_argv(pool, limit=limit, name=name, queues=queue, healthcheck=healthcheck)
    code = WorkerSupervisor(argv, env=env, grace_seconds=grace_seconds).run()
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("worker", help=_HELP)(worker_command)
