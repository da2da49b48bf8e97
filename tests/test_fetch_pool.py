"""The connection pool under the fetcher (``newswatch.ingest.pool``), against real servers on
127.0.0.1 that count their connections: reuse, the keep-alive limit, an idle connection the
server closed, and a full pool making room for another origin."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from newswatch.ingest.fetch import Fetcher
from newswatch.ingest.guard import GuardedBackend, GuardedTransport
from newswatch.settings import FetchSettings

pytestmark = pytest.mark.timeout(60)


class CountingServer:
    """HTTP/1.1 keep-alive server in a thread. ``close_after_response``: the server drops
    each connection right after its response, without a ``Connection: close`` header (as a
    server does whose keep-alive timeout is shorter than ours). ``hold``: responses wait
    until this many requests are in (so that many connections are open at once)."""

    def __init__(self, *, close_after_response: bool = False, hold: int = 0):
        self.close_after_response = close_after_response
        self.hold = hold
        self.opened = 0
        self.closed = 0
        self.requests = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.changed = threading.Condition()
        self._held: list[tuple[asyncio.Transport, bytes]] = []
        self._transports: set[asyncio.Transport] = set()
        self.port = 0

    def __enter__(self) -> CountingServer:
        self.thread.start()
        server = self

        class Proto(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                self.transport, self.buf = transport, b""
                server._transports.add(transport)
                server._note("opened")

            def connection_lost(self, exc: Exception | None) -> None:
                server._transports.discard(self.transport)
                server._note("closed")

            def data_received(self, data: bytes) -> None:
                self.buf += data
                while b"\r\n\r\n" in self.buf:
                    head, self.buf = self.buf.split(b"\r\n\r\n", 1)
                    path = head.split(b" ", 2)[1]
                    body = b"page " + path
                    out = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                    out += b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                    server._note("requests")
                    server._held.append((self.transport, out))
                    if len(server._held) >= server.hold:
                        held, server._held = server._held, []
                        for transport, response in held:
                            transport.write(response)
                            if server.close_after_response:
                                transport.close()

        async def start() -> asyncio.Server:
            return await self.loop.create_server(Proto, "127.0.0.1", 0)

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self.server.close()
            # connections the client left open are closed here, not by the garbage
            # collector after the loop is gone (a ResourceWarning in a later test)
            for transport in list(self._transports):
                transport.abort()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def _note(self, what: str) -> None:
        with self.changed:
            setattr(self, what, getattr(self, what) + 1)
            self.changed.notify_all()

    def wait_closed(self, n: int) -> None:
        """Until the server has seen ``n`` connections end (on its side)."""
        with self.changed:
            assert self.changed.wait_for(lambda: self.closed >= n, timeout=20), self.closed

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def server() -> Iterator[CountingServer]:
    with CountingServer() as s:
        yield s


def settings(**kw: Any) -> FetchSettings:
    base: dict[str, Any] = {
        "allow_private_addresses": True,
        "unthrottled_hosts": ["127.0.0.1"],
        "per_host_delay_seconds": 0,
        "backoff_seconds": 0.01,
        "timeout_seconds": 10,
    }
    return FetchSettings(**(base | kw))


def test_many_fetches_share_at_most_max_concurrency_connections(server: CountingServer) -> None:
    async def go() -> list[bytes]:
        async with Fetcher(settings(max_concurrency=4)) as f:
            results = await asyncio.gather(
                *(f.fetch(server.url(f"/a/{i}"), kind="feed") for i in range(60))
            )
        return [r.content for r in results]

    contents = asyncio.run(go())
    assert contents == [b"page /a/%d" % i for i in range(60)]
    assert server.requests == 60
    assert 1 <= server.opened <= 4  # connections were kept and reused


def test_idle_connections_beyond_the_keepalive_limit_are_closed() -> None:
    """Four requests at once open four connections; with room for one idle connection, three
    are closed when the responses are read."""
    with CountingServer(hold=4) as srv:

        async def go() -> int:
            backend = GuardedBackend(guard=False)
            limits = httpx.Limits(max_connections=4, max_keepalive_connections=1)
            transport = GuardedTransport(backend, limits)
            async with httpx.AsyncClient(transport=transport) as client:
                answers = await asyncio.gather(*(client.get(srv.url(f"/k/{i}")) for i in range(4)))
                assert [a.status_code for a in answers] == [200] * 4
                return len(transport._pool.connections)

        assert asyncio.run(go()) == 1
        assert srv.opened == 4
        srv.wait_closed(4)  # the three surplus ones, and the last one with the client


def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    """The server drops each connection after its response; with no retry allowed, every
    later fetch still succeeds: the pool sees the idle socket readable (at its end) and
    opens a new connection instead of sending on the dead one."""
    with CountingServer(close_after_response=True) as srv:

        async def go() -> list[int]:
            statuses = []
            async with Fetcher(settings(retries=0)) as f:
                for i in range(4):
                    statuses.append((await f.fetch(srv.url(f"/c/{i}"), kind="feed")).status)
                    await asyncio.to_thread(srv.wait_closed, i + 1)
            return statuses

        assert asyncio.run(go()) == [200] * 4
        assert srv.opened == 4 and srv.requests == 4


def test_a_full_pool_closes_an_idle_connection_for_another_origin() -> None:
    with CountingServer() as a, CountingServer() as b:

        async def go() -> list[int]:
            async with Fetcher(settings(max_concurrency=2)) as f:
                first = await asyncio.gather(*(f.fetch(a.url(f"/x/{i}")) for i in range(2)))
                later = await asyncio.gather(*(f.fetch(b.url(f"/y/{i}")) for i in range(4)))
                # before the fetcher closes: the pool made room, a's idle connections went
                await asyncio.to_thread(a.wait_closed, a.opened)
            return [r.status for r in (*first, *later)]

        assert asyncio.run(go()) == [200] * 6
        assert a.requests == 2 and b.requests == 4
        assert b.opened <= 2
