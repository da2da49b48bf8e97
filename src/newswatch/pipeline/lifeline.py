"""Pool processes die with the process that started them.

A pass (and ``reflag``) runs its extraction in a ``forkserver`` pool: the main process
starts a fork server, which forks the workers. If the main process is killed (SIGKILL, an
OOM kill, a container stopped hard), nothing tells them, and they live on as orphans holding
half a gigabyte each. On Linux each of them asks the kernel for SIGKILL when its parent
dies (``PR_SET_PDEATHSIG``): the fork server when the main process dies (this module is in
its preload list, so the request is made in the fork server itself), and each worker when
the fork server dies (:func:`start_worker`, the pool's initializer, since the request is not
inherited across fork). Elsewhere this is a no-op.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["ENV", "arm", "die_with_parent", "start_worker"]

_PR_SET_PDEATHSIG = 1
# set by the process that starts a pool (:func:`arm`) to its pid: its fork server, a direct
# child that imports this module in its preload, knows from it that it is that fork server
ENV = "NEWSWATCH_POOL_PARENT"


def die_with_parent() -> None:
    """Ask for SIGKILL when the parent process dies (Linux); exit now if it already has."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no prctl: nothing to ask
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def start_worker(init: Callable[..., Any] | None, *args: Any) -> None:
    """Pool initializer: die with the fork server, then run the pool's own ``init``."""
    die_with_parent()
    if init is not None:
        init(*args)


def arm() -> None:
    """Call before starting a forkserver pool whose preload list has this module."""
    os.environ[ENV] = str(os.getpid())


if os.environ.get(ENV) == str(os.getppid()):  # imported in the fork server's preload
    die_with_parent()
