"""``newswatch serve``: run the polling flow and the digests on their schedules."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from newswatch.cli.common import ConfigOpt, DbOpt, err_console, errors_to_exit, load_checked

__all__ = ["register", "serve_command"]

_HELP = """Run the schedules on this machine until Ctrl-C: the polling flow every few minutes
(serve.poll_minutes, default 5) and the alert digests on their own cron schedules.

Without PREFECT_API_URL, serve starts and supervises a local Prefect server (SQLite in
<database folder>/prefect/, log in <database folder>/prefect-server.log) and prints the
address of its UI, where every run, its logs and its summary appear. With PREFECT_API_URL
set, it serves the deployments on that server instead.

Runs of a deployment never overlap, and a restart neither pauses the schedules nor replays
the runs missed while serve was down (one catch-up run replaces them). Ctrl-C or SIGTERM
stops the runner, then the server; `newswatch sql` works at any time.

\b
Examples:
  newswatch serve
  newswatch serve --config ./config --db data/nw.duckdb --poll-minutes 10
  newswatch serve --once            # start, run each flow once now, stop
  PREFECT_API_URL=http://127.0.0.1:4200/api newswatch serve   # your Prefect
"""


def serve_command(
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    poll_minutes: float | None = typer.Option(
        None,
        "--poll-minutes",
        help="Minutes between polling runs (default: serve.poll_minutes, 5).",
        show_default=False,
    ),
    port: int | None = typer.Option(
        None,
        "--port",
        help="Port of the local Prefect server (default: serve.port, else a free one).",
        show_default=False,
    ),
    once: bool = typer.Option(
        False, "--once", help="Run each flow once now through Prefect, then stop."
    ),
) -> None:
    from newswatch.errors import ConfigError
    from newswatch.orchestration.serve import (
        LocalPrefectServer,
        build_deployments,
        load_serve_settings,
        serve_forever,
    )

    with errors_to_exit():
        config = load_checked(config_dir, db)  # a bad configuration stops here, before any server
        settings = load_serve_settings(config.config_dir)
        updates = {
            k: v for k, v in (("poll_minutes", poll_minutes), ("port", port)) if v is not None
        }
        if updates:
            try:
                settings = type(settings).model_validate({**settings.model_dump(), **updates})
            except ValueError as e:
                raise ConfigError(f"bad option: {str(e).splitlines()[-1].strip()}") from None
        db_path = Path(config.db).resolve()
        from newswatch.store import Store

        Store(db_path).migrate()  # the digest flow may run before the first polling pass
        server = None
        if not os.environ.get("PREFECT_API_URL"):
            data = db_path.parent
            home = Path(settings.prefect_home) if settings.prefect_home else data / "prefect"
            server = LocalPrefectServer(
                home,
                log_path=data / "prefect-server.log",
                port=settings.port,
                host=settings.host,
                ui=settings.ui,
                start_timeout=settings.server_start_timeout_seconds,
            )
        else:
            err_console.print(
                f"Using the Prefect server at {os.environ['PREFECT_API_URL']}", markup=False
            )
        cdir = config.config_dir.resolve()

        def deployments():
            return build_deployments(cdir, str(db_path), settings)

        def log(message: str) -> None:
            err_console.print(
                f"{time.strftime('%H:%M:%S')} {message}", markup=False, soft_wrap=True
            )

        web = config.settings.web
        workbench = None
        if web.enabled and not once:
            from newswatch.orchestration.web import WorkbenchProcess

            workbench = WorkbenchProcess(cdir, str(db_path), host=web.host, port=web.port)
            try:
                log(f"Workbench at {workbench.start()}")
            except RuntimeError as e:  # serve goes on without it, and says why
                log(f"The workbench did not start ({e}); set web.enabled: false to silence this")
                workbench = None
        try:
            code = serve_forever(
                deployments,
                server=server,
                once=once,
                log=log,
                poll_at_start=settings.poll_at_start,
            )
        finally:
            if workbench is not None:
                workbench.stop()
        err_console.print("Stopped.")
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("serve", help=_HELP)(serve_command)
