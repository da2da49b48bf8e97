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

Writers on a DuckLake (see docs/scaleout.md, "Writers"): DuckLake commits optimistically
and merges concurrent *appends* by itself (two INSERTs into one table both commit), so an
anti-join ("insert the articles not yet stored") run by two writers at once would store an
article twice. Each write transaction therefore runs in a *lane*: ``articles`` (the batches
that write articles, URLs, mentions, flags and stories) or ``store`` (everything else: feeds,
runs, leases, digests). Per lane, on a PostgreSQL catalog:

* **order**: the transaction first takes the lane's PostgreSQL advisory lock (a transaction
  lock on a small side connection to the catalog database, FIFO among waiters) and begins
  its DuckLake transaction only then, so it reads a snapshot that holds every commit of the
  lane's previous holder; it releases the lock after COMMIT. Writers of one lane take turns
  instead of retrying, and the two lanes never wait for each other: a heartbeat or a lease
  claim commits while a long article batch is running, and DuckLake merges the two.
* **safety**: the transaction also updates its lane's one-row *fence* table
  (``store_writes``, ``article_writes``). Two transactions of one lane that ever overlap,
  because a lock was lost (its session killed, a network partition, the hold limit hit by a
  stalled holder), conflict at COMMIT on the fence; :meth:`Engine.run_in_transaction` runs
  the loser again from the start, and its anti-joins then see the winner's rows. So the
  lock is only for progress; no lock failure can store a row twice.

A lock wait is bounded (``2 × lock_timeout``) and so is a hold (``lock_timeout`` idle on the
side connection); a dead holder's lock goes with its PostgreSQL session (at once when its
process dies, within ~30 s by TCP keep-alive when its host does). On a DuckDB file (and a
DuckDB-file catalog) the file lock already admits one writer at a time. Nothing relies on
PRIMARY KEY constraints: inserts are anti-joins inside one transaction, so a retry never
duplicates. Creating the lake and migrating its schema take a third lock (``schema``), so
workers started together on an empty lake do not race.

What DuckLake does not do, and what we do instead: no full-text index (``fts`` writes
tables DuckLake cannot type): :meth:`Store.search.rebuild` is a no-op on a lake.

Feed leases (``feed_leases``) shard a pass over several workers: :meth:`Store.leases.claim`
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
    runs(run_id, started_at, finished_at, status, ...)
    problems(run_id, occurred_at, source, url, stage, kind, reason)
    feed_leases(name, owner, leased_until)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from newswatch.errors import StoreConflict, StoreError
from newswatch.store import lock as dblock
from newswatch.store.extensions import lake_duckdb, quote
from newswatch.store.objectstore import configure_object_storage, is_object_store
from newswatch.store.schema import (
    ARTICLE_FENCE_VERSION,
    MIGRATIONS,
    SCHEMA_VERSION,
    WRITE_SERIAL_VERSION,
)

__all__ = [
    "DATA_PATH_ENV",
    "LAKE_PREFIX",
    "LANE_ARTICLES",
    "LANE_STORE",
    "Engine",
    "close_lakes",
    "fetch_one",
    "is_conflict_error",
    "is_damage_error",
    "is_lock_error",
    "retry",
]

T = TypeVar("T")
DATA_PATH_ENV = "NEWSWATCH_DATA_PATH"
LAKE_PREFIX = "ducklake:"


# DuckDB's words for a file another process holds ("Could not set lock on file …:
# Conflicting lock is held in …"); a bare "lock" would also match "block" in a read error
_LOCK_MESSAGES = re.compile(r"could not set lock|conflicting lock|lock on file", re.IGNORECASE)
# what DuckDB says of a file that is not (or no longer) a database it can read
_DAMAGE_MESSAGES = re.compile(
    r"not a valid DuckDB database|could not read enough bytes|checksum|corrupt", re.IGNORECASE
)


def is_lock_error(e: BaseException) -> bool:
    """Another process holds the database file (wait and try again)."""
    return isinstance(e, duckdb.IOException) and bool(_LOCK_MESSAGES.search(str(e)))


