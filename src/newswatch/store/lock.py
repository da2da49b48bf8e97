"""Writer priority for a DuckDB file shared by processes.

DuckDB lets one process write a database file, or several read it, never both: a read-only
connection takes a shared lock on the file and a writing one an exclusive lock. Readers that
keep overlapping (a dashboard refreshing, several analysts' queries) can then keep a writer
out indefinitely. So a writer that has to wait announces itself with a marker file beside
the database, and readers hold back while a live marker is there. A writer holds the
database only for one batch, so readers wait for at most that long.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "marker_path",
    "pid_alive",
    "wait_for_writers",
    "writer_is_waiting",
    "writer_waiting",
]

# a marker older than this is stale (its writer died without removing it)
STALE_SECONDS = 120.0


def marker_path(db: str | Path) -> Path:
    return Path(str(db) + ".writer-waiting")


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live_marker(path: Path) -> bool:
    try:
        st = path.stat()
        pid = int(path.read_text().strip() or "0")
    except (OSError, ValueError):
        return False
    if time.time() - st.st_mtime > STALE_SECONDS or not pid_alive(pid):
        with contextlib.suppress(OSError):
            path.unlink()
        return False
    return pid != os.getpid()


def writer_is_waiting(db: str | Path) -> bool:
    """Whether another live process waits to write ``db``."""
    path = marker_path(db)
    return path.exists() and _live_marker(path)


@contextlib.contextmanager
def writer_waiting(db: str | Path) -> Iterator[None]:
    """Announce, while the block runs, that this process waits to write ``db``."""
    path = marker_path(db)
    created = False
    try:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _live_marker(path):  # stale: take it over
                with contextlib.suppress(OSError):
                    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644)
                    os.write(fd, str(os.getpid()).encode())
                    os.close(fd)
                    created = True
        except OSError:
            pass  # a read-only folder: no priority, but no failure either
        else:
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            created = True
        yield
    finally:
        if created:
            with contextlib.suppress(OSError):
                path.unlink()


def wait_for_writers(db: str | Path, *, timeout: float = 10.0) -> None:
    """Hold a reader back while another process waits to write ``db`` (at most ``timeout``)."""
    path = marker_path(db)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and path.exists() and _live_marker(path):
        time.sleep(0.01)
