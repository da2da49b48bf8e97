"""One reader of the configuration: an override or a setting reaches every part that uses it.

Before, three functions read newswatch.yaml and disagreed: with NEWSWATCH_SMTP_HOST set,
`newswatch digest` and the digest flow used the file's host while the immediate alerts at
the end of a pass used the override; and `trends` opened a different database than `sql`
when `database:` was set in the config.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from newsfixtures import build_site, site_sources, write_config
from newswatch.cli import app
from newswatch.orchestration.flows import send_digests_flow
from newswatch.pipeline.run import run_pass
from newswatch.settings import load_config


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def inbox():
    box = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    smtpd = Controller(box, hostname="127.0.0.1", port=port)
    smtpd.start()
    try:
        yield box, port
    finally:
        smtpd.stop()


def _config(tmp_path: Path, site, db: Path) -> Path:
    # the file names a mail host that does not exist; only the override reaches the inbox
    digest = {"recipients": ["desk@example.org"], "backfill_days": 3650}
    return write_config(
        tmp_path / "config",
        site_sources(site),
        db=db,
        settings={
            "smtp": {"host": "mail.invalid", "port": 2525, "tls": "none"},
            "digests": [
                {"name": "alerts", "immediate": True, **digest},  # end of a pass
                {"name": "morning", "schedule": "0 7 * * *", **digest},  # newswatch digest
                {"name": "weekly", "schedule": "0 7 * * mon", **digest},  # the digest flow
                {"name": "night", "schedule": "0 22 * * *", **digest},  # no override
            ],
        },
    )


def test_smtp_override_reaches_every_sender(tmp_path: Path, inbox, monkeypatch, prefect_harness):
    box, port = inbox
    monkeypatch.setenv("NEWSWATCH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NEWSWATCH_SMTP_PORT", str(port))
    db = tmp_path / "nw.duckdb"
    with build_site() as site:
        cdir = _config(tmp_path, site, db)
        # 1. the immediate alert at the end of a pass
        summary = run_pass(load_config(cdir))
    assert any(a.startswith("alerts: sent") for a in summary.alerts), summary.alerts
    assert len(box.messages) == 1
    # 2. `newswatch digest --name morning`
    r = CliRunner().invoke(app, ["digest", "--config", str(cdir), "--name", "morning"])
    assert r.exit_code == 0, r.output
    assert len(box.messages) == 2
    # 3. the digest flow, run by Prefect (the test harness)
    results = send_digests_flow(str(cdir), str(db), name="weekly")
    assert [res["status"] for res in results] == ["sent"], results
    assert len(box.messages) == 3
    # without the override the file's host is used, and it does not exist: so it was the
    # override that reached each of the three
    monkeypatch.delenv("NEWSWATCH_SMTP_HOST")
    monkeypatch.delenv("NEWSWATCH_SMTP_PORT")
    r = CliRunner().invoke(app, ["digest", "--config", str(cdir), "--name", "night"])
    assert r.exit_code != 0 and "mail.invalid" in r.output, r.output


def test_database_in_the_config_reaches_every_command(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("NEWSWATCH_DB", raising=False)
    db = tmp_path / "elsewhere" / "configured.duckdb"
    with build_site() as site:
        cdir = write_config(tmp_path / "config", site_sources(site), db=db)
        runner = CliRunner()
        r = runner.invoke(app, ["run", "--config", str(cdir), "--quiet"])
        assert r.exit_code == 0, r.output
    assert db.exists()
    monkeypatch.chdir(tmp_path)  # no ./data/newswatch.duckdb here: only the config names it
    for args in (
        ["sql", "--config", str(cdir), "-f", "json", "SELECT count(*) AS n FROM articles"],
        ["sources", "--config", str(cdir), "-f", "json"],
        ["status", "--config", str(cdir), "-f", "json"],
        ["trends", "--config", str(cdir), "-f", "json"],
        ["export", "--config", str(cdir), str(tmp_path / "out")],
        ["reflag", "--config", str(cdir), "--quiet"],
        ["digest", "--config", str(cdir), "--dry-run"],
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 0, (args, r.output)
        assert "does not exist" not in r.output, (args, r.output)
        if args[0] == "sql":
            assert json.loads(r.stdout)[0]["n"] == 6
        if args[0] == "digest":  # no digest configured: the commented example is previewed
            assert "previewing its commented example" in r.output
