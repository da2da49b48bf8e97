"""Parse stage: feed bytes → usable entries, with a recorded reason for everything skipped.

feedparser reads RSS 0.9x/1.0/2.0, Atom and RDF from the fetched bytes; the response's
headers (Content-Type charset, Content-Location) and URL are passed along so relative links
resolve against the feed's own address. A feed feedparser cannot make sense of is returned
with ``bozo=True`` and no entries, never raised: the run goes on.
"""

from __future__ import annotations

import calendar
import codecs
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from newswatch.models import FeedEntry, ParsedFeed

__all__ = ["MAX_ENTRIES", "cap_entries", "parse_feed", "repair_encoding"]

# feedparser resolves relative URIs itself, but also sanitises HTML in summaries;
# we keep its sanitising (summaries end up in digests) and resolve links ourselves too.
feedparser.RESOLVE_RELATIVE_URIS = 1
feedparser.SANITIZE_HTML = 1

_MAX_SUMMARY_CHARS = 20_000
# entries looked at in one feed document; a feed of 100,000 entries is cut here, before
# feedparser's per-entry work is spent on entries no pass would take
MAX_ENTRIES = 5_000
_XML_DECL = re.compile(rb"""^(\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding=["']([A-Za-z0-9._-]+)["']""")
_CHARSET = re.compile(r"charset=[\"']?([A-Za-z0-9._-]+)", re.IGNORECASE)
# more undecodable bytes than this share: the declaration is wrong, not a few bytes
_MAX_BAD_SHARE = 0.02


def repair_encoding(content: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str], int]:
    """Decode per the declared encoding, replacing only the bytes that are invalid in it.

    feedparser, given a document whose declared encoding fails on one bad byte, decodes the
    whole document with a fallback single-byte encoding: every Korean, Arabic or Hebrew
    headline of the feed becomes mojibake and stops matching the watchlist. Here a document
    with a few invalid bytes is decoded with its own encoding, the bad bytes replaced by
    U+FFFD, and handed on as UTF-8 (declaration and header rewritten to say so). Returns
    (content, headers, bytes replaced); a document that mostly fails is left to feedparser.
    """
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return content, headers, 0
    declared = None
    m = _XML_DECL.match(content[:512])
    if m:
        declared = m.group(2).decode("ascii")
    ct = _CHARSET.search(headers.get("content-type", ""))
    if ct:
        declared = ct.group(1)  # the HTTP header wins, as in feedparser
    name = declared or "utf-8"
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return content, headers, 0
    body = content[3:] if content.startswith(codecs.BOM_UTF8) else content
    try:
        body.decode(codec)
        return content, headers, 0
    except UnicodeDecodeError:
        pass
    text = body.decode(codec, errors="replace")
    bad = text.count("\ufffd")
    if bad > max(1, int(len(body) * _MAX_BAD_SHARE)):
        return content, headers, 0
    if m:
        text = re.sub(
            r"""^(\s*<\?xml[^>]*?encoding=["'])[A-Za-z0-9._-]+""", r"\1utf-8", text, count=1
        )
    fixed = dict(headers)
    if ct or "content-type" in fixed:
        fixed["content-type"] = _CHARSET.sub("charset=utf-8", fixed.get("content-type", ""))
        if "charset=" not in fixed["content-type"].lower():
            fixed["content-type"] += "; charset=utf-8"
    return text.encode("utf-8"), fixed, bad


def _to_datetime(struct: Any) -> datetime | None:
    if not struct:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), tz=UTC).replace(tzinfo=None)
    except (OverflowError, ValueError, TypeError):
        return None


def _usable_link(entry: Any, base: str) -> str | None:
    """The entry's article link: its `link`, else an alternate link, else an http(s) id."""
    candidates: list[str] = []
    if entry.get("link"):
        candidates.append(entry["link"])
    for link in entry.get("links") or ():
        if link.get("href") and link.get("rel", "alternate") == "alternate":
            candidates.append(link["href"])
    guid = entry.get("id")
    if guid and entry.get("guidislink", True):
        candidates.append(guid)
    for raw in candidates:
        url = urljoin(base, str(raw).strip())
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            return url
    return None


