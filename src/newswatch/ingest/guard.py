"""The private-address guard, at httpcore's network seam (used by :mod:`newswatch.ingest.fetch`).

SSRF guard and DNS rebinding: addresses are checked where connections are made. The
client's connection pool uses :class:`GuardedBackend`, which resolves the host with
``asyncio.get_running_loop().getaddrinfo``, refuses the connection if any address is
private, loopback, link-local, multicast, reserved or unspecified (IPv4 and IPv6, an
IPv4-mapped IPv6 address judged by its IPv4 address), and then connects to exactly the
address it checked. There is no second lookup for a rebinding DNS server to answer
differently, and every redirect hop (and robots.txt) passes the same check because every
new connection does. TLS still verifies the certificate against the host *name*.
Environment proxies are ignored (``trust_env=False``): through a proxy the guard would see
only the proxy's address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from newswatch.ingest.pool import LinearPool, ReadableStream

__all__ = [
    "GuardedBackend",
    "GuardedTransport",
    "IPAddress",
    "IPNetwork",
    "Refused",
    "Unresolvable",
    "address_problem",
]

_PRIVATE_HINT = "set fetch.allow_private_addresses to allow"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_problem(ip: IPAddress) -> str | None:
    """What is wrong with connecting to ``ip`` ("a private address"), or None if it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return address_problem(embedded)
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a non-public address"
    return None


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class Refused(Exception):
    """Raised by the backend when the guard refuses an address (becomes kind ``blocked``)."""

    def __init__(self, host: str, ip: IPAddress, problem: str):
        self.host, self.ip, self.problem = host, ip, problem
        if _is_literal(host):
            what = f"{host.strip('[]')} is {problem}"
        else:
            what = f"{host} resolves to {ip}, {problem}"
        super().__init__(f"refused: {what} ({_PRIVATE_HINT})")


class Unresolvable(Exception):
    """The host name does not resolve (becomes kind ``connect``, not retried)."""

    def __init__(self, host: str, detail: str):
        self.host = host
        super().__init__(f"cannot resolve host {host}: {detail}")


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve, check every address, then connect to a checked address (see module doc)."""

    def __init__(
        self,
        *,
        guard: bool,
        allowed: tuple[IPNetwork, ...] = (),
        allowed_hosts: frozenset[str] = frozenset(),
    ):
        self._guard = guard
        self._allowed = allowed
        self._allowed_hosts = allowed_hosts
        self._inner = httpcore.AnyIOBackend()

    def _allowed_address(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self._allowed)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            pass
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as e:
            raise Unresolvable(host, getattr(e, "strerror", None) or str(e)) from None
        addresses: list[IPAddress] = []
        for *_, sockaddr in infos:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            raise Unresolvable(host, "no addresses")
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.resolve(host, port)
        if self._guard and host.strip("[]").lower().rstrip(".") not in self._allowed_hosts:
            for ip in addresses:
                problem = address_problem(ip)
                if problem and not self._allowed_address(ip):
                    raise Refused(host, ip, problem)
        error: Exception | None = None
        for ip in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )  # fmt: skip
                return ReadableStream(stream)
            except httpcore.ConnectError as e:
                error = e
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connection pool (:class:`~newswatch.ingest.pool.LinearPool`)
    built on :class:`GuardedBackend`."""

    def __init__(self, backend: GuardedBackend, limits: httpx.Limits):
        super().__init__(limits=limits, trust_env=False)
        self._pool = LinearPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
