"""The workbench beside ``serve`` and ``demo --web``: ``python -m newswatch.web`` in a
process of its own, which dies with its parent.

A process of its own because DuckDB refuses a read-write connection in a process that
already holds a read-only one on the same file: the workbench's warm reader would make the
passes fail if they ran in one process.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["WorkbenchProcess"]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    from newswatch.pipeline.lifeline import die_with_parent

    die_with_parent()


class WorkbenchProcess:
    """``python -m newswatch.web`` on ``host:port``, started by :meth:`start`."""

    def __init__(
        self, config_dir: Path | str, db: str, *, host: str = "127.0.0.1", port: int = 8080
    ):
        self.config_dir = str(config_dir)
        self.db = db
        self.host = host
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        reach = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{reach}:{self.port}/"

    def start(self, *, timeout: float = 60.0) -> str:
        """Start it and wait until it listens; returns its address. RuntimeError with its
        own message if it exits first (a port in use, a non-loopback host without a
        password)."""
        cmd = [
            sys.executable,
            "-m",
            "newswatch.web",
            "--config",
            self.config_dir,
            "--db",
            self.db,
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        kwargs: dict = {}
        if sys.platform.startswith("linux"):
            kwargs["preexec_fn"] = _die_with_parent
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **kwargs,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = (self.proc.stderr.read() if self.proc.stderr else b"").decode(
                    errors="replace"
                )
                raise RuntimeError(err.strip().splitlines()[-1] if err.strip() else "exited")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(
                    ("127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host, self.port), 0.5
                ),
            ):
                return self.url
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"the workbench did not listen on port {self.port} within {timeout:.0f} s"
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def __enter__(self) -> WorkbenchProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
