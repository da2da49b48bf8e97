"""The Prefect process worker that ``newswatch worker`` runs on each host."""

from __future__ import annotations

import sys

__all__ = ["worker_argv"]


def worker_argv(pool: str, *, limit: int = 1, name: str | None = None) -> list[str]:
    """The ``prefect worker start`` command line this command runs (with this interpreter)."""
    argv = [
        sys.executable,
        "-m",
        "prefect",
        "worker",
        "start",
        "--pool",
        pool,
        "--type",
        "process",
        "--limit",
        str(limit),
    ]
    return argv + (["--name", name] if name else [])
