"""``newswatch lake migrate`` and ``newswatch lake maintain``: moving into a DuckLake, and its upkeep."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from newswatch.cli.common import SUMMARY, ConfigOpt, DbOpt, FormatOpt, check_format, errors_to_exit
from newswatch.errors import UsageError

if TYPE_CHECKING:
    from newswatch.settings import Settings
    from newswatch.store import Store

__all__ = ["register"]

app = typer.Typer(
    name="lake",
    help="A DuckLake store: move a DuckDB file into it (migrate), keep it small (maintain).",
    no_args_is_help=True,
)


def _lake(config_dir: Path | None, db: str | None) -> tuple[Store, Settings]:
    from newswatch.settings import default_config_dir, load_settings, resolve_db
    from newswatch.store import Store

    cdir = config_dir or default_config_dir()
    target = resolve_db(cdir, db, strict=True)
    store = Store(target)
    if not store.is_lake:
        raise UsageError(
            f"{store.display} is not a DuckLake",
            hint='give --db "ducklake:postgres:dbname=newswatch host=…" (or set NEWSWATCH_DB)',
        )
    return store, load_settings(cdir / "newswatch.yaml")


@app.command("migrate")
def migrate(
    source: Path = typer.Option(
        ..., "--from", help="The DuckDB file to copy (e.g. data/newswatch.duckdb).", exists=False
    ),
    db: str | None = DbOpt,
    config_dir: Path | None = ConfigOpt,
    fmt: str = FormatOpt("text", SUMMARY),
) -> None:
    """Copy a newswatch DuckDB file into a new, empty DuckLake, every table once.

    One transaction: all of it or nothing. Bookkeeping tables (schema_migrations, the write
    fences, feed_leases, store_meta) and the full-text index are not copied; every table's
    row count is checked. Refuses while a pass writes the file or the lake, and refuses a
    lake that already holds data. The file is only read (its schema is brought up to date
    first if it is older).

    [bold]Examples[/bold]

      export NEWSWATCH_DB="ducklake:postgres:dbname=newswatch host=db.internal"
      export NEWSWATCH_DATA_PATH=/mnt/newswatch-lake
      newswatch lake migrate --from data/newswatch.duckdb
    """
    from newswatch.store.migrate import copy_file_to_lake

    with errors_to_exit():
        as_json = check_format(fmt, SUMMARY) == "json"
        store, settings = _lake(config_dir, db)
        report = copy_file_to_lake(
            source, store, stale_after=timedelta(seconds=settings.pipeline.lease_seconds)
        )
        if as_json:
            json.dump(asdict(report), sys.stdout, indent=2)
            sys.stdout.write("\n")
            return
        for t, n in report.tables.items():
            typer.echo(f"  {t:<22} {n:>10,} rows")
        typer.echo(
            f"Copied {report.rows:,} rows in {len(report.tables)} tables from {source} into "
            f"{store.display} in {report.seconds:.1f} s; counts checked."
        )
        if report.skipped:
            typer.echo(f"Not copied (bookkeeping, full-text index): {', '.join(report.skipped)}")


@app.command("maintain")
def maintain(
    db: str | None = DbOpt,
    config_dir: Path | None = ConfigOpt,
    force: bool = typer.Option(
        False, "--force", help="Run even while a pass is running (it is safe, only slower)."
    ),
    flush_inlined: bool = typer.Option(
        False,
        "--flush-inlined",
        help="Also move rows inlined in the catalog to Parquet. Only with every newswatch "
        "process on the lake stopped (workers, serve, web): DuckLake 1.5.5 breaks the others.",
    ),
    fmt: str = FormatOpt("text", SUMMARY),
) -> None:
    """Expire old snapshots, merge small files, delete files no longer needed.

    Steps: expire snapshots older than lake.snapshot_days (7; NEWSWATCH_LAKE_SNAPSHOT_DAYS);
    merge adjacent files; rewrite files with many deleted rows; delete files unused for
    lake.cleanup_hours (1) and files the catalog never named once lake.orphan_hours (24) old.
    Safe beside writers; meant for cron on one host, outside the polling times: it refuses
    while a pass runs unless --force. --flush-inlined (a stopped fleet only) also moves the
    rows of small commits from the catalog to Parquet.

    [bold]Examples[/bold]

      newswatch lake maintain
      # cron, nightly at 03:17:
      17 3 * * *  cd /srv/nw && newswatch lake maintain >> maintain.log 2>&1
    """
    from datetime import UTC, datetime

    from newswatch.store.maintenance import live_passes
    from newswatch.store.maintenance import maintain as run_maintenance

    with errors_to_exit():
        as_json = check_format(fmt, SUMMARY) == "json"
        store, settings = _lake(config_dir, db)
        if not force:
            busy = live_passes(
                store,
                now=datetime.now(UTC).replace(tzinfo=None),
                stale_after=timedelta(seconds=settings.pipeline.lease_seconds),
            )
            if busy:
                from newswatch.errors import StoreError

                raise StoreError(
                    f"a pass is running on {store.display}: {'; '.join(busy)}",
                    hint="run it outside the polling times, or with --force (safe, slower)",
                )
        report = run_maintenance(
            store,
            settings.lake,
            flush_inlined=flush_inlined,
            log=lambda m: None if as_json else typer.echo(f"  {m}"),
        )
        if as_json:
            json.dump(asdict(report), sys.stdout, indent=2)
            sys.stdout.write("\n")
            return
        b, a = report.before, report.after
        typer.echo(
            f"Snapshots {b.snapshots:,} → {a.snapshots:,}; data files {b.data_files:,} → "
            f"{a.data_files:,} ({b.data_bytes / 1e6:.1f} → {a.data_bytes / 1e6:.1f} MB); "
            f"delete files {b.delete_files:,} → {a.delete_files:,}."
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="lake")
