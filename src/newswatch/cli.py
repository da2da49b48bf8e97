"""The ``newswatch`` command line.

Every command has ``--help`` with examples. Errors are one line on standard error
(``Error: …``) with a non-zero exit status: 2 for bad configuration or usage, 1 otherwise.
Rows go to standard output in the format asked for; progress and messages go to standard
error, so output can be piped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console

from newswatch.errors import ConfigError, NewswatchError, StoreError

__all__ = ["app", "err_console", "errors_to_exit", "main"]

app = typer.Typer(
    name="newswatch",
    help=(
        "Follow allegations through the world's press: poll news feeds, extract article text, "
        "flag tracked actors and allegations, and store deduplicated results in DuckDB.\n\n"
        "Start with [bold]newswatch demo[/bold]; then [bold]newswatch run[/bold] on your own "
        "config/ and query with [bold]newswatch sql[/bold]."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err_console = Console(stderr=True, highlight=False)

ConfigOpt = typer.Option(
    None,
    "--config",
    "-c",
    help="Configuration folder (default: $NEWSWATCH_CONFIG or ./config).",
    show_default=False,
)
DbOpt = typer.Option(
    None,
    "--db",
    help="DuckDB file, or a DuckLake target (ducklake:postgres:dbname=… or ducklake:<catalog file>); "
    "default: $NEWSWATCH_DB, the config's database, or ./data/newswatch.duckdb.",
    show_default=False,
)


@contextlib.contextmanager
def errors_to_exit() -> Iterator[None]:
    """Turn newswatch errors into one ``Error: …`` line and an exit status."""
    try:
        yield
    except NewswatchError as e:
        err_console.print(f"[red]Error:[/red] {e}", markup=True, soft_wrap=True)
        hint = getattr(e, "hint", None)
        if isinstance(e, ConfigError) and not hint:
            hint = "fix the file and run again; nothing was written"
        if hint:
            err_console.print(f"Hint: {hint}", soft_wrap=True)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("Interrupted; what was committed stays committed.")
        raise typer.Exit(130) from None
    except Exception as e:
        import duckdb

        if not isinstance(e, duckdb.Error):
            raise
        err_console.print(f"[red]Error:[/red] database: {e}", markup=True, soft_wrap=True)
        raise typer.Exit(1) from None


def _current_store(target: str):
    """A Store whose schema is current: an older database is migrated first (schema only)."""
    from newswatch.store import SCHEMA_VERSION, Store

    store = Store(target)
    with store.reader() as con:
        behind = store.schema_version(con) < SCHEMA_VERSION
    if behind:
        store.migrate()
    return store


def _load(config_dir: Path | None, db: str | None):
    from newswatch.flagging.matcher import Matcher
    from newswatch.settings import load_config

    config = load_config(config_dir, db=db)
    Matcher.from_path(config.watchlist_path)  # validate the watchlist before anything is written
    return config


# -- run ---------------------------------------------------------------------------------
@app.command()
def run(
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    prefect: bool = typer.Option(
        False,
        "--prefect/--no-prefect",
        help="Run the pass as the Prefect flow (flows/poll.py). Default: on when PREFECT_API_URL is set.",
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
        config = _load(config_dir, db)
        use_prefect = prefect or bool(os.environ.get("PREFECT_API_URL"))
        if use_prefect:
            from flows.poll import poll_flow

            result = poll_flow(str(config.config_dir), config.db, due_only=due)
            if output == "json":
                print(json.dumps(result, ensure_ascii=False, indent=2))
            else:
                _print_summary_dict(result)
            return
        summary = _run_with_progress(config, quiet=quiet, due_only=due)
        if output == "json":
            print(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
        else:
            _print_summary_dict(summary.to_dict())


def _run_with_progress(config, *, quiet: bool, due_only: bool = False):
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


def _print_summary_dict(s: dict) -> None:
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


# -- sql ---------------------------------------------------------------------------------
_READ_ONLY_TYPES = {"SELECT", "EXPLAIN", "PRAGMA", "RELATION"}


@app.command()
def sql(
    query: str = typer.Argument(..., help="SQL to run, or - to read it from standard input."),
    db: str | None = DbOpt,
    fmt: str = typer.Option(
        "table",
        "--format",
        "-f",
        help="table, csv, json (one array) or jsonl (one object per line).",
    ),
    max_width: int = typer.Option(
        80, "--max-width", help="Truncate table cells to this width (0: no limit)."
    ),
) -> None:
    """Run a read-only SQL query against the database.

    Waits and retries while a scheduled run is writing. Write statements are refused.

    [bold]Examples[/bold]

      newswatch sql "SELECT source, count(*) FROM articles GROUP BY ALL ORDER BY 2 DESC"
      newswatch sql -f json "SELECT a.title, f.actors, f.allegations FROM flags f JOIN articles a USING (article_id)"
      echo "SELECT * FROM sources" | newswatch sql -f csv -
    """
    import duckdb

    from newswatch.output import FORMATS, write_rows

    with errors_to_exit():
        if fmt not in FORMATS:
            raise ConfigError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
        if query == "-":
            query = sys.stdin.read()
        if not query.strip():
            raise ConfigError("empty query")
        store = _current_store(db or _default_db())
        with store.reader() as con:
            _load_search(con)
            try:
                statements = con.extract_statements(query)
            except duckdb.Error as e:
                raise StoreError(f"SQL error: {e}") from None
            for st in statements:
                kind = st.type.name
                if kind not in _READ_ONLY_TYPES:
                    raise StoreError(f"newswatch sql is read-only: a {kind} statement is refused")
            try:
                rel = None
                for st in statements[:-1]:
                    con.execute(st.query)
                rel = con.execute(statements[-1].query) if statements else None
                if rel is None or rel.description is None:
                    return
                columns = [d[0] for d in rel.description]
                rows = iter(lambda: rel.fetchmany(1000), [])
                flat = (r for chunk in rows for r in chunk)
                write_rows(columns, flat, fmt, sys.stdout, max_width=max_width or None)
            except duckdb.Error as e:
                msg = str(e)
                if "read-only" in msg or "read only" in msg:
                    raise StoreError(f"newswatch sql is read-only: {msg}") from None
                raise StoreError(f"SQL error: {msg}") from None


def _load_search(con) -> None:
    """Make full-text search (match_bm25) available to ad hoc queries."""
    from newswatch.store.search import fts_install

    try:
        fts_install(con)
    except Exception:  # search is a convenience; plain SQL still works without it
        pass


def _default_db() -> str:
    from newswatch.settings import resolve_db

    return resolve_db()


# -- reflag, sources, status ---------------------------------------------------------------
@app.command()
def reflag(
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only articles published (or fetched) on or after this date, YYYY-MM-DD.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run the watchlist again over stored articles, after editing it.

    Replaces each article's mentions and flags and records the watchlist version used.
    Safe to interrupt: run it again to finish.

    [bold]Examples[/bold]

      newswatch flag tests/eval/*.jsonl && newswatch eval tests/eval   # check the edit first
      newswatch reflag
      newswatch reflag --since 2026-11-01
    """
    from datetime import date

    from newswatch.pipeline.reflag import reflag as do_reflag
    from newswatch.store import Store

    with errors_to_exit():
        config = _load(config_dir, db)
        day = None
        if since:
            try:
                day = date.fromisoformat(since)
            except ValueError:
                raise ConfigError(f"--since {since!r} is not a date (YYYY-MM-DD)") from None
        from rich.progress import Progress

        with Progress(
            console=err_console, transient=True, disable=quiet or not err_console.is_terminal
        ) as prog:
            task = prog.add_task("re-flagging", total=None)
            stats = do_reflag(
                Store(config.db),
                config.watchlist_path,
                since=day,
                workers=config.settings.pipeline.workers,
                progress=lambda done, total: prog.update(task, completed=done, total=total),
            )
        Console(highlight=False, soft_wrap=True).print(
            f"Re-flagged {stats.articles} articles with watchlist {stats.watchlist_version}: "
            f"{stats.flagged_before} flagged before, {stats.flagged_after} now; {stats.changed} changed."
        )


