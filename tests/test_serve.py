"""``newswatch serve``: a real local Prefect server, real schedules, real subprocesses.

1. The dependency smoke test: ``prefect server start`` (SQLite, temporary PREFECT_HOME) and a
   trivial flow served on a 5-second interval through :mod:`newswatch.orchestration.serve`; runs complete.
2. ``newswatch serve`` against the local news site and a local SMTP server: articles arrive,
   the digest is sent once, ``newswatch sql`` answers meanwhile, SIGTERM stops everything
   cleanly, and a restart goes on polling without duplicates or a replayed backlog.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest
import yaml

from newsfixtures import build_site, page, rss, site_sources, write_config
from newswatch.orchestration import flows
from newswatch.orchestration.serve import LocalPrefectServer, free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SERVE = "from newswatch.cli import app; app()\n"  # `newswatch serve` with this interpreter


@pytest.fixture
def procs():
    """Subprocesses started by a test, each in its own session: killed (group) at the end."""
    started: list[subprocess.Popen] = []
    homes: list[Path] = []

    def start(
        cmd: list[str], *, env: dict[str, str] | None = None, log: Path, home: Path
    ) -> subprocess.Popen:
        homes.append(home)
        with open(log, "ab") as out:
            p = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        started.append(p)
        return p

    yield start
    for p in started:
        if p.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
    for home in homes:  # a Prefect server left behind by a failed test
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.killpg(int((home / "server.pid").read_text().split()[0]), signal.SIGKILL)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        {
            "PREFECT_RUNNER_POLL_FREQUENCY": "2",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            **extra,
        }
    )
    return env


def _runs(api: str, flow_name: str) -> list[dict]:
    r = httpx.post(
        f"{api}/flow_runs/filter",
        timeout=10,
        json={
            "flows": {"name": {"any_": [flow_name]}},
            "sort": "EXPECTED_START_TIME_ASC",
            "limit": 200,
        },
    )
    r.raise_for_status()
    return r.json()


def _completed(api: str, flow_name: str) -> list[dict]:
    with contextlib.suppress(httpx.HTTPError):
        return [r for r in _runs(api, flow_name) if r["state_type"] == "COMPLETED"]
    return []


def _wait(what: str, check, timeout: float, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(
                f"exited with {proc.returncode} while waiting for {what}:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen, home: Path, log: Path) -> float:
    server_pid = int((home / "server.pid").read_text().split()[0])
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not stop within 30 s of SIGTERM:\n{log.read_text()[-3000:]}")
    took = time.monotonic() - t0
    assert code == 0, log.read_text()[-3000:]
    with pytest.raises(ProcessLookupError):
        os.kill(server_pid, 0)  # the Prefect server is gone too
    assert not (home / "server.pid").exists()
    return took


def test_prefect_yaml_matches_the_served_deployments():
    from prefect.cli.deploy._models import PrefectYamlModel

    spec = PrefectYamlModel.model_validate(yaml.safe_load((REPO / "prefect.yaml").read_text()))
    got = {d.name: d for d in spec.deployments}
    assert set(got) == {"poll", "digests"}
    for d in got.values():
        path, func = d.entrypoint.split(":")
        # the entry point loads the flow that `serve` deploys
        namespace = runpy.run_path(str(REPO / path), run_name="entrypoint")
        assert namespace[func] is getattr(flows, func)
        assert (d.concurrency_limit.limit, d.concurrency_limit.collision_strategy) == (
            1,
            "CANCEL_NEW",
        )


def test_serve_settings_from_yaml_and_environment(tmp_path):
    from newswatch.errors import ConfigError
    from newswatch.orchestration.serve import load_serve_settings

    (tmp_path / "newswatch.yaml").write_text("serve:\n  poll_minutes: 10\n  port: 4300\n")
    s = load_serve_settings(tmp_path, environ={"NEWSWATCH_SERVE_DIGEST_MINUTES": "2"})
    assert (s.poll_minutes, s.digest_minutes, s.port, s.prefect_home) == (10, 2, 4300, None)
    with pytest.raises(ConfigError, match=r"serve\.pol_minutes"):
        (tmp_path / "newswatch.yaml").write_text("serve:\n  pol_minutes: 10\n")
        load_serve_settings(tmp_path, environ={})


def test_serve_refuses_a_bad_configuration_before_starting_anything(tmp_path):
    cdir = write_config(
        tmp_path / "c", [{"name": "A", "url": "https://a.example/f"}], db=tmp_path / "x.duckdb"
    )
    (cdir / "sources.yaml").write_text("sources:\n  - name: A\n")
    r = subprocess.run(
        [sys.executable, "-c", SERVE, "serve", "--config", str(cdir)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.startswith("Error: ") and "sources.yaml" in r.stderr
    assert not (tmp_path / "prefect").exists() and not (tmp_path / "x.duckdb").exists()


@pytest.mark.slow
def test_smoke_real_prefect_server_runs_a_served_flow_on_schedule(procs, tmp_path):
    home, port, log = tmp_path / "prefect", free_port(), tmp_path / "smoke.log"
    home.mkdir()
    p = procs(
        [sys.executable, str(HERE / "serve_smoke.py"), str(home), str(port), "5"],
        env=_env(),
        log=log,
        home=home,
    )
    api = f"http://127.0.0.1:{port}/api"
    done = _wait(
        "2 completed runs",
        lambda: len(_completed(api, "serve-smoke")) >= 2 and _completed(api, "serve-smoke"),
        150,
        p,
        log,
    )
    assert all(r["deployment_id"] for r in done)
    assert _stop(p, home, log) < 20


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    box = _Mailbox()
    c = Controller(box, hostname="127.0.0.1", port=free_port())
    c.start()
    yield c.port, box
    c.stop()


def _count(db: Path, sql: str):
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:
        return None  # not created yet, or being written
    try:
        return con.execute(sql).fetchone()[0]
    except duckdb.Error:
        return None
    finally:
        con.close()


def _sql(db: Path, query: str) -> list[dict]:
    r = subprocess.run(
        [sys.executable, "-m", "newswatch.cli", "sql", "--db", str(db), "-f", "json", query],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.slow
def test_newswatch_serve_polls_sends_digest_stops_and_restarts_cleanly(procs, smtp, tmp_path):
    """serve polls on schedule, sends a due digest, answers SQL throughout, stops on SIGTERM,
    and survives both a clean restart and being killed outright, with nothing duplicated."""
    smtp_port, mailbox = smtp
    data = tmp_path / "data"
    db, home, log = data / "nw.duckdb", data / "prefect", tmp_path / "serve.log"
    port = free_port()
    with build_site() as site:
        settings = {
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "tls": "none",
                "sender": "newswatch <nw@example.org>",
                "timeout_seconds": 5,
            },
            "digests": [
                {
                    "name": "morning",
                    "recipients": ["analyst@example.org"],
                    "immediate": True,
                    "backfill_days": 3650,
                }
            ],
        }
        sources = site_sources(site)
        cdir = write_config(tmp_path / "config", sources, db=db, settings=settings)
        env = _env(
            NEWSWATCH_SERVE_POLL_MINUTES="0.1",
            NEWSWATCH_SERVE_DIGEST_MINUTES="0.1",
            NEWSWATCH_SERVE_UI="false",
        )
        cmd = [sys.executable, "-c", SERVE, "serve", "--config", str(cdir), "--port", str(port)]
        api = f"http://127.0.0.1:{port}/api"

        p = procs(cmd, env=env, log=log, home=home)
        _wait(
            "the first articles",
            lambda: (_count(db, "SELECT count(*) FROM articles") or 0) >= 6,
            150,
            p,
            log,
        )
        rows = _sql(db, "SELECT count(*) AS n FROM articles")  # answers while serve runs
        assert rows[0]["n"] >= 6
        _wait("the digest", lambda: mailbox.messages, 90, p, log)
        _wait(
            "a second completed poll run",
            lambda: len(_completed(api, "newswatch-poll")) >= 2,
            60,
            p,
            log,
        )
        assert _stop(p, home, log) < 20
        down_since = dt.datetime.now(dt.UTC)
        assert (data / "prefect-server.log").exists() and (home / "prefect.db").exists()
        before = _count(db, "SELECT count(*) FROM articles")

        # a new outlet while serve is down; then restart
        site.add(
            "/wire/late.html",
            page(
                "Late edition: quiet day in the capital",
                ["Nothing much happened in the capital today. " * 8] * 4,
            ),
        )
        site.add(
            "/feeds/late.xml",
            rss(
                [
                    {
                        "title": "Late edition: quiet day in the capital",
                        "link": site.url("/wire/late.html"),
                    }
                ]
            ),
            content_type="application/rss+xml",
        )
        (cdir / "sources.yaml").write_text(
            yaml.safe_dump(
                {
                    "sources": [
                        *sources,
                        {"name": "Late Wire", "url": site.url("/feeds/late.xml"), "language": "en"},
                    ]
                }
            )
        )
        time.sleep(8)  # at least one scheduled poll run goes overdue while serve is down
        down_until = dt.datetime.now(dt.UTC)
        p = procs(cmd, env=env, log=log, home=home)
        _wait(
            "the new outlet's article",
            lambda: (_count(db, "SELECT count(*) FROM articles") or 0) == before + 1,
            150,
            p,
            log,
        )
        assert _sql(db, "SELECT count(*) - count(DISTINCT canonical_url) AS d FROM articles") == [
            {"d": 0}
        ]
        runs = _runs(api, "newswatch-poll")
        clean_log = log.read_text()

        # killed outright (no chance to clean up), then started again: it takes over the
        # orphaned server or its leftovers, and goes on polling with nothing duplicated
        done_before = len(_completed(api, "newswatch-poll"))
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        p = procs(cmd, env=env, log=log, home=home)
        _wait(
            "a poll run after the kill",
            lambda: len(_completed(api, "newswatch-poll")) > done_before,
            150,
            p,
            log,
        )
        assert _count(db, "SELECT count(*) FROM articles") == before + 1
        assert _sql(db, "SELECT count(*) - count(DISTINCT canonical_url) AS d FROM articles") == [
            {"d": 0}
        ]
        assert _stop(p, home, log) < 20

    # the digest went out once: later ticks and the restart had nothing new to send
    assert [m[0] for m in mailbox.messages] == [["analyst@example.org"]]
    # poll runs never overlapped
    spans = sorted((r["start_time"], r["end_time"]) for r in runs if r["state_type"] == "COMPLETED")
    assert len(spans) >= 2
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans
    # the runs missed while serve was down were not replayed: at most one catch-up run, the
    # others cancelled (ours say "Skipped"; the server's late-runs service may get to some of
    # them first and cancel them for the concurrency limit, which is as good)
    missed = [
        r
        for r in runs
        if down_since <= dt.datetime.fromisoformat(r["expected_start_time"]) < down_until
    ]
    listing = [(r["state_name"], r["expected_start_time"]) for r in missed]
    assert missed, (
        down_since,
        down_until,
        [(r["state_name"], r["expected_start_time"]) for r in runs],
    )
    assert sum(r["state_type"] == "COMPLETED" for r in missed) <= 1, listing
    assert all(r["state_type"] in ("CANCELLED", "COMPLETED") for r in missed), listing
    assert "Traceback" not in clean_log


def test_serve_binds_where_it_is_told_and_connects_locally(tmp_path):
    """serve.host: 0.0.0.0 in a container (the Dockerfile sets it) so that -p 4200:4200
    reaches the UI; the runner itself still talks to the server over loopback."""
    from newswatch.settings import load_settings

    (tmp_path / "newswatch.yaml").write_text("serve:\n  host: 0.0.0.0\n  port: 4321\n")
    s = load_settings(tmp_path / "newswatch.yaml").serve
    server = LocalPrefectServer(
        tmp_path / "home", log_path=tmp_path / "log", port=s.port, host=s.host
    )
    assert server.host == "0.0.0.0"
    assert server.api_url == "http://127.0.0.1:4321/api"
    docker = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "NEWSWATCH_SERVE_HOST=0.0.0.0" in docker
    assert load_settings(None, environ={"NEWSWATCH_SERVE_HOST": "0.0.0.0"}).serve.host == "0.0.0.0"
