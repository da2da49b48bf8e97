"""``newswatch sources`` and ``newswatch status``: the health of the feeds and of the installation."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from newswatch.cli.common import (
    SUMMARY,
    ConfigOpt,
    DbOpt,
    FormatOpt,
    check_format,
    current_store,
    default_db,
    errors_to_exit,
)


def sources(
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    failing: bool = typer.Option(False, "--failing", help="Only feeds that are failing now."),
    fmt: str = FormatOpt("table"),
) -> None:
    """Each feed's health: last status, failures, back-off and next poll (the source_health view).

    [bold]Examples[/bold]

      newswatch sources
      newswatch sources --failing -f json
    """
    from newswatch.cli.output import write_rows
    from newswatch.reports.status import source_rows

    with errors_to_exit():
        check_format(fmt)
        cols, rows = source_rows(current_store(db or default_db(config_dir)), failing=failing)
        write_rows(cols, rows, fmt, sys.stdout, max_width=50)


def status(
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    fmt: str = FormatOpt("text", SUMMARY),
) -> None:
    """Last runs, feeds due and failing, digests pending, database size.

    [bold]Examples[/bold]

      newswatch status
      newswatch status -f json | jq .feeds
    """
    import json
    from datetime import UTC, datetime

    from newswatch.cli.output import jsonable
    from newswatch.reports.status import status_report
    from newswatch.settings import default_config_dir, load_config

    with errors_to_exit():
        fmt = check_format(fmt, SUMMARY)
        settings = None
        if config_dir is None and not default_config_dir().is_dir():
            # no configuration here (status --db PATH from any folder): the database alone
            target = db or default_db(config_dir)
        else:
            # a configuration that is there is read whole, and a broken one is reported as
            # every command reports it (its digests are part of the status)
            config = load_config(config_dir, db=db)
            settings, target = config.settings, config.db
        report = status_report(current_store(target), settings)
        if fmt == "json":
            print(json.dumps(jsonable(report), ensure_ascii=False, indent=2))
            return
        # names and ids are data ("[r1]" is not a style): no Rich markup
        out = Console(highlight=False, soft_wrap=True, markup=False)
        size = report.get("database_bytes")
        out.print(
            f"Database {report['database']} (schema {report['schema_version']}"
            + (f", {size / 1e6:.1f} MB)" if size is not None else ")")
        )
        out.print(
            f"{report['articles']} articles in {report['stories']} stories; {report['flagged']} flagged."
        )

        def when(t: object) -> str:  # the report's times are aware, in UTC: say so
            if isinstance(t, datetime):
                aware = t if t.tzinfo is not None else t.replace(tzinfo=UTC)
                return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            return "-" if t is None else str(t)

        f = report["feeds"]
        out.print(
            f"Feeds: {f['enabled']} enabled, {f['due_now']} due now, {f['erroring']} erroring, "
            f"{f['failing_over_a_day']} failing for over a day; next due {when(f['next_due_at'])}."
        )
        out.print("Last runs:")
        for r in report["last_runs"] or []:
            out.print(
                f"  {when(r['started_at'])}  {r['status']:<9} {r['feeds']} feeds ({r['feeds_failed'] or 0} failed), "
                f"{r['articles_new'] or 0} new, {r['articles_flagged'] or 0} flagged  [{r['run_id']}]"
            )
        if not report["last_runs"]:
            out.print("  (none yet)")
        if report["digests"]:
            out.print("Digests:")
            for d in report["digests"]:
                out.print(f"  {d['name']}: {d['pending_items']} pending ({d['schedule']})")


def register(app: typer.Typer) -> None:
    app.command("sources")(sources)
    app.command("status")(status)
