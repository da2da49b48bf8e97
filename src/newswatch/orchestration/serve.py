"""``newswatch serve``: run the schedules on one machine, with a local Prefect server.

Prefect's temporary (ephemeral) API server cannot run schedules, so when no
``PREFECT_API_URL`` is set, ``serve`` starts a Prefect server of its own and supervises it::

    newswatch serve                       (this process: the Prefect runner, in-process)
     ├── prefect server start             (own session; SQLite under <data>/prefect/)
     ├── flow run: newswatch-poll         (one process per run, started by the runner)
     └── flow run: send-digests

Guarantees, and the Prefect mechanisms behind them:

* runs of one deployment never overlap: each deployment has a server-side concurrency limit
  of 1 with ``collision_strategy=CANCEL_NEW``, so a run that comes due while the previous one
  is still going is cancelled ("Deployment concurrency limit reached") instead of queued
  (Prefect also cancels such runs when it would mark them Late);
* no backlog after a restart: re-registering a deployment deletes its future runs (Prefect
  does that), and :func:`reconcile_runs` cancels every overdue scheduled run but the newest
  one, which runs at once as the catch-up; runs left Running/Pending by a killed ``serve``
  are marked Crashed, which frees their concurrency slot;
* schedules are never paused by a shutdown (``pause_on_shutdown=False``);
* a flow run whose process died without a word (a killed host, an OOM kill) is marked
  Crashed within about two minutes: flow runs send heartbeats every
  :data:`FLOW_HEARTBEAT_SECONDS` (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``), and
  :func:`ensure_zombie_automation` installs Prefect's documented automation that crashes a
  run whose heartbeats stop for :data:`ZOMBIE_AFTER_SECONDS` (a crashed run frees its
  concurrency slot, so the next poll is not cancelled for it);
* polling never delays the digests: the runner starts each run in its own process with no
  limit across deployments, and each deployment has its own concurrency limit (on a fleet,
  the digests deployment has its own work pool, :data:`DIGEST_POOL`, and worker);
* Ctrl-C / SIGTERM: the runner stops (an in-flight run is cancelled; a polling pass is safe
  to kill), then the server is stopped (process group: SIGTERM, then SIGKILL).

The server subprocess lives in its own session (a Ctrl-C in the terminal reaches ``serve``
only, which stops things in order); on Linux it also gets SIGTERM if ``serve`` dies, and a
server left behind by a killed ``serve`` is found through its pid file and stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from newswatch.errors import ServeError
from newswatch.settings import ServeSettings, load_settings

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

__all__ = [
    "LocalPrefectServer",
    "ServeError",
    "ServeSettings",
    "build_deployments",
    "ensure_zombie_automation",
    "free_port",
    "load_serve_settings",
    "reconcile_runs",
    "serve_forever",
    "zombie_automation",
]

Log = Callable[[str], None]


def load_serve_settings(config_dir: Path, environ: dict[str, str] | None = None) -> ServeSettings:
    """``serve:`` of ``<config_dir>/newswatch.yaml``, with its ``NEWSWATCH_SERVE_*`` overrides."""
    return load_settings(Path(config_dir) / "newswatch.yaml", environ).serve


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# -- the local Prefect server ---------------------------------------------------------------
def _linux_parent_death_signal() -> None:  # pragma: no cover - runs in the child
    """The server gets SIGTERM if ``serve`` dies (Linux; a no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class LocalPrefectServer:
    """``prefect server start`` on 127.0.0.1 as a supervised subprocess.

    Everything Prefect keeps is under ``home`` (``PREFECT_HOME``, the SQLite database
    ``prefect.db``, a pid file); the server's output goes to ``log_path``. One ``serve`` per
    home: a lock file refuses a second one.

    Spawn and restart from the main thread: on Linux the child's parent-death signal is tied
    to the thread that started it.
    """

    def __init__(
        self,
        home: Path,
        *,
        log_path: Path,
        port: int | None = None,
        ui: bool = True,
        start_timeout: float = 180.0,
        host: str = "127.0.0.1",
    ):
        self.home = Path(home).resolve()
        self.log_path = Path(log_path).resolve()
        self.host = host
        self.port = port or free_port(host)
        self.ui = ui
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None  # how long the last start took
        self.restarts = 0
        self._lock_fd: int | None = None
        self._abort = threading.Event()

    def __repr__(self) -> str:
        return f"LocalPrefectServer({str(self.home)!r}, port={self.port})"

    @property
    def _reach(self) -> str:
        """The address to connect to: a server bound to every address is reached locally."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host

    @property
    def api_url(self) -> str:
        return f"http://{self._reach}:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://{self._reach}:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.home / "prefect.db"

    @property
    def pid_path(self) -> Path:
        return self.home / "server.pid"

    def env(self) -> dict[str, str]:
        """The server's environment: this one, minus any other Prefect server, plus ours."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILE")
        }
        env.update(
            {
                "PREFECT_HOME": str(self.home),
                "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{self.db_path}",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "DO_NOT_TRACK": "1",
                "PREFECT_UI_ENABLED": "true" if self.ui else "false",
                "PREFECT_SERVER_UI_ENABLED": "true" if self.ui else "false",
                "PREFECT_UI_API_URL": self.api_url,
            }
        )
        return env

    # lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> LocalPrefectServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> float:
        """Start the server and wait until it answers; returns the seconds it took."""
        self.spawn()
        return self.wait_healthy()

    def spawn(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        self._stop_orphan()
        self._abort.clear()
        # the server process writes to it until stop(), which closes it
        log = open(self.log_path, "ab")  # noqa: SIM115
        log.write(
            f"\n--- newswatch serve: starting the Prefect server on port {self.port} "
            f"at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC ---\n".encode()
        )
        log.flush()
        kwargs: dict[str, Any] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True
            if sys.platform.startswith("linux"):
                kwargs["preexec_fn"] = _linux_parent_death_signal
        else:  # pragma: no cover
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        cmd = [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        try:
            self.proc = subprocess.Popen(
                cmd,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(self.home),
                **kwargs,
            )
        finally:
            log.close()
        self.pid_path.write_text(f"{self.proc.pid} {self.port}\n", encoding="utf-8")
        self._started_at = time.monotonic()

    def wait_healthy(self) -> float:
        """Block until ``/api/health`` answers; ServeError if the server exits or times out."""
        assert self.proc is not None, "spawn() first"
        deadline = self._started_at + self.start_timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self._abort.is_set():
                    raise ServeError("interrupted while the Prefect server was starting")
                code = self.proc.poll()
                if code is not None:
                    raise ServeError(
                        f"the Prefect server exited with status {code} while starting",
                        hint=f"see {self.log_path}",
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        self.start_seconds = time.monotonic() - self._started_at
                        return self.start_seconds
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServeError(
                        f"the Prefect server did not answer within {self.start_timeout:.0f} s",
                        hint=f"see {self.log_path}",
                    )
                time.sleep(0.25)

    def abort_start(self) -> None:
        """Make a :meth:`wait_healthy` in progress give up (from a signal handler)."""
        self._abort.set()

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the server's process group, SIGKILL after ``timeout``; releases the lock."""
        proc, self.proc = self.proc, None
        if proc is not None:
            _terminate_group(proc.pid, proc.wait, timeout)
        with contextlib.suppress(OSError):
            self.pid_path.unlink()
        self._release_lock()

    # one serve per home; servers left behind -------------------------------------------------
    def _take_lock(self) -> None:
        if self._lock_fd is not None or os.name != "posix":
            return
        import fcntl

        fd = os.open(self.home / "serve.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ServeError(
                f"another newswatch serve is already running with {self.home}",
                hint="stop it first, or give this one another database folder or serve.prefect_home",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _stop_orphan(self) -> None:
        """A server started by a ``serve`` that was killed: stop it (we hold the lock)."""
        try:
            pid = int(self.pid_path.read_text(encoding="utf-8").split()[0])
        except (OSError, ValueError, IndexError):
            return
        if self.proc is not None and self.proc.pid == pid:
            return
        cmdline = Path(f"/proc/{pid}/cmdline")
        try:
            if cmdline.exists() and b"prefect" not in cmdline.read_bytes():
                return  # the pid was reused by something else
            os.kill(pid, 0)
        except OSError:
            return

        def gone(timeout: float) -> None:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                try:
                    os.kill(pid, 0)
                except OSError:
                    return
                time.sleep(0.1)
            raise subprocess.TimeoutExpired("prefect server", timeout)

        _terminate_group(pid, gone, 15.0)


def _terminate_group(pid: int, wait: Callable[[float], Any], timeout: float) -> None:
    def send(sig: int) -> None:
        with contextlib.suppress(OSError):
            if os.name == "posix":
                os.killpg(pid, sig)
            else:  # pragma: no cover
                os.kill(pid, sig)

    send(signal.SIGTERM)
    try:
        wait(timeout)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            wait(5.0)


# -- deployments ----------------------------------------------------------------------------
POLL_DEPLOYMENT = "poll"
DIGEST_DEPLOYMENT = "digests"
POLL_POOL = "newswatch"  # a fleet's work pools (compose.yaml, prefect.yaml, docs/scaleout.md)
DIGEST_POOL = "newswatch-digests"

# zombie detection (Prefect's "detect zombie flows"): heartbeats, and an automation that
# crashes a run whose heartbeats stop
FLOW_HEARTBEAT_SECONDS = 30
ZOMBIE_AFTER_SECONDS = 90
ZOMBIE_AUTOMATION = "newswatch: crash zombie flow runs"


def zombie_automation(within_seconds: float = ZOMBIE_AFTER_SECONDS) -> Any:
    """Prefect's documented automation: a flow run tagged ``newswatch`` that sent a heartbeat
    and then neither a heartbeat nor a final state for ``within_seconds`` is set Crashed."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return Automation(
        name=ZOMBIE_AUTOMATION,
        description="newswatch: a flow run whose heartbeats stopped (its process or host "
        "died) is marked Crashed, which frees its concurrency slot",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            # only newswatch's runs (tagged so), which send heartbeats every 30 s; another
            # flow's runs may beat at Prefect's default of 180 s
            match_related=ResourceSpecification(
                {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.newswatch"}
            ),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=dt.timedelta(seconds=within_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {within_seconds:.0f} s: the flow run's process or "
                "host is gone (newswatch zombie detection)",
            )
        ],
    )


async def ensure_zombie_automation(
    *, within_seconds: float = ZOMBIE_AFTER_SECONDS, log: Callable[[str], None] | None = None
) -> bool:
    """Create the zombie automation on the current Prefect server unless one of that name
    is there; returns whether it created it."""
    from prefect.automations import Automation

    try:
        await Automation.aread(name=ZOMBIE_AUTOMATION)
        return False
    except ValueError:
        pass
    await zombie_automation(within_seconds).acreate()
    if log:
        log(f"Created the Prefect automation {ZOMBIE_AUTOMATION!r}.")
    return True


def no_overlap() -> Any:
    """At most one run of a deployment at a time; a run due meanwhile is cancelled, not queued."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    return ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def build_deployments(
    config_dir: Path, db: str | None, settings: ServeSettings, *, digests: bool | None = None
) -> list[RunnerDeployment]:
    """The polling flow every ``poll_minutes``; the digest flow every ``digest_minutes`` when
    digests are configured (each digest's own cron decides whether it is due)."""
    from newswatch.orchestration.flows import poll_flow, send_digests_flow

    params = {
        "config_dir": str(Path(config_dir).resolve()),
        "db": str(Path(db).resolve()) if db else None,
    }
    if digests is None:
        from newswatch.digest.deliver import load_digest_settings

        digests = bool(load_digest_settings(Path(config_dir))[1])
    # to_deployment is sync-compatible: called outside an event loop it returns the deployment
    out: list[Any] = [
        poll_flow.to_deployment(
            name=POLL_DEPLOYMENT,
            interval=dt.timedelta(minutes=settings.poll_minutes),
            # every few minutes, but each pass fetches only the feeds whose planned poll has come
            parameters={**params, "due_only": True},
            concurrency_limit=no_overlap(),
            tags=["newswatch"],
            description="newswatch polling pass over the feeds that are due",
        )
    ]
    if digests:
        out.append(
            send_digests_flow.to_deployment(
                name=DIGEST_DEPLOYMENT,
                interval=dt.timedelta(minutes=settings.digest_minutes),
                parameters=params,
                concurrency_limit=no_overlap(),
                tags=["newswatch"],
                description="newswatch alert digests: sends each digest whose cron has come",
            )
        )
    return out


async def reconcile_runs(
    client: Any, deployment_ids: Sequence[Any], *, crashed: bool, log: Log
) -> dict[str, int]:
    """Before serving: cancel overdue scheduled runs but the newest per deployment (no
    backlog), and, when ``crashed`` (we are the only runner), mark runs left Running or
    Pending by a killed ``serve`` as Crashed (which frees their concurrency slot)."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.states import Cancelled, Crashed

    counts = {"skipped": 0, "crashed": 0}
    now = dt.datetime.now(dt.UTC)
    for dep in deployment_ids:
        while True:  # pages of 200 (the API's maximum); cancelled runs drop out of the filter
            late = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[dep]),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    ),
                    expected_start_time=FlowRunFilterExpectedStartTime(before_=now),
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=200,
            )
            for run in late[1:]:
                await client.set_flow_run_state(
                    run.id,
                    Cancelled(
                        name="Skipped",
                        message="missed while newswatch serve was not running; "
                        "one catch-up run replaces the missed ones",
                    ),
                    force=True,
                )
                counts["skipped"] += 1
            if len(late) < 200:
                break
        if not crashed:
            continue
        while True:
            stuck = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[dep]),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(
                            any_=[StateType.RUNNING, StateType.PENDING, StateType.CANCELLING]
                        )
                    ),
                ),
                limit=200,
            )
            for run in stuck:
                await client.set_flow_run_state(
                    run.id,
                    Crashed(message="newswatch serve stopped while this run was in progress"),
                    force=True,
                )
                counts["crashed"] += 1
            if len(stuck) < 200:
                break
    if counts["skipped"] or counts["crashed"]:
        log(
            f"Skipped {counts['skipped']} overdue run(s); marked {counts['crashed']} "
            "interrupted run(s) as crashed."
        )
    return counts


# -- serving --------------------------------------------------------------------------------
def _client_settings(server: LocalPrefectServer | None) -> dict[str, str]:
    # flow runs (processes of the runner) send heartbeats for zombie detection
    beats = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(FLOW_HEARTBEAT_SECONDS)}
    if os.environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY"):
        beats = {}
    if server is None:
        return beats
    return {
        **beats,
        "PREFECT_API_URL": server.api_url,
        "PREFECT_HOME": str(server.home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }


def serve_forever(
    deployments: Callable[[], Iterable[RunnerDeployment]],
    *,
    server: LocalPrefectServer | None = None,
    once: bool = False,
    log: Log = lambda m: print(m, file=sys.stderr, flush=True),
    install_signal_handlers: bool = True,
    poll_at_start: bool = True,
) -> int:
    """Serve ``deployments()`` until SIGINT/SIGTERM (or, with ``once``, run each once now).

    With ``server``, it is started first, restarted if it dies, and stopped last; without,
    the Prefect server in ``PREFECT_API_URL`` is used. Returns the exit status (0)."""
    stop = threading.Event()
    wake: list[Callable[[], None]] = []

    def on_signal(signum: int, _frame: Any = None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        stop.set()
        if server is not None:
            server.abort_start()
        for w in wake:
            w()

    old = {}
    if install_signal_handlers:
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, on_signal)
    # Prefect's settings are read from the environment by the flow-run processes too
    saved_env = {k: os.environ.get(k) for k in _client_settings(server)}
    try:
        if server is not None:
            log(
                f"Starting a local Prefect server (data in {server.home}, log in {server.log_path}) …"
            )
            try:
                server.start()
            except ServeError:
                if stop.is_set():
                    return 0
                raise
            log(
                f"Prefect server ready in {server.start_seconds:.1f} s: "
                f"{server.ui_url if server.ui else server.api_url}"
            )
        os.environ.update(_client_settings(server))
        deps = list(deployments())  # outside the event loop: to_deployment is sync there
        return asyncio.run(
            _serve(deps, server, once, stop, wake, log, on_signal, poll_at_start=poll_at_start)
        )
    finally:
        if server is not None:
            server.stop()
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        for sig, handler in old.items():
            signal.signal(sig, handler)


async def _serve(
    deps: list[RunnerDeployment],
    server: LocalPrefectServer | None,
    once: bool,
    stop: threading.Event,
    wake: list[Callable[[], None]],
    log: Log,
    on_signal: Callable[..., None],
    *,
    poll_at_start: bool = True,
) -> int:
    from prefect.client.orchestration import get_client
    from prefect.runner import Runner
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()

    def _wake() -> None:
        loop.call_soon_threadsafe(stopped.set)

    wake.append(_wake)
    if stop.is_set():
        return 0

    class _Runner(Runner):
        def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:  # ours, not sys.exit
            on_signal(signal.SIGTERM)

    updates: dict[Any, Any] = {}
    if server is not None:
        updates = {PREFECT_API_URL: server.api_url, PREFECT_HOME: str(server.home)}
    backoff = 1.0
    with temporary_settings(updates=updates):
        while not stop.is_set():
            runner = _Runner(name="newswatch-serve", pause_on_shutdown=False, limit=None)
            ids = [await runner.aadd_deployment(d) for d in deps]
            async with get_client() as client:
                await reconcile_runs(client, ids, crashed=server is not None, log=log)
            try:
                await ensure_zombie_automation(log=log)
            except Exception as e:  # a server without automations: serve still serves
                log(f"Could not set up zombie detection ({e!r}); crashed runs are found at start.")
                if once:
                    for i in ids:
                        await client.create_flow_run_from_deployment(i)
                elif poll_at_start:
                    # the first poll now, not one interval after start (or restart)
                    for d, i in zip(deps, ids, strict=True):
                        if d.name == POLL_DEPLOYMENT:
                            await client.create_flow_run_from_deployment(i)
            names = ", ".join(f"{d.flow_name}/{d.name}" for d in deps)
            if once:
                log(f"Running once: {names}")
                await runner.start(run_once=True)
                return 0
            log(f"Serving {names}. Stop with Ctrl-C.")
            runner_task = asyncio.create_task(runner.start())
            stop_task = asyncio.create_task(stopped.wait())
            while True:
                done, _ = await asyncio.wait(
                    {runner_task, stop_task}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED
                )
                if done or stop.is_set():
                    break
                if server is not None and not server.is_running():
                    code = server.proc.returncode if server.proc else None
                    log(f"The Prefect server exited (status {code}); restarting it …")
                    server.restarts += 1
                    server.spawn()
                    await asyncio.to_thread(server.wait_healthy)
                    log(f"Prefect server back in {server.start_seconds:.1f} s.")
            if stop.is_set():
                log("Stopping: the runner first, then the Prefect server …")
                if runner.started:
                    with contextlib.suppress(Exception):
                        await runner.astop()
                try:
                    await asyncio.wait_for(runner_task, 30)
                except BaseException:
                    runner_task.cancel()
                stop_task.cancel()
                return 0
            stop_task.cancel()
            err = runner_task.exception() if not runner_task.cancelled() else None
            log(
                f"The Prefect runner stopped unexpectedly ({err!r}); restarting it in {backoff:.0f} s …"
            )
            try:
                await asyncio.wait_for(stopped.wait(), backoff)
            except TimeoutError:
                pass
            backoff = min(backoff * 2, 60.0)
    return 0
