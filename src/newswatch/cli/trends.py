"""``newswatch trends``: stories (or articles, or independent reports) per day for each
actor and allegation, with spikes, as a table, CSV or JSON, and as small multiples."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from newswatch.cli.common import (
    ConfigOpt,
    DbOpt,
    FormatOpt,
    check_format,
    default_db,
    err_console,
    errors_to_exit,
    fail,
    hint_for,
    safe_text,
)
from newswatch.cli.output import write_rows
from newswatch.errors import NewswatchError, UsageError
from newswatch.reports import trends
from newswatch.store import Store

if TYPE_CHECKING:
    from newswatch.flagging.watchlist import Watchlist

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
    count: str = typer.Option(
        "stories",
        "--count",
        help="What a day counts: stories (copies once), articles (every copy), or "
        "independent (reports that copy no earlier one).",
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="Also write a chart (small multiples) to this PNG file."
    ),
    limit: int = typer.Option(
        30, "--limit", min=1, help="At most this many entities in the table."
    ),
    fmt: str = FormatOpt("table"),
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Stories per day for each tracked actor and allegation, with current spikes.

    By default a day counts distinct stories (syndicated copies count once); --count
    articles counts every copy, --count independent only the reports that copy no earlier
    one (the roots of the stories' derivation trees). "Spikes" are days well above the
    entity's trailing baseline of stories.

    Examples:

        newswatch trends

        newswatch trends --days 30 --actor hezbollah

        newswatch trends --allegation tunnel_technology_transfer --plot tunnels.png

        newswatch trends --count independent --days 30

        newswatch trends --end 2026-11-22 -f json
    """
    with errors_to_exit():
        check_format(fmt)
        if count not in trends.COUNTS:
            raise UsageError(f"unknown --count {count!r}; choose one of {', '.join(trends.COUNTS)}")
    try:
        end_day = date.fromisoformat(end) if end else None
    except ValueError:
        fail(f"--end {end!r} is not a date", hint="use YYYY-MM-DD", code=2)
    if plot is not None and plot.suffix.lower() != ".png":
        fail(f"--plot {plot}: the chart is written as PNG", hint="name the file *.png", code=2)
    from newswatch.flagging.watchlist import load_watchlist

    try:
        # the watchlist first: a broken one is an error (exit 2), as for every command,
        # not a table of bare ids
        watchlist = load_watchlist(_watchlist_path(config_dir))
        labels = watchlist.labels
        with Store(db or default_db(config_dir)).reader() as con:
            if actor or allegation:
                _check_ids(con, watchlist, actor, allegation)
            start, last, rows = trends.trend_rows(
                con,
                days=days,
                end=end_day,
                actor=actor,
                allegation=allegation,
                limit=limit,
                count=count,
            )
            spikes = trends.spike_rows(con, days=days, end=last, actor=actor, allegation=allegation)
        if plot is not None:
            trends.plot_trends(plot, start, rows, spikes, labels=labels)
    except NewswatchError as e:
        fail(str(e), hint=hint_for(e), code=e.exit_code)
    except OSError as e:
        fail(f"{plot}: cannot write the chart: {e.strerror or e}")

    if fmt != "table":
        days_of: dict[tuple[str, str], list[str]] = {}
        for s in spikes:
            days_of.setdefault((s.kind, s.entity_id), []).append(s.day.isoformat())
        write_rows(
            _COLUMNS,
            [
                (
                    r.kind,
                    r.entity_id,
                    labels.get(r.entity_id, r.entity_id),
                    r.stories,
                    r.articles,
                    r.independent,
                    r.sources,
                    start,
                    last,
                    r.count,
                    list(r.series),
                    sorted(days_of.get((r.kind, r.entity_id), [])),
                )
                for r in rows
            ],
            fmt,
            sys.stdout,
            max_width=None,
        )
        if plot is not None:
            err_console.print(Text(f"Chart written to {plot}"), soft_wrap=True)
        return
    _print_tables(start, last, rows, spikes, labels, count)
    if plot is not None:
        _console().print(Text(f"Chart written to {plot}"), soft_wrap=True)


_COLUMNS = (
    "kind",
    "entity_id",
    "name",
    "stories",
    "articles",
    "independent",
    "sources",
    "start",
    "end",
    "count",
    "series",
    "spike_days",
)


def _console() -> Console:
    """The terminal's width on a terminal; piped, nothing is wrapped or cut."""
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=False, width=1_000_000)
    return console


