"""The Prefect process worker that ``newswatch worker`` runs on each host, supervised.

    newswatch worker                         (the supervisor: signals, grace period, reaping)
     └── python -m newswatch.orchestration.worker --pool …
          │   Prefect's ProcessWorker, in-process, with its /health endpoint
          └── flow run (python -m prefect.engine), in a session of its own
               └── its extraction processes

``docker stop`` and Kubernetes send SIGTERM to the first process only, and Prefect starts a
flow run in a session of its own, so nothing reaches the flow run by itself; and Prefect's
own ``prefect worker start`` answers SIGTERM by cancelling the flow runs it supervises (in
3.8), which is not a drain. So:

1. on the first SIGTERM or SIGINT the supervisor passes SIGTERM to the worker, which stops
   taking flow runs (its polls return nothing, its heartbeat and /health go on) and exits
   as soon as the runs it has are finished;
2. the supervisor waits for that up to ``grace_seconds``;
3. then (or at a second signal) it sends SIGTERM to every process left below it, waits
   ``kill_after`` seconds and SIGKILLs what remains; a flow run that gets SIGTERM reports
   itself Crashed to Prefect, which frees its concurrency slot;
4. it exits once no process of its tree is left. It is the tree's *subreaper* (Linux): a
   process whose parent died is re-parented to it, so none escapes.

If the supervisor itself is SIGKILLed, the worker gets SIGTERM from the kernel (a
parent-death signal) and drains on its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["WorkerSupervisor", "descendants", "main", "worker_argv"]

Log = Callable[[str], None]


def worker_argv(
    pool: str,
    *,
    limit: int = 1,
    name: str | None = None,
    queues: list[str] | None = None,
    healthcheck: bool = True,
) -> list[str]:
    """The command line of the supervised worker (with this interpreter)."""
    argv = [sys.executable, "-m", "newswatch.orchestration.worker", "--pool", pool]
    argv += ["--limit", str(limit)]
    for q in queues or ():
        argv += ["--work-queue", q]
    if healthcheck:
        argv.append("--with-healthcheck")
    return argv + (["--name", name] if name else [])


# -- the worker (the supervised process) -------------------------------------------------------
def _drainable_worker_class() -> type[Any]:
    """Prefect's ProcessWorker, whose polls return nothing once it is draining."""
    import warnings

    import prefect.types._datetime
    from prefect.workers.process import ProcessWorker

    with warnings.catch_warnings():
        # it takes ProcessWorker's place for type "process" (in this process only)
        warnings.filterwarnings("ignore", message=".*matches existing registered type.*")

        class DrainableProcessWorker(ProcessWorker):
            draining = False

            async def get_and_submit_flow_runs(self) -> list[Any]:
                if self.draining:
                    # alive and polling, just taking nothing new: /health stays green
                    self._last_polled_time = prefect.types._datetime.now("UTC")
                    return []
                return list(await super().get_and_submit_flow_runs())

    return DrainableProcessWorker


