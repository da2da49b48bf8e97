"""One warm read-only connection to a DuckDB file, given up whenever a writer waits.

Opening a DuckDB file for every request throws its buffer pool away, so every query reads
and decompresses from scratch: on a million articles that alone costs much of the 300 ms
a page may take. The workbench keeps one read-only connection (``Store.reader()``, held
open) instead and gives each request its own cursor on it. A read-only connection holds a
shared lock on the file, which keeps a pass from writing; so the pool yields to writers:

* a pass that cannot get the file announces itself with the ``<db>.writer-waiting``
  marker (:mod:`newswatch.store.lock`); a watcher thread sees it within ``poll`` seconds
  and closes the connection as soon as the requests using it are done; new requests wait
  until the writer has the file, then open it again (``Store.reader()`` waits for it);
* the workbench's own writes (verdicts) run in :meth:`ReadPool.exclusive`, with the
  connection closed (DuckDB refuses a read-write connection beside a read-only one in one
  process);
* the connection is closed after ``idle`` seconds without a request, so an idle workbench
  holds nothing.

A writer waits at most for the requests in flight plus ``poll``. Once it is done, the next
request opens the file again and sees what it wrote. DuckLake targets are not pooled.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import duckdb

from newswatch.store import lock as dblock

__all__ = ["ReadPool"]

T = TypeVar("T")
MEMO_SIZE = 512


def _other_writer_waiting(path: str) -> bool:
    """A live ``writer-waiting`` marker of another process (a pass that wants the file)."""
    marker = dblock.marker_path(path)
    try:
        st = marker.stat()
        pid = int(marker.read_text().strip() or "0")
    except (OSError, ValueError):
        return False
    if time.time() - st.st_mtime > dblock.STALE_SECONDS or not dblock.pid_alive(pid):
        return False
    return pid != os.getpid()


class ReadPool:
    def __init__(self, store: Any, *, idle: float = 10.0, poll: float = 0.05):
        self.store = store
        self.path = str(store.target)
        self.idle = idle
        self.poll = poll
        self._cm: Any = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._users = 0
        self._last_used = 0.0
        self._cond = threading.Condition()
        self._closing = 0  # > 0 while the connection is being given up / kept closed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.opened = 0  # how many times the file was opened (for tests and the bench)
        self.yielded = 0  # how many times it was closed for a writer
        # results computed on the open connection: the data cannot change while it is
        # open (no process can write the file meanwhile), so they are good until it closes
        self._memo: dict[Any, Any] = {}
        self._local = threading.local()
        self.memo_enabled = True

    # -- using it ------------------------------------------------------------------------
    @contextlib.contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the shared connection for one request (opened if needed)."""
        with self._cond:
            while self._closing:
                self._cond.wait(0.05)
            if self._con is None:
                cm = self.store.reader()  # waits for a writer that is waiting, retries locks
                self._con = cm.__enter__()
                self._cm = cm
                self.opened += 1
                self._memo = {}
            self._users += 1
            con = self._con
            memo = self._memo
        self._local.memo = memo
        try:
            cur = con.cursor()
            try:
                yield cur
            finally:
                with contextlib.suppress(duckdb.Error):
                    cur.close()
        finally:
            self._local.memo = None
            with self._cond:
                self._users -= 1
                self._last_used = time.monotonic()
                self._cond.notify_all()

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()``, remembered for the open connection (call inside :meth:`cursor`)."""
        memo: dict[Any, Any] | None = getattr(self._local, "memo", None)
        if memo is None or not self.memo_enabled:
            return compute()
        if key in memo:
            return memo[key]
        value = compute()
        if len(memo) >= MEMO_SIZE:
            memo.pop(next(iter(memo)))
        memo[key] = value
        return value

    # -- giving it up --------------------------------------------------------------------
    def _close_locked(self) -> None:
        while self._users:
            self._cond.wait(0.05)
        if self._cm is not None:
            with contextlib.suppress(duckdb.Error):
                self._cm.__exit__(None, None, None)
        self._cm = None
        self._con = None

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Run a write of this process: the shared connection is closed meanwhile and
        requests wait for the block to end."""
        with self._cond:
            self._closing += 1
            try:
                self._close_locked()
            except BaseException:
                self._closing -= 1
                self._cond.notify_all()
                raise
        try:
            yield
        finally:
            with self._cond:
                self._closing -= 1
                self._cond.notify_all()

    def _yield_to_writer(self) -> None:
        with self._cond:
            if self._con is None:
                return
            self._closing += 1
            try:
                self._close_locked()
                self.yielded += 1
            finally:
                self._closing -= 1
                self._cond.notify_all()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            if self._con is None:
                continue
            if _other_writer_waiting(self.path):
                self._yield_to_writer()
            elif self._users == 0 and time.monotonic() - self._last_used > self.idle:
                with self._cond:
                    if self._users == 0 and self._con is not None:
                        self._close_locked()

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, name="read-pool", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._cond:
            self._close_locked()
