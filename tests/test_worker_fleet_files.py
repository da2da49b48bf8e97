"""compose.yaml and prefect.yaml say what the code does, and agree with their own comments.

No Docker here: the files are read as data. The setup service's script is compiled, and the
names it uses (pools, the zombie automation) are the library's.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from newswatch.orchestration.serve import DIGEST_POOL, FLOW_HEARTBEAT_SECONDS, POLL_POOL

REPO = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def _option(command: str, name: str) -> str | None:
    m = re.search(rf"{name}[ =](\S+)", command)
    return m.group(1) if m else None


def test_compose_workers_drain_within_their_stop_grace_period():
    services = _compose()["services"]
    pools = {}
    for name in ("worker", "digests-worker"):
        svc = services[name]
        cmd = svc["command"]
        assert cmd.startswith("newswatch worker ")
        grace = float(_option(cmd, "--grace-seconds"))
        stop = float(svc["stop_grace_period"].rstrip("s"))
        assert stop > grace, (name, stop, grace)  # Docker does not SIGKILL before the drain ends
        assert "8080/health" in " ".join(svc["healthcheck"]["test"])
        assert svc["environment"]["PREFECT_WORKER_WEBSERVER_PORT"] == "8080"
        pools[name] = _option(cmd, "--pool")
    assert pools == {"worker": POLL_POOL, "digests-worker": DIGEST_POOL}


def test_compose_lease_is_shorter_than_the_interval_and_heartbeats_match():
    compose = _compose()
    env = compose["services"]["worker"]["environment"]
    lease = float(env["NEWSWATCH_PIPELINE_LEASE_SECONDS"])
    script = compose["services"]["setup"]["command"][0]
    intervals = {float(x) for x in re.findall(r"Interval\((\d+)\)", script)}
    assert intervals and lease < min(
        intervals
    )  # a dead worker's feeds are free before the next pass
    assert env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == str(FLOW_HEARTBEAT_SECONDS)
    text = (REPO / "compose.yaml").read_text()
    assert f"({lease:.0f} s)" in text  # the comment says the value the file sets


def test_compose_setup_script_compiles_and_uses_the_librarys_names():
    compose = _compose()
    script = compose["services"]["setup"]["command"][0]
    compile(script, "compose.yaml:setup", "exec")
    for name in ("POLL_POOL", "DIGEST_POOL", "ensure_zombie_automation", 'tags=["newswatch"]'):
        assert name in script
    assert "work_pool_name=DIGEST_POOL" in script and "work_pool_name=POLL_POOL" in script


def test_compose_prefect_server_has_auth_and_clients_send_it():
    services = _compose()["services"]
    server = services["prefect"]
    assert server["environment"]["PREFECT_SERVER_API_AUTH_STRING"]
    assert (
        services["worker"]["environment"]["PREFECT_API_AUTH_STRING"]
        == (server["environment"]["PREFECT_SERVER_API_AUTH_STRING"])
    )
    assert all(p.startswith("127.0.0.1:") for p in server["ports"])  # not published to the world


def test_prefect_yaml_pools_tags_and_heartbeats():
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    deps = {d["name"]: d for d in spec["deployments"]}
    assert deps["poll"]["work_pool"]["name"] == POLL_POOL
    assert deps["digests"]["work_pool"]["name"] == DIGEST_POOL
    for d in deps.values():
        assert "newswatch" in d["tags"]  # the zombie automation matches this tag
        env = d["work_pool"]["job_variables"]["env"]
        assert env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == str(FLOW_HEARTBEAT_SECONDS)
