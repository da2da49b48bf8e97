"""``newswatch run``: one polling pass, with progress on a terminal and a summary."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from newswatch.cli.common import (
    SUMMARY,
    ConfigOpt,
    DbOpt,
    FormatOpt,
    check_format,
    err_console,
    errors_to_exit,
    load_checked,
    safe_text,
)


def run(
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    prefect: bool = typer.Option(
        False,
        "--prefect/--no-prefect",
        help="Run the pass as the Prefect flow (newswatch.orchestration.flows). "
        "Default: on when PREFECT_API_URL is set.",
        show_default=False,
    ),
    output: str = FormatOpt("text", SUMMARY),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    due: bool = typer.Option(
        False, "--due", help="Poll only the feeds whose next poll is due (as scheduled runs do)."
    ),
) -> None:
    """One polling pass over the configured feeds; prints a summary.

    Exit status: 0 when the pass completed, even if some feeds failed (they are listed);
    3 when it completed but a batch of articles could not be stored (they are listed, and
    their feeds are fetched in full again next pass); 4 when there were feeds to poll and
    not one could be fetched; 2 for a bad configuration; 1 for any other error.

    [bold]Examples[/bold]

      newswatch run
      newswatch run --config ./config --db ./data/newswatch.duckdb
      newswatch run --format json | jq .failing_feeds
    """
    import json

    with errors_to_exit():
        output = check_format(output, SUMMARY)
        config = load_checked(config_dir, db)
        use_prefect = prefect or bool(os.environ.get("PREFECT_API_URL"))
        if use_prefect:
            from newswatch.orchestration.flows import poll_flow

            result = poll_flow(str(config.config_dir), config.db, due_only=due)
        else:
            result = run_with_progress(config, quiet=quiet, due_only=due).to_dict()
        if output == "json":
            print(json.dumps(result, ensure_ascii=False, indent=2))
        else:
            print_summary(result)
    code = exit_code(result)
    if code:
        raise typer.Exit(code)


EXIT_NOT_STORED = 3
EXIT_NO_FEED_FETCHED = 4


def exit_code(summary: dict) -> int:
    """The exit status of a pass (see ``newswatch run --help``)."""
    if summary.get("articles_not_stored"):
        return EXIT_NOT_STORED
    if summary["feeds_total"] and summary["feeds_failed"] == summary["feeds_total"]:
        return EXIT_NO_FEED_FETCHED
    return 0


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
    """The summary of a pass as plain lines on standard output: never wrapped or cut (a pipe
    gets whole lines), and text from feeds (names, reasons, headlines) shown as text."""

    def say(line: str) -> None:
        typer.echo(line)

    say(
        f"Pass {s['run_id']}: {s['feeds_total']} feeds "
        f"({s['feeds_fetched']} fetched, {s['feeds_unchanged']} unchanged, "
        f"{s['feeds_failed']} failed); {s['entries_seen']} entries; "
        f"{s['articles_new']} new articles, {s['articles_flagged']} flagged; "
        f"{s['pages_failed']} pages failed."
    )
    if s.get("failing_feeds"):
        say("Failing feeds:")
        for f in s["failing_feeds"]:
            say(f"  - {safe_text(f['name'])}: {f['status']}: {safe_text(f['reason'])}")
    for e in s.get("store_errors") or ():
        say(f"Not stored: {safe_text(e)}")
    if s.get("alerts"):
        say("Immediate alerts: " + "; ".join(safe_text(a) for a in s["alerts"]))
    if s.get("flagged"):
        say("Newly flagged:")
        for a in s["flagged"]:
            al = f" / {', '.join(a['allegations'])}" if a["allegations"] else ""
            say(
                f"  - [{safe_text(a['source'])}] {safe_text(a['title'])}  ({', '.join(a['actors'])}{al})"
            )
    if s["feeds_total"] and s["feeds_failed"] == s["feeds_total"]:
        say(f"No feed could be fetched (exit status {EXIT_NO_FEED_FETCHED}).")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