def is_damage_error(e: BaseException) -> bool:
    """The file is damaged or is not a DuckDB database (waiting will not help)."""
    return isinstance(e, duckdb.Error) and bool(_DAMAGE_MESSAGES.search(str(e)))


def is_conflict_error(e: BaseException) -> bool:
    """A write that lost a race with another writer and may be run again from the start:
    a DuckLake commit conflict, or PostgreSQL refusing the catalog transaction for the same
    reason (a serialization failure: the whole transaction was rolled back)."""
    if isinstance(e, StoreConflict):
        return True
    if not isinstance(e, duckdb.Error):
        return False
    msg = str(e).lower()
    if "could not serialize access" in msg or "deadlock detected" in msg:
        return True
    if not isinstance(e, duckdb.TransactionException):
        return False
    return "conflict" in msg or "maximum retry count" in msg


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple[Any, ...]:
    """The one row an aggregate query returns (``count(*)``, ``max(…)``): never None."""
    row = con.execute(sql, params).fetchone()
    if row is None:  # pragma: no cover - an aggregate without GROUP BY always has a row
        raise StoreError(f"no row from: {sql[:80]}")
    return row


def retry(
    fn: Callable[[], T],
    *,
    when: Callable[[BaseException], bool],
    timeout: float,
    give_up: Callable[[BaseException, int], BaseException],
    first_delay: float = 0.05,
    max_delay: float = 2.0,
    before_retry: Callable[[float], None] | None = None,
) -> T:
    """``fn()``, called again after a jittered, doubling back-off while it raises an error
    that ``when`` accepts, for up to ``timeout`` seconds; then ``give_up(error, attempts)``
    is raised. The store's one retry loop: lock waits, lake conflicts and migrations.
    ``before_retry(seconds_left)`` runs before each new attempt."""
    deadline = time.monotonic() + timeout
    delay = first_delay
    attempts = 0
    while True:
        attempts += 1
        try:
            return fn()
        except Exception as e:
            if not when(e):
                raise
            if time.monotonic() >= deadline:
                raise give_up(e, attempts) from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, max_delay)
            if before_retry is not None:
                before_retry(deadline - time.monotonic())


# -- DuckLake ------------------------------------------------------------------------------
_LAKE_ALIAS = "nw"  # read-write attachment; readers get "nw_ro" (READ_ONLY)
_LAKE_ALIAS_RO = "nw_ro"
_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


# write lanes (see the module docstring): each has an advisory lock and a fence table
LANE_STORE = "store"
LANE_ARTICLES = "articles"
_LANE_SCHEMA = "schema"  # creating the lake and migrating it: a lock, no fence
_FENCES = {LANE_STORE: "store_writes", LANE_ARTICLES: "article_writes"}
_FENCE_VERSIONS = {LANE_STORE: WRITE_SERIAL_VERSION, LANE_ARTICLES: ARTICLE_FENCE_VERSION}


