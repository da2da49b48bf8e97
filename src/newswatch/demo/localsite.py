"""A small HTTP server on 127.0.0.1 that serves feeds and pages from memory or a folder.

Used by ``newswatch demo`` (the bundled sample news site) and by the tests (feeds that fail,
304s, redirects, hostile pages). It answers conditional requests (ETag / Last-Modified) the
way a real feed server does, and records every request so tests can count fetches.

    with LocalSite() as site:
        site.add("/feed.xml", rss_bytes, content_type="application/rss+xml")
        site.add_handler("/flaky", lambda req: (503, {"Retry-After": "1"}, b"busy"))
        url = site.url("/feed.xml")
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["LocalSite", "Request", "Route"]


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # path with query string
    headers: dict[str, str]  # lower-cased names


Response = tuple[int, dict[str, str], bytes]
Handler = Callable[[Request], Response]


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    handler: Handler | None = None
    conditional: bool = True  # answer If-None-Match / If-Modified-Since with 304

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'


_GUESS = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog of 5 drops connections under concurrent clients
    daemon_threads = True


class LocalSite:
    """An in-process HTTP server with routes set from code or served from a folder."""

    def __init__(self, root: Path | str | None = None, *, host: str = "127.0.0.1", port: int = 0):
        self.root = Path(root) if root else None
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.requests: list[Request] = []
        self.responses: list[tuple[str, int]] = []  # (path, status), in order
        self.last_modified = formatdate(usegmt=True)
        self._lock = threading.Lock()
        self._server = _Server((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- set-up ---------------------------------------------------------------------------
    def add(
        self,
        path: str,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        conditional: bool = True,
    ) -> str:
        if isinstance(body, str):
            body = body.encode("utf-8")
        hdrs = dict(headers or {})
        if content_type:
            hdrs["Content-Type"] = content_type
        elif not any(k.lower() == "content-type" for k in hdrs):
            hdrs["Content-Type"] = _GUESS.get(
                Path(urlsplit(path).path).suffix, "application/octet-stream"
            )
        self.routes[path] = Route(body=body, status=status, headers=hdrs, conditional=conditional)
        return self.url(path)

    def add_handler(self, path: str, handler: Handler) -> str:
        self.routes[path] = Route(handler=handler)
        return self.url(path)

    def redirect(self, path: str, target: str, status: int = 301) -> str:
        return self.add(
            path, b"", status=status, headers={"Location": target, "Content-Type": "text/plain"}
        )

    # -- running --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def start(self) -> LocalSite:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="localsite", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LocalSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving --------------------------------------------------------------------------
    def _lookup(self, path: str) -> Route | None:
        route = self.routes.get(path) or self.routes.get(urlsplit(path).path)
        if route is not None or self.root is None:
            return route
        rel = urlsplit(path).path.lstrip("/") or "index.html"
        candidate = (self.root / rel).resolve()
        try:
            candidate.relative_to(self.root.resolve())
        except ValueError:
            return None
        if candidate.is_dir():
            candidate = candidate / "index.html"
        if not candidate.is_file():
            return None
        ctype = (
            _GUESS.get(candidate.suffix)
            or mimetypes.guess_type(candidate.name)[0]
            or "application/octet-stream"
        )
        return Route(body=candidate.read_bytes(), headers={"Content-Type": ctype})

    def _respond(self, req: Request) -> Response:
        route = self._lookup(req.path)
        if route is None:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        if route.handler is not None:
            return route.handler(req)
        headers = dict(route.headers)
        if route.status == 200 and route.conditional:
            etag = route.etag
            headers.setdefault("ETag", etag)
            headers.setdefault("Last-Modified", self.last_modified)
            inm = req.headers.get("if-none-match")
            ims = req.headers.get("if-modified-since")
            if (inm and inm == headers["ETag"]) or (
                not inm and ims and ims == headers["Last-Modified"]
            ):
                return (
                    304,
                    {"ETag": headers["ETag"], "Last-Modified": headers["Last-Modified"]},
                    b"",
                )
        return route.status, headers, route.body

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else every small response waits ~40 ms
            server_version = "newswatch-localsite"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _serve(self, with_body: bool) -> None:
                req = Request(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}
                )
                with site._lock:
                    site.hits[urlsplit(self.path).path] += 1
                    site.requests.append(req)
                try:
                    status, headers, body = site._respond(req)
                except Exception as e:  # a broken test handler answers 500, not a hang
                    status, headers, body = 500, {"Content-Type": "text/plain"}, repr(e).encode()
                with site._lock:
                    site.responses.append((urlsplit(self.path).path, status))
                self.send_response(status)
                has_len = False
                for k, v in headers.items():
                    if k.lower() == "content-length":
                        has_len = True
                    self.send_header(k, v)
                if not has_len:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body and status != 304:
                    try:
                        self.wfile.write(body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass

            def do_GET(self) -> None:
                self._serve(True)

            def do_HEAD(self) -> None:
                self._serve(False)

        return _H