def _print_tables(
    start: date,
    last: date,
    rows: list[trends.TrendRow],
    spikes: list[trends.SpikeRow],
    labels: dict[str, str],
    count: str,
) -> None:
    console = _console()
    if not rows:
        console.print("No flagged articles in this period.")
    else:
        _show(
            console,
            f"{count.capitalize()} per day, {start} … {last}",
            [
                ("kind", "left", False),
                ("entity", "left", True),
                ("name", "left", True),
                ("stories", "right", False),
                ("articles", "right", False),
                ("independent", "right", False),
                ("sources", "right", False),
                ("trend", "left", True),
                ("last day", "right", False),
            ],
            [
                [
                    r.kind,
                    r.entity_id,
                    labels.get(r.entity_id, r.entity_id),
                    str(r.stories),
                    str(r.articles),
                    str(r.independent),
                    str(r.sources),
                    r.spark,
                    str(r.series[-1]),
                ]
                for r in rows
            ],
        )
    if spikes:
        _show(
            console,
            "Spikes (stories)",
            [
                ("day", "left", False),
                ("kind", "left", False),
                ("entity", "left", True),
                ("stories", "right", False),
                ("baseline", "right", False),
                ("z", "right", False),
            ],
            [
                [
                    s.day.isoformat(),
                    s.kind,
                    s.entity_id,
                    str(s.stories),
                    f"{s.baseline:.1f}",
                    f"{s.zscore:.1f}",
                ]
                for s in spikes
            ],
        )
    else:
        console.print("No spikes.")


_FOLDED = 12  # the narrowest a folding column (ids, names, sparklines) may become


def _show(
    console: Console,
    title: str,
    columns: list[tuple[str, str, bool]],
    rows: list[list[str]],
) -> None:
    """A table: (name, justify, folds) per column; cells are text, never markup. Piped, it
    is drawn at its own width. On a terminal too narrow for it (folding columns at least
    _FOLDED wide, the others whole), each row is shown as a block of "column  value" lines
    instead (psql's expanded display), so that nothing is cut; long values wrap."""
    from rich.cells import cell_len

    cells = [[safe_text(c) for c in row] for row in rows]
    widths = [
        max([cell_len(name), *(cell_len(r[i]) for r in cells)])
        for i, (name, _, _) in enumerate(columns)
    ]
    needed = sum(
        min(w, _FOLDED) if folds else w for w, (_, _, folds) in zip(widths, columns, strict=True)
    )
    needed += 3 * len(columns) + 1  # borders and padding
    if console.is_terminal and console.width < needed:
        console.print(Text(title, style="bold"), soft_wrap=False)
        label_width = max(cell_len(name) for name, _, _ in columns)
        for n, row in enumerate(cells, 1):
            console.print(Text(f"-[ {n} ]" + "-" * max(0, label_width - 4)))
            grid = Table.grid(padding=(0, 2))
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            for (name, _, _), value in zip(columns, row, strict=True):
                grid.add_row(Text(name), Text(value))
            console.print(grid)
        return
    table = Table(title=title)
    for (name, justify, folds), width in zip(columns, widths, strict=True):
        table.add_column(
            name,
            justify=justify,  # type: ignore[arg-type]
            overflow="fold" if folds else "ellipsis",
            no_wrap=not folds,
            min_width=min(_FOLDED, width) if folds else None,
        )
    for row in cells:
        table.add_row(*(Text(c) for c in row))
    console.print(table, crop=False)


def _watchlist_path(config_dir: Path | None) -> Path:
    from newswatch.settings import default_config_dir, shipped_config_dir

    path = (config_dir or default_config_dir()) / "watchlist.yaml"
    return path if path.exists() else shipped_config_dir() / "watchlist.yaml"


def _check_ids(
    con: duckdb.DuckDBPyConnection,
    wl: Watchlist,
    actor: str | None,
    allegation: str | None,
) -> None:
    """An id that neither the watchlist nor the stored flags know (an older watchlist's ids
    stay valid) is a usage error with a "did you mean"."""
    from newswatch.flagging.check import require_ids

    stored = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT entity_id FROM flag_entities WHERE list_contains(?, entity_id)",
            [[x for x in (actor, allegation) if x]],
        ).fetchall()
    }
    if actor and actor not in stored:
        require_ids(wl, actors=[actor], option="--actor")
    if allegation and allegation not in stored:
        require_ids(wl, allegations=[allegation], option="--allegation")


def register(app: typer.Typer) -> None:
    """Add the ``trends`` command to ``app``."""
    app.command("trends")(trends_command)
