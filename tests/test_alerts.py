"""Immediate alerts at the end of a pass, and failing feeds listed in digests."""

from __future__ import annotations

import email
import socket
from email import policy

import duckdb
from aiosmtpd.controller import Controller

from newsfixtures import build_site, site_sources, write_config
from newswatch.digest.deliver import send_digest
from newswatch.pipeline.run import run_pass
from newswatch.settings import DigestSettings, SmtpSettings, load_config
from newswatch.store import Store


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"


def test_immediate_digest_is_sent_at_the_end_of_the_pass(tmp_path):
    inbox = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    smtpd = Controller(inbox, hostname="127.0.0.1", port=port)
    smtpd.start()
    try:
        with build_site() as site:
            db = tmp_path / "a.duckdb"
            cdir = write_config(
                tmp_path / "c",
                site_sources(site),
                db=db,
                settings={
                    "smtp": {
                        "host": "127.0.0.1",
                        "port": port,
                        "tls": "none",
                        "sender": "newswatch <nw@example.org>",
                    },
                    "digests": [
                        {
                            "name": "arms",
                            "recipients": ["oncall@example.org"],
                            "immediate": True,
                            "allegations": ["arms_transfer"],
                        }
                    ],
                },
            )
            config = load_config(cdir)
            first = run_pass(config)
            assert any(a.startswith("arms: sent") for a in first.alerts), first.alerts
            assert len(inbox.messages) == 1
            rcpts, raw = inbox.messages[0]
            assert rcpts == ["oncall@example.org"]
            msg = email.message_from_bytes(raw, policy=policy.default)
            text = msg.get_body(preferencelist=("plain",)).get_content()
            assert "North Korean rockets found with Hamas fighters" in text
            assert "Arms" in text or "arms" in text
            assert "tunnel know-how" not in text  # not an arms_transfer article
            # a second pass finds nothing new: nothing is sent
            second = run_pass(config)
            assert second.articles_flagged == 0
            assert len(inbox.messages) == 1
    finally:
        smtpd.stop()


def test_digest_lists_feeds_failing_for_more_than_a_day(tmp_path):
    with build_site() as site:
        db = tmp_path / "f.duckdb"
        cdir = write_config(tmp_path / "c", site_sources(site), db=db)
        run_pass(load_config(cdir))
    con = duckdb.connect(str(db))
    con.execute(
        "UPDATE sources SET failing_since = failing_since - INTERVAL 3 DAY WHERE name = 'Down Feed'"
    )
    con.close()
    digest = DigestSettings(
        name="d", recipients=["a@example.org"], immediate=True, backfill_days=365
    )
    out = tmp_path / "d.eml"
    send_digest(Store(db), digest, SmtpSettings(), to_file=out)
    msg = email.message_from_bytes(out.read_bytes(), policy=policy.default)
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "Feeds failing for more than a day" in text and "Down Feed" in text and "500" in text
    assert "Down Feed" in html
    assert "Broken Feed" not in text  # failing for less than a day
