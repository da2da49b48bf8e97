"""Store stage: DuckDB or DuckLake, with versioned migrations and idempotent, batched writes.

Two back-ends behind one public SQL (``Store(target)``; ``_open`` is the only place that
knows which):

* a DuckDB file (``data/newswatch.duckdb``; ``:memory:`` for tests). The database is held
  only while a batch is written: every write opens a connection, writes one transaction and
  closes it, so ``newswatch sql`` can read between batches. A connection that meets another
  process's lock waits and retries (``lock_timeout`` seconds) instead of failing.
* a DuckLake: ``ducklake:postgres:dbname=newswatch host=…`` (a PostgreSQL catalog: many
  readers and writers on many machines) or ``ducklake:/path/catalog.ducklake`` (a DuckDB-file
  catalog, one process at a time, like a DuckDB file). Its data files go to ``data_path``
  (argument, or ``$NEWSWATCH_DATA_PATH``; a local or shared folder, or object storage where
  DuckDB can write; the catalog remembers it, so readers need not repeat it). The lake is
  ATTACHed to an in-memory DuckDB ``AS nw`` and made the default (``USE nw``), so every
  statement runs unchanged; readers get a READ_ONLY attachment. The ``ducklake`` and
  ``postgres`` extensions are loaded from their PyPI packages (nothing is downloaded).

Writers on a DuckLake do not lock: they commit optimistically, and DuckLake merges
concurrent *appends* to one table silently, which would let two writers' anti-joins both
insert the same article. So every write transaction on a lake also updates the one row of
``store_writes``: two overlapping write transactions then conflict at COMMIT, and
:meth:`Store.run_in_transaction` runs the loser again from the start (back-off with jitter,
up to ``lock_timeout`` seconds), when it sees the winner's rows. Nothing relies on PRIMARY
KEY constraints: inserts are anti-joins on the article id inside one transaction, so a
retry never duplicates.

What DuckLake does not do, and what we do instead: no full-text index (``fts`` writes
tables DuckLake cannot type): :meth:`Store.rebuild_search_index` is a no-op on a lake.

Feed leases (``feed_leases``) shard a pass over several workers: :meth:`Store.claim_feeds`
takes the given feeds that no live owner holds, atomically, with an expiry, so a dead
worker's feeds are taken by the next pass.

Public SQL (documented in the README; changed only by a new migration):

    articles(article_id, url, canonical_url, source, title, author, published_at,
             fetched_at, language, text, summary, extraction, story_id, content_hash, run_id)
    mentions(article_id, kind, entity_id, matched_text, sentence, field,
             start_offset, end_offset, rule, weight)
    flags(article_id, actors, allegations, score, flagged_at, watchlist_version)
    sources(name, url, language, tags, enabled, last_status, last_http_status, last_error,
            last_polled_at, last_success_at, last_new_item_at, consecutive_failures, ...)
    runs(run_id, started_at, finished_at, status, ...)      problems(run_id, occurred_at, source, url, stage, kind, reason)
    feed_leases(name, owner, leased_until)
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import random
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa

from newswatch.errors import StoreError
from newswatch.models import ArticleRecord, Mention
from newswatch.store import lock as dblock

__all__ = [
    "DATA_PATH_ENV",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Problem",
    "SourceState",
    "SourceUpdate",
    "Store",
    "StoreConflict",
    "WriteStats",
    "is_conflict_error",
    "is_lock_error",
]

T = TypeVar("T")
DATA_PATH_ENV = "NEWSWATCH_DATA_PATH"
LAKE_PREFIX = "ducklake:"

# -- migrations ----------------------------------------------------------------------------
# Each entry: (version, name, SQL). Append only; never edit an applied migration.
MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "initial schema",
        """
        CREATE TABLE sources (
            name VARCHAR NOT NULL,
            url VARCHAR NOT NULL,
            language VARCHAR,
            tags VARCHAR[],
            enabled BOOLEAN DEFAULT TRUE,
            last_status VARCHAR,
            last_http_status INTEGER,
            last_error VARCHAR,
            last_polled_at TIMESTAMP,
            last_success_at TIMESTAMP,
            last_new_item_at TIMESTAMP,
            consecutive_failures INTEGER DEFAULT 0,
            etag VARCHAR,
            last_modified VARCHAR,
            body_hash VARCHAR,
            entries_last_seen INTEGER,
            update_minutes INTEGER
        );
        CREATE TABLE articles (
            article_id VARCHAR NOT NULL,
            url VARCHAR NOT NULL,
            canonical_url VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            title VARCHAR,
            author VARCHAR,
            published_at TIMESTAMP,
            fetched_at TIMESTAMP NOT NULL,
            language VARCHAR,
            text VARCHAR,
            summary VARCHAR,
            extraction VARCHAR NOT NULL,
            story_id VARCHAR NOT NULL,
            content_hash VARCHAR,
            run_id VARCHAR
        );
        CREATE TABLE article_urls (
            url VARCHAR NOT NULL,
            article_id VARCHAR NOT NULL
        );
        CREATE TABLE mentions (
            article_id VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            entity_id VARCHAR NOT NULL,
            matched_text VARCHAR,
            sentence VARCHAR,
            field VARCHAR,
            start_offset INTEGER,
            end_offset INTEGER,
            rule VARCHAR,
            weight DOUBLE
        );
        CREATE TABLE flags (
            article_id VARCHAR NOT NULL,
            actors VARCHAR[] NOT NULL,
            allegations VARCHAR[] NOT NULL,
            score DOUBLE NOT NULL,
            flagged_at TIMESTAMP NOT NULL,
            watchlist_version VARCHAR
        );
        CREATE TABLE runs (
            run_id VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            status VARCHAR NOT NULL,
            feeds_total INTEGER,
            feeds_fetched INTEGER,
            feeds_unchanged INTEGER,
            feeds_failed INTEGER,
            entries_seen INTEGER,
            articles_new INTEGER,
            articles_flagged INTEGER,
            pages_failed INTEGER
        );
        CREATE TABLE problems (
            run_id VARCHAR,
            occurred_at TIMESTAMP NOT NULL,
            source VARCHAR,
            url VARCHAR,
            stage VARCHAR NOT NULL,
            kind VARCHAR,
            reason VARCHAR NOT NULL
        );
        """,
    ),
]


def _later_migrations() -> None:
    """Migrations whose SQL lives with the module that owns the tables."""
    from newswatch.digest_schema import MIGRATION_SQL as DIGEST_SQL

    MIGRATIONS.append((2, "digest deliveries", DIGEST_SQL))
    MIGRATIONS.append((3, "adaptive polling and feed health", _POLLING_SQL))
    from newswatch.stories import MIGRATION_SQL as STORIES_SQL
    from newswatch.stories import VIEWS_SQL as TREND_VIEWS_SQL

    MIGRATIONS.append((4, "stories and trend views", STORIES_SQL + ";\n" + TREND_VIEWS_SQL))
    MIGRATIONS.append((5, "feed leases and the lake write serial", _LEASES_SQL))
    MIGRATIONS.append(
        (
            6,
            "store metadata",
            "CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR NOT NULL, value VARCHAR);",
        )
    )


# feed_leases: one row per feed claimed by a worker of a sharded pass (see Store.claim_feeds).
# store_writes: one row, updated by every write transaction on a DuckLake so that two
# overlapping write transactions conflict instead of both committing (see the module doc).
_LEASES_SQL = """
CREATE TABLE IF NOT EXISTS feed_leases (
    name VARCHAR NOT NULL,
    owner VARCHAR NOT NULL,
    leased_until TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS store_writes (
    serial BIGINT NOT NULL
);
INSERT INTO store_writes SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM store_writes);
"""
_WRITE_SERIAL_VERSION = 5


_POLLING_SQL = """
ALTER TABLE sources ADD COLUMN poll_interval_minutes DOUBLE;
ALTER TABLE sources ADD COLUMN failure_score DOUBLE;
ALTER TABLE sources ADD COLUMN next_poll_at TIMESTAMP;
ALTER TABLE sources ADD COLUMN failing_since TIMESTAMP;
CREATE OR REPLACE VIEW source_health AS
SELECT
    name, url, language, enabled,
    CASE
        WHEN NOT coalesce(enabled, TRUE) THEN 'disabled'
        WHEN last_polled_at IS NULL THEN 'new'
        WHEN coalesce(consecutive_failures, 0) = 0 THEN 'ok'
        WHEN failing_since < (now() AT TIME ZONE 'UTC') - INTERVAL 1 DAY THEN 'failing'
        ELSE 'erroring'
    END AS health,
    last_status, last_http_status, last_error,
    last_polled_at, last_success_at, last_new_item_at,
    coalesce(consecutive_failures, 0) AS consecutive_failures,
    coalesce(failure_score, 0) AS failure_score,
    failing_since,
    poll_interval_minutes, update_minutes AS declared_update_minutes, next_poll_at,
    (next_poll_at IS NULL OR next_poll_at <= (now() AT TIME ZONE 'UTC')) AND coalesce(enabled, TRUE) AS due
