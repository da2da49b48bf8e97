"""The fetch stage against a real HTTP server on 127.0.0.1 (``LocalSite``).

The address guard is off (``allow_private_addresses=True``) unless a test is about the
guard; waits are kept tiny (Retry-After: 1, back-off 10 ms, a 0.5 s timeout).
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import pytest

from newswatch.demo.localsite import LocalSite, Request
from newswatch.errors import FetchError
from newswatch.ingest.fetch import Fetcher, address_problem, parse_retry_after
from newswatch.models import FetchResult
from newswatch.settings import DEFAULT_USER_AGENT, FetchSettings

# hostile servers and the private-address guard belong to the hardening suite (-m attack)
pytestmark = [pytest.mark.timeout(30), pytest.mark.attack]


def settings(**overrides: Any) -> FetchSettings:
    base: dict[str, Any] = {
        "allow_private_addresses": True,
        "per_host_delay_seconds": 0,
        "backoff_seconds": 0.01,
        "retries": 2,
        "timeout_seconds": 5,
        "connect_timeout_seconds": 2,
    }
    base.update(overrides)
    return FetchSettings(**base)


def fetch(url: str, s: FetchSettings | None = None, *, allowed_networks: tuple[str, ...] = (),
          **kw: Any) -> FetchResult:  # fmt: skip
    async def go() -> FetchResult:
        async with Fetcher(s or settings(), allowed_networks=allowed_networks) as f:
            return await f.fetch(url, **kw)

    return asyncio.run(go())


def fetch_error(url: str, s: FetchSettings | None = None, **kw: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, s, **kw)
    return info.value


@pytest.fixture(scope="module")
def _server() -> Iterator[LocalSite]:
    with LocalSite() as s:  # one server per module: stopping one takes 0.5 s
        yield s


@pytest.fixture
def site(_server: LocalSite) -> LocalSite:
    """The module's server with no routes but /feed.xml, and nothing recorded yet."""
    _server.routes.clear()
    _server.hits.clear()
    _server.requests.clear()
    _server.add("/feed.xml", "<rss><channel><title>t</title></channel></rss>")
    return _server


# -- plain fetches --------------------------------------------------------------------------
def test_200_returns_bytes_lowercased_headers_and_validators(site: LocalSite) -> None:
    res = fetch(site.url("/feed.xml"))
    assert res.status == 200 and not res.not_modified
    assert res.content == b"<rss><channel><title>t</title></channel></rss>"
    assert res.url == res.final_url == site.url("/feed.xml")
    assert res.content_type == "application/xml"
    assert all(k == k.lower() for k in res.headers)
    assert res.etag == site.routes["/feed.xml"].etag
    assert res.last_modified == site.last_modified
    assert res.elapsed > 0


def test_user_agent_and_accept_sent(site: LocalSite) -> None:
    site.add("/a.html", "<p>hi</p>")
    fetch(site.url("/feed.xml"))
    fetch(site.url("/a.html"), settings(respect_robots_txt=False), kind="page")
    feed_req, page_req = site.requests
    assert feed_req.headers["user-agent"] == DEFAULT_USER_AGENT
    assert "application/rss+xml" in feed_req.headers["accept"]
    assert page_req.headers["accept"].startswith("text/html")
    fetch(site.url("/feed.xml"), settings(user_agent="custom-agent/9"))
    assert site.requests[-1].headers["user-agent"] == "custom-agent/9"


def test_gzip_is_decoded(site: LocalSite) -> None:
    body = b"<rss>" + b"x" * 5000 + b"</rss>"
    site.add_handler("/gz", lambda req: (200, {"Content-Encoding": "gzip"}, gzip.compress(body)))
    res = fetch(site.url("/gz"))
    assert res.content == body
    assert "gzip" in site.requests[-1].headers["accept-encoding"]


def test_304_with_etag(site: LocalSite) -> None:
    etag = site.routes["/feed.xml"].etag
    res = fetch(site.url("/feed.xml"), etag=etag)
    assert res.not_modified and res.status == 304 and res.content == b""
    assert res.etag == etag
    assert site.requests[-1].headers["if-none-match"] == etag


def test_304_with_last_modified(site: LocalSite) -> None:
    res = fetch(site.url("/feed.xml"), last_modified=site.last_modified)
    assert res.not_modified and res.content == b""
    assert res.last_modified == site.last_modified
    assert site.requests[-1].headers["if-modified-since"] == site.last_modified
    assert "if-none-match" not in site.requests[-1].headers


