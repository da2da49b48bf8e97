"""``newswatch sql``: read-only SQL against the database; ``newswatch export``: the public
tables as files, written as ``sql`` prints them (one CSV dialect, one JSON form).

Read-only means three things here:

* only statements that read are run: SELECT (and WITH, VALUES, FROM …), DESCRIBE, SHOW,
  SUMMARIZE, and EXPLAIN of one of those; EXPLAIN ANALYZE runs its statement, so what it
  wraps is checked like any other statement;
* the connection cannot reach outside the database: DuckDB's external access is off (no
  ``read_csv('/etc/passwd')``, ``read_text``, ``read_blob``, ``glob``, no ``COPY … TO``, no
  URL), extensions are neither installed nor loaded by themselves, and the configuration
  is locked so no statement can turn that back on. ``--allow-files`` lets the shell user
  read local files (it still writes nothing);
* on a DuckDB file, a query that holds the file while a scheduled pass waits to write is
  interrupted after ``WRITER_GRACE_SECONDS``, with a message, so a long analysis never
  makes a pass fail (copy the file for long work).
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from newswatch.cli.common import (
    ConfigOpt,
    DbOpt,
    FormatOpt,
    check_format,
    current_store,
    default_db,
    err_console,
    errors_to_exit,
    safe_text,
)
from newswatch.errors import StoreError, UsageError

__all__ = [
    "PUBLIC_TABLES",
    "READ_TYPES",
    "WRITER_GRACE_SECONDS",
    "check_read_only",
    "export_command",
    "register",
    "register_export",
    "sql",
]

# statement types that only read (DuckDB's StatementType names)
READ_TYPES = {"SELECT", "RELATION"}
WRITER_GRACE_SECONDS = 20.0
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:\(\s*[^)]*\)\s*)?(?:ANALY[SZ]E\s+)?", re.IGNORECASE)
_SHOWS = re.compile(r"^\s*(DESCRIBE|SHOW|SUMMARIZE)\b", re.IGNORECASE)


def check_read_only(con: Any, query: str) -> list[str]:
    """The statements of ``query``, each checked to only read; StoreError for the first that
    does not (nothing has been run then)."""
    import duckdb

    try:
        statements = con.extract_statements(query)
    except duckdb.Error as e:
        raise StoreError(f"SQL error: {e}") from None
    out = []
    for st in statements:
        text = st.query
        kind = st.type.name
        if kind == "EXPLAIN":
            inner = _EXPLAIN.sub("", text, count=1)
            try:
                wrapped = con.extract_statements(inner)
            except duckdb.Error as e:
                raise StoreError(f"SQL error: {e}") from None
            kinds = [w.type.name for w in wrapped]
            if len(kinds) != 1 or kinds[0] not in READ_TYPES:
                raise StoreError(
                    f"newswatch sql is read-only: EXPLAIN of a {'/'.join(kinds) or 'empty'} "
                    "statement is refused"
                )
        elif kind not in READ_TYPES and not (kind == "PRAGMA" and _SHOWS.match(text)):
            raise StoreError(f"newswatch sql is read-only: a {kind} statement is refused")
        out.append(text)
    return out


def _lock_down(con: Any, *, allow_files: bool) -> None:
    """No extension installed or loaded by itself, no file or URL outside the database
    (unless ``allow_files``), and no statement can change that back."""
    row = con.execute("SELECT current_setting('lock_configuration')").fetchone()
    if row and row[0]:  # a lake's shared connection, already locked by an earlier query
        return
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    if not allow_files:
        con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def sql(
    query: str | None = typer.Argument(
        None,
        metavar="QUERY",
        help="SQL to run, or - to read it from standard input.",
        show_default=False,
    ),
    file: Path | None = typer.Option(
        None, "--file", help="Read the SQL from this file.", show_default=False
    ),
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
    fmt: str = FormatOpt("table"),
    max_width: int = typer.Option(
        80,
        "--max-width",
        help="On a terminal, cut table cells to this width (0: no limit); piped, nothing is cut.",
    ),
    allow_files: bool = typer.Option(
        False,
        "--allow-files",
        help="Let the query read local files (read_csv, read_parquet, glob …); off by default.",
    ),
) -> None:
    """Run read-only SQL against the database; several statements print one result each.

    Waits and retries while a scheduled run is writing. Statements that write, and reads of
    files outside the database, are refused (see README, "Public SQL"). Timestamps are UTC
    and printed with their zone.

    [bold]Examples[/bold]

      newswatch sql "SELECT source, count(*) FROM articles GROUP BY ALL"
      newswatch sql -f json "SELECT article_id, actors, score FROM flags"
      echo "SELECT * FROM sources" | newswatch sql -f csv -
      newswatch sql --file report.sql
    """
    import duckdb

    from newswatch.cli.output import write_rows

    with errors_to_exit():
        check_format(fmt)
        if file is not None and query is not None:
            raise UsageError("give the SQL as an argument or with --file, not both")
        if file is not None:
            try:
                query = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise UsageError(f"--file {file}: cannot read: {e}") from None
        elif query == "-":
            query = sys.stdin.read()
        if not query or not query.strip():
            raise UsageError("no SQL given", hint='newswatch sql "SELECT count(*) FROM articles"')
        store = current_store(db or default_db(config_dir))
        try:
            with store.reader() as con:
                _load_search(con)
                _lock_down(con, allow_files=allow_files)
                statements = check_read_only(con, query)
                if len(statements) > 1 and fmt == "json":
                    raise UsageError(
                        f"{len(statements)} statements: -f json prints one array, so run them one at "
                        "a time (or use -f jsonl or table, which print each result in turn)"
                    )
                watch = None if store.is_lake else _WriterWatch(store.target, con)
                try:
                    for i, text in enumerate(statements):
                        try:
                            rel = con.execute(text)
                            if rel.description is None:
                                continue
                            columns = [d[0] for d in rel.description]
                            flat = _rows(rel)
                            if i and fmt == "table":
                                sys.stdout.write("\n")
                            write_rows(columns, flat, fmt, sys.stdout, max_width=max_width or None)
                        except duckdb.Error as e:
                            if watch is not None and watch.interrupted:
                                raise StoreError(
                                    f"query interrupted after holding the database for "
                                    f"{WRITER_GRACE_SECONDS:.0f} s while a scheduled pass waited "
                                    "to write",
                                    hint="run long analyses on a copy of the database file "
                                    "(cp data/newswatch.duckdb /tmp/copy.duckdb; newswatch sql "
                                    "--db /tmp/copy.duckdb …)",
                                ) from None
                            msg = str(e)
                            if "external access" in msg.lower() or "disabled by" in msg.lower():
                                raise StoreError(
                                    f"newswatch sql does not read files outside the database: {msg}",
                                    hint="--allow-files lets a query read local files",
                                ) from None
                            if "read-only" in msg or "read only" in msg:
                                raise StoreError(f"newswatch sql is read-only: {msg}") from None
                            raise StoreError(f"SQL error: {msg}") from None
                finally:
                    if watch is not None:
                        watch.stop()
        finally:
            if store.is_lake:  # its locked-down catalog connection is not reused
                store.close()


class _WriterWatch:
    """Interrupts ``con``'s query when a writer has waited for the file for too long."""

    def __init__(self, db: str, con: Any):
        from newswatch.store import lock

        self._lock = lock
        self._db = db
        self._con = con
        self._stop = threading.Event()
        self.interrupted = False
        self._thread = threading.Thread(target=self._run, name="writer-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        waited = 0.0
        while not self._stop.wait(0.5):
            waited = waited + 0.5 if self._lock.writer_is_waiting(self._db) else 0.0
            if waited >= WRITER_GRACE_SECONDS:
                self.interrupted = True
                err_console.print(
                    "A scheduled pass is waiting to write; interrupting this query.",
                    markup=False,
                )
                self._con.interrupt()
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _rows(rel: Any) -> Iterator[tuple[Any, ...]]:
    """A result's rows, a thousand at a time (nothing is loaded whole)."""
    while chunk := rel.fetchmany(1000):
        yield from chunk


def _load_search(con: Any) -> None:
    """Make full-text search (match_bm25) available to ad hoc queries."""
    from newswatch.store.search import fts_install

    try:
        fts_install(con)
    except Exception:  # search is a convenience; plain SQL still works without it
        pass


# -- newswatch export ------------------------------------------------------------------------
# The public tables and views (README, "Public SQL"), in that order, each with the rows
# --since keeps: those of a time column, or those of the articles fetched since then; the
# tables with neither (the configured feeds, the leases) are written whole.
_RECENT_ARTICLES = "article_id IN (SELECT article_id FROM articles WHERE fetched_at >= ?)"
PUBLIC_TABLES: dict[str, str | None] = {
    "articles": "fetched_at >= ?",
    "mentions": _RECENT_ARTICLES,
    "flags": _RECENT_ARTICLES,
    "sources": None,
    "source_health": None,
    "article_urls": _RECENT_ARTICLES,
    "runs": "started_at >= ?",
    "problems": "occurred_at >= ?",
    "digest_deliveries": "delivered_at >= ?",
    "digest_messages": "sent_at >= ?",
    "digest_runs": "started_at >= ?",
    "feed_leases": None,
    "attributions": _RECENT_ARTICLES,
    "story_derivations": _RECENT_ARTICLES,
    "story_timeline": _RECENT_ARTICLES.replace("article_id IN", "article IN", 1),
    "article_anchors": _RECENT_ARTICLES,
    "claim_links": None,
    "claim_stories": "first_seen >= ?",
    "claims": "first_seen >= ?",
    "claim_timeline": "time >= ?",
    "verdicts": "decided_at >= ?",
    "latest_verdicts": "decided_at >= ?",
    "stories": "last_seen >= ?",
    "daily_trends": "day >= ?",
    "cooccurrence": "day >= ?",
    "spikes": "day >= ?",
}
EXPORT_FORMATS = ("parquet", "csv", "json", "jsonl")


def export_command(
    directory: Path = typer.Argument(
        ...,
        metavar="DIR",
        help="Folder to write the files into (created if missing).",
        show_default=False,
    ),
    fmt: str = FormatOpt("parquet", EXPORT_FORMATS, note=" (csv, json, jsonl: as sql prints them)"),
    tables: list[str] | None = typer.Option(
        None, "--table", "-t", help="Only this table (repeatable; default: every public one)."
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only rows from this day on (YYYY-MM-DD, UTC): articles fetched since then and "
        "what belongs to them, runs, problems, deliveries, verdicts, days of the trend views.",
        show_default=False,
    ),
    config_dir: Path | None = ConfigOpt,
    db: str | None = DbOpt,
) -> None:
    """Write the public tables to DIR/<name>.parquet (or .csv, .json, .jsonl), for BI tools.

    Every table and view of README's "Public SQL": articles, mentions, flags, sources,
    source_health, article_urls, runs, problems, the digest tables, feed_leases,
    attributions, story_derivations, story_timeline, article_anchors, claim_links,
    claim_stories, claims, claim_timeline, verdicts, latest_verdicts, stories,
    daily_trends, cooccurrence, spikes (those the database has). Timestamps are UTC: in
    Parquet as timestamps with time zone, in CSV and JSON with +00:00. CSV, JSON and JSONL
    are written exactly as newswatch sql prints them (lists as JSON arrays, NULL as empty).
    Prints each file written, with its row count.

    [bold]Examples[/bold]

      newswatch export exports/
      newswatch export -f csv -t flags -t articles --since 2026-11-01 /tmp/nw
      newswatch export -f jsonl --since 2026-11-20 out/ && wc -l out/*.jsonl
    """
    from datetime import date, datetime

    with errors_to_exit():
        check_format(fmt, EXPORT_FORMATS)
        start = None
        if since is not None:
            try:
                start = datetime.combine(date.fromisoformat(since), datetime.min.time())
            except ValueError:
                raise UsageError(
                    f"--since {since!r} is not a date", hint="use YYYY-MM-DD"
                ) from None
        unknown = [t for t in tables or () if t not in PUBLIC_TABLES]
        if unknown:
            raise UsageError(
                f"--table {unknown[0]!r} is not a public table",
                hint=f"choose from {', '.join(PUBLIC_TABLES)}",
            )
        store = current_store(db or default_db(config_dir))
        with store.reader() as con:
            present = _relations(con)
            wanted = list(dict.fromkeys(tables)) if tables else list(PUBLIC_TABLES)
            missing = [t for t in wanted if t not in present]
            if tables and missing:
                raise StoreError(f"{store.display} has no table {missing[0]!r} (an older schema?)")
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(
                    f"{directory}: cannot create the folder: {e.strerror or e}"
                ) from None
            for name in (t for t in wanted if t in present):
                target = directory / f"{name}.{fmt}"
                try:
                    n = _export_one(con, name, target, fmt, start)
                except OSError as e:
                    raise StoreError(f"{target}: cannot write: {e.strerror or e}") from None
                typer.echo(f"{safe_text(target)}\t{n}")


def _relations(con: Any) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()"
        " AND table_schema = current_schema()"
    ).fetchall()
    return {r[0] for r in rows}


