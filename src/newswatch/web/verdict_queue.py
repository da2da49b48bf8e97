"""Verdicts are never lost: a durable queue in front of the database.

    POST verdict ─▶ append to the queue file (fsync) ─▶ flusher thread ─▶ record_verdicts
                                   ▲                          │ database busy (a pass is
                                   └──── stays queued ◀───────┘ writing): try again soon

DuckDB lets one process write a file at a time, and a pass holds it while it writes a
batch. A verdict is first appended to a JSON-lines file beside the database
(``<db>.verdicts-queue.jsonl``; for a DuckLake, under ``$XDG_STATE_HOME/newswatch/``), then
written by a background thread, which waits and retries while the database is busy. A
verdict leaves the file only after its transaction committed; writes are idempotent (by
``verdict_id``), so a crash between the commit and the removal only writes it again. A
workbench that is restarted writes what its predecessor left queued.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from newswatch.errors import StoreError
from newswatch.store import Store
from newswatch.store.verdicts import Verdict, record_verdicts

__all__ = ["VerdictQueue", "queue_path"]

log = logging.getLogger(__name__)


def queue_path(target: str) -> Path:
    """Where the queue of a database lives."""
    if target.startswith("ducklake:") or target == ":memory:":
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        digest = hashlib.sha256(target.encode("utf-8")).hexdigest()[:16]
        return base / "newswatch" / f"verdicts-queue-{digest}.jsonl"
    return Path(target + ".verdicts-queue.jsonl")


class VerdictQueue:
    """A file-backed queue of verdicts waiting to be written, and the thread that writes them."""

    def __init__(
        self,
        target: str,
        path: Path | None = None,
        *,
        retry_seconds: float = 0.5,
        guard: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
    ):
        self.target = target
        # around each database write (the workbench lets its warm read connection go)
        self._guard = guard or contextlib.nullcontext
        self.path = path or queue_path(target)
        self.retry_seconds = retry_seconds
        # a short lock wait per attempt: the thread keeps trying, and stays stoppable
        self._store = Store(target, lock_timeout=2.0)
        self._wake = threading.Event()
        self._stored = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()
        self.last_error: str | None = None

    # -- the file ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._mutex, open(str(self.path) + ".lock", "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _read(self) -> list[Verdict]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                out.append(Verdict.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                log.warning("%s: skipping an unreadable line", self.path)
        return out

    def _write_all(self, verdicts: Sequence[Verdict]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for v in verdicts:
                f.write(json.dumps(v.as_dict(), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def pending(self, article_id: str | None = None) -> list[Verdict]:
        """Verdicts accepted but not yet in the database."""
        if not self.path.exists():  # nothing queued (and nothing created by reading)
            return []
        with self._locked():
            items = self._read()
        return [v for v in items if article_id is None or v.article_id == article_id]

    # -- submitting ----------------------------------------------------------------------
    def submit(self, verdicts: Sequence[Verdict], *, wait: float = 2.0) -> bool:
        """Queue verdicts durably, then wait up to ``wait`` seconds for them to be written.
        True: stored in the database; False: queued (written as soon as it is free)."""
        if not verdicts:
            return True
        with self._locked(), open(self.path, "a", encoding="utf-8") as f:
            for v in verdicts:
                f.write(json.dumps(v.as_dict(), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        ids = {v.verdict_id for v in verdicts}
        if self._thread is None or not self._thread.is_alive():
            self.flush()
            return not (ids & {v.verdict_id for v in self.pending()})
        self._wake.set()
        deadline = time.monotonic() + wait
        with self._stored:
            while True:
                if not ids & {v.verdict_id for v in self.pending()}:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._stored.wait(min(left, 0.1))

    def flush(self) -> int:
        """Write every queued verdict now; returns how many were written. Leaves them queued
        (and returns 0) when the database stays busy."""
        if not self.path.exists():
            return 0
        with self._locked():
            items = self._read()
        if not items:
            return 0
        try:
            with self._guard():
                record_verdicts(self._store, items)
        except StoreError as e:
            self.last_error = str(e)
            return 0
        self.last_error = None
        done = {v.verdict_id for v in items}
        with self._locked():
            self._write_all([v for v in self._read() if v.verdict_id not in done])
        with self._stored:
            self._stored.notify_all()
        return len(items)

    # -- the thread ----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="verdict-queue", daemon=True)
        self._thread.start()
        self._wake.set()  # whatever a previous run left queued

    def stop(self, *, flush: bool = True) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if flush:
            with contextlib.suppress(Exception):
                self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=self.retry_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                if self.pending():
                    self.flush()
            except Exception as e:  # the thread must not die: verdicts would wait for ever
                self.last_error = str(e)
                log.exception("writing queued verdicts failed")