def test_changed_resource_is_fetched_again(site: LocalSite) -> None:
    res = fetch(site.url("/feed.xml"), etag='"stale"')
    assert res.status == 200 and not res.not_modified and res.content


# -- redirects --------------------------------------------------------------------------
def test_redirect_chain_within_cap(site: LocalSite) -> None:
    site.redirect("/r1", "/r2", status=301)
    site.redirect("/r2", site.url("/r3"), status=302)
    site.redirect("/r3", "feed.xml", status=308)  # relative to /r3
    res = fetch(site.url("/r1"), settings(max_redirects=3))
    assert res.status == 200 and res.final_url == site.url("/feed.xml")
    assert res.url == site.url("/r1")
    assert [site.hits[p] for p in ("/r1", "/r2", "/r3", "/feed.xml")] == [1, 1, 1, 1]


def test_redirect_chain_over_cap(site: LocalSite) -> None:
    site.redirect("/r1", "/r2")
    site.redirect("/r2", "/r3")
    site.redirect("/r3", "/feed.xml")
    err = fetch_error(site.url("/r1"), settings(max_redirects=2))
    assert err.kind == "redirects"
    assert "more than 2 redirects" in err.reason
    assert site.hits["/feed.xml"] == 0


def test_redirect_loop_stops(site: LocalSite) -> None:
    site.redirect("/loop", "/loop")
    assert fetch_error(site.url("/loop")).kind == "redirects"
    assert site.hits["/loop"] == 6  # max_redirects (5) + 1


def test_redirect_to_other_scheme_or_without_location(site: LocalSite) -> None:
    site.redirect("/ftp", "ftp://example.com/feed")
    err = fetch_error(site.url("/ftp"))
    assert err.kind == "invalid_url" and "ftp://example.com/feed" in err.reason
    site.add("/noloc", b"", status=302)
    err = fetch_error(site.url("/noloc"))
    assert (err.kind, err.status) == ("http", 302) and "Location" in err.reason


# -- the address guard ------------------------------------------------------------------
def test_loopback_refused_when_guard_on(site: LocalSite) -> None:
    guarded = settings(allow_private_addresses=False)
    err = fetch_error(site.url("/feed.xml"), guarded)
    assert err.kind == "blocked"
    assert err.reason == (
        "refused: 127.0.0.1 is a loopback address (set fetch.allow_private_addresses to allow)"
    )
    # a name is refused by what it resolves to
    err = fetch_error(f"http://localhost:{site.port}/feed.xml", guarded)
    assert err.kind == "blocked" and "localhost resolves to" in err.reason
    for literal in ("[::1]", "[::ffff:127.0.0.1]", "0.0.0.0", "[::]"):
        assert fetch_error(f"http://{literal}:{site.port}/", guarded).kind == "blocked"
    assert site.hits["/feed.xml"] == 0  # never contacted


