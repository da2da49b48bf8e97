"""``newswatch trends`` and ``newswatch export``: stories per day, and the public tables as files."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from newswatch.cli.common import ConfigOpt, DbOpt, default_db, errors_to_exit, fail
from newswatch.errors import NewswatchError
from newswatch.reports import trends
from newswatch.store import Store

__all__ = ["register"]


def trends_command(
    days: int = typer.Option(
        14, "--days", "-n", min=1, max=3660, help="Days to show, ending at --end."
    ),
    actor: str | None = typer.Option(None, "--actor", help="Only this actor id."),
    allegation: str | None = typer.Option(None, "--allegation", help="Only this allegation id."),
    end: str | None = typer.Option(
        None, "--end", help="Last day (YYYY-MM-DD); default: the last day with data."
    ),
    plot: Path | None = typer.Option(None, "--plot", help="Also write a chart to this PNG file."),
    limit: int = typer.Option(
        30, "--limit", min=1, help="At most this many entities in the table."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Stories per day for each tracked actor and allegation, with current spikes.

    Counts are distinct stories (syndicated copies count once); "spikes" are days well above
    the entity's trailing baseline.

    Examples:

        newswatch trends

        newswatch trends --days 30 --actor hezbollah

        newswatch trends --allegation tunnel_technology_transfer --plot tunnels.png

        newswatch trends --end 2026-11-22 --json
    """
    try:
        end_day = date.fromisoformat(end) if end else None
    except ValueError:
        fail(f"--end {end!r} is not a date", hint="use YYYY-MM-DD", code=2)
    if plot is not None and plot.suffix.lower() != ".png":
        fail(f"--plot {plot}: the chart is written as PNG", hint="name the file *.png", code=2)
    try:
        with Store(db or default_db(config_dir)).reader() as con:
            if actor or allegation:
                _check_ids(con, config_dir, actor, allegation)
            start, last, rows = trends.trend_rows(
                con, days=days, end=end_day, actor=actor, allegation=allegation, limit=limit
            )
            spikes = trends.spike_rows(con, days=days, end=last, actor=actor, allegation=allegation)
        if plot is not None:
            trends.plot_trends(plot, start, rows, spikes)
    except NewswatchError as e:
        fail(str(e), hint=e.hint, code=e.exit_code)
    except OSError as e:
        fail(f"{plot}: cannot write the chart: {e.strerror or e}")

    if as_json:
        typer.echo(
            json.dumps(
                {
                    "start": start.isoformat(),
                    "end": last.isoformat(),
                    "trends": [
                        {
                            "kind": r.kind,
                            "entity_id": r.entity_id,
                            "articles": r.articles,
                            "stories": r.stories,
                            "sources": r.sources,
                            "series": list(r.series),
                        }
                        for r in rows
                    ],
                    "spikes": [
                        {
                            "day": s.day.isoformat(),
                            "kind": s.kind,
                            "entity_id": s.entity_id,
                            "stories": s.stories,
                            "baseline": round(s.baseline, 3),
                            "zscore": round(s.zscore, 3),
                        }
                        for s in spikes
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    console = Console(highlight=False)
    if not rows:
        console.print("No flagged articles in this period.")
    else:
        table = Table(title=f"Stories per day, {start} … {last}")
        for col, just in (
            ("kind", "left"),
            ("entity", "left"),
            ("stories", "right"),
            ("articles", "right"),
            ("sources", "right"),
            ("trend", "left"),
            ("last day", "right"),
        ):
            table.add_column(col, justify=just)  # type: ignore[arg-type]
        for r in rows:
            table.add_row(
                r.kind,
                r.entity_id,
                str(r.stories),
                str(r.articles),
                str(r.sources),
                r.spark,
                str(r.series[-1]),
            )
        console.print(table)
    if spikes:
        table = Table(title="Spikes")
        for col in ("day", "kind", "entity", "stories", "baseline", "z"):
            table.add_column(col, justify="left" if col in ("day", "kind", "entity") else "right")
        for s in spikes:
            table.add_row(
                s.day.isoformat(),
                s.kind,
                s.entity_id,
                str(s.stories),
                f"{s.baseline:.1f}",
                f"{s.zscore:.1f}",
            )
        console.print(table)
    else:
        console.print("No spikes.")
    if plot is not None:
        console.print(f"Chart written to {plot}")


def _check_ids(
    con: duckdb.DuckDBPyConnection,
    config_dir: Path | None,
    actor: str | None,
    allegation: str | None,
) -> None:
    """An id that neither the watchlist nor the stored flags know (an older watchlist's ids
    stay valid) is a usage error with a "did you mean"."""
    from newswatch.flagging.check import require_ids
    from newswatch.flagging.watchlist import load_watchlist
    from newswatch.settings import default_config_dir, shipped_config_dir

    path = (config_dir or default_config_dir()) / "watchlist.yaml"
    if not path.exists():
        path = shipped_config_dir() / "watchlist.yaml"
    stored = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT entity_id FROM flag_entities WHERE list_contains(?, entity_id)",
            [[x for x in (actor, allegation) if x]],
        ).fetchall()
    }
    with errors_to_exit():
        wl = load_watchlist(path)
        if actor and actor not in stored:
            require_ids(wl, actors=[actor], option="--actor")
        if allegation and allegation not in stored:
            require_ids(wl, allegations=[allegation], option="--allegation")


def export_command(
    directory: Path = typer.Argument(
        ..., help="Folder to write the files into (created if missing)."
    ),
    fmt: str = typer.Option("parquet", "--format", "-f", help="parquet or csv."),
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Write the public tables (articles, mentions, flags, sources, stories, daily_trends,
    cooccurrence, spikes) to DIR/<name>.parquet or .csv, for BI tools.

    Examples:

        newswatch export exports/

        newswatch export --format csv /tmp/newswatch-csv
    """
    if fmt not in ("parquet", "csv"):
        fail(f"--format {fmt!r} is not supported", hint="use parquet or csv", code=2)
    try:
        with Store(db or default_db(config_dir)).reader() as con:
            written = trends.export_tables(con, directory, fmt=fmt)
    except NewswatchError as e:
        fail(str(e), hint=e.hint, code=e.exit_code)
    except OSError as e:
        fail(f"{directory}: cannot write: {e.strerror or e}")
    except duckdb.Error as e:  # an unwritable folder, for instance
        fail(f"{directory}: export failed: {str(e).splitlines()[0]}")
    for path in written:
        typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add the ``trends`` and ``export`` commands to ``app``."""
    app.command("trends")(trends_command)
    app.command("export")(export_command)
