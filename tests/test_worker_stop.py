"""``newswatch worker`` stops cleanly: SIGTERM drains the current flow run, nothing is left.

    pytest (this test)
     ├── prefect server start                 (LocalPrefectServer: SQLite, 127.0.0.1)
     └── newswatch worker --pool …            (own session, as docker or Kubernetes runs it)
          └── prefect worker start --with-healthcheck
               └── flow run "slow"            (waits for a file; has a child process of its
                    └── python -c sleep         own, as a pass has extraction processes)

1. SIGTERM while a run is in progress: no new run is taken, the current one finishes when
   released, the worker exits 0, and no process of its tree is left.
2. SIGTERM with a short grace period and a run that does not finish: the run is stopped
   after the grace period, Prefect records it as Crashed (not Running for ever), the
   worker exits 1, and no process is left (not even the run's child).
3. The host dies (SIGKILL to the whole tree, nothing can report): the zombie automation
   newswatch installs marks the run Crashed once its heartbeats stop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from newswatch.orchestration.serve import LocalPrefectServer, free_port
from newswatch.orchestration.worker import descendants

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

REPO = Path(__file__).resolve().parent.parent
POOL = "nw-test-stop"

FLOW = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from pathlib import Path
    from prefect import flow

    @flow(name="nw-test-slow")
    def slow(marker: str, release: str) -> str:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)"])
        Path(marker).write_text(f"{os.getpid()} {child.pid}")
        deadline = time.time() + 300
        while not Path(release).exists() and time.time() < deadline:
            time.sleep(0.1)
        child.terminate()
        child.wait()
        return "released"
    """
)

DEPLOY = textwrap.dedent(
    """
    import sys
    from prefect import flow
    d = flow.from_source(source=sys.argv[1], entrypoint="slowflow.py:slow")
    print(d.deploy(name="slow", work_pool_name=sys.argv[2], build=False, push=False,
                   tags=["newswatch"], print_next_steps=False))
    """
)


