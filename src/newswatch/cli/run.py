"""``newswatch run``: one polling pass, with progress on a terminal and a summary."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from newswatch.cli.common import (
    ConfigOpt,
    DbOpt,
    err_console,
    errors_to_exit,
    load_checked,
)


def run(
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    prefect: bool = typer.Option(
        False,
        "--prefect/--no-prefect",
        help="Run the pass as the Prefect flow (newswatch.orchestration.flows). Default: on when PREFECT_API_URL is set.",
        show_default=False,
    ),
    output: str = typer.Option("text", "--format", "-f", help="Summary format: text or json."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    due: bool = typer.Option(
        False, "--due", help="Poll only the feeds whose next poll is due (as scheduled runs do)."
    ),
) -> None:
    """One polling pass over the configured feeds; prints a summary.

    Exit status 0 when the pass completed, even if some feeds failed (they are listed).

    [bold]Examples[/bold]

      newswatch run
      newswatch run --config ./config --db ./data/newswatch.duckdb
      newswatch run --format json | jq .failing_feeds
    """
    import json

    with errors_to_exit():
        config = load_checked(config_dir, db)
        use_prefect = prefect or bool(os.environ.get("PREFECT_API_URL"))
        if use_prefect:
            from newswatch.orchestration.flows import poll_flow

            result = poll_flow(str(config.config_dir), config.db, due_only=due)
            if output == "json":
                print(json.dumps(result, ensure_ascii=False, indent=2))
            else:
                print_summary(result)
            return
        summary = run_with_progress(config, quiet=quiet, due_only=due)
        if output == "json":
            print(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
        else:
            print_summary(summary.to_dict())


def run_with_progress(config, *, quiet: bool, due_only: bool = False):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from newswatch.pipeline.run import run_pass

    if quiet or not err_console.is_terminal:
        return run_pass(config, due_only=due_only)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as prog:
        feeds = prog.add_task("feeds", total=None)
        pages = prog.add_task("articles", total=0)

        def on(event: str, n: int) -> None:
            if event == "feeds_total":
                prog.update(feeds, total=n)
            elif event == "feed_done":
                prog.advance(feeds, n)
            elif event == "pages_total":
                prog.update(pages, total=(prog.tasks[pages].total or 0) + n)
            elif event == "page_done":
                prog.advance(pages, n)

        return run_pass(config, progress=on, due_only=due_only)


def print_summary(s: dict) -> None:
    out = Console(highlight=False)
    out.print(
        f"Pass {s['run_id']}: {s['feeds_total']} feeds "
        f"({s['feeds_fetched']} fetched, {s['feeds_unchanged']} unchanged, {s['feeds_failed']} failed); "
        f"{s['entries_seen']} entries; {s['articles_new']} new articles, {s['articles_flagged']} flagged; "
        f"{s['pages_failed']} pages failed."
    )
    if s.get("failing_feeds"):
        out.print("Failing feeds:")
        for f in s["failing_feeds"]:
            out.print(f"  - {f['name']}: {f['status']}: {f['reason']}", soft_wrap=True)
    if s.get("alerts"):
        out.print("Immediate alerts: " + "; ".join(s["alerts"]), soft_wrap=True, markup=False)
    if s.get("flagged"):
        out.print("Newly flagged:")
        for a in s["flagged"]:
            al = f" / {', '.join(a['allegations'])}" if a["allegations"] else ""
            out.print(
                f"  - [{a['source']}] {a['title']}  ({', '.join(a['actors'])}{al})",
                soft_wrap=True,
                markup=False,
            )


def register(app: typer.Typer) -> None:
    app.command("run")(run)
