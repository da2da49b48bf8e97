"""What every page of the workbench needs: the configuration, the store, the watchlist.

Built once by :func:`newswatch.web.app.create_app` and kept on ``app.state.wb``. The
watchlist is read again when its file changes (so its display names and the bench follow
an edit without a restart); settings and digests are read at start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from newswatch.errors import ConfigError, StoreError
from newswatch.settings import Config, DigestSettings, SmtpSettings, load_config
from newswatch.store import Store
from newswatch.web.readpool import ReadPool
from newswatch.web.security import default_user
from newswatch.web.verdict_queue import VerdictQueue

__all__ = ["Workbench"]

T = TypeVar("T")


@dataclass
class Workbench:
    config: Config
    target: str
    password: str | None = None
    user: str = field(default_factory=default_user)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    page_size: int = 50
    read_timeout: float = 15.0
    queue_file: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _watchlist: tuple[float, Any] | None = field(default=None, repr=False)
    _queue: VerdictQueue | None = field(default=None, repr=False)
    _pool: ReadPool | None = field(default=None, repr=False)

    @classmethod
    def load(
        cls, config_dir: str | Path | None = None, db: str | None = None, **kw: Any
    ) -> Workbench:
        config = load_config(config_dir, db=db)
        return cls(config=config, target=config.db, **kw)

    # -- the store -----------------------------------------------------------------------
    @property
    def store(self) -> Store:
        return Store(self.target, lock_timeout=self.read_timeout)

    @property
    def pool(self) -> ReadPool | None:
        """The warm read connection of a DuckDB file (None for a DuckLake)."""
        if self.target.startswith("ducklake:") or self.target == ":memory:":
            return None
        with self._lock:
            if self._pool is None:
                self._pool = ReadPool(self.store)
                self._pool.memo_enabled = os.environ.get("NEWSWATCH_WEB_CACHE", "1") != "0"
            return self._pool

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()`` remembered for the current snapshot of the database (a DuckDB file
        cannot change while the workbench reads it); computed every time on a DuckLake."""
        pool = self.pool
        return pool.memo(key, compute) if pool is not None else compute()

    @contextlib.contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for one request (waits while a pass writes a batch)."""
        store = self.store
        if not store.exists():
            raise StoreError(
                f"{store.display}: database does not exist (run `newswatch run` or "
                "`newswatch demo` first)"
            )
        pool = self.pool
        if pool is None:
            with store.reader() as con:
                yield con
        else:
            with pool.cursor() as con:
                yield con

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Around a write of the workbench's own: the warm read connection is let go."""
        pool = self.pool
        return pool.exclusive() if pool is not None else contextlib.nullcontext()

    @property
    def queue(self) -> VerdictQueue:
        with self._lock:
            if self._queue is None:
                self._queue = VerdictQueue(self.target, self.queue_file, guard=self.exclusive)
            return self._queue

    def start(self) -> None:
        if self.pool is not None:
            self.pool.start()
        self.queue.start()

    def stop(self) -> None:
        self.queue.stop()
        if self._pool is not None:
            self._pool.close()

    def has_fts(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the full-text index exists (a DuckDB file after a pass built it)."""
        if self.store.is_lake:
            return False
        row = con.execute(
            "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'fts_main_articles'"
        ).fetchone()
        return bool(row and row[0])

    # -- the watchlist -------------------------------------------------------------------
    @property
    def watchlist_path(self) -> Path:
        return self.config.watchlist_path

    def matcher(self) -> Any:
        """The current watchlist, compiled (rebuilt when the file changes)."""
        from newswatch.flagging.matcher import Matcher

        try:
            mtime = os.stat(self.watchlist_path).st_mtime
        except OSError as e:
            raise ConfigError(f"cannot read: {e}", file=str(self.watchlist_path)) from None
        with self._lock:
            if self._watchlist is None or self._watchlist[0] != mtime:
                self._watchlist = (mtime, Matcher.from_path(self.watchlist_path))
            return self._watchlist[1]

    def labels(self) -> dict[str, str]:
        try:
            return dict(self.matcher().watchlist.labels)
        except ConfigError:
            return {}

    def entities(self) -> list[tuple[str, str, str]]:
        """(kind, id, name) of every tracked actor and allegation, in watchlist order."""
        try:
            wl = self.matcher().watchlist
        except ConfigError:
            return []
        return [("actor", a.id, a.name) for a in wl.actors] + [
            ("allegation", g.id, g.name) for g in wl.allegations
        ]

    def kind_of(self, entity_id: str) -> str | None:
        for kind, eid, _ in self.entities():
            if eid == entity_id:
                return kind
        return None

    # -- settings ------------------------------------------------------------------------
    @property
    def digests(self) -> tuple[DigestSettings, ...]:
        return tuple(self.config.settings.digests)

    @property
    def smtp(self) -> SmtpSettings:
        return self.config.settings.smtp

    def digest(self, name: str) -> DigestSettings | None:
        return next((d for d in self.digests if d.name == name), None)