def _wait_for(cond, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="module")
def prefect(tmp_path_factory):
    """A Prefect server, the work pool and the deployment of the slow flow."""
    home = tmp_path_factory.mktemp("prefect")
    server = LocalPrefectServer(home / "server", log_path=home / "server.log", ui=False)
    server.start()
    try:
        src = home / "flowsrc"
        src.mkdir()
        (src / "slowflow.py").write_text(FLOW)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            {
                "PREFECT_API_URL": server.api_url,
                "PREFECT_HOME": str(home / "client"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "DO_NOT_TRACK": "1",
                "PREFECT_LOGGING_LEVEL": "WARNING",
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
                "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
            }
        )
        run = [sys.executable, "-m", "prefect"]
        subprocess.run(
            [*run, "work-pool", "create", POOL, "--type", "process"],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        (home / "deploy.py").write_text(DEPLOY)
        r = subprocess.run(
            [sys.executable, str(home / "deploy.py"), str(src), POOL],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        with httpx.Client(base_url=server.api_url, timeout=30) as api:
            yield env, r.stdout.strip().splitlines()[-1], api
    finally:
        server.stop()


@pytest.fixture
def worker(prefect, tmp_path):
    """Start ``newswatch worker`` in its own session; whatever is left is killed at the end."""
    env, _, _ = prefect
    started: list[subprocess.Popen] = []

    def start(*args: str, health_port: int) -> tuple[subprocess.Popen, Path]:
        log = tmp_path / f"worker-{len(started)}.log"
        wenv = dict(
            env,
            PREFECT_WORKER_WEBSERVER_HOST="127.0.0.1",
            PREFECT_WORKER_WEBSERVER_PORT=str(health_port),
        )
        with open(log, "ab") as out:
            p = subprocess.Popen(
                [sys.executable, "-m", "newswatch.cli", "worker", "--pool", POOL, *args],
                env=wenv,
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        started.append(p)
        return p, log

    yield start
    for p in started:
        pids = descendants(p.pid)
        for pid in [p.pid, *pids]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(10)


def _new_run(
    api: httpx.Client, deployment: str, tmp_path: Path, name: str
) -> tuple[str, Path, Path]:
    marker, release = tmp_path / f"{name}.started", tmp_path / f"{name}.release"
    r = _call(
        api,
        "POST",
        f"/deployments/{deployment}/create_flow_run",
        json={"parameters": {"marker": str(marker), "release": str(release)}},
    )
    return r.json()["id"], marker, release


def _call(api: httpx.Client, method: str, url: str, **kw) -> httpx.Response:
    """A request to the Prefect server, again while it answers 503 (SQLite busy, as
    Prefect's own client retries)."""
    deadline = time.monotonic() + 60
    while True:
        r = api.request(method, url, **kw)
        if r.status_code != 503 or time.monotonic() > deadline:
            r.raise_for_status()
            return r
        time.sleep(0.5)


def _state(api: httpx.Client, run_id: str) -> str:
    return _call(api, "GET", f"/flow_runs/{run_id}").json()["state_type"]


def _healthy(port: int) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    return False


def test_sigterm_drains_the_current_run_and_leaves_no_process(prefect, worker, tmp_path):
    _, deployment, api = prefect
    port = free_port()
    wrapper, log = worker("--grace-seconds", "240", health_port=port)
    _wait_for(lambda: _healthy(port), 120, "the worker's /health", log)

    run_a, marker_a, release_a = _new_run(api, deployment, tmp_path, "a")
    _wait_for(marker_a.exists, 180, "run a to start", log)
    tree = descendants(wrapper.pid)
    flow_pid, child_pid = (int(x) for x in marker_a.read_text().split())
    assert {flow_pid, child_pid} <= set(tree), (tree, flow_pid, child_pid)

    wrapper.send_signal(signal.SIGTERM)
    _wait_for(lambda: "draining: no new flow runs" in log.read_text(), 60, "the drain", log)
    # prefect worker stops polling; the run in progress goes on
    run_b, marker_b, _ = _new_run(api, deployment, tmp_path, "b")
    assert wrapper.poll() is None and _alive(flow_pid)
    assert _state(api, run_a) == "RUNNING"

    release_a.touch()
    assert wrapper.wait(180) == 0, log.read_text()[-3000:]
    assert _state(api, run_a) == "COMPLETED"
    assert not [p for p in tree if _alive(p)], [(p, p in (flow_pid, child_pid)) for p in tree]
    assert not marker_b.exists()  # nothing new was taken while draining
    assert _state(api, run_b) in ("SCHEDULED", "PENDING"), _state(api, run_b)
    api.delete(f"/flow_runs/{run_b}")


def test_grace_period_over_stops_the_run_marks_it_crashed_and_leaves_nothing(
    prefect, worker, tmp_path
):
    _, deployment, api = prefect
    port = free_port()
    wrapper, log = worker("--grace-seconds", "3", health_port=port)
    run_c, marker_c, _ = _new_run(api, deployment, tmp_path, "c")
    _wait_for(marker_c.exists, 180, "run c to start", log)
    tree = descendants(wrapper.pid)
    flow_pid, child_pid = (int(x) for x in marker_c.read_text().split())
    assert {flow_pid, child_pid} <= set(tree)

    t0 = time.monotonic()
    wrapper.send_signal(signal.SIGTERM)
    code = wrapper.wait(120)
    assert code == 1, log.read_text()[-3000:]
    assert time.monotonic() - t0 < 60
    assert "grace period over" in log.read_text()
    assert not [p for p in tree if _alive(p)], tree
    # the run is not left Running (it would hold its deployment's concurrency slot)
    final = _wait_for(
        lambda: (s := _state(api, run_c)) not in ("RUNNING", "PENDING") and s, 60, "the state"
    )
    assert final in ("CRASHED", "CANCELLED", "FAILED"), final


def _heartbeats(api: httpx.Client, run_id: str) -> int:
    r = _call(
        api,
        "POST",
        "/events/filter",
        json={
            "filter": {
                "event": {"name": ["prefect.flow-run.heartbeat"]},
                "resource": {"id": [f"prefect.flow-run.{run_id}"]},
            },
            "limit": 5,
        },
    )
    return len(r.json()["events"])


def test_a_run_whose_host_died_is_marked_crashed_by_the_zombie_automation(
    prefect, worker, tmp_path
):
    import asyncio

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from newswatch.orchestration.serve import ZOMBIE_AUTOMATION, ensure_zombie_automation

    env, deployment, api = prefect
    within = 40.0
    with temporary_settings(updates={PREFECT_API_URL: env["PREFECT_API_URL"]}):
        assert asyncio.run(ensure_zombie_automation(within_seconds=within)) is True
        assert asyncio.run(ensure_zombie_automation(within_seconds=within)) is False  # once
    r = _call(api, "POST", "/automations/filter", json={})
    assert [a["name"] for a in r.json()].count(ZOMBIE_AUTOMATION) == 1

    port = free_port()
    wrapper, log = worker("--grace-seconds", "60", health_port=port)
    run_d, marker_d, _ = _new_run(api, deployment, tmp_path, "d")
    _wait_for(marker_d.exists, 180, "run d to start", log)
    _wait_for(lambda: _heartbeats(api, run_d) > 0, 120, "run d's first heartbeat", log)
    # the host dies: every process of the tree at once, nothing reports anything
    for pid in [wrapper.pid, *descendants(wrapper.pid)]:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    wrapper.wait(30)
    t_dead = time.monotonic()
    assert _state(api, run_d) == "RUNNING"
    _wait_for(lambda: _state(api, run_d) == "CRASHED", within + 90, "the zombie automation")
    noticed = time.monotonic() - t_dead
    assert noticed < within + 90
    print(
        f"\nzombie run marked Crashed {noticed:.0f} s after its host died (within={within:.0f} s)"
    )
