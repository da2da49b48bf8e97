"""``newswatch sql``: read-only SQL against the database."""

from __future__ import annotations

import sys

import typer

from newswatch.cli.common import (
    DbOpt,
    current_store,
    default_db,
    errors_to_exit,
)
from newswatch.errors import ConfigError, StoreError

_READ_ONLY_TYPES = {"SELECT", "EXPLAIN", "PRAGMA", "RELATION"}


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

    from newswatch.cli.output import FORMATS, write_rows

    with errors_to_exit():
        if fmt not in FORMATS:
            raise ConfigError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
        if query == "-":
            query = sys.stdin.read()
        if not query.strip():
            raise ConfigError("empty query")
        store = current_store(db or default_db())
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


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)
