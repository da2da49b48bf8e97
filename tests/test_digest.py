"""Alert digests: a real SMTP server (aiosmtpd) on 127.0.0.1 and a real DuckDB file."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import socket
import ssl
import subprocess
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import typer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from typer.testing import CliRunner

from newswatch.cli.digest import register
from newswatch.digest.deliver import (
    DigestsConfig,
    DigestSettings,
    SmtpSettings,
    is_due,
    load_digest_settings,
    pending_items,
    send_digest,
    send_due_digests,
)
from newswatch.errors import ConfigError, DeliveryError
from newswatch.models import ArticleRecord, FlagResult, Mention
from newswatch.store import Store

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
HOSTILE = '<script>alert("x")</script> Tunnel <img src=x onerror=alert(1)> report'
SENDER = "newswatch <nw@example.org>"


# -- data ------------------------------------------------------------------------------------
def _mention(kind: str, entity: str, matched: str, sentence: str, field: str = "text") -> Mention:
    start = sentence.find(matched)
    return Mention(kind, entity, matched, sentence, start, start + len(matched), field)


def _article(
    aid: str,
    source: str,
    title: str,
    *,
    days_ago: float,
    actors=(),
    allegations=(),
    mentions=(),
    score: float = 0.0,
    language: str = "en",
) -> ArticleRecord:
    return ArticleRecord(
        article_id=aid,
        url=f"https://{source}.example/news/{aid}",
        canonical_url=f"https://{source}.example/news/{aid}",
        source=source,
        title=title,
        author=None,
        published_at=NOW - dt.timedelta(days=days_ago),
        fetched_at=NOW,
        language=language,
        text="(demo text)",
        summary=None,
        extraction="trafilatura",
        content_hash=aid,
        flag=FlagResult(tuple(actors), tuple(allegations), tuple(mentions), score),
    )


S1 = "Engineers from North Korea helped Hezbollah build a tunnel network under the border."
S3 = "Hamas expanded its tunnel network with help from Iran, officials said."
S4 = "The syndicated copy: Hamas expanded its tunnel network, officials said."


def demo_records() -> list[ArticleRecord]:
    """Invented articles: nothing here is real reporting."""
    return [
        _article(
            "a1",
            "outlet-a",
            "North Korea helped Hezbollah dig tunnels, report says",
            days_ago=1,
            actors=("north_korea", "hezbollah"),
            allegations=("tunnel_technology_transfer",),
            mentions=(
                _mention("actor", "north_korea", "North Korea", S1),
                _mention("actor", "hezbollah", "Hezbollah", S1),
                _mention("allegation", "tunnel_technology_transfer", "build a tunnel network", S1),
            ),
            score=5.0,
        ),
        _article(
            "a2",
            "outlet-b",
            HOSTILE,
            days_ago=2,
            actors=("hamas",),
            allegations=("tunnel_network",),
            mentions=(
                _mention("actor", "hamas", "Hamas", "Hamas fighters used the tunnel network."),
                _mention(
                    "allegation",
                    "tunnel_network",
                    "tunnel network",
                    "Hamas fighters used the tunnel network.",
                ),
            ),
            score=3.0,
        ),
        _article(
            "a3",
            "outlet-c",
            "Hamas tunnels grew with Iranian help",
            days_ago=3,
            actors=("hamas", "iran"),
            allegations=("tunnel_network",),
            mentions=(
                _mention("actor", "hamas", "Hamas", S3),
                _mention("actor", "iran", "Iran", S3),
                _mention("allegation", "tunnel_network", "tunnel network", S3),
            ),
            score=4.0,
        ),
        # a syndicated copy of a3 (same story once clustering has run)
        _article(
            "a4",
            "outlet-d",
            "Hamas tunnels grew with Iranian help (wire)",
            days_ago=3,
            actors=("hamas",),
            allegations=("tunnel_network",),
            mentions=(
                _mention("actor", "hamas", "Hamas", S4),
                _mention("allegation", "tunnel_network", "tunnel network", S4),
            ),
            score=2.0,
        ),
        _article(
            "a5",
            "outlet-a",
            "Iran's foreign minister visits neighbours",
            days_ago=4,
            actors=("iran",),
            mentions=(_mention("actor", "iran", "Iran", "Iran sent its minister."),),
            score=1.0,
            language="fr",
        ),
        _article("a6", "outlet-b", "Weather: a mild week ahead", days_ago=1),  # not flagged
    ]


def make_db(path: Path, records=None) -> Store:
    store = Store(path)
    store.articles.write_batch(records if records is not None else demo_records())
    with store.writer() as con:
        con.execute("UPDATE articles SET story_id = 'a3' WHERE article_id = 'a4'")
    return store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return make_db(tmp_path / "nw.duckdb")


def digest(**kw) -> DigestSettings:
    base = {
        "name": "daily",
        "recipients": ("alice@example.org", "bob@example.org"),
        "schedule": "0 7 * * *",
        "timezone": "Europe/Berlin",
        "actors": ("north_korea", "hezbollah", "hamas", "iran"),
    }
    return DigestSettings(**{**base, **kw})


# -- SMTP servers ----------------------------------------------------------------------------
class Recorder:
    """Records every accepted message; ``refuse`` answers DATA with 550; ``drop_after`` drops
    the connection (without accepting) once that many messages were accepted."""

    def __init__(self, refuse: bool = False, drop_after: int | None = None):
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refuse = refuse
        self.drop_after = drop_after

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "550 5.7.1 Message rejected by policy"
        if self.drop_after is not None and len(self.messages) >= self.drop_after:
            server.transport.abort()
            return "421 going away"
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 2.0.0 OK"

    def to(self, rcpt: str) -> list[EmailMessage]:
        return [m for r, m in self.messages if rcpt in r]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[str, str]:
    """A throw-away self-signed certificate for 127.0.0.1 / localhost."""
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout",
                str(key),
                "-out",
                str(crt),
            ],
            check=True,
            capture_output=True,
        )
        return str(crt), str(key)
    k = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    c = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(k.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(k, hashes.SHA256())
    )
    crt.write_bytes(c.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        k.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(crt), str(key)


class Server:
    def __init__(self, handler: Recorder, **kw):
        self.handler, self.port = handler, free_port()
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port, **kw)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def smtp(self, **kw) -> SmtpSettings:
        return SmtpSettings(
            **{
                "host": "127.0.0.1",
                "port": self.port,
                "tls": "none",
                "sender": SENDER,
                "timeout_seconds": 5,
                **kw,
            }
        )


@pytest.fixture
def server():
    servers: list[Server] = []

    def start(handler: Recorder | None = None, **kw) -> Server:
        s = Server(handler or Recorder(), **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        try:
            s.stop()
        except (AssertionError, RuntimeError):
            pass  # already stopped by the test


def delivered(store: Store) -> set[tuple[str, str]]:
    with store.reader() as con:
        return set(con.execute("SELECT recipient, article_id FROM digest_deliveries").fetchall())


def parts(msg: EmailMessage) -> tuple[str, str]:
    return (msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content())


# -- tests -----------------------------------------------------------------------------------
def test_digest_arrives_grouped_ordered_highlighted_with_chart(store, server):
    srv = server()
    result = send_digest(store, digest(), srv.smtp(), now=NOW)
    assert result.status == "sent" and result.items_sent == 2 * 4
    assert len(srv.handler.messages) == 2  # one message per recipient
    msg = srv.handler.to("alice@example.org")[0]
    assert msg["To"] == "alice@example.org" and msg["Subject"] == "newswatch daily: 4 new"
    assert msg.get_content_type() == "multipart/alternative"
    text, html = parts(msg)
    # one item per story, best score first: a1 (5), a3+a4 (4), a2 (3), a5 (1)
    order = [
        html.index(t) for t in ("dig tunnels", "Iranian help", "Tunnel &lt;img", "foreign minister")
    ]
    assert order == sorted(order)
    assert "(wire)" not in html and "also reported by 1 outlet: outlet-d" in html
    assert "Also reported by 1 outlet: outlet-d" in text
    # the evidence sentence with the matched words highlighted
    assert ">North Korea</span>" in html and ">build a tunnel network</span>" in html
    assert "*North Korea* helped *Hezbollah* *build a tunnel network* under the border." in text
    assert "North Korea" in html and "Tunnel Technology Transfer" in html and "outlet-a" in html
    assert 'href="https://outlet-a.example/news/a1"' in html
    # the chart: an inline PNG referenced by cid
    pngs = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(pngs) == 1 and pngs[0].get_content().startswith(b"\x89PNG")
    cid = pngs[0]["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html
    assert "<img" in html and 'src="http' not in html and "<link" not in html
    # everything recorded, so a second run sends nothing
    assert len(delivered(store)) == 2 * 5
    again = send_digest(store, digest(), srv.smtp(), now=NOW)
    assert again.status == "empty" and len(srv.handler.messages) == 2


def test_hostile_headline_arrives_escaped(store, server):
    srv = server()
    send_digest(store, digest(recipients=("alice@example.org",)), srv.smtp(), now=NOW)
    text, html = parts(srv.handler.messages[0][1])
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script" not in html.lower() and "onerror=alert(1)>" not in html
    assert HOSTILE in text


def test_bidirectional_overrides_do_not_reach_the_mail(tmp_path, server):
    """U+202E and friends in a headline or sentence would reorder what a mail client shows
    around them; they are dropped, and right-to-left text is laid out by dir="auto"."""
    spoof = "Hezbollah \u202eredro\u202c tunnels \u2066isolated\u2069 \u200fmark"
    store = make_db(
        tmp_path / "bidi.duckdb",
        [
            _article(
                "b1",
                "outlet-a",
                spoof,
                days_ago=1,
                actors=("hezbollah",),
                mentions=(_mention("actor", "hezbollah", "Hezbollah", spoof),),
                score=2.0,
            )
        ],
    )
    srv = server()
    send_digest(store, digest(recipients=("alice@example.org",)), srv.smtp(), now=NOW)
    text, html = parts(srv.handler.messages[0][1])
    for ch in ("\u202e", "\u202c", "\u2066", "\u2069", "\u200f"):
        assert ch not in html and ch not in text
    assert "Hezbollah redro tunnels isolated mark" in text
    assert '<bdi dir="auto">Hezbollah redro tunnels isolated mark</bdi>' in html


def test_starttls_with_authentication(store, server, cert, monkeypatch):
    crt, key = cert
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    logins: list[bytes] = []

    def authenticator(server_, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret"
        logins.append(auth_data.login)
        return AuthResult(success=ok, handled=False)

    srv = server(
        tls_context=ctx, require_starttls=True, authenticator=authenticator, auth_required=True
    )
    settings = srv.smtp(tls="starttls", user="nw", ca_file=crt)
    monkeypatch.setenv("NEWSWATCH_SMTP_PASSWORD", "wrong")
    with pytest.raises(
        DeliveryError,
        match=r"digest .daily.: SMTP 127\.0\.0\.1:\d+: authentication as 'nw' refused",
    ):
        send_digest(store, digest(), settings, now=NOW)
    assert delivered(store) == set()
    monkeypatch.setenv("NEWSWATCH_SMTP_PASSWORD", "s3cret")
    assert send_digest(store, digest(), settings, now=NOW).status == "sent"
    assert len(srv.handler.messages) == 2 and logins[-1] == b"nw"
    # without the certificate the client refuses the server
    with pytest.raises(DeliveryError, match=r"TLS failed|certificate"):
        send_digest(store, digest(name="other"), srv.smtp(tls="starttls", user="nw"), now=NOW)


def test_implicit_tls(store, server, cert):
    crt, key = cert
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    srv = server(ssl_context=ctx)
    assert send_digest(store, digest(), srv.smtp(tls="tls", ca_file=crt), now=NOW).status == "sent"
    assert len(srv.handler.messages) == 2


def test_server_stops_midway_nothing_lost_nothing_twice(store, server):
    recipients = ("alice@example.org", "bob@example.org", "carol@example.org")
    first = server(Recorder(drop_after=1))  # accepts alice's message, then goes away
    with pytest.raises(DeliveryError) as e:
        send_digest(store, digest(recipients=recipients), first.smtp(), now=NOW)
    msg = str(e.value)
    assert (
        f"127.0.0.1:{first.port}" in msg and "bob@example.org" in msg and "carol@example.org" in msg
    )
    first.stop()
    assert len(first.handler.messages) == 1
    assert {r for r, _ in delivered(store)} == {"alice@example.org"}
    # the server is down: a clear error, nothing marked
    with pytest.raises(
        DeliveryError, match=rf"127\.0\.0\.1:{first.port}: cannot connect: connection refused"
    ):
        send_digest(store, digest(recipients=recipients), first.smtp(), now=NOW)
    # back up: only the pending recipients get their mail, alice gets nothing twice
    second = server()
    result = send_digest(store, digest(recipients=recipients), second.smtp(), now=NOW)
    assert [m.recipient for m in result.messages] == ["bob@example.org", "carol@example.org"]
    assert second.handler.to("alice@example.org") == []
    assert (
        len(second.handler.to("bob@example.org")) == 1
        and len(second.handler.to("carol@example.org")) == 1
    )
    assert len(delivered(store)) == 3 * 5
    assert (
        send_digest(store, digest(recipients=recipients), second.smtp(), now=NOW).status == "empty"
    )


def test_refused_message_marks_nothing(store, server):
    srv = server(Recorder(refuse=True))
    with pytest.raises(
        DeliveryError, match=r"message to alice@example.org refused: 550 5.7.1 Message rejected"
    ):
        send_digest(store, digest(), srv.smtp(), now=NOW)
    assert delivered(store) == set()
    with store.reader() as con:
        assert con.execute("SELECT status FROM digest_runs").fetchall() == [("failed",)]


def test_new_items_and_followups_of_sent_stories(store, server):
    srv = server()
    d = digest(recipients=("alice@example.org",))
    send_digest(store, d, srv.smtp(), now=NOW)
    late = _article(
        "a7",
        "outlet-e",
        "Late copy of the tunnel story",
        days_ago=0,
        actors=("hamas",),
        allegations=("tunnel_network",),
        score=2.5,
        mentions=(_mention("actor", "hamas", "Hamas", "Hamas dug again."),),
    )
    store.articles.write_batch([late])
    with store.writer() as con:
        con.execute("UPDATE articles SET story_id = 'a3' WHERE article_id = 'a7'")
    result = send_digest(store, d, srv.smtp(), now=NOW)
    assert result.status == "sent" and [it.article_id for it in result.messages[0].items] == ["a7"]
    text, html = parts(srv.handler.messages[-1][1])
    assert "Follow-up: this story was first sent on" in html and "1 story (1 article)" in text


def test_filters_and_max_items(store):
    with store.reader() as con:

        def ids(**kw):
            return [
                it.article_id for it in pending_items(con, digest(**kw), "x@example.org", now=NOW)
            ]

        assert ids() == ["a1", "a3", "a2", "a5"]
        assert ids(include_actor_only=False) == ["a1", "a3", "a2"]
        assert ids(actors=("iran",)) == ["a3", "a5"]
        assert ids(allegations=("tunnel_technology_transfer",)) == ["a1"]
        assert ids(min_score=3.5) == ["a1", "a3"]
        assert ids(sources=("outlet-d",)) == ["a4"]
        assert ids(languages=("fr",)) == ["a5"]
        # a recipient's first digest reaches back backfill_days (by flag time), no further
        later = NOW + dt.timedelta(days=2)
        assert pending_items(con, digest(backfill_days=1), "x@example.org", now=later) == []
        assert len(pending_items(con, digest(backfill_days=3), "x@example.org", now=later)) == 4
        story = pending_items(con, digest(), "x@example.org", now=NOW)[1]
        assert story.article_ids == ("a3", "a4") and story.also_reported_by == ("outlet-d",)


def test_max_items_leaves_the_rest_pending(store, server):
    srv = server()
    d = digest(recipients=("alice@example.org",), max_items=2)
    r1 = send_digest(store, d, srv.smtp(), now=NOW)
    assert r1.items_sent == 2 and r1.pending_left == 2
    assert "2 more stories are pending" in parts(srv.handler.messages[0][1])[0]
    r2 = send_digest(store, d, srv.smtp(), now=NOW)
    assert [it.article_id for it in r2.messages[0].items] == ["a2", "a5"]


def test_empty_period_sends_nothing_unless_send_empty(tmp_path, server):
    store = make_db(
        tmp_path / "empty.duckdb", records=[_article("z", "outlet-a", "Nothing", days_ago=1)]
    )
    srv = server()
    assert send_digest(store, digest(), srv.smtp(), now=NOW).status == "empty"
    assert srv.handler.messages == []
    result = send_digest(store, digest(send_empty=True), srv.smtp(), now=NOW)
    assert result.status == "nothing_new" and len(srv.handler.messages) == 2
    text, html = parts(srv.handler.messages[0][1])
    assert "Nothing new in this period." in text and "Nothing new" in html
    assert not [p for p in srv.handler.messages[0][1].walk() if p.get_content_type() == "image/png"]
    # a retry in the same period does not send "nothing new" twice
    assert send_digest(store, digest(send_empty=True), srv.smtp(), now=NOW).status == "empty"


def test_dry_run_and_to_file_change_nothing(store, server, tmp_path):
    srv = server()
    before = store.path.read_bytes()
    r = send_digest(store, digest(), srv.smtp(), dry_run=True, now=NOW)
    assert r.status == "dry_run" and [len(m.items) for m in r.messages] == [4, 4]
    out = tmp_path / "out" / "d.eml"
    r = send_digest(store, digest(), srv.smtp(), to_file=out, now=NOW)
    assert r.status == "written"
    msg = email.message_from_bytes(out.read_bytes(), policy=policy.default)
    assert msg["To"] == "alice@example.org, bob@example.org"
    assert [p.get_content_type() for p in msg.walk()] == [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
    ]
    assert srv.handler.messages == [] and store.path.read_bytes() == before


def test_schedule_and_immediate(store, server):
    srv = server()
    settings = DigestsConfig(
        smtp=srv.smtp(),
        digests=[
            digest(name="morning", schedule="0 7 * * *", recipients=("alice@example.org",)),
            digest(
                name="now",
                immediate=True,
                schedule=None,
                recipients=("bob@example.org",),
                actors=("hamas",),
            ),
        ],
    )
    at = dt.datetime(2030, 1, 1, 12, 0)  # 13:00 in Berlin
    assert is_due(settings.digests[0], None, at)
    assert not is_due(
        settings.digests[0], dt.datetime(2030, 1, 1, 6, 30), at
    )  # ran after 07:00 CET
    assert is_due(settings.digests[0], dt.datetime(2030, 1, 1, 5, 59), at)
    only = send_due_digests(store, settings, immediate_only=True, now=NOW)
    assert [(r.name, r.status) for r in only] == [("now", "sent")]
    assert [m for r, m in srv.handler.messages if r == ["alice@example.org"]] == []
    both = send_due_digests(store, settings, now=NOW)
    assert [(r.name, r.status) for r in both] == [("morning", "sent"), ("now", "empty")]
    later = send_due_digests(store, settings, now=NOW + dt.timedelta(minutes=5))
    assert later[0].status in ("not_due", "empty")  # not due unless 07:00 passed in between


def test_settings_validation_and_yaml(tmp_path):
    with pytest.raises(ValueError, match="cron"):
        digest(schedule="61 * * * *")
    with pytest.raises(ValueError, match="time zone"):
        digest(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="schedule"):
        digest(schedule=None)
    with pytest.raises(ValueError, match="unencrypted"):
        SmtpSettings(host="mail.example.org", tls="none", user="nw")
    (tmp_path / "newswatch.yaml").write_text(
        "database: x.duckdb\n"
        "smtp: {host: mail.example.org, port: 587, tls: starttls, user: nw, sender: 'nw <nw@example.org>'}\n"
        "digests:\n"
        "  - {name: weekly, recipients: [a@example.org], schedule: '0 7 * * mon', timezone: Europe/Berlin}\n"
        "  - {name: alerts, recipients: [b@example.org], immediate: true, allegations: [arms_transfer]}\n"
    )
    smtp, digests = load_digest_settings(tmp_path)
    assert smtp.effective_port == 587 and [d.name for d in digests] == ["weekly", "alerts"]
    (tmp_path / "newswatch.yaml").write_text(
        "digests:\n  - {name: w, recipients: [nobody], schedule: '@daily'}\n"
    )
    with pytest.raises(ConfigError, match=r"digests\[0\] \(name: 'w'\)\.recipients"):
        load_digest_settings(tmp_path)


def _cli_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """newswatch"""

    register(app)
    return app


def _write_config(cdir: Path, port: int) -> None:
    cdir.mkdir()
    (cdir / "newswatch.yaml").write_text(
        f"smtp: {{host: 127.0.0.1, port: {port}, tls: none, sender: 'nw <nw@example.org>', timeout_seconds: 5}}\n"
        "digests:\n"
        "  - {name: daily, recipients: [alice@example.org], schedule: '0 7 * * *', timezone: Europe/Berlin,\n"
        "     actors: [north_korea, hezbollah, hamas, iran]}\n"
    )


def test_cli(store, server, tmp_path):
    srv = server()
    cdir = tmp_path / "config"
    _write_config(cdir, srv.port)
    runner = CliRunner()
    app = _cli_app()
    base = ["digest", "--config", str(cdir), "--db", str(store.path)]
    r = runner.invoke(app, ["digest", "--help"])
    assert r.exit_code == 0 and "--dry-run" in r.output and "Examples" in r.output
    r = runner.invoke(app, [*base, "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "daily: would send 4 item(s) to alice@example.org" in r.output
    assert "[5.0] North Korea helped Hezbollah dig tunnels, report says (outlet-a" in r.output
    eml = tmp_path / "d.eml"
    r = runner.invoke(app, [*base, "--to-file", str(eml)])
    assert r.exit_code == 0 and "nothing marked delivered" in r.output
    assert (
        email.message_from_bytes(eml.read_bytes(), policy=policy.default)["X-Newswatch-Digest"]
        == "daily"
    )
    assert delivered(store) == set() and srv.handler.messages == []
    r = runner.invoke(app, [*base, "--name", "daily"])
    assert r.exit_code == 0 and "daily: sent 4 item(s) to alice@example.org" in r.output
    srv.stop()
    store.articles.write_batch(
        [_article("a8", "outlet-a", "Another tunnel", days_ago=0, actors=("hamas",), score=1)]
    )
    r = runner.invoke(app, [*base, "--name", "daily"])
    assert r.exit_code == 1
    assert (
        r.stderr.startswith("Error: digest 'daily': SMTP 127.0.0.1:")
        and "connection refused" in r.stderr
    )
    r = runner.invoke(app, [*base, "--name", "nope"])
    assert r.exit_code == 2 and "no digest named 'nope'" in r.stderr
