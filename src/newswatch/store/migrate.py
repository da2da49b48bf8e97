"""A DuckDB file into a DuckLake: ``newswatch lake migrate --from FILE`` (``store.migrate``).

:func:`copy_file_to_lake` copies every table of the file's ``main`` schema, once, into an
empty lake, in ONE lake transaction (all of it or nothing):

* the file's schema is brought up to date first, and so is the lake's, so both have the
  same tables (columns are matched by name);
* bookkeeping is not copied: ``schema_migrations`` (the lake has its own), the write fences
  (``store_writes``, ``article_writes``), ``feed_leases`` (held by passes, not data) and
  ``store_meta`` (the file's full-text index, which a lake has not), nor the index itself
  (the ``fts_main_*`` schemas);
* it refuses while writers run: a pass on the file (a live heartbeat) or on the lake (a live
  heartbeat, unexpired feed leases); it holds the file read-only for the whole copy (no pass
  can write it meanwhile) and both of the lake's write lanes (no writer commits meanwhile);
* it refuses a lake that already holds data (a second run would copy twice);
* every table's row count in the lake is compared with the file's before COMMIT, and again
  afterwards from a fresh connection.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from newswatch.errors import StoreError
from newswatch.store.engine import LANE_ARTICLES, LANE_STORE, Engine, fetch_one
from newswatch.store.extensions import quote
from newswatch.store.maintenance import live_passes

__all__ = ["BOOKKEEPING_TABLES", "CopyReport", "copy_file_to_lake"]

BOOKKEEPING_TABLES = frozenset(
    {"schema_migrations", "store_writes", "article_writes", "feed_leases", "store_meta"}
)
_SRC = "nw_src"


@dataclass
class CopyReport:
    tables: dict[str, int] = field(default_factory=dict)  # table → rows copied
    skipped: list[str] = field(default_factory=list)  # bookkeeping and index tables
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def copy_file_to_lake(
    source: str | Path,
    lake: Engine,
    *,
    stale_after: timedelta = timedelta(seconds=120),
    now: datetime | None = None,
) -> CopyReport:
    """Copy the newswatch DuckDB file ``source`` into the empty DuckLake ``lake``."""
    t0 = time.monotonic()
    now = now or datetime.now(UTC).replace(tzinfo=None)
    if not lake.is_lake:
        raise StoreError(f"{lake.display}: the target of lake migrate must be a DuckLake")
    src = Engine(source, lock_timeout=lake.lock_timeout)
    if src.is_lake or str(source) == ":memory:":
        raise StoreError(f"{source}: lake migrate copies from a DuckDB file")
    if not src.exists():
        raise StoreError(f"{source}: no such database file")
    busy = live_passes(src, now=now, stale_after=stale_after)
    if busy:
        raise StoreError(
            f"{source}: writers are running on it: {'; '.join(busy)}",
            hint="stop newswatch serve / run on this file first (a dead pass's heartbeat "
            f"goes stale after {stale_after.total_seconds():.0f} s)",
        )
    src.ensure_current()
    lake.migrate()
    busy = live_passes(lake, now=now, stale_after=stale_after)
    if busy:
        raise StoreError(
            f"{lake.display}: writers are running on the lake: {'; '.join(busy)}",
            hint="stop the workers first; lake migrate fills a new, empty lake",
        )
    report = CopyReport()
    with (
        lake.writer() as con,
        lake.lane(LANE_ARTICLES, hold_seconds=86400),
        lake.lane(LANE_STORE, hold_seconds=86400),
    ):
        try:
            con.execute(f"ATTACH {quote(str(Path(source).resolve()))} AS {_SRC} (READ_ONLY)")
        except duckdb.Error as e:
            raise StoreError(f"{source}: cannot open it read-only: {e}") from None
        try:
            tables = _plan(con, report)
            _refuse_data(con, lake, tables)
            con.execute("BEGIN TRANSACTION")
            try:
                for t in tables:
                    con.execute(f'INSERT INTO "{t}" BY NAME SELECT * FROM {_SRC}.main."{t}"')
                for t in tables:
                    (want,) = fetch_one(con, f'SELECT count(*) FROM {_SRC}.main."{t}"')
                    (got,) = fetch_one(con, f'SELECT count(*) FROM "{t}"')
                    if got != want:
                        raise StoreError(
                            f"{lake.display}: {t}: {got} rows in the lake after the copy, "
                            f"{want} in {source}; nothing was committed"
                        )
                    report.tables[t] = int(want)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except duckdb.Error as e:
            raise StoreError(
                f"{lake.display}: lake migrate failed, nothing was copied: {e}"
            ) from None
        finally:
            con.execute(f"DETACH {_SRC}")
    # again, as a reader elsewhere sees it
    with lake.reader() as con:
        for t, want in report.tables.items():
            (got,) = fetch_one(con, f'SELECT count(*) FROM "{t}"')
            if got != want:
                raise StoreError(f"{lake.display}: {t}: {got} rows after COMMIT, {want} copied")
    report.seconds = time.monotonic() - t0
    return report


def _plan(con: duckdb.DuckDBPyConnection, report: CopyReport) -> list[str]:
    """The tables to copy (the file's main schema, less bookkeeping); the rest is skipped."""
    src_tables = [
        (s, t)
        for s, t in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? "
            "ORDER BY schema_name, table_name",
            [_SRC],
        ).fetchall()
    ]
    lake_tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main'"
        ).fetchall()
    }
    tables = []
    for schema, t in src_tables:
        if schema != "main" or t in BOOKKEEPING_TABLES:
            report.skipped.append(t if schema == "main" else f"{schema}.{t}")
        elif t not in lake_tables:
            raise StoreError(f"{t}: a table of the file that the lake's schema does not have")
        else:
            tables.append(t)
    return tables


def _refuse_data(con: duckdb.DuckDBPyConnection, lake: Engine, tables: list[str]) -> None:
    full = []
    for t in tables:
        (n,) = fetch_one(con, f'SELECT count(*) FROM "{t}"')
        if n:
            full.append(f"{t} ({n} rows)")
    if full:
        raise StoreError(
            f"{lake.display}: the lake already holds data: {', '.join(full)}",
            hint="lake migrate copies into a new, empty lake once (create a new catalog "
            "database and data path, or drop this one)",
        )
