"""The fetch stage: every HTTP request newswatch makes goes through one :class:`Fetcher`.

    async with Fetcher(settings.fetch) as f:
        res = await f.fetch(url, etag=..., last_modified=..., kind="feed")   # or kind="page"

One fetch, hop by hop (redirects are followed here, not by httpx, so every hop is checked):

    check URL (http/https) ─▶ robots.txt (pages only) ─▶ per-host slot ─▶ global slot
      ─▶ per-host spacing ─▶ GET, streamed, size-capped, under one deadline
      ─▶ 429/5xx/timeout/connect error? back off (Retry-After) and try again
      ─▶ 3xx? next hop    304? FetchResult(not_modified=True)    2xx? FetchResult
      ─▶ anything else: FetchError(url, kind, reason)

Every failure is a :class:`~newswatch.errors.FetchError`; no httpx exception escapes.

The private-address guard sits at httpcore's network seam: see :mod:`newswatch.ingest.guard`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Literal, Self
from urllib.robotparser import RobotFileParser

import httpx

from newswatch.errors import FetchError
from newswatch.ingest.guard import (
    GuardedBackend,
    GuardedTransport,
    Refused,
    Unresolvable,
    address_problem,
)
from newswatch.ingest.urls import host_of
from newswatch.models import FetchResult
from newswatch.settings import FetchSettings

__all__ = ["ROBOTS_TOKEN", "Fetcher", "address_problem", "parse_retry_after"]

log = logging.getLogger(__name__)

ROBOTS_TOKEN = "newswatch"  # the User-agent line of robots.txt that speaks to us
ROBOTS_MAX_BYTES = 512 * 1024  # robots.txt past this is ignored (as Google does)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ACCEPT = {
    "feed": "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8",
    "page": "text/html, application/xhtml+xml;q=0.9, */*;q=0.8",
}


# -- small helpers ----------------------------------------------------------------------
def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date); None if absent
    or unreadable. A date in the past means 0."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _cause(exc: BaseException) -> str:
    """The most specific message in an exception's chain ("Connection refused", not
    "All connection attempts failed")."""
    message = str(exc)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, BaseExceptionGroup) and current.exceptions:
            current = current.exceptions[0]
            continue
        if isinstance(current, OSError) and current.errno:
            return os.strerror(current.errno)
        message = str(current) or message
        current = current.__cause__ or current.__context__
    return message or type(exc).__name__


def _secs(seconds: float) -> str:
    return f"{seconds:g} s"


def _status_reason(status: int) -> str:
    phrase = httpx.codes.get_reason_phrase(status)
    return f"HTTP {status} {phrase}".rstrip()


@dataclass(frozen=True, slots=True)
class _Answer:
    """One HTTP response, read (or not, for redirects and errors)."""

    url: httpx.URL
    status: int
    headers: dict[str, str]
    content: bytes = b""


class _Transient(Exception):
    """A failure worth another attempt (timeout, connect error, dropped connection)."""

    def __init__(self, kind: str, reason: str):
        self.kind, self.reason = kind, reason
        super().__init__(reason)


class _HostGate:
    """Per-host politeness: at most ``concurrency`` requests, starts ``delay`` apart."""

    def __init__(self, concurrency: int, delay: float):
        self.sem = asyncio.Semaphore(concurrency)
        self.delay = delay
        self.next_start = 0.0

    async def wait_turn(self) -> None:
        now = time.monotonic()
        start = max(now, self.next_start)
        self.next_start = start + self.delay  # reserved before sleeping: no await in between
        if start > now:
            await asyncio.sleep(start - now)

    def hold_off(self, seconds: float) -> None:
        """The server asked us to wait (Retry-After): no request starts before then."""
        self.next_start = max(self.next_start, time.monotonic() + seconds)


# -- the fetcher ------------------------------------------------------------------------
class Fetcher:
    """Fetch feeds and pages politely over one shared ``httpx.AsyncClient``.

    ``settings.allowed_networks`` (and the ``allowed_networks`` argument): networks or
    addresses (CIDR) and host names reachable even with the address guard on, for a known
    internal server; everything else non-public is refused unless
    ``settings.allow_private_addresses``.

    ``robots_notes`` maps a robots.txt URL to why it was ignored (5xx, unreachable, …).
    """

    def __init__(self, settings: FetchSettings, *, allowed_networks: Iterable[str] = ()):
        self.settings = settings
        nets, hosts = [], set()
        for n in (*settings.allowed_networks, *allowed_networks):
            try:
                nets.append(ipaddress.ip_network(n, strict=False))
            except ValueError:
                hosts.add(n.strip().lower().rstrip("."))
        self._allowed = tuple(nets)
        self._allowed_hosts = frozenset(hosts)
        self._unthrottled = frozenset(h.strip().lower() for h in settings.unthrottled_hosts)
        self._client: httpx.AsyncClient | None = None
        self._global = asyncio.Semaphore(settings.max_concurrency)
        self._hosts: dict[str, _HostGate] = {}
        self._robots: dict[str, RobotFileParser | None] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self.robots_notes: dict[str, str] = {}

    def __repr__(self) -> str:
        state = "open" if self._client is not None else "closed"
        return f"<Fetcher {state} max_concurrency={self.settings.max_concurrency}>"

    async def __aenter__(self) -> Self:
        s = self.settings
        backend = GuardedBackend(
            guard=not s.allow_private_addresses,
            allowed=self._allowed,
            allowed_hosts=self._allowed_hosts,
        )
        limits = httpx.Limits(
            max_connections=s.max_concurrency, max_keepalive_connections=s.max_concurrency
        )
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(backend, limits),
            headers={"User-Agent": s.user_agent},
            timeout=httpx.Timeout(s.timeout_seconds, connect=s.connect_timeout_seconds),
            follow_redirects=False,
            trust_env=False,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # -- public -------------------------------------------------------------------------
    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        kind: Literal["feed", "page"] = "feed",
    ) -> FetchResult:
        """GET ``url``; a 2xx or 304 becomes a FetchResult, anything else a FetchError."""
        if kind not in _ACCEPT:
            raise ValueError(f"kind must be 'feed' or 'page', not {kind!r}")
        started = time.monotonic()
        headers = {"Accept": _ACCEPT[kind]}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        check_robots = kind == "page" and self.settings.respect_robots_txt
        ans = await self._follow(
            url, self._target(url, url), headers, check_robots=check_robots,
            retries=self.settings.retries, limit=self.settings.max_response_bytes,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        if ans.status == 304:
            return FetchResult(
                url=url, final_url=str(ans.url), status=304, headers=ans.headers, content=b"",
                etag=ans.headers.get("etag") or etag,
                last_modified=ans.headers.get("last-modified") or last_modified,
                not_modified=True, elapsed=elapsed,
            )  # fmt: skip
        if 200 <= ans.status < 300:
            return FetchResult(
                url=url, final_url=str(ans.url), status=ans.status, headers=ans.headers,
                content=ans.content, etag=ans.headers.get("etag"),
                last_modified=ans.headers.get("last-modified"), elapsed=elapsed,
            )  # fmt: skip
        raise FetchError(url, "http", self._at(_status_reason(ans.status), url, ans.url),
                         status=ans.status)  # fmt: skip

    # -- one fetch: hops, attempts --------------------------------------------------------
    def _client_or_fail(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("use the Fetcher as 'async with Fetcher(settings) as f:'")
        return self._client

    @staticmethod
    def _at(reason: str, url: str, at: httpx.URL) -> str:
        """Name the hop a failure happened at when it is not the URL asked for."""
        return reason if str(at) == url else f"{reason} (at {at})"

    @staticmethod
    def _target(url: str, raw: str, base: httpx.URL | None = None) -> httpx.URL:
        """Parse (or resolve against ``base``) one hop's URL; only absolute http(s)."""
        what = f"a redirect to {raw!r}" if base is not None else repr(raw)
        try:
            target = httpx.URL(raw) if base is None else base.join(raw)
        except (httpx.InvalidURL, ValueError, TypeError) as e:
            raise FetchError(url, "invalid_url", f"{what} is not a valid URL ({e})") from None
        if target.scheme not in ("http", "https"):
            reason = f"only absolute http and https URLs are fetched, not {what}"
            raise FetchError(url, "invalid_url", reason)
        if not target.host:
            raise FetchError(url, "invalid_url", f"{what} has no host")
        return target.copy_with(fragment=None)

    async def _follow(
        self,
        url: str,
        target: httpx.URL,
        headers: dict[str, str],
        *,
        check_robots: bool,
        retries: int,
        limit: int,
        truncate: bool = False,
    ) -> _Answer:
        """Fetch ``target``, following up to ``max_redirects`` redirects one hop at a time."""
        max_redirects = self.settings.max_redirects
        for _hop in range(max_redirects + 1):
            if check_robots:
                await self._check_robots(url, target)
            ans = await self._with_retries(url, target, headers, retries, limit, truncate)
            if ans.status not in _REDIRECT_STATUSES:
                return ans
            location = ans.headers.get("location", "").strip()
            if not location:
                reason = f"{_status_reason(ans.status)} without a Location header"
                raise FetchError(url, "http", self._at(reason, url, target), status=ans.status)
            target = self._target(url, location, base=target)
        raise FetchError(
            url, "redirects", f"more than {max_redirects} redirects (the last one to {target})"
        )

    async def _with_retries(
        self,
        url: str,
        target: httpx.URL,
        headers: dict[str, str],
        retries: int,
        limit: int,
        truncate: bool,
    ) -> _Answer:
        """One hop: try up to ``retries + 1`` times; 4xx (but 429) fail at once."""
        s = self.settings
        for attempt in range(retries + 1):
            last = attempt == retries
            backoff = s.backoff_seconds * 2**attempt
            try:
                ans = await self._attempt(url, target, headers, limit, truncate)
            except _Transient as e:
                if last:
                    tries = f" (after {attempt + 1} attempts)" if attempt else ""
                    raise FetchError(url, e.kind, self._at(e.reason, url, target) + tries) from None
                log.debug("%s: %s; retrying in %s", target, e.reason, _secs(backoff))
                await asyncio.sleep(backoff)
                continue
            if ans.status != 429 and ans.status < 500:
                if ans.status >= 400:
                    reason = self._at(_status_reason(ans.status), url, target)
                    raise FetchError(url, "http", reason, status=ans.status)
                return ans
            retry_after = parse_retry_after(ans.headers.get("retry-after"))
            reason = self._at(_status_reason(ans.status), url, target)
            if retry_after is not None and retry_after > s.max_retry_after_seconds:
                raise FetchError(
                    url, "http",
                    f"{reason}; the server asks to retry after {_secs(retry_after)}, longer than "
                    f"fetch.max_retry_after_seconds ({_secs(s.max_retry_after_seconds)})",
                    status=ans.status, retry_after=retry_after,
                )  # fmt: skip
            if last:
                tries = f" (after {attempt + 1} attempts)" if attempt else ""
                raise FetchError(url, "http", reason + tries, status=ans.status,
                                 retry_after=retry_after)  # fmt: skip
            wait = max(backoff, retry_after or 0.0)
            if retry_after is not None:
                gate = self._gate(target)
                if gate is not None:
                    gate.hold_off(wait)
            log.debug("%s: %s; retrying in %s", target, reason, _secs(wait))
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self, url: str, target: httpx.URL, headers: dict[str, str], limit: int, truncate: bool
    ) -> _Answer:
        """One GET under the politeness slots and one overall deadline (``timeout_seconds``)."""
        client = self._client_or_fail()
        s = self.settings
        host = target.host
        async with self._slot(target):
            try:
                async with asyncio.timeout(s.timeout_seconds):
                    request = client.build_request("GET", target, headers=headers)
                    response = await client.send(request, stream=True)
                    try:
                        return await self._read(url, response, limit, truncate)
                    finally:
                        await response.aclose()
            except TimeoutError:
                raise _Transient("timeout", f"timed out after {_secs(s.timeout_seconds)}") from None
            except httpx.ConnectTimeout:
                reason = f"connecting to {host} timed out after {_secs(s.connect_timeout_seconds)}"
                raise _Transient("timeout", reason) from None
            except httpx.TimeoutException:
                raise _Transient("timeout", f"timed out after {_secs(s.timeout_seconds)}") from None
            except httpx.ConnectError as e:
                raise _Transient("connect", f"cannot connect to {host}: {_cause(e)}") from None
            except (httpx.ReadError, httpx.WriteError, httpx.CloseError) as e:
                raise _Transient("connect", f"connection to {host} failed: {_cause(e)}") from None
            except httpx.RemoteProtocolError as e:
                raise _Transient("protocol", f"{host} broke the HTTP protocol: {e}") from None
            except Refused as e:
                raise FetchError(url, "blocked", str(e)) from None
            except Unresolvable as e:
                raise FetchError(url, "connect", self._at(str(e), url, target)) from None
            except httpx.UnsupportedProtocol as e:
                raise FetchError(url, "invalid_url", str(e)) from None
            except httpx.DecodingError as e:
                reason = f"cannot decode the response body: {e}"
                raise FetchError(url, "protocol", self._at(reason, url, target)) from None
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as e:
                reason = f"{type(e).__name__}: {e}"
                raise FetchError(url, "protocol", self._at(reason, url, target)) from None

    async def _read(
        self, url: str, response: httpx.Response, limit: int, truncate: bool
    ) -> _Answer:
        """Read a 2xx body up to ``limit`` bytes (decoded); other statuses are not read."""
        headers = dict(response.headers.items())  # lower-cased names, repeats joined
        status = response.status_code
        if not 200 <= status < 300:
            return _Answer(response.url, status, headers)
        too_large = f"response is larger than fetch.max_response_bytes ({limit:,} bytes)"
        declared = headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > limit and not truncate:
            reason = f"response is {int(declared):,} bytes, more than fetch.max_response_bytes ({limit:,})"
            raise FetchError(url, "too_large", self._at(reason, url, response.url))
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            if size + len(chunk) > limit:
                if not truncate:
                    raise FetchError(url, "too_large", self._at(too_large, url, response.url))
                chunks.append(chunk[: limit - size])
                break
            chunks.append(chunk)
            size += len(chunk)
        return _Answer(response.url, status, headers, b"".join(chunks))

    # -- politeness -------------------------------------------------------------------------
    def _gate(self, target: httpx.URL) -> _HostGate | None:
        host = host_of(str(target))
        port = target.port
        if host in self._unthrottled or (port and f"{host}:{port}" in self._unthrottled):
            return None
        gate = self._hosts.get(host)
        if gate is None:
            s = self.settings
            gate = self._hosts[host] = _HostGate(s.per_host_concurrency, s.per_host_delay_seconds)
        return gate

    @asynccontextmanager
    async def _slot(self, target: httpx.URL) -> AsyncIterator[None]:
        """Hold a per-host slot (unless unthrottled), then a global one, then wait our turn.

        The per-host slot is taken first so that requests queued for a busy host never sit
        on global slots other hosts could use."""
        gate = self._gate(target)
        if gate is None:
            async with self._global:
                yield
            return
        async with gate.sem, self._global:
            await gate.wait_turn()
            yield

    # -- robots.txt ---------------------------------------------------------------------------
    async def _check_robots(self, url: str, target: httpx.URL) -> None:
        robots_url = target.copy_with(path="/robots.txt", query=None, fragment=None)
        parser = await self._robots_for(robots_url)
        if parser is not None and not parser.can_fetch(ROBOTS_TOKEN, str(target)):
            reason = f"disallowed by {robots_url} for user-agent {ROBOTS_TOKEN!r}"
            raise FetchError(url, "robots", self._at(reason, url, target))

    async def _robots_for(self, robots_url: httpx.URL) -> RobotFileParser | None:
        """The parsed robots.txt of one origin, fetched once per Fetcher (None: allow all)."""
        key = str(robots_url)
        lock = self._robots_locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._robots:
                self._robots[key] = await self._load_robots(robots_url)
            return self._robots[key]

    async def _load_robots(self, robots_url: httpx.URL) -> RobotFileParser | None:
        key = str(robots_url)
        try:
            ans = await self._follow(
                key, robots_url, {"Accept": "text/plain, */*;q=0.5"}, check_robots=False,
                retries=0, limit=ROBOTS_MAX_BYTES, truncate=True,
            )  # fmt: skip
        except FetchError as e:
            if (
                e.kind == "http"
                and e.status is not None
                and 400 <= e.status < 500
                and e.status != 429
            ):
                return None  # no robots.txt: everything is allowed
            if e.kind != "blocked":  # a blocked origin fails on the page itself, more clearly
                note = f"{e.reason}; allowing everything"
                self.robots_notes[key] = note
                log.warning("%s: %s", key, note)
            return None
        if ans.status == 304:  # we sent no validators; treat as unknown
            return None
        parser = RobotFileParser(key)
        parser.parse(ans.content.decode("utf-8", errors="replace").splitlines())
        return parser