def test_redirect_to_blocked_address(site: LocalSite) -> None:
    # 127.0.0.1 itself is allowed explicitly, so the first hop is reached
    guarded = settings(allow_private_addresses=False)
    allow = ("127.0.0.1/32",)
    assert fetch(site.url("/feed.xml"), guarded, allowed_networks=allow).status == 200
    cases = {
        "/to-private": ("http://10.0.0.5/feed.xml", "10.0.0.5 is a private address"),
        "/to-metadata": ("http://169.254.169.254/latest/", "169.254.169.254 is a link-local"),
        "/to-loopback": (f"http://127.0.0.2:{site.port}/feed.xml", "127.0.0.2 is a loopback"),
        "/to-mapped": ("http://[::ffff:192.168.1.1]/", "::ffff:192.168.1.1 is a private"),
    }
    for path, (target, expected) in cases.items():
        site.redirect(path, target)
        err = fetch_error(site.url(path), guarded, allowed_networks=allow)
        assert err.kind == "blocked", path
        assert expected in err.reason, err.reason
        assert site.hits[path] == 1


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names under .test resolve to the addresses in the returned dict."""
    table: dict[str, list[str]] = {}
    real = asyncio.BaseEventLoop.getaddrinfo

    async def getaddrinfo(self: Any, host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if isinstance(host, str) and host in table:
            return [
                (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (ip, port))
                for ip in table[host]
            ]  # fmt: skip
        return await real(self, host, port, *args, **kw)

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    return table


def test_connects_to_the_checked_address(site: LocalSite, fake_dns: dict[str, list[str]]) -> None:
    # httpx could not resolve news.test itself: the request reaching the site shows the
    # connection went to the address the guard checked, with the Host header kept.
    fake_dns["news.test"] = ["127.0.0.1"]
    guarded = settings(allow_private_addresses=False)
    res = fetch(
        f"http://news.test:{site.port}/feed.xml", guarded, allowed_networks=("127.0.0.1/32",)
    )
    assert res.status == 200
    assert site.requests[-1].headers["host"] == f"news.test:{site.port}"


def test_allowed_networks_setting_reaches_one_internal_server(
    site: LocalSite, fake_dns: dict[str, list[str]]
) -> None:
    """fetch.allowed_networks: a network, or a host name, is reachable with the guard on;
    anything else private stays refused, on the first hop and after a redirect."""
    fake_dns["intranet.test"] = ["127.0.0.1"]
    by_cidr = settings(allow_private_addresses=False, allowed_networks=("127.0.0.1/32",))
    assert fetch(site.url("/feed.xml"), by_cidr).status == 200
    by_name = settings(allow_private_addresses=False, allowed_networks=("intranet.test",))
    assert fetch(f"http://intranet.test:{site.port}/feed.xml", by_name).status == 200
    # the name is allowed, not the address: 127.0.0.1 by itself stays refused
    assert fetch_error(site.url("/feed.xml"), by_name).kind == "blocked"
    # a redirect from the allowed server to another private address is checked again
    site.redirect("/hop", "http://10.0.0.9/feed.xml")
    err = fetch_error(f"http://intranet.test:{site.port}/hop", by_name)
    assert err.kind == "blocked" and "10.0.0.9 is a private address" in err.reason


def test_allowed_networks_setting_is_validated():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="neither a network"):
        FetchSettings(allowed_networks=("10.0.0.0/33x",))
    assert FetchSettings(allowed_networks=(" 10.1.0.0/16 ", "wiki.internal")).allowed_networks == (
        "10.1.0.0/16",
        "wiki.internal",
    )


def test_name_with_any_private_address_is_refused(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["mixed.test"] = ["93.184.216.34", "10.1.2.3"]
    err = fetch_error("http://mixed.test/feed", settings(allow_private_addresses=False))
    assert err.kind == "blocked"
    assert "mixed.test resolves to 10.1.2.3, a private address" in err.reason


@pytest.mark.parametrize(
    "ip, problem",
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("192.168.0.1", "private"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
    ],
)
def test_address_problem(ip: str, problem: str | None) -> None:
    found = address_problem(ipaddress.ip_address(ip))
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


# -- errors and retries -----------------------------------------------------------------
def test_404_not_retried(site: LocalSite) -> None:
    err = fetch_error(site.url("/missing"), settings(retries=3))
    assert (err.kind, err.status, err.reason) == ("http", 404, "HTTP 404 Not Found")
    assert err.url == site.url("/missing")
    assert site.hits["/missing"] == 1


def _flaky(responses: list[tuple[int, dict[str, str], bytes]]) -> Any:
    """A handler answering with each response in turn, then the last one forever."""
    calls: list[float] = []

    def handler(req: Request) -> tuple[int, dict[str, str], bytes]:
        calls.append(time.monotonic())
        return responses[min(len(calls), len(responses)) - 1]

    handler.calls = calls  # type: ignore[attr-defined]
    return handler


def test_503_then_200_honours_retry_after(site: LocalSite) -> None:
    handler = _flaky([(503, {"Retry-After": "1"}, b"busy"), (200, {}, b"<rss/>")])
    site.add_handler("/flaky", handler)
    res = fetch(site.url("/flaky"))
    assert res.status == 200 and res.content == b"<rss/>"
    first, second = handler.calls
    assert 0.95 <= second - first < 2.5  # waited Retry-After, not the 10 ms back-off


def test_5xx_gives_up_after_retries(site: LocalSite) -> None:
    site.add_handler("/down", lambda req: (502, {}, b"bad gateway"))
    err = fetch_error(site.url("/down"), settings(retries=2))
    assert (err.kind, err.status) == ("http", 502)
    assert err.reason == "HTTP 502 Bad Gateway (after 3 attempts)"
    assert site.hits["/down"] == 3


def test_429_retry_after_above_cap_gives_up(site: LocalSite) -> None:
    site.add_handler("/slowdown", lambda req: (429, {"Retry-After": "600"}, b""))
    started = time.monotonic()
    err = fetch_error(site.url("/slowdown"), settings(max_retry_after_seconds=5))
    assert time.monotonic() - started < 2
    assert (err.kind, err.status, err.retry_after) == ("http", 429, 600)
    assert "600 s" in err.reason and "max_retry_after_seconds" in err.reason
    assert site.hits["/slowdown"] == 1


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0
    assert parse_retry_after("soon") is None
    in_30s = parse_retry_after(formatdate(time.time() + 30, usegmt=True))
    assert in_30s is not None and 27 <= in_30s <= 31
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0


def test_timeout_is_retried_then_reported(site: LocalSite) -> None:
    def slow(req: Request) -> tuple[int, dict[str, str], bytes]:
        time.sleep(1.5)
        return 200, {}, b"late"

    site.add_handler("/slow", slow)
    started = time.monotonic()
    err = fetch_error(site.url("/slow"), settings(timeout_seconds=0.5, retries=1))
    assert time.monotonic() - started < 2.0
    assert err.kind == "timeout"
    assert err.reason == "timed out after 0.5 s (after 2 attempts)"
    assert site.hits["/slow"] == 2


def test_connect_error_is_retried_then_reported() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    err = fetch_error(f"http://127.0.0.1:{port}/feed", settings(retries=1))
    assert err.kind == "connect" and "cannot connect to 127.0.0.1" in err.reason
    assert "after 2 attempts" in err.reason


def test_invalid_urls() -> None:
    for url in ("not a url", "ftp://example.com/x", "http://", "/relative/path", "http://[::1"):
        assert fetch_error(url).kind == "invalid_url", url


def test_unresolvable_host_is_not_retried(fake_dns: dict[str, list[str]]) -> None:
    started = time.monotonic()
    err = fetch_error("http://nothing-here.invalid/", settings(backoff_seconds=5))
    assert err.kind == "connect" and "cannot resolve host nothing-here.invalid" in err.reason
    assert time.monotonic() - started < 4


def test_fetch_outside_context_and_bad_kind(site: LocalSite) -> None:
    async def outside() -> None:
        await Fetcher(settings()).fetch(site.url("/feed.xml"))

    with pytest.raises(RuntimeError):
        asyncio.run(outside())
    with pytest.raises(ValueError):
        fetch(site.url("/feed.xml"), kind="image")


# -- size cap ---------------------------------------------------------------------------
def test_oversize_with_content_length(site: LocalSite) -> None:
    site.add("/big.xml", b"x" * 5000)
    err = fetch_error(site.url("/big.xml"), settings(max_response_bytes=2048))
    assert err.kind == "too_large"
    assert err.reason == "response is 5,000 bytes, more than fetch.max_response_bytes (2,048)"


def test_oversize_after_decompression(site: LocalSite) -> None:
    bomb = gzip.compress(b"0" * 200_000)  # Content-Length is small; the decoded body is not
    site.add_handler("/bomb", lambda req: (200, {"Content-Encoding": "gzip"}, bomb))
    assert len(bomb) < 2048
    assert fetch_error(site.url("/bomb"), settings(max_response_bytes=2048)).kind == "too_large"


class _EndlessHandler(socketserver.BaseRequestHandler):
    """Answers every request with an endless chunked body (no Content-Length)."""

    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            more = self.request.recv(4096)
            if not more:
                return
            data += more
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"400\r\n" + b"x" * 1024 + b"\r\n"
        try:
            for _ in range(50_000):  # 50 MB, unless the client hangs up first
                self.request.sendall(chunk)
        except OSError:
            pass


@pytest.fixture
def endless() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _EndlessHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stream.xml"
    finally:
        server.shutdown()
        server.server_close()


def test_oversize_streamed_without_content_length(endless: str) -> None:
    started = time.monotonic()
    err = fetch_error(endless, settings(max_response_bytes=64 * 1024))
    assert err.kind == "too_large"
    assert "larger than fetch.max_response_bytes (65,536 bytes)" in err.reason
    assert time.monotonic() - started < 5  # stopped reading; did not take all 50 MB


# -- robots.txt -------------------------------------------------------------------------
ROBOTS = """\
User-agent: *
Disallow: /private/