FROM sources;
"""

_later_migrations()
SCHEMA_VERSION = MIGRATIONS[-1][0]

_ARTICLE_COLUMNS = [
    "article_id",
    "url",
    "canonical_url",
    "source",
    "title",
    "author",
    "published_at",
    "fetched_at",
    "language",
    "text",
    "summary",
    "extraction",
    "story_id",
    "content_hash",
    "run_id",
]
_SOURCE_STATE_COLUMNS = [
    "name",
    "url",
    "etag",
    "last_modified",
    "body_hash",
    "consecutive_failures",
    "last_status",
    "last_polled_at",
    "last_success_at",
    "last_new_item_at",
    "update_minutes",
    "poll_interval_minutes",
    "failure_score",
    "next_poll_at",
    "failing_since",
]


_MENTIONS_SCHEMA = pa.schema(
    [
        (c, pa.string())
        for c in ("article_id", "kind", "entity_id", "matched_text", "sentence", "field")
    ]
    + [
        ("start_offset", pa.int32()),
        ("end_offset", pa.int32()),
        ("rule", pa.string()),
        ("weight", pa.float64()),
    ]
)


def mentions_table(pairs: Iterable[tuple[str, Mention]]) -> pa.Table:
    """(article_id, Mention) pairs as an Arrow table in the column order of ``mentions``."""
    rows = list(pairs)
    return pa.table(
        {
            "article_id": [a for a, _ in rows],
            "kind": [m.kind for _, m in rows],
            "entity_id": [m.entity_id for _, m in rows],
            "matched_text": [m.matched_text for _, m in rows],
            "sentence": [m.sentence for _, m in rows],
            "field": [m.field for _, m in rows],
            "start_offset": [m.start for _, m in rows],
            "end_offset": [m.end for _, m in rows],
            "rule": [m.rule for _, m in rows],
            "weight": [m.weight for _, m in rows],
        },
        schema=_MENTIONS_SCHEMA,
    )


def is_lock_error(e: BaseException) -> bool:
    msg = str(e)
    return isinstance(e, duckdb.IOException) and ("lock" in msg.lower() or "Conflicting" in msg)


def is_conflict_error(e: BaseException) -> bool:
    """A write that lost a race with another writer and may be run again from the start."""
    if isinstance(e, StoreConflict):
        return True
    if not isinstance(e, duckdb.TransactionException):
        return False
    msg = str(e).lower()
    return "conflict" in msg or "maximum retry count" in msg


class StoreConflict(StoreError):
    """A write transaction conflicted with another writer's (DuckLake) and was rolled back.

    :meth:`Store.run_in_transaction` runs such a transaction again; a ``with
    store.transaction()`` block cannot be re-run, so it raises this instead."""


# -- DuckLake ------------------------------------------------------------------------------
_LAKE_ALIAS = "nw"  # read-write attachment; readers get "nw_ro" (READ_ONLY)
_LAKE_ALIAS_RO = "nw_ro"
_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _package_extension(module: str, name: str) -> Path:
    """The extension file shipped in a duckdb-extension-* PyPI package."""
    import importlib

    try:
        root = pathlib.Path(importlib.import_module(module).__file__ or "").parent
    except ImportError:
        raise StoreError(
            f"DuckLake needs the {module.replace('_', '-')} package (pip install it)"
        ) from None
    found = sorted(root.glob(f"extensions/*/{name}.duckdb_extension"))
    if not found:
        raise StoreError(f"{root}: no {name}.duckdb_extension in the {module} package")
    return found[-1]


_EXT_LOCK = threading.Lock()


def _postgres_extension() -> Path:
    """The postgres extension, under the file name DuckDB expects.

    The package ships ``postgres.duckdb_extension``, but the extension inside is
    ``postgres_scanner`` and DuckDB derives the entry point from the file name; a symlink (a
    copy where links are not allowed) named ``postgres_scanner.duckdb_extension`` in a
    private temporary folder loads it, with DuckDB's signature check as usual."""
    src = _package_extension("duckdb_extension_postgres", "postgres")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    folder = Path(tempfile.gettempdir()) / f"newswatch-duckdb-{uid}" / src.parent.name
    dst = folder / "postgres_scanner.duckdb_extension"
    with _EXT_LOCK:
        try:
            if dst.resolve() == src.resolve() or (
                dst.exists() and not dst.is_symlink() and dst.stat().st_size == src.stat().st_size
            ):
                return dst
        except OSError:
            pass
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = folder / f".{os.getpid()}-{threading.get_ident()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            tmp.symlink_to(src)
        except OSError:
            import shutil

            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    return dst