def _export_one(con: Any, name: str, target: Path, fmt: str, start: Any) -> int:
    """Write one table; the number of rows written."""
    from newswatch.cli.output import write_rows

    where = PUBLIC_TABLES[name]
    params = [start] if start is not None and where else []
    filt = f" WHERE {where}" if params else ""
    if fmt != "parquet":
        rel = con.execute(f"SELECT * FROM {name}{filt}", params)
        columns = [d[0] for d in rel.description]
        with target.open("w", encoding="utf-8", newline="") as out:
            return write_rows(columns, _rows(rel), fmt, out)
    # Parquet: every TIMESTAMP column as a timestamp with time zone (the values are UTC)
    cols = con.execute(f"DESCRIBE SELECT * FROM {name}").fetchall()
    select = ", ".join(
        f'timezone(\'UTC\', "{c[0]}") AS "{c[0]}"' if c[1] == "TIMESTAMP" else f'"{c[0]}"'
        for c in cols
    )
    quoted = str(target).replace("'", "''")
    con.execute(
        f"COPY (SELECT {select} FROM {name}{filt}) TO '{quoted}' (FORMAT parquet, COMPRESSION zstd)",
        params,
    )
    row = con.execute(f"SELECT count(*) FROM read_parquet('{quoted}')").fetchone()
    return int(row[0]) if row else 0


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)


def register_export(app: typer.Typer) -> None:
    """``newswatch export`` (registered after ``trends``, whose module held it before)."""
    app.command("export")(export_command)