@app.command()
def sources(
    db: str | None = DbOpt,
    failing: bool = typer.Option(False, "--failing", help="Only feeds that are failing now."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, json or jsonl."),
) -> None:
    """Each feed's health: last status, failures, back-off and next poll (the source_health view).

    [bold]Examples[/bold]

      newswatch sources
      newswatch sources --failing -f json
    """
    from newswatch.output import FORMATS, write_rows
    from newswatch.reports.status import source_rows

    with errors_to_exit():
        if fmt not in FORMATS:
            raise ConfigError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
        cols, rows = source_rows(_current_store(db or _default_db()), failing=failing)
        write_rows(cols, rows, fmt, sys.stdout, max_width=50)


@app.command()
def status(
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    fmt: str = typer.Option("text", "--format", "-f", help="text or json."),
) -> None:
    """Last runs, feeds due and failing, digests pending, database size.

    [bold]Examples[/bold]

      newswatch status
      newswatch status -f json | jq .feeds
    """
    import json

    from newswatch.output import jsonable
    from newswatch.reports.status import status_report
    from newswatch.settings import load_config

    with errors_to_exit():
        settings = None
        try:
            config = load_config(config_dir, db=db)
            settings, target = config.settings, config.db
        except ConfigError:
            if config_dir is not None:
                raise
            target = db or _default_db()
        report = status_report(_current_store(target), settings)
        if fmt == "json":
            print(json.dumps(jsonable(report), ensure_ascii=False, indent=2))
            return
        out = Console(highlight=False, soft_wrap=True)
        size = report.get("database_bytes")
        out.print(
            f"Database {report['database']} (schema {report['schema_version']}"
            + (f", {size / 1e6:.1f} MB)" if size is not None else ")")
        )
        out.print(
            f"{report['articles']} articles in {report['stories']} stories; {report['flagged']} flagged."
        )
        f = report["feeds"]
        out.print(
            f"Feeds: {f['enabled']} enabled, {f['due_now']} due now, {f['erroring']} erroring, "
            f"{f['failing_over_a_day']} failing for over a day; next due {f['next_due_at'] or '-'}."
        )
        out.print("Last runs:")
        for r in report["last_runs"] or []:
            out.print(
                f"  {r['started_at']}  {r['status']:<9} {r['feeds']} feeds ({r['feeds_failed']} failed), "
                f"{r['articles_new']} new, {r['articles_flagged']} flagged  [{r['run_id']}]"
            )
        if not report["last_runs"]:
            out.print("  (none yet)")
        if report["digests"]:
            out.print("Digests:")
            for d in report["digests"]:
                out.print(f"  {d['name']}: {d['pending_items']} pending ({d['schedule']})")


# -- demo --------------------------------------------------------------------------------
@app.command()
def demo(
    db: str = typer.Option(
        "data/demo.duckdb", "--db", help="Where to write the demo database (replaced)."
    ),
    keep_serving: bool = typer.Option(
        False, "--serve", help="Keep the sample site running until Ctrl-C."
    ),
) -> None:
    """Run the whole pipeline against a bundled sample news site on 127.0.0.1.

    Starts a small sample news web (a few outlets, about 30 articles in several languages,
    written by the newswatch team), polls it into a fresh database, prints what was flagged
    and shows how to query the result.

    [bold]Example[/bold]

      newswatch demo && newswatch sql --db data/demo.duckdb "SELECT * FROM flags"
    """
    import yaml

    from newswatch.demo import demo_site, demo_sources
    from newswatch.settings import load_config

    with errors_to_exit():
        defaults = default_config_files()
        dbp = Path(db)
        for p in (dbp, Path(str(dbp) + ".wal")):
            if p.exists():
                p.unlink()
        site = demo_site()
        with site, tempfile.TemporaryDirectory(prefix="newswatch-demo-") as tmp:
            cdir = Path(tmp)
            (cdir / "sources.yaml").write_text(
                yaml.safe_dump(
                    {"sources": demo_sources(site)}, allow_unicode=True, sort_keys=False
                ),
                encoding="utf-8",
            )
            shutil.copy(defaults / "watchlist.yaml", cdir / "watchlist.yaml")
            (cdir / "newswatch.yaml").write_text(
                yaml.safe_dump(
                    {
                        "database": str(dbp),
                        "fetch": {
                            # the sample site runs on this machine, so it must be allowed,
                            # and politeness delays are not needed for it
                            "allow_private_addresses": True,
                            "unthrottled_hosts": ["127.0.0.1"],
                        },
                    }
                ),
                encoding="utf-8",
            )
            err_console.print(
                f"Sample news site running at {site.base_url} ({len(demo_sources(site))} feeds)"
            )
            config = load_config(cdir)
            summary = _run_with_progress(config, quiet=False)
            _print_summary_dict(summary.to_dict())
            _print_demo_flags(str(dbp))
            eml = _write_demo_digest(config, dbp)
            out = Console(highlight=False, soft_wrap=True)
            out.print(
                f"\nThe results are in [bold]{dbp}[/bold]. Try:\n"
                f'  newswatch sql --db {dbp} "SELECT source, title, language FROM articles ORDER BY published_at"\n'
                f'  newswatch sql --db {dbp} "SELECT a.title, f.actors, f.allegations, f.score FROM flags f '
                'JOIN articles a USING (article_id) ORDER BY f.score DESC"\n'
                f'  newswatch sql --db {dbp} -f json "SELECT entity_id, matched_text, sentence FROM mentions '
                "WHERE kind = 'allegation'\"\n"
                f"\nThe alert digest newswatch would email is in [bold]{eml}[/bold] (open it with a mail client)."
            )
            if keep_serving:
                err_console.print(f"Serving {site.base_url} until Ctrl-C …")
                try:
                    import time

                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass


def _print_demo_flags(db: str) -> None:
    from newswatch.output import write_rows
    from newswatch.store import Store

    with Store(db).reader() as con:
        rel = con.execute(
            """
            SELECT a.source, a.language, a.title, f.actors, f.allegations, round(f.score, 2) AS score
            FROM flags f JOIN articles a USING (article_id)
            ORDER BY f.score DESC, a.title
            """
        )
        cols = [d[0] for d in rel.description]
        print("\nFlagged articles:")
        write_rows(cols, rel.fetchall(), "table", sys.stdout, max_width=60)


def _write_demo_digest(config, dbp: Path) -> Path:
    """The digest the demo would email, as a standard .eml file beside the database."""
    from newswatch.digest.deliver import send_digest
    from newswatch.settings import DigestSettings
    from newswatch.store import Store

    eml = dbp.with_name(dbp.stem + "-digest.eml")
    digest = DigestSettings(
        name="demo",
        recipients=["analyst@example.org"],
        immediate=True,
        backfill_days=365,
        include_actor_only=False,
        subject="newswatch demo digest: {count} new ({date})",
    )
    from newswatch.flagging.watchlist import watchlist_labels

    send_digest(
        Store(dbp),
        digest,
        config.settings.smtp,
        to_file=eml,
        labels=watchlist_labels(config.watchlist_path),
    )
    return eml


def default_config_files() -> Path:
    """The default configuration shipped with newswatch (the repository's config/)."""
    here = Path(__file__).resolve().parent
    for cand in (here / "default_config", here.parent.parent / "config"):
        if (cand / "watchlist.yaml").exists():
            return cand
    raise ConfigError(
        "the default configuration is missing from this installation",
        file=str(here / "default_config"),
    )


def _register_commands() -> None:
    """Commands that live in their own modules."""
    import importlib

    for name in (
        "newswatch.cli_flag",
        "newswatch.cli_digest",
        "newswatch.cli_trends",
        "newswatch.cli_serve",
        "newswatch.cli_worker",
    ):
        importlib.import_module(name).register(app)


_register_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