def _update_minutes(feed: Any) -> int | None:
    """The feed's declared update period: <ttl> minutes or sy:updatePeriod/Frequency."""
    ttl = feed.get("ttl")
    try:
        if ttl is not None and int(str(ttl).strip()) > 0:
            return int(str(ttl).strip())
    except ValueError:
        pass
    period = str(feed.get("sy_updateperiod", "") or "").strip().lower()
    if period:
        minutes = {
            "hourly": 60,
            "daily": 1440,
            "weekly": 10080,
            "monthly": 43200,
            "yearly": 525600,
        }.get(period)
        try:
            freq = max(1, int(str(feed.get("sy_updatefrequency", "1")).strip()))
        except ValueError:
            freq = 1
        if minutes:
            return max(1, minutes // freq)
    return None


_END_OF = (b"</item>", b"</entry>")


def cap_entries(content: bytes, limit: int = MAX_ENTRIES) -> tuple[bytes, int]:
    """Cut a document of more than ``limit`` entries after its ``limit``-th, before parsing
    (feedparser's cost is per entry: 100,000 entries took 13 CPU-seconds). Returns the
    content and how many entries were cut off (0: none)."""
    if content.count(b"<item") + content.count(b"<entry") <= limit:
        return content, 0
    pos, n = 0, 0
    while n < limit:
        ends = [(content.find(tag, pos), tag) for tag in _END_OF]
        found = [(i, t) for i, t in ends if i >= 0]
        if not found:
            return content, 0
        i, tag = min(found)
        pos, n = i + len(tag), n + 1
    rest = content[pos:]
    dropped = rest.count(b"<item") + rest.count(b"<entry")
    head = content[:512]
    close = (
        b"</feed>"
        if b"<feed" in head
        else b"</rdf:RDF>"
        if b"<rdf:RDF" in head
        else b"</channel></rss>"
    )
    return content[:pos] + close, dropped


def parse_feed(
    source: str,
    content: bytes,
    *,
    url: str,
    headers: dict[str, str] | None = None,
    default_language: str | None = None,
) -> ParsedFeed:
    """Parse one fetched feed document. Never raises for bad input."""
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    hdrs.setdefault("content-location", url)
    content, hdrs, replaced = repair_encoding(content, hdrs)
    content, cut = cap_entries(content)
    try:
        parsed = feedparser.parse(content, response_headers=hdrs)
    except Exception as e:  # feedparser is robust, but a broken document must not stop a run
        return ParsedFeed(
            source=source, entries=(), bozo=True, bozo_reason=f"feedparser failed: {e!r}"
        )

    feed = parsed.get("feed", {}) or {}
    base = hdrs.get("content-location") or url
    language = feed.get("language") or default_language or None
    if language:
        language = str(language).split("-")[0].split("_")[0].strip().lower() or None

    bozo = bool(parsed.get("bozo")) or bool(replaced)
    bozo_reason = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        bozo_reason = f"{type(exc).__name__}: {exc}" if exc is not None else "malformed feed"
    if replaced:
        note = f"{replaced} byte(s) invalid in the declared encoding, replaced by U+FFFD"
        bozo_reason = f"{bozo_reason}; {note}" if bozo_reason else note

    entries: list[FeedEntry] = []
    skipped: list[tuple[str, str]] = []
    if cut:
        skipped.append((f"{cut} more entries", f"the feed has more than {MAX_ENTRIES} entries"))
    seen: set[str] = set()
    for i, entry in enumerate(parsed.get("entries") or ()):
        title = (entry.get("title") or "").strip() or None
        label = title or entry.get("id") or f"entry {i + 1}"
        link = _usable_link(entry, base)
        if link is None:
            raw = entry.get("link")
            reason = f"link {raw!r} is not an absolute http(s) URL" if raw else "entry has no link"
            skipped.append((str(label)[:200], reason))
            continue
        if link in seen:
            skipped.append((str(label)[:200], "duplicate link within the feed"))
            continue
        seen.add(link)
        summary = (entry.get("summary") or entry.get("description") or "").strip() or None
        if summary and len(summary) > _MAX_SUMMARY_CHARS:
            summary = summary[:_MAX_SUMMARY_CHARS]
        entries.append(
            FeedEntry(
                source=source,
                link=link,
                title=title,
                summary=summary,
                published_at=_to_datetime(
                    entry.get("published_parsed") or entry.get("updated_parsed")
                ),
                author=(entry.get("author") or None),
                language=language,
            )
        )

    if not entries and bozo and not skipped:
        # nothing usable came out of a malformed document: the feed is broken
        return ParsedFeed(
            source=source,
            entries=(),
            bozo=True,
            bozo_reason=bozo_reason,
            feed_title=feed.get("title"),
            language=language,
        )
    if not entries and not skipped and not feed and not parsed.get("version"):
        return ParsedFeed(
            source=source,
            entries=(),
            bozo=True,
            bozo_reason=bozo_reason or "not a feed (no RSS, Atom or RDF found)",
        )
    return ParsedFeed(
        source=source,
        entries=tuple(entries),
        skipped=tuple(skipped),
        bozo=bozo,
        bozo_reason=bozo_reason,
        feed_title=(feed.get("title") or None),
        language=language,
        ttl_minutes=_update_minutes(feed),
    )
