"""URL canonicalisation: one spelling per article, so the same story is stored once.

    canonicalize_url("HTTP://Example.COM:80/a/./b/../c?utm_source=x&b=2&a=1#top")
        == "http://example.com/a/c?a=1&b=2"

What :func:`canonicalize_url` does to an absolute http(s) URL, in order:

* lower-cases the scheme and host, IDNA-encodes a non-ASCII host (UTS #46), drops a
  trailing dot and a default port (80 for http, 443 for https);
* normalises percent-encoding (upper-case hex, unreserved characters decoded, spaces and
  non-ASCII characters encoded as UTF-8) and resolves ``.``/``..`` path segments; an empty
  path becomes ``/``;
* drops tracking parameters (``utm_*``, ``fbclid``, ``gclid``, …, see ``TRACKING_PARAMS``)
  and sorts the rest by name (a stable sort: repeated names keep their order, blank values
  are kept);
* drops the fragment.

It is idempotent (canonicalising twice changes nothing) and never raises: anything that is
not an absolute http(s) URL comes back stripped of surrounding whitespace and otherwise as
it was.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urljoin, urlsplit

__all__ = [
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonicalize_url",
    "choose_canonical",
    "host_of",
    "site_of",
    "url_id",
]

# Query parameters that only say how a reader arrived, never which article it is.
# Compared case-insensitively.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "li_fat_id", "igshid", "mc_cid", "mc_eid", "_ga", "_gl",
        "ref_src", "ref_url", "cmpid", "ocid", "mkt_tok", "_hsenc", "_hsmi",
        "oly_anon_id", "oly_enc_id", "rb_clickid", "vero_id", "wt_mc", "at_medium",
        "at_campaign", "pk_campaign", "pk_kwd", "pk_source", "pk_medium", "pk_content",
        "mtm_campaign", "mtm_kwd", "mtm_source", "mtm_medium", "mtm_content",
        "smid", "sr_share",
    }
)  # fmt: skip
TRACKING_PREFIXES: tuple[str, ...] = ("utm_",)

_DEFAULT_PORTS = {"http": "80", "https": "443"}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# characters left as they are in a path or query component (reserved + unreserved + "%")
_KEEP = _UNRESERVED | frozenset(":/?#[]@!$&'()*+,;=")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")


def _normalize_component(text: str, *, extra_escape: str = "") -> str:
    """Normalise percent-encoding: decode unreserved octets, upper-case the others' hex,
    encode what must be encoded (space, controls, non-ASCII as UTF-8, a stray ``%``).

    ``extra_escape`` names reserved characters that must be encoded in this component
    (``#`` never survives in a path or query; ``?`` cannot stand in a path)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "%":
            m = _PCT.match(text, i)
            if m:
                octet = chr(int(m.group(1), 16))
                out.append(octet if octet in _UNRESERVED else "%" + m.group(1).upper())
                i += 3
                continue
            out.append("%25")
        elif ch in _KEEP and ch not in extra_escape:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, for an absolute path."""
    output: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments[1:], start=1):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                output.append("")
        elif seg == "..":
            if output:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(seg)
    return "/" + "/".join(output)


def _normalize_host(host: str) -> str:
    host = host.lower()
    if host.startswith("["):  # IPv6 literal
        return host
    if not host.isascii():
        try:
            import idna  # a dependency of httpx

            host = idna.encode(host, uts46=True).decode("ascii")
        except (ImportError, ValueError):  # not valid IDNA 2008 (IDNAError is a ValueError)
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                pass
    # "example.com." names the same host as "example.com"
    return host.rstrip(".") or host


def _split_netloc(netloc: str) -> tuple[str, str, str | None]:
    """``user:pw@host:port`` → (userinfo incl. ``@`` or "", host, port or None)."""
    userinfo, _, hostport = netloc.rpartition("@")
    userinfo = userinfo + "@" if _ else ""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end != -1:
            rest = hostport[end + 1 :]
            return userinfo, hostport[: end + 1], rest[1:] if rest.startswith(":") else None
        return userinfo, hostport, None
    host, sep, port = hostport.rpartition(":")
    if not sep:
        return userinfo, hostport, None
    return userinfo, host, port


def _is_tracking(name: str) -> bool:
    key = _PCT.sub(lambda m: chr(int(m.group(1), 16)), name).lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def canonicalize_url(url: str) -> str:
    """Return the canonical spelling of an absolute http(s) URL (see the module docstring)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        return url

    userinfo, host, port = _split_netloc(parts.netloc)
    host = _normalize_host(host)
    if not host:
        return url
    if port is not None:
        port = port.lstrip("0") or ("0" if port else "")
        if port in ("", _DEFAULT_PORTS[scheme]):
            port = None
    netloc = userinfo + host + (":" + port if port else "")

    # with an authority, the path is empty or starts with "/"
    path = _remove_dot_segments(_normalize_component(parts.path, extra_escape="?#") or "/")

    pairs: list[tuple[str, str]] = []
    for piece in parts.query.split("&"):
        if not piece:
            continue
        piece = _normalize_component(piece, extra_escape="#&")
        name = piece.split("=", 1)[0]
        if not _is_tracking(name):
            pairs.append((name, piece))
    pairs.sort(key=lambda p: p[0])
    query = "&".join(piece for _, piece in pairs)

    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def host_of(url: str) -> str:
    """The lower-case (IDNA-encoded) host name of ``url``, without port; "" if it has none."""
    try:
        netloc = urlsplit(url.strip()).netloc
    except ValueError:
        return ""
    host = _normalize_host(_split_netloc(netloc)[1])
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def site_of(url: str) -> str:
    """The registrable domain of ``url`` (``news.bbc.co.uk`` → ``bbc.co.uk``).

    Uses the public-suffix list bundled with ``tld``; a host it does not know (an IP
    address, ``localhost``) stands for itself, without a leading ``www.``."""
    host = host_of(url)
    if not host:
        return ""
    try:
        from tld import get_fld

        fld = get_fld(host, fix_protocol=True, fail_silently=True)
    except Exception:
        fld = None
    if fld:
        return str(fld).lower()
    return host.removeprefix("www.")


def choose_canonical(page_url: str, rel_canonical: str | None) -> str:
    """The canonical URL of an article page.

    The page's ``rel=canonical`` (resolved against ``page_url``) when it is an http(s) URL
    on the same site (same registrable domain, so ``www.``/``m.``/``amp.`` variants
    agree); otherwise the canonicalised page URL. A page cannot claim another site's
    article as its own."""
    page = canonicalize_url(page_url)
    if not rel_canonical or not rel_canonical.strip():
        return page
    try:
        resolved = urljoin(page_url.strip(), rel_canonical.strip())
    except ValueError:
        return page
    candidate = canonicalize_url(resolved)
    if not candidate.startswith(("http://", "https://")):
        return page
    page_site, rel_site = site_of(page), site_of(candidate)
    if page_site and page_site == rel_site:
        return candidate
    return page


def url_id(canonical_url: str) -> str:
    """A stable article id: the first 16 hex digits of the SHA-256 of the canonical URL."""
    return hashlib.sha256(canonical_url.encode("utf-8", "surrogatepass")).hexdigest()[:16]
