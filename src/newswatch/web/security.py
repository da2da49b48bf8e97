"""Safe by default: where the workbench listens, who may use it, and what a page may do.

* **Binding.** 127.0.0.1 (or another loopback address) needs nothing. Any other address
  needs a password (``NEWSWATCH_WEB_PASSWORD``): :func:`check_bind` refuses otherwise.
* **Login.** With a password set, every request needs HTTP basic auth: any user name (it
  is recorded with the analyst's verdicts) and that password, compared in constant time.
  Without one (loopback only), the analyst's name is ``NEWSWATCH_WEB_USER`` or the login
  name of the process.
* **CSRF.** Every POST carries a token (a hidden form field) that must equal an HMAC of the
  browser's ``nw_csrf`` cookie under the server's secret; a POST whose ``Origin`` or
  ``Sec-Fetch-Site`` says it came from another site is refused as well (403).
* **Headers** on every response (:class:`SecurityHeaders`): a strict Content-Security-Policy
  (scripts and styles only from this server, no inline script, no remote origin, no
  framing by others), ``X-Content-Type-Options: nosniff``, no referrer sent to other sites.
* **Links** from feeds are links only when they are http(s) (:func:`safe_url`); bidi
  override and embedding controls in web text are shown as U+FFFD (:func:`clean_text`).
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from newswatch.errors import ConfigError

__all__ = [
    "CSP",
    "CSRF_COOKIE",
    "PASSWORD_ENV",
    "USER_ENV",
    "BasicAuth",
    "SecurityHeaders",
    "check_bind",
    "clean_text",
    "csrf_token",
    "csrf_valid",
    "default_user",
    "is_loopback",
    "safe_url",
]

PASSWORD_ENV = "NEWSWATCH_WEB_PASSWORD"
USER_ENV = "NEWSWATCH_WEB_USER"
CSRF_COOKIE = "nw_csrf"
CSRF_FIELD = "csrf"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
# the digest preview is the email's own HTML (inline style attributes, no script at all),
# shown in a frame of the digests page
PREVIEW_CSP = (
    "default-src 'none'; img-src 'self'; style-src-attr 'unsafe-inline'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox allow-same-origin"
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# -- binding -------------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    h = host.strip().strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_bind(host: str, password: str | None) -> None:
    """Refuse to listen on a non-loopback address without a password (one line)."""
    if not is_loopback(host) and not password:
        raise ConfigError(
            f"refusing to listen on {host} without a password: set {PASSWORD_ENV} "
            "(analysts then log in with their name and that password), or listen on 127.0.0.1"
        )


def default_user() -> str:
    name = os.environ.get(USER_ENV, "").strip()
    if name:
        return name[:80]
    try:
        return getpass.getuser()
    except Exception:
        return "analyst"


# -- text and links ------------------------------------------------------------------------
# embeddings, overrides and isolates (LRE RLE PDF LRO RLO, LRI RLI FSI PDI); LRM/RLM stay
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_C0 = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(s: object) -> str:
    """Web text for display: bidi overrides (which could reorder what follows them) and C0
    controls become U+FFFD, one for one, so stored offsets still line up."""
    if s is None:
        return ""
    return _C0.sub("\ufffd", _BIDI_CONTROLS.sub("\ufffd", str(s)))


def safe_url(url: object) -> str | None:
    """The URL if it is an absolute http(s) URL with a host, else None (never a link)."""
    if not isinstance(url, str):
        return None
    u = url.strip()
    if _C0.search(u) or _BIDI_CONTROLS.search(u) or any(c.isspace() for c in u):
        return None
    low = u.lower()
    if not (low.startswith("http://") or low.startswith("https://")):
        return None
    rest = u.split("://", 1)[1]
    if not rest or rest[0] in "/\\":
        return None
    return u


# -- CSRF ----------------------------------------------------------------------------------
def csrf_token(secret: bytes, cookie: str) -> str:
    return hmac.new(secret, cookie.encode("utf-8"), hashlib.sha256).hexdigest()


def csrf_valid(secret: bytes, cookie: str | None, token: str | None) -> bool:
    if not cookie or not token:
        return False
    return hmac.compare_digest(csrf_token(secret, cookie), token)


def new_cookie_value() -> str:
    return secrets.token_urlsafe(24)


def same_origin(headers: dict[str, str], host: str | None) -> bool:
    """False when the browser says the request came from another site (``Sec-Fetch-Site``,
    or an ``Origin`` that is not this host). The CSRF token is checked as well."""
    site = headers.get("sec-fetch-site")
    if site and site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin and origin != "null" and host:
        return origin.split("://", 1)[-1] == host
    # no Origin (an old client), or "null" (a privacy setting): the token decides
    return True


# -- ASGI middleware -----------------------------------------------------------------------
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    """Adds the security headers to every response (errors and static files included).

    A response that sets one of them itself (the digest preview: its own policy, framed by
    this site only) keeps its own."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                for k, v in _HEADERS:
                    if k not in names:
                        headers.append((k, v))
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BasicAuth:
    """HTTP basic auth against one shared password (constant-time comparison); the user
    name given is the analyst's name (``scope["user_name"]``). Without a password, every
    request is let through as :func:`default_user`."""

    def __init__(self, app: ASGIApp, password: str | None, user: str | None = None):
        self.app = app
        self.password = password.encode("utf-8") if password else None
        self.user = user or default_user()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.password is None:
            scope["user_name"] = self.user
            await self.app(scope, receive, send)
            return
        name = self._check(dict(scope.get("headers", [])).get(b"authorization", b""))
        if name is None:
            body = b"Login required: any name, and the workbench's password.\n"
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"www-authenticate", b'Basic realm="newswatch", charset="UTF-8"'),
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        scope["user_name"] = name
        await self.app(scope, receive, send)

    def _check(self, header: bytes) -> str | None:
        assert self.password is not None
        scheme, _, value = header.partition(b" ")
        if scheme.lower() != b"basic" or not value:
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        user, sep, pw = decoded.partition(b":")
        ok = hmac.compare_digest(
            hashlib.sha256(pw).digest(), hashlib.sha256(self.password).digest()
        )
        if not sep or not ok:
            return None
        try:
            name = user.decode("utf-8").strip()
        except UnicodeDecodeError:
            return None
        name = clean_text(name)[:80]
        return name or "analyst"