def _lake_duckdb(catalog: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the DuckLake extensions loaded from their packages."""
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False})
    try:
        con.execute(
            f"LOAD {_quote(str(_package_extension('duckdb_extension_ducklake', 'ducklake')))}"
        )
        if catalog.startswith("postgres:"):
            con.execute(f"LOAD {_quote(str(_postgres_extension()))}")
    except BaseException:
        con.close()
        raise
    return con


# shared catalogs (PostgreSQL): one DuckDB per process and lake, its connections per use
_SHARED: dict[tuple[int, str, str | None], tuple[duckdb.DuckDBPyConnection, set[str]]] = {}
_SHARED_LOCK = threading.Lock()


def close_lakes() -> None:
    """Close every DuckLake this process has open (their catalog connections too)."""
    with _SHARED_LOCK:
        for con, _ in _SHARED.values():
            with contextlib.suppress(duckdb.Error):
                con.close()
        _SHARED.clear()


@dataclass(frozen=True, slots=True)
class SourceState:
    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    consecutive_failures: int = 0
    last_status: str | None = None
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    last_new_item_at: datetime | None = None
    update_minutes: int | None = None
    poll_interval_minutes: float | None = None
    failure_score: float | None = None
    next_poll_at: datetime | None = None
    failing_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class SourceUpdate:
    """The outcome of polling one feed, written at the end of a pass."""

    name: str
    status: str  # ok / not_modified / unchanged / failed / broken
    polled_at: datetime
    http_status: int | None = None
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    entries_seen: int | None = None
    new_items: int = 0
    update_minutes: int | None = None
    poll_interval_minutes: float | None = None
    failure_score: float | None = None
    next_poll_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    stage: str  # feed / parse / entry / page / extract / store
    reason: str
    source: str | None = None
    url: str | None = None
    kind: str | None = None


@dataclass
class WriteStats:
    articles_new: int = 0
    articles_flagged: int = 0
    duplicates: int = 0
    new_ids: list[str] = field(default_factory=list)


class Store:
    """A newswatch database.

    ``target``: a DuckDB file path (``:memory:`` for tests), or a DuckLake,
    ``ducklake:postgres:<libpq connection string>`` or ``ducklake:<catalog file>``, whose data
    files go to ``data_path`` (default ``$NEWSWATCH_DATA_PATH``; once a lake exists its
    catalog remembers the path). ``lock_timeout``: how long a write waits for another
    process's lock (DuckDB file) or keeps retrying a conflicting transaction (DuckLake)."""

    def __init__(
        self, target: str | Path, *, lock_timeout: float = 60.0, data_path: str | Path | None = None
    ):
        self.target = str(target)
        self.lock_timeout = lock_timeout
        self.data_path = str(data_path) if data_path else (os.environ.get(DATA_PATH_ENV) or None)
        self._known_to_exist = False

    def __repr__(self) -> str:
        return f"Store({self.display!r})"

    # -- the back-end ---------------------------------------------------------------------
    @property
    def display(self) -> str:
        """The target as shown in messages (a password in a connection string is masked)."""
        return _PASSWORD.sub(r"\1***", self.target)

    @property
    def is_lake(self) -> bool:
        return self.target.startswith(LAKE_PREFIX)

    @property
    def backend(self) -> str:
        """``duckdb`` or ``ducklake``."""
        return "ducklake" if self.is_lake else "duckdb"

    @property
    def _catalog(self) -> str:
        return self.target[len(LAKE_PREFIX) :]

    @property
    def _shared_catalog(self) -> bool:
        """A catalog many processes use at once (kept open per process); a DuckDB-file
        catalog is locked like a DuckDB file, so it is opened per use like one."""
        return self.is_lake and self._catalog.startswith("postgres:")

    @property
    def path(self) -> Path:
        """The database file (a DuckLake's catalog file); a PostgreSQL catalog has none."""
        if self._shared_catalog:
            raise StoreError(f"{self.display}: a DuckLake on PostgreSQL has no database file")
        return Path(self._catalog if self.is_lake else self.target)

    def exists(self) -> bool:
        if self.target == ":memory:" or self._known_to_exist:
            return True
        if not self._shared_catalog:
            return self.path.exists()
        try:
            self._open(read_only=True).close()
        except StoreError as e:
            if "does not exist" in str(e):
                return False
            raise
        return True

    # -- connections ----------------------------------------------------------------------
    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        if self._shared_catalog:
            return self._open_shared_lake(read_only)
        if read_only and not self.exists():
            raise StoreError(
                f"{self.display}: database does not exist (run `newswatch run` or `newswatch demo` first)"
            )
        if not read_only and self.target != ":memory:":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(
                    f"{self.display}: cannot create the database folder: {e}"
                ) from None
        connect = (
            (lambda: self._connect_lake_file(read_only))
            if self.is_lake
            else (lambda: duckdb.connect(self.target, read_only=read_only))
        )
        file_lock = self.target != ":memory:"
        deadline = time.monotonic() + self.lock_timeout
        if read_only and file_lock:
            # let a writer that is waiting go first (see newswatch.store.lock)
            dblock.wait_for_writers(self._lock_path, timeout=min(10.0, self.lock_timeout))
        try:
            return connect()
        except duckdb.Error as e:
            if not is_lock_error(e):
                raise StoreError(f"{self.display}: cannot open the database: {e}") from None
        # locked by another process: wait and retry; a writer announces that it waits, so
        # readers that keep overlapping cannot keep it out
        waiting = (
            dblock.writer_waiting(self._lock_path)
            if (not read_only and file_lock)
            else contextlib.nullcontext()
        )
        delay = 0.02
        with waiting:
            while True:
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.25)
                if read_only and file_lock:
                    dblock.wait_for_writers(
                        self._lock_path, timeout=max(0.0, min(10.0, deadline - time.monotonic()))
                    )
                try:
                    return connect()
                except duckdb.Error as e:
                    if not is_lock_error(e):
                        raise StoreError(f"{self.display}: cannot open the database: {e}") from None
                    if time.monotonic() >= deadline:
                        raise StoreError(
                            f"{self.display}: the database stayed locked by another process for "
                            f"{self.lock_timeout:.0f} s"
                        ) from None

    @property
    def _lock_path(self) -> str:
        return self._catalog if self.is_lake else self.target

    def _attach_sql(self, alias: str, read_only: bool) -> str:
        options = []
        if self.data_path and not read_only:
            options.append(f"DATA_PATH {_quote(self.data_path)}")
        if read_only:
            options.append("READ_ONLY")
        opts = f" ({', '.join(options)})" if options else ""
        return f"ATTACH {_quote(self.target)} AS {alias}{opts}"

    def _prepare_data_path(self) -> None:
        if self.data_path and "://" not in self.data_path:
            try:
                Path(self.data_path).mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(
                    f"{self.data_path}: cannot create the DuckLake data folder: {e}"
                ) from None

    def _connect_lake_file(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        if not read_only:
            self._prepare_data_path()
        con = _lake_duckdb(self._catalog)
        try:
            con.execute(self._attach_sql(_LAKE_ALIAS, read_only))
            con.execute(f"USE {_LAKE_ALIAS}")
        except BaseException:
            con.close()
            raise
        return con

    def _open_shared_lake(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        alias = _LAKE_ALIAS_RO if read_only else _LAKE_ALIAS
        key = (os.getpid(), self.target, self.data_path)
        try:
            with _SHARED_LOCK:
                entry = _SHARED.get(key)
                if entry is None:
                    entry = _SHARED[key] = (_lake_duckdb(self._catalog), set())
                base, attached = entry
                if alias not in attached:
                    if not read_only:
                        self._prepare_data_path()
                    base.execute(self._attach_sql(alias, read_only))
                    attached.add(alias)
            con = base.cursor()
            con.execute(f"USE {alias}")
        except duckdb.Error as e:
            msg = str(e)
            if "creating a new DuckLake is explicitly disabled" in msg:
                raise StoreError(
                    f"{self.display}: the DuckLake does not exist yet (run `newswatch run` first)"
                ) from None
            if "data_path is not set" in msg:
                raise StoreError(
                    f"{self.display}: a new DuckLake needs a folder for its data files: set "
                    f"{DATA_PATH_ENV} (a local or shared folder, or object storage)"
                ) from None
            raise StoreError(f"{self.display}: cannot open the DuckLake: {msg}") from None
        self._known_to_exist = True
        return con

    def close(self) -> None:
        """Close this process's connection to a shared DuckLake catalog (a no-op otherwise;
        the next use opens it again)."""
        with _SHARED_LOCK:
            entry = _SHARED.pop((os.getpid(), self.target, self.data_path), None)
        if entry is not None:
            with contextlib.suppress(duckdb.Error):
                entry[0].close()

    @contextlib.contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection, held for the ``with`` block only."""
        con = self._open(read_only=True)
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection with the schema migrated, held for the block only."""
        con = self._open(read_only=False)
        try:
            self._migrate(con)
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction: committed at the end of the block, rolled back on error.

        On a DuckLake a commit that conflicts with another writer raises
        :class:`StoreConflict` (nothing was written); use :meth:`run_in_transaction` to have
        it run again."""
        with self.writer() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                self._bump_write_serial(con)
                yield con
            except BaseException as e:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                if is_conflict_error(e) and not isinstance(e, StoreError):
                    raise StoreConflict(f"{self.display}: write conflict: {e}") from None
                raise
            try:
                con.execute("COMMIT")
            except duckdb.Error as e:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                if is_conflict_error(e):
                    raise StoreConflict(f"{self.display}: write conflict: {e}") from None
                raise StoreError(f"{self.display}: commit failed: {e}") from None

    def run_in_transaction(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """``fn(con)`` in one write transaction, run again from the start (after a random
        back-off) while it conflicts with another writer, for up to ``lock_timeout`` seconds.
        ``fn`` must be safe to run again: whatever it wrote in a failed attempt was rolled back.
        """
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        attempts = 0
        while True:
            attempts += 1
            try:
                with self.transaction() as con:
                    return fn(con)
            except StoreConflict as e:
                if time.monotonic() >= deadline:
                    raise StoreConflict(
                        f"{self.display}: a write still conflicted with other writers after "
                        f"{attempts} attempts in {self.lock_timeout:.0f} s: {e}"
                    ) from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)

    def _bump_write_serial(self, con: duckdb.DuckDBPyConnection) -> None:
        """On a lake, make this transaction conflict with any other overlapping writer."""
        if self.is_lake:
            con.execute("UPDATE store_writes SET serial = serial + 1")

    # -- schema ---------------------------------------------------------------------------
    def migrate(self) -> int:
        """Bring the schema up to date; returns the schema version."""
        with self.writer() as con:
            return self.schema_version(con)

    @staticmethod
    def schema_version(con: duckdb.DuckDBPyConnection) -> int:
        try:
            row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
        except duckdb.CatalogException:
            return 0
        return int(row[0] or 0)

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        if self.schema_version(con) >= SCHEMA_VERSION:
            return
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            try:
                self._apply_migrations(con)
                return
            except StoreConflict:
                # two processes migrating one lake: the loser starts again and finds it done
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"{self.display}: migrating conflicted with other writers for "
                        f"{self.lock_timeout:.0f} s"
                    ) from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)

    def _apply_migrations(self, con: duckdb.DuckDBPyConnection) -> None:
        current = self.schema_version(con)
        if current == 0:
            try:
                con.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version INTEGER NOT NULL, name VARCHAR, applied_at TIMESTAMP NOT NULL)"
                )
            except duckdb.Error as e:
                if is_conflict_error(e):
                    raise StoreConflict(str(e)) from None
                raise StoreError(f"{self.display}: cannot create schema_migrations: {e}") from None
        for version, name, sql in MIGRATIONS:
            if version <= current:
                continue
            con.execute("BEGIN TRANSACTION")
            try:
                # another writer may have migrated while we waited for the lock
                now_at = self.schema_version(con)
                if now_at >= version:
                    con.execute("ROLLBACK")
                    continue
                if now_at >= _WRITE_SERIAL_VERSION:
                    self._bump_write_serial(con)
                con.execute(sql)
                con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, now() AT TIME ZONE 'UTC')",
                    [version, name],
                )
                con.execute("COMMIT")
            except duckdb.Error as e:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                if is_conflict_error(e):
                    raise StoreConflict(str(e)) from None
                raise StoreError(
                    f"{self.display}: migration {version} ({name}) failed: {e}"
                ) from None

    # -- sources --------------------------------------------------------------------------
    def sync_sources(self, sources: Sequence[object], *, stories: object | None = None) -> None:
        """Insert configured sources that are new, and refresh url/language/tags/enabled
        (and the trend settings the views read, when given)."""
        rows = [
            (s.name, s.url, s.language, list(s.tags), s.enabled)  # type: ignore[attr-defined]
            for s in sources
        ]
        names = [r[0] for r in rows]

        def sync(con: duckdb.DuckDBPyConnection) -> None:
            if rows:
                con.execute(
                    "CREATE TEMP TABLE _cfg(name VARCHAR, url VARCHAR, language VARCHAR, tags VARCHAR[], enabled BOOLEAN)"
                )
                con.register(
                    "_cfg_rows",
                    pa.table(
                        {
                            "name": pa.array([r[0] for r in rows], pa.string()),
                            "url": pa.array([r[1] for r in rows], pa.string()),
                            "language": pa.array([r[2] for r in rows], pa.string()),
                            "tags": pa.array([r[3] for r in rows], pa.list_(pa.string())),
                            "enabled": pa.array([r[4] for r in rows], pa.bool_()),
                        }
                    ),
                )
                con.execute("INSERT INTO _cfg SELECT * FROM _cfg_rows")
                con.unregister("_cfg_rows")
                con.execute(
                    """
                    UPDATE sources SET url = c.url, language = c.language, tags = c.tags, enabled = c.enabled,
                        etag = CASE WHEN sources.url = c.url THEN sources.etag END,
                        last_modified = CASE WHEN sources.url = c.url THEN sources.last_modified END,
                        body_hash = CASE WHEN sources.url = c.url THEN sources.body_hash END
                    FROM _cfg c WHERE sources.name = c.name
                    """
                )
                con.execute(
                    """
                    INSERT INTO sources (name, url, language, tags, enabled, consecutive_failures)
                    SELECT name, url, language, tags, enabled, 0 FROM _cfg
                    WHERE name NOT IN (SELECT name FROM sources)
                    """
                )
                con.execute("DROP TABLE _cfg")
            # sources removed from the configuration are kept (history), but disabled
            con.execute(
                "UPDATE sources SET enabled = FALSE WHERE NOT list_contains(?, name)", [names]
            )
            if stories is not None:
                from newswatch.stories import apply_trend_settings

                apply_trend_settings(con, stories)  # type: ignore[arg-type]

        self.run_in_transaction(sync)

    def source_states(self) -> dict[str, SourceState]:
        with self.reader() as con:
            rows = con.execute(f"SELECT {', '.join(_SOURCE_STATE_COLUMNS)} FROM sources").fetchall()
        return {r[0]: SourceState(*r) for r in rows}

    def update_sources(
        self,
        updates: Sequence[SourceUpdate],
        *,
        run_id: str | None = None,
        problems: Sequence[Problem] = (),
    ) -> None:
        """Write the outcome of a pass for each polled feed, and its problems, in one transaction."""

        # one statement for all feeds: the updates as an Arrow table, UPDATE … FROM (one
        # UPDATE per feed cost ~6 ms each, seconds for an idle pass over hundreds of feeds)
        def mode(u: SourceUpdate) -> str:
            # validators: 'ok' sets them exactly as given (None clears them, so a feed whose
            # entries must be looked at again is fetched in full next time); 304 and
            # 'unchanged' refresh what the server sent; a failure keeps what was there
            return (
                "keep"
                if u.status in ("failed", "broken")
                else ("set" if u.status == "ok" else "merge")
            )

        S, I, F, T, B = pa.string(), pa.int64(), pa.float64(), pa.timestamp("us"), pa.bool_()
        cols = {
            "name": (S, lambda u: u.name),
            "status": (S, lambda u: u.status),
            "http_status": (I, lambda u: u.http_status),
            "error": (S, lambda u: u.error),
            "polled_at": (T, lambda u: u.polled_at),
            "failed": (B, lambda u: u.status in ("failed", "broken")),
            "new_items": (I, lambda u: u.new_items),
            "mode": (S, mode),
            "etag": (S, lambda u: u.etag),
            "last_modified": (S, lambda u: u.last_modified),
            "body_hash": (S, lambda u: u.body_hash),
            "entries_seen": (I, lambda u: u.entries_seen),
            "update_minutes": (I, lambda u: u.update_minutes),
            "poll_interval_minutes": (F, lambda u: u.poll_interval_minutes),
            "failure_score": (F, lambda u: u.failure_score),
            "next_poll_at": (T, lambda u: u.next_poll_at),
        }
        last = {u.name: u for u in updates}  # one row per feed: the last outcome wins
        table = pa.table(
            {k: pa.array([f(u) for u in last.values()], t) for k, (t, f) in cols.items()}
        )

        def update(con: duckdb.DuckDBPyConnection) -> None:
            if len(table):
                con.register("_upd", table)
                con.execute(
                    """
                    UPDATE sources SET
                        last_status = u.status, last_http_status = u.http_status, last_error = u.error,
                        last_polled_at = u.polled_at,
                        last_success_at = CASE WHEN u.failed THEN sources.last_success_at ELSE u.polled_at END,
                        last_new_item_at = CASE WHEN u.new_items > 0 THEN u.polled_at ELSE sources.last_new_item_at END,
                        consecutive_failures = CASE WHEN u.failed THEN coalesce(sources.consecutive_failures, 0) + 1 ELSE 0 END,
                        etag = CASE u.mode WHEN 'set' THEN u.etag WHEN 'merge' THEN coalesce(u.etag, sources.etag) ELSE sources.etag END,
                        last_modified = CASE u.mode WHEN 'set' THEN u.last_modified WHEN 'merge' THEN coalesce(u.last_modified, sources.last_modified) ELSE sources.last_modified END,
                        body_hash = CASE u.mode WHEN 'set' THEN u.body_hash WHEN 'merge' THEN coalesce(u.body_hash, sources.body_hash) ELSE sources.body_hash END,
                        entries_last_seen = coalesce(u.entries_seen, sources.entries_last_seen),
                        update_minutes = coalesce(u.update_minutes, sources.update_minutes),
                        poll_interval_minutes = coalesce(u.poll_interval_minutes, sources.poll_interval_minutes),
                        failure_score = coalesce(u.failure_score, sources.failure_score),
                        next_poll_at = coalesce(u.next_poll_at, sources.next_poll_at),
                        failing_since = CASE WHEN u.failed THEN coalesce(sources.failing_since, u.polled_at) ELSE NULL END
                    FROM _upd u WHERE sources.name = u.name
                    """
                )
                con.unregister("_upd")
            self._insert_problems(con, problems, run_id)

        self.run_in_transaction(update)

    # -- articles -------------------------------------------------------------------------
    def known_urls(self, urls: Sequence[str]) -> set[str]:
        """Which of these canonical URLs are already stored (one query for the whole batch)."""
        if not urls or not self.exists():
            return set()
        with self.reader() as con:
            if self.schema_version(con) < 1:
                return set()
            rows = con.execute(
                "SELECT DISTINCT url FROM article_urls WHERE url IN (SELECT unnest(?))",
                [list(urls)],
            ).fetchall()
        return {r[0] for r in rows}

    def write_batch(
        self,
        records: Sequence[ArticleRecord],
        *,
        run_id: str | None = None,
        watchlist_version: str | None = None,
        extra_urls: dict[str, Sequence[str]] | None = None,
        problems: Sequence[Problem] = (),
        stories: object | None = None,
    ) -> WriteStats:
        """Store articles with their mentions and flags in ONE transaction.

        Idempotent: an article whose id is already stored is skipped (its URLs are still
        recorded), so a rerun after a killed pass adds nothing twice.
        ``extra_urls`` maps article_id → other canonical URLs it is known by (the feed's link
        when it differs from the page's canonical URL).
        """
        # one record per id within the batch
        unique: dict[str, ArticleRecord] = {}
        duplicates = 0
        for r in records:
            if r.article_id in unique:
                duplicates += 1
            else:
                unique[r.article_id] = r
        recs = list(unique.values())
        if not recs and not problems:
            return WriteStats(duplicates=duplicates)

        articles = pa.table(
            {
                "article_id": [r.article_id for r in recs],
                "url": [r.url for r in recs],
                "canonical_url": [r.canonical_url for r in recs],
                "source": [r.source for r in recs],
                "title": [r.title for r in recs],
                "author": [r.author for r in recs],
                "published_at": pa.array([r.published_at for r in recs], pa.timestamp("us")),
                "fetched_at": pa.array([r.fetched_at for r in recs], pa.timestamp("us")),
                "language": [r.language for r in recs],
                "text": [r.text for r in recs],
                "summary": [r.summary for r in recs],
                "extraction": [r.extraction for r in recs],
                "story_id": [r.article_id for r in recs],
                "content_hash": [r.content_hash for r in recs],
                "run_id": [run_id for _ in recs],
            },
            schema=pa.schema(
                [(c, pa.string()) for c in _ARTICLE_COLUMNS[:6]]
                + [("published_at", pa.timestamp("us")), ("fetched_at", pa.timestamp("us"))]
                + [(c, pa.string()) for c in _ARTICLE_COLUMNS[8:]]
            ),
        )
        url_rows: dict[tuple[str, str], None] = {}
        for r in recs:
            for u in (r.canonical_url, *(extra_urls or {}).get(r.article_id, ())):
                url_rows[(u, r.article_id)] = None
        urls = pa.table({"url": [u for u, _ in url_rows], "article_id": [a for _, a in url_rows]})

        mentions = mentions_table((r.article_id, m) for r in recs for m in r.flag.mentions)
        flagged = [r for r in recs if r.flag.flagged]
        now = datetime.utcnow()
        flags = pa.table(
            {
                "article_id": [r.article_id for r in flagged],
                "actors": pa.array([list(r.flag.actors) for r in flagged], pa.list_(pa.string())),
                "allegations": pa.array(
                    [list(r.flag.allegations) for r in flagged], pa.list_(pa.string())
                ),
                "score": pa.array([float(r.flag.score) for r in flagged], pa.float64()),
                "flagged_at": pa.array([now for _ in flagged], pa.timestamp("us")),
                "watchlist_version": pa.array([watchlist_version for _ in flagged], pa.string()),
            }
        )

        def write(con: duckdb.DuckDBPyConnection) -> WriteStats:
            stats = WriteStats(duplicates=duplicates)
            con.register("_b_articles", articles)
            con.register("_b_urls", urls)
            con.register("_b_mentions", mentions)
            con.register("_b_flags", flags)
            new_ids = [
                r[0]
                for r in con.execute(
                    "SELECT article_id FROM _b_articles "
                    "WHERE article_id NOT IN (SELECT article_id FROM articles)"
                ).fetchall()
            ]
            stats.new_ids = new_ids
            stats.articles_new = len(new_ids)
            stats.duplicates += len(recs) - len(new_ids)
            if new_ids:
                story_of = self._assign_stories(con, [unique[a] for a in new_ids], stories)
                con.execute(
                    "CREATE TEMP TABLE _new AS SELECT unnest(?) AS article_id, unnest(?) AS story_id",
                    [new_ids, [story_of.get(a, a) for a in new_ids]],
                )
                cols = [("n.story_id" if c == "story_id" else "b." + c) for c in _ARTICLE_COLUMNS]
                con.execute(
                    f"INSERT INTO articles ({', '.join(_ARTICLE_COLUMNS)}) "
                    f"SELECT {', '.join(cols)} FROM _b_articles b JOIN _new n USING (article_id)"
                )
                con.execute(
                    "INSERT INTO mentions SELECT * FROM _b_mentions WHERE article_id IN (SELECT article_id FROM _new)"
                )
                cur = con.execute(
                    "INSERT INTO flags SELECT * FROM _b_flags WHERE article_id IN (SELECT article_id FROM _new)"
                )
                stats.articles_flagged = int(cur.fetchone()[0])
                con.execute("DROP TABLE _new")
            con.execute(
                "INSERT INTO article_urls SELECT DISTINCT u.url, u.article_id FROM _b_urls u "
                "WHERE NOT EXISTS (SELECT 1 FROM article_urls a WHERE a.url = u.url AND a.article_id = u.article_id)"
            )
            self._insert_problems(con, problems, run_id)
            for name in ("_b_articles", "_b_urls", "_b_mentions", "_b_flags"):
                con.unregister(name)
            return stats

        # a conflict with another writer runs it all again: the anti-joins then skip what
        # the other writer stored
        return self.run_in_transaction(write)

    @staticmethod
    def _assign_stories(
        con: duckdb.DuckDBPyConnection, records: Sequence[ArticleRecord], settings: object | None
    ) -> dict[str, str]:
        """Near-duplicate clustering of the batch's new articles (newswatch.stories)."""
        from newswatch.stories import DEFAULT_SETTINGS, StoryItem, assign_stories

        items = [
            StoryItem(
                r.article_id,
                r.signature,
                published_at=r.published_at,
                title=r.title,
                fetched_at=r.fetched_at,
            )
            for r in records
        ]
        return assign_stories(con, items, settings or DEFAULT_SETTINGS)  # type: ignore[arg-type]

    def search_index_age(self) -> float | None:
        """Seconds since the full-text index was last built (None: never)."""
        with self.reader() as con:
            row = con.execute("SELECT value FROM store_meta WHERE key = 'fts_built_at'").fetchone()
        if not row:
            return None
        return max(0.0, time.time() - float(row[0]))

    def rebuild_search_index(self) -> None:
        """Rebuild the full-text index over articles (DuckDB's fts is not incremental).

        A no-op on a DuckLake: the fts extension writes its index as tables with a column
        type DuckLake cannot store (the commit fails), and a lake is read by many processes
        that would each need the index anyway. Full-text search needs a DuckDB file."""
        if self.is_lake:
            return
        from newswatch.stories import fts_rebuild

        with self.writer() as con:
            fts_rebuild(con)
            con.execute("DELETE FROM store_meta WHERE key = 'fts_built_at'")
            con.execute("INSERT INTO store_meta VALUES ('fts_built_at', ?)", [str(time.time())])

    # -- runs and problems ----------------------------------------------------------------
    def start_run(self, run_id: str, started_at: datetime, feeds_total: int) -> None:
        self.run_in_transaction(
            lambda con: con.execute(
                "INSERT INTO runs (run_id, started_at, status, feeds_total) "
                "SELECT ?, ?, 'running', ? WHERE NOT EXISTS (SELECT 1 FROM runs WHERE run_id = ?)",
                [run_id, started_at, feeds_total, run_id],
            )
        )

    def finish_run(
        self, run_id: str, *, status: str, finished_at: datetime, counts: dict[str, int]
    ) -> None:
        cols = [
            "feeds_fetched",
            "feeds_unchanged",
            "feeds_failed",
            "entries_seen",
            "articles_new",
            "articles_flagged",
            "pages_failed",
        ]
        self.run_in_transaction(
            lambda con: con.execute(
                f"UPDATE runs SET status = ?, finished_at = ?, {', '.join(c + ' = ?' for c in cols)} WHERE run_id = ?",
                [status, finished_at, *[int(counts.get(c, 0)) for c in cols], run_id],
            )
        )

    def record_problems(self, problems: Sequence[Problem], *, run_id: str | None = None) -> None:
        if problems:
            self.run_in_transaction(lambda con: self._insert_problems(con, problems, run_id))

    @staticmethod
    def _insert_problems(
        con: duckdb.DuckDBPyConnection, problems: Sequence[Problem], run_id: str | None
    ) -> None:
        if not problems:
            return
        now = datetime.utcnow()
        con.executemany(
            "INSERT INTO problems VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(run_id, now, p.source, p.url, p.stage, p.kind, p.reason[:2000]) for p in problems],
        )

    # -- feed leases (sharded passes) -----------------------------------------------------
    def claim_feeds(
        self, names: Sequence[str], owner: str, ttl_seconds: float, *, now: datetime | None = None
    ) -> list[str]:
        """Claim, for ``owner``, those of ``names`` that no other live owner holds.

        One transaction (run again on a DuckLake conflict): expired leases and ``owner``'s
        own are dropped, the free feeds are leased until ``now + ttl_seconds``. Returns the
        claimed names in the given order; two workers claiming at once get disjoint sets,
        and a dead worker's feeds are free again once its leases expire."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return []

        def claim(con: duckdb.DuckDBPyConnection) -> list[str]:
            t = now or datetime.utcnow()
            con.execute(
                "DELETE FROM feed_leases WHERE list_contains(?::VARCHAR[], name) "
                "AND (leased_until <= ? OR owner = ?)",
                [wanted, t, owner],
            )
            free = {
                r[0]
                for r in con.execute(
                    "SELECT n FROM (SELECT unnest(?::VARCHAR[]) AS n) "
                    "WHERE n NOT IN (SELECT name FROM feed_leases)",
                    [wanted],
                ).fetchall()
            }
            claimed = [n for n in wanted if n in free]
            if claimed:
                con.execute(
                    "INSERT INTO feed_leases SELECT unnest(?::VARCHAR[]), ?, ?",
                    [claimed, owner, t + timedelta(seconds=ttl_seconds)],
                )
            return claimed

        return self.run_in_transaction(claim)

    def release_dead_local_leases(self) -> int:
        """Free the leases of passes on this host whose process is gone (a killed run).

        Lease owners are ``host:pid:run``; a lease of another host is left to expire, since
        only that host can tell whether its process is alive."""
        host = socket.gethostname()
        with self.reader() as con:
            owners = [
                r[0]
                for r in con.execute(
                    "SELECT DISTINCT owner FROM feed_leases WHERE starts_with(owner, ?)",
                    [host + ":"],
                ).fetchall()
            ]
        freed = 0
        for owner in owners:
            try:
                pid = int(owner.split(":")[1])
            except (IndexError, ValueError):
                continue
            if pid != os.getpid() and not dblock._pid_alive(pid):
                freed += self.release_feeds(owner)
        return freed

    def release_feeds(self, owner: str, names: Sequence[str] | None = None) -> int:
        """Give up ``owner``'s leases (only those of ``names`` when given); returns how many."""

        def release(con: duckdb.DuckDBPyConnection) -> int:
            if names is None:
                cur = con.execute("DELETE FROM feed_leases WHERE owner = ?", [owner])
            else:
                cur = con.execute(
                    "DELETE FROM feed_leases WHERE owner = ? AND list_contains(?::VARCHAR[], name)",
                    [owner, list(names)],
                )
            row = cur.fetchone()
            return int(row[0]) if row else 0

        return self.run_in_transaction(release)