User-agent: newswatch
Disallow: /private/
Disallow: /no-bots/

User-agent: otherbot
Disallow: /
"""


def test_robots_disallows_pages_not_feeds(site: LocalSite) -> None:
    site.add("/robots.txt", ROBOTS)
    for path in ("/private/a.html", "/no-bots/b.html", "/public/c.html", "/private/feed.xml"):
        site.add(path, "<p>x</p>")

    async def go() -> list[str]:
        out = []
        async with Fetcher(settings()) as f:
            for path, kind in [("/private/a.html", "page"), ("/no-bots/b.html", "page"),
                               ("/public/c.html", "page"), ("/private/feed.xml", "feed")]:  # fmt: skip
                try:
                    out.append(str((await f.fetch(site.url(path), kind=kind)).status))
                except FetchError as e:
                    out.append(e.kind)
        return out

    assert asyncio.run(go()) == ["robots", "robots", "200", "200"]
    assert site.hits["/robots.txt"] == 1  # cached for the Fetcher's lifetime
    assert site.hits["/private/a.html"] == 0 and site.hits["/private/feed.xml"] == 1
    err = fetch_error(site.url("/private/a.html"), kind="page")
    assert "disallowed by" in err.reason and "robots.txt" in err.reason


def test_robots_checked_on_every_redirect_hop(site: LocalSite) -> None:
    site.add("/robots.txt", ROBOTS)
    site.add("/private/a.html", "<p>x</p>")
    site.redirect("/go", "/private/a.html")
    assert fetch_error(site.url("/go"), kind="page").kind == "robots"
    assert site.hits["/private/a.html"] == 0


def test_robots_missing_or_failing_allows_everything(site: LocalSite) -> None:
    site.add("/a.html", "<p>x</p>")
    assert fetch(site.url("/a.html"), kind="page").status == 200  # 404 robots.txt

    site.add_handler("/robots.txt", lambda req: (503, {}, b"down"))

    async def go() -> tuple[int, dict[str, str]]:
        async with Fetcher(settings()) as f:
            res = await f.fetch(site.url("/a.html"), kind="page")
            return res.status, f.robots_notes

    status, notes = asyncio.run(go())
    assert status == 200
    assert list(notes.values()) == ["HTTP 503 Service Unavailable; allowing everything"]


def test_robots_not_fetched_when_not_respected(site: LocalSite) -> None:
    site.add("/robots.txt", "User-agent: *\nDisallow: /\n")
    site.add("/a.html", "<p>x</p>")
    assert fetch(site.url("/a.html"), settings(respect_robots_txt=False), kind="page").status == 200
    assert site.hits["/robots.txt"] == 0


# -- politeness ---------------------------------------------------------------------------
class _Concurrency:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.lock = threading.Lock()
        self.current = self.peak = 0
        self.starts: list[float] = []

    def __call__(self, req: Request) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.starts.append(time.monotonic())
            self.current += 1
            self.peak = max(self.peak, self.current)
        time.sleep(self.seconds)
        with self.lock:
            self.current -= 1
        return 200, {"Content-Type": "text/plain"}, b"ok"


def _fetch_many(s: FetchSettings, urls: list[str]) -> list[FetchResult]:
    async def go() -> list[FetchResult]:
        async with Fetcher(s) as f:
            return list(await asyncio.gather(*(f.fetch(u) for u in urls)))

    return asyncio.run(go())


def test_per_host_concurrency_bound(site: LocalSite) -> None:
    counter = _Concurrency(0.15)
    site.add_handler("/count", counter)
    urls = [site.url(f"/count?i={i}") for i in range(6)]
    results = _fetch_many(settings(per_host_concurrency=2, max_concurrency=10), urls)
    assert [r.content for r in results] == [b"ok"] * 6
    assert counter.peak == 2


def test_unthrottled_host_skips_per_host_limit_but_not_global(site: LocalSite) -> None:
    counter = _Concurrency(0.15)
    site.add_handler("/count", counter)
    urls = [site.url(f"/count?i={i}") for i in range(6)]
    s = settings(per_host_concurrency=1, per_host_delay_seconds=5, max_concurrency=3,
                 unthrottled_hosts=("127.0.0.1",))  # fmt: skip
    started = time.monotonic()
    _fetch_many(s, urls)
    assert counter.peak == 3
    assert time.monotonic() - started < 2  # the 5 s spacing did not apply


def test_per_host_delay_spaces_request_starts(site: LocalSite) -> None:
    counter = _Concurrency(0.0)
    site.add_handler("/count", counter)
    urls = [site.url(f"/count?i={i}") for i in range(3)]
    _fetch_many(settings(per_host_concurrency=3, per_host_delay_seconds=0.2), urls)
    gaps = [b - a for a, b in zip(counter.starts, counter.starts[1:], strict=False)]
    assert len(gaps) == 2 and all(g >= 0.18 for g in gaps), gaps
