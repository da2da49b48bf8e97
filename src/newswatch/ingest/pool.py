"""httpcore's connection pool, with bookkeeping linear in the connections it holds.

A pass keeps up to ``fetch.max_concurrency`` (32) connections open, and httpcore 1.0
re-examines the pool whenever a request starts or a response closes: several times per
fetch. Its examination is quadratic in the number of connections (the keep-alive check
builds a list of every connection for each connection), and asks each idle connection
whether its socket is readable through anyio's attribute lookup, which builds a dict of
lambdas and calls ``getpeername`` every time. With 32 connections that was ~1 ms of CPU
per fetch in the pass's one busy process, as much as the fetch itself (measured in
``docs/performance.md``). The same problem is httpcore's open pull request #1035.

:class:`LinearPool` does the same work in one walk over the connections:

* closed connections leave the pool, expired ones (keep-alive timeout passed, or closed by
  the server while idle) are closed;
* idle connections beyond ``max_keepalive_connections`` are closed, oldest first (httpcore
  1.0.9 compares the count of *all* connections with that limit, and so closes idle
  connections while others are busy);
* each queued request gets an available connection to its origin, else a new connection
  if there is room, else an idle connection to another origin is closed to make room. A
  connection handed to a request that has not started on it yet is spoken for: it is
  neither handed to a second request nor closed as surplus (HTTP/1.1 only, as newswatch
  connects: no request shares a connection).

:class:`ReadableStream` answers "is this idle socket readable?" with one ``poll`` on the
socket it keeps from the start.
"""

from __future__ import annotations

import select
import socket
from typing import Any

import httpcore
from httpcore._async.interfaces import AsyncConnectionInterface

__all__ = ["LinearPool", "ReadableStream"]


class LinearPool(httpcore.AsyncConnectionPool):
    """See the module docstring. HTTP/1.1 only: ``http2`` stays off."""

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        closing: list[AsyncConnectionInterface] = []
        # connections handed to a request of the pool: in use, or about to be
        spoken = {id(r.connection) for r in self._requests if r.connection is not None}
        live: list[AsyncConnectionInterface] = []
        idle: list[AsyncConnectionInterface] = []  # idle and free, oldest first
        for conn in self._connections:
            if conn.is_closed():
                continue
            if conn.has_expired():
                closing.append(conn)
                continue
            live.append(conn)
            if id(conn) not in spoken and conn.is_idle():
                idle.append(conn)
        surplus = len(idle) - self._max_keepalive_connections
        if surplus > 0:
            dropped = {id(c) for c in idle[:surplus]}
            closing += idle[:surplus]
            idle = idle[surplus:]
            live = [c for c in live if id(c) not in dropped]
        self._connections = live

        queued = [r for r in self._requests if r.connection is None]
        if not queued:
            return closing
        available = [c for c in live if id(c) not in spoken and c.is_available()]
        for request in queued:
            origin = request.request.url.origin
            reuse = next((c for c in available if c.can_handle_request(origin)), None)
            if reuse is not None:
                available.remove(reuse)
                if reuse in idle:
                    idle.remove(reuse)
                conn = reuse
            elif len(self._connections) < self._max_connections:
                conn = self.create_connection(origin)
                self._connections.append(conn)
            elif idle:
                old = idle.pop(0)
                if old in available:
                    available.remove(old)
                self._connections.remove(old)
                closing.append(old)
                conn = self.create_connection(origin)
                self._connections.append(conn)
            else:
                continue  # the pool is full of busy connections: the request waits
            request.assign_to_connection(conn)
        return closing


class ReadableStream(httpcore.AsyncNetworkStream):
    """A network stream whose ``is_readable`` is one ``poll`` (see the module docstring)."""

    __slots__ = ("_inner", "_sock")

    def __init__(self, inner: httpcore.AsyncNetworkStream, sock: socket.socket | None = None):
        self._inner = inner
        self._sock = sock if sock is not None else inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # TLS runs over the same socket: its readability is still the question
        return ReadableStream(
            await self._inner.start_tls(ssl_context, server_hostname, timeout), self._sock
        )

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            fd = -1 if self._sock is None else self._sock.fileno()
            if fd < 0:  # gone: as good as readable (the next read returns the end)
                return True
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        if info == "socket":
            return self._sock
        return self._inner.get_extra_info(info)