async def _run_worker(args: Any) -> int:
    import asyncio

    from prefect.settings import PREFECT_WORKER_HEARTBEAT_SECONDS, PREFECT_WORKER_PREFETCH_SECONDS

    worker = _drainable_worker_class()(
        name=args.name,
        work_pool_name=args.pool,
        work_queues=args.work_queue or None,
        limit=args.limit,
        prefetch_seconds=PREFECT_WORKER_PREFETCH_SECONDS.value(),
        heartbeat_interval_seconds=int(PREFECT_WORKER_HEARTBEAT_SECONDS.value()),
    )
    loop = asyncio.get_running_loop()
    stop, hurry = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        (hurry if stop.is_set() else stop).set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    task = asyncio.create_task(worker.start(with_healthcheck=args.with_healthcheck))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        worker.draining = True
        print(f"Worker {worker.name!r} draining: no new flow runs", flush=True)
        while not hurry.is_set() and not task.done():
            with contextlib.suppress(RuntimeError):  # not set up yet: nothing runs
                if worker.limiter.borrowed_tokens == 0:
                    break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hurry.wait(), 0.2)
        task.cancel()
    stopping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m newswatch.orchestration.worker``: the supervised Prefect process worker."""
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(prog="python -m newswatch.orchestration.worker")
    parser.add_argument("--pool", required=True)
    parser.add_argument("--limit", type=int, default=1)
    parser.add_argument("--name")
    parser.add_argument("--work-queue", action="append", default=[])
    parser.add_argument("--with-healthcheck", action="store_true")
    return asyncio.run(_run_worker(parser.parse_args(argv)))


# -- processes (Linux /proc; elsewhere only the direct child is known) -------------------------
def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, ValueError):
            out += [int(k) for k in (task / "children").read_text().split()]
    return out


def descendants(pid: int | None = None) -> list[int]:
    """Every process below ``pid`` (default: this one), parents before children."""
    out: list[int] = []
    todo = [os.getpid() if pid is None else pid]
    while todo:
        kids = _children(todo.pop(0))
        out += kids
        todo += kids
    return out


def _prctl(option: int, arg: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(option, arg, 0, 0, 0)


_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _child_setup() -> None:  # pragma: no cover - runs in the child
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, sig)


class WorkerSupervisor:
    """Runs ``argv`` (``prefect worker start …``) until it exits; stops it cleanly on
    SIGTERM/SIGINT (see the module docstring). :meth:`run` returns the exit status: the
    worker's own when it exited by itself, 0 after a clean drain, 1 when flow runs had to be
    stopped at the end of the grace period."""

    def __init__(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        grace_seconds: float = 300.0,
        kill_after: float = 10.0,
        log: Log = lambda m: print(m, file=sys.stderr, flush=True),
    ):
        self.argv = argv
        self.env = env
        self.grace_seconds = grace_seconds
        self.kill_after = kill_after
        self.log = log
        self.pid: int | None = None
        self._stop_at: float | None = None  # monotonic time of the first signal
        self._hurry = False  # a second signal: do not wait out the grace period
        self._wake_r, self._wake_w = -1, -1

    # signals --------------------------------------------------------------------------------
    def _on_signal(self, signum: int, _frame: Any = None) -> None:
        if self._stop_at is None:
            self._stop_at = time.monotonic()
        else:
            self._hurry = True
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _sleep(self, seconds: float) -> None:
        """Sleep until ``seconds`` pass or a signal arrives."""
        import select

        with contextlib.suppress(OSError, ValueError):
            r, _, _ = select.select([self._wake_r], [], [], max(0.0, seconds))
            if r:
                os.read(self._wake_r, 64)

    # the run --------------------------------------------------------------------------------
    def run(self) -> int:
        import subprocess

        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            kwargs: dict[str, Any] = {}
            if os.name == "posix":
                kwargs["start_new_session"] = True  # a Ctrl-C reaches us; we decide the order
                kwargs["preexec_fn"] = _child_setup
            proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL, **kwargs)
            self.pid = proc.pid
            return self._supervise(proc)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _reap(self, proc: Any) -> None:
        """Collect exited children (the worker, and orphans re-parented to us)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == proc.pid:
                proc.returncode = os.waitstatus_to_exitcode(status)

    def _supervise(self, proc: Any) -> int:
        forwarded = False
        died_at: float | None = None  # the worker exited by itself (no signal of ours)
        while True:
            self._reap(proc)
            worker_done = proc.returncode is not None
            left = descendants()
            if worker_done and not left:
                break
            if self._stop_at is not None and not forwarded:
                forwarded = True
                self.log(
                    "newswatch worker: stopping; no new flow runs, waiting up to "
                    f"{self.grace_seconds:.0f} s for the current one (again: stop it now)"
                )
                if not worker_done:
                    _signal(proc.pid, signal.SIGTERM)
            if worker_done and died_at is None and self._stop_at is None:
                died_at = time.monotonic()
                self.log(
                    f"newswatch worker: prefect worker exited ({proc.returncode}); waiting up "
                    f"to {self.grace_seconds:.0f} s for the {len(left)} process(es) it left"
                )
            since = self._stop_at if self._stop_at is not None else died_at
            deadline = None if since is None else since + self.grace_seconds
            if self._hurry or (deadline is not None and time.monotonic() >= deadline):
                self._stop_tree(proc)
                return 1
            self._sleep(0.5 if deadline is None else min(0.5, deadline - time.monotonic()))
        if self._stop_at is None:
            return int(proc.returncode or 0)  # it exited by itself: say how
        self.log("newswatch worker: stopped cleanly")
        return 0

    def _stop_tree(self, proc: Any) -> None:
        """Stop the flow runs first (SIGTERM, then SIGKILL after ``kill_after``) while the
        worker still watches them, so it reports their end to Prefect; then the worker;
        then anything left."""
        runs = [p for p in descendants() if p != proc.pid]
        self.log(
            f"newswatch worker: grace period over; stopping {len(runs)} flow-run process(es) "
            "(Prefect marks such a run Crashed)"
        )

        def flow_runs() -> list[int]:
            return [p for p in descendants() if p != proc.pid]

        for pid in runs:
            _signal(pid, signal.SIGTERM)
        self._wait_until(lambda: not flow_runs(), self.kill_after, proc)
        for pid in flow_runs():
            _signal(pid, signal.SIGKILL)
        self._wait_until(lambda: not flow_runs(), 10.0, proc)
        if proc.returncode is None:
            _signal(proc.pid, signal.SIGTERM)
            self._wait_until(lambda: proc.returncode is not None, self.kill_after, proc)
        for pid in descendants():
            _signal(pid, signal.SIGKILL)
        self._wait_until(lambda: not descendants(), 10.0, proc)

    def _wait_until(self, done: Callable[[], bool], timeout: float, proc: Any) -> bool:
        end = time.monotonic() + timeout
        while True:
            self._reap(proc)
            if done():
                return True
            if time.monotonic() >= end:
                return False
            time.sleep(0.05)


if __name__ == "__main__":  # pragma: no cover - the supervised process
    sys.exit(main())