def lane_key(lane: str) -> int:
    """The lane's PostgreSQL advisory lock key (a signed 64-bit number, stable everywhere)."""
    digest = hashlib.blake2b(f"newswatch:lane:{lane}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# shared catalogs (PostgreSQL): one DuckDB per process and lake, its connections per use
_SHARED: dict[tuple[int, str, str | None], tuple[duckdb.DuckDBPyConnection, set[str]]] = {}
_SHARED_LOCK = threading.Lock()


# the lanes' side connections: one DuckDB per process and catalog, with the catalog's
# PostgreSQL database attached (TYPE postgres); each lock is one transaction on a cursor
_LOCKERS: dict[tuple[int, str], duckdb.DuckDBPyConnection] = {}
_LOCKER_ALIAS = "nw_lanes"


def close_lakes() -> None:
    """Close every DuckLake this process has open (their catalog connections too)."""
    with _SHARED_LOCK:
        for con, _ in _SHARED.values():
            with contextlib.suppress(duckdb.Error):
                con.close()
        _SHARED.clear()
        for con in _LOCKERS.values():
            with contextlib.suppress(duckdb.Error):
                con.close()
        _LOCKERS.clear()


def _needs_object_storage(e: BaseException) -> bool:
    """DuckDB wanted httpfs: the lake's data files are on object storage."""
    return "httpfs" in str(e) and "install" in str(e).lower()


def _object_storage_error(display: str) -> StoreError:
    return StoreError(
        f"{display}: the lake's data files are on object storage, and this environment "
        "has no credentials for it",
        hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and NEWSWATCH_S3_ENDPOINT for "
        'an S3-compatible service); see docs/scaleout.md, "Object storage"',
    )


class Engine:
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
        if read_only and file_lock:
            # let a writer that is waiting go first (see newswatch.store.lock)
            dblock.wait_for_writers(self._lock_path, timeout=min(10.0, self.lock_timeout))
        waiting = (
            dblock.writer_waiting(self._lock_path)
            if (not read_only and file_lock)
            else contextlib.nullcontext()
        )

        def attempt() -> duckdb.DuckDBPyConnection:
            try:
                return connect()
            except duckdb.Error as e:
                if is_damage_error(e):
                    raise StoreError(
                        f"{self.display}: the database file is damaged or is not a newswatch "
                        f"database ({e})",
                        hint="restore it from a backup, or move it away and run again to start "
                        "a new one",
                    ) from None
                if not is_lock_error(e):
                    if _needs_object_storage(e):
                        raise _object_storage_error(self.display) from None
                    raise StoreError(f"{self.display}: cannot open the database: {e}") from None
                raise

        def give_up(_e: BaseException, _attempts: int) -> StoreError:
            return StoreError(
                f"{self.display}: the database stayed locked by another process for "
                f"{self.lock_timeout:.0f} s"
            )

        def let_writers_first(remaining: float) -> None:
            if read_only and file_lock:
                dblock.wait_for_writers(self._lock_path, timeout=max(0.0, min(10.0, remaining)))

        # locked by another process: wait and retry; a writer announces that it waits, so
        # readers that keep overlapping cannot keep it out
        with waiting:
            return retry(
                attempt,
                when=is_lock_error,
                timeout=self.lock_timeout,
                give_up=give_up,
                first_delay=0.02,
                max_delay=0.25,
                before_retry=let_writers_first,
            )

    @property
    def _lock_path(self) -> str:
        return self._catalog if self.is_lake else self.target

    def _attach_sql(self, alias: str, read_only: bool) -> str:
        options = []
        if self.data_path and not read_only:
            options.append(f"DATA_PATH {quote(self.data_path)}")
        if read_only:
            options.append("READ_ONLY")
        opts = f" ({', '.join(options)})" if options else ""
        return f"ATTACH {quote(self.target)} AS {alias}{opts}"

    def _prepare_data_path(self) -> None:
        if self.data_path and not is_object_store(self.data_path) and "://" not in self.data_path:
            try:
                Path(self.data_path).mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(
                    f"{self.data_path}: cannot create the DuckLake data folder: {e}"
                ) from None

    def _new_lake_duckdb(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB with the lake's extensions, and object storage (httpfs and
        an S3 secret from the environment) when the data path or the environment asks."""
        con = lake_duckdb(self._catalog)
        try:
            configure_object_storage(con, self.data_path)
        except duckdb.Error as e:
            con.close()
            raise StoreError(f"{self.display}: cannot set up object storage: {e}") from None
        except BaseException:
            con.close()
            raise
        return con

    def _connect_lake_file(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        if not read_only:
            self._prepare_data_path()
        con = self._new_lake_duckdb()
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
        with _SHARED_LOCK:
            entry = _SHARED.get(key)
            first = entry is None or alias not in entry[1]
        # the first read-write ATTACH may create the lake: one process at a time (workers
        # started together on an empty catalog would otherwise race on its metadata tables)
        creating = self.lane(_LANE_SCHEMA) if first and not read_only else contextlib.nullcontext()
        try:
            with creating, _SHARED_LOCK:
                entry = _SHARED.get(key)
                if entry is None:
                    entry = _SHARED[key] = (self._new_lake_duckdb(), set())
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
            if _needs_object_storage(e):
                raise _object_storage_error(self.display) from None
            raise StoreError(f"{self.display}: cannot open the DuckLake: {msg}") from None
        self._known_to_exist = True
        return con

    @contextlib.contextmanager
    def private_lake(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection to the lake in a DuckDB of its own (not this process's
        shared one), closed at the end of the block: for maintenance, whose catalog changes
        a DuckDB that goes on writing should not have cached (DuckLake 1.5.5)."""
        if not self.is_lake:
            raise StoreError(f"{self.display}: not a DuckLake")
        self._prepare_data_path()
        con = self._new_lake_duckdb()
        try:
            try:
                con.execute(self._attach_sql(_LAKE_ALIAS, read_only=False))
                con.execute(f"USE {_LAKE_ALIAS}")
            except duckdb.Error as e:
                raise StoreError(f"{self.display}: cannot open the DuckLake: {e}") from None
            yield con
        finally:
            con.close()

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

    # -- write lanes ----------------------------------------------------------------------
    def _locker(self) -> duckdb.DuckDBPyConnection:
        """This process's side connection to the catalog database (for the lanes' locks)."""
        key = (os.getpid(), self._catalog)
        with _SHARED_LOCK:
            con = _LOCKERS.get(key)
            if con is None:
                con = lake_duckdb(self._catalog)
                try:
                    conninfo = self._catalog[len("postgres:") :]
                    con.execute(f"ATTACH {quote(conninfo)} AS {_LOCKER_ALIAS} (TYPE postgres)")
                except duckdb.Error as e:
                    con.close()
                    raise StoreError(
                        f"{self.display}: cannot reach the catalog database: {e}"
                    ) from None
                _LOCKERS[key] = con
            return con

    def _drop_locker(self) -> None:
        """Forget the side connection (the next lock makes a new one); it is not closed
        here, since other threads' locks may still be held on it."""
        with _SHARED_LOCK:
            _LOCKERS.pop((os.getpid(), self._catalog), None)

    @contextlib.contextmanager
    def lane(self, lane: str, *, hold_seconds: float | None = None) -> Iterator[None]:
        """Hold ``lane``'s write lock for the block (a PostgreSQL catalog; a no-op otherwise).

        A transaction-level advisory lock on a side connection: waiters queue in PostgreSQL
        for up to ``2 × lock_timeout`` (then :class:`StoreConflict`); the lock goes when the
        block ends, when this process dies, or when the side connection has been idle for
        ``hold_seconds`` (default ``lock_timeout``: a stalled holder; the lane's fence keeps
        that safe)."""
        if not self._shared_catalog:
            yield
            return
        wait_ms = int(max(1.0, 2 * self.lock_timeout) * 1000)
        hold = self.lock_timeout if hold_seconds is None else hold_seconds
        hold_ms = int(max(10.0, hold) * 1000)
        setup = (
            f"SET LOCAL lock_timeout = '{wait_ms}ms'; "
            f"SET LOCAL idle_in_transaction_session_timeout = '{hold_ms}ms'; "
            # a holder whose host vanished is noticed by the server within ~30 s
            "SET LOCAL tcp_keepalives_idle = 10; SET LOCAL tcp_keepalives_interval = 5; "
            "SET LOCAL tcp_keepalives_count = 3"
        )
        try:
            cur = self._locker().cursor()
        except duckdb.Error as e:
            self._drop_locker()
            raise StoreError(f"{self.display}: cannot reach the catalog database: {e}") from None
        started = time.monotonic()
        try:
            cur.execute("BEGIN TRANSACTION")
            cur.execute(f"CALL postgres_execute('{_LOCKER_ALIAS}', {quote(setup)})")
            cur.execute(
                f"CALL postgres_execute('{_LOCKER_ALIAS}', "
                f"'SELECT pg_advisory_xact_lock({lane_key(lane)})')"
            )
        except duckdb.Error as e:
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            cur.close()
            if "lock timeout" in str(e):
                raise StoreConflict(
                    f"{self.display}: waited {time.monotonic() - started:.0f} s for the "
                    f"{lane} write lane, held by another writer"
                ) from None
            self._drop_locker()
            raise StoreError(f"{self.display}: cannot take the {lane} write lane: {e}") from None
        try:
            yield
        finally:
            # releases the lock (nothing was written on it); when its session is gone the
            # lock went with it, and the pool replaces the connection
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            cur.close()

    @contextlib.contextmanager
    def transaction(self, lane: str = LANE_STORE) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction in ``lane`` (``store`` or ``articles``, see the module
        docstring): committed at the end of the block, rolled back on error.

        On a DuckLake a commit that conflicts with another writer raises
        :class:`StoreConflict` (nothing was written); use :meth:`run_in_transaction` to have
        it run again."""
        if lane not in _FENCES:
            raise ValueError(f"unknown write lane {lane!r}")
        with self.writer() as con, self.lane(lane):
            # the lake snapshot is read by the first statement: after the lock is held
            con.execute("BEGIN TRANSACTION")
            try:
                self._bump_fence(con, lane)
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

    def run_in_transaction(
        self, fn: Callable[[duckdb.DuckDBPyConnection], T], *, lane: str = LANE_STORE
    ) -> T:
        """``fn(con)`` in one write transaction in ``lane``, run again from the start (after a
        random back-off) while it conflicts with another writer, for up to ``lock_timeout``
        seconds. ``fn`` must be safe to run again: whatever it wrote in a failed attempt was
        rolled back."""

        def attempt() -> T:
            with self.transaction(lane) as con:
                return fn(con)

        def give_up(e: BaseException, attempts: int) -> StoreConflict:
            return StoreConflict(
                f"{self.display}: a write still conflicted with other writers after "
                f"{attempts} attempts in {self.lock_timeout:.0f} s: {e}"
            )

        return retry(
            attempt,
            when=lambda e: isinstance(e, StoreConflict),
            timeout=self.lock_timeout,
            give_up=give_up,
        )

    def _bump_fence(self, con: duckdb.DuckDBPyConnection, lane: str) -> None:
        """On a lake, make this transaction conflict with any other overlapping writer of
        its lane (the lane's lock keeps that from happening; this keeps it safe when the
        lock fails)."""
        if self.is_lake:
            con.execute(f"UPDATE {_FENCES[lane]} SET serial = serial + 1")

    # -- schema ---------------------------------------------------------------------------
    def migrate(self) -> int:
        """Bring the schema up to date; returns the schema version."""
        with self.writer() as con:
            return self.schema_version(con)

    def ensure_current(self) -> None:
        """Upgrade a database written by an older newswatch before reading it (a no-op, one
        read, when it is current or does not exist)."""
        if self.target == ":memory:" or not self.exists():
            return
        with self.reader() as con:
            current = self.schema_version(con)
        if current < SCHEMA_VERSION:
            self.migrate()

    @staticmethod
    def schema_version(con: duckdb.DuckDBPyConnection) -> int:
        try:
            row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
        except duckdb.CatalogException:
            return 0
        return int(row[0] or 0) if row else 0

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        if self.schema_version(con) >= SCHEMA_VERSION:
            return

        # two processes migrating one lake: they take turns (the schema lock), and a loser
        # of a conflict (an older newswatch without the lock) starts again and finds it done
        def apply() -> None:
            with self.lane(_LANE_SCHEMA):
                self._apply_migrations(con)

        retry(
            apply,
            when=lambda e: isinstance(e, StoreConflict),
            timeout=self.lock_timeout,
            give_up=lambda _e, _n: StoreError(
                f"{self.display}: migrating conflicted with other writers for "
                f"{self.lock_timeout:.0f} s"
            ),
        )

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
                if now_at >= _FENCE_VERSIONS[LANE_STORE]:
                    self._bump_fence(con, LANE_STORE)
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
