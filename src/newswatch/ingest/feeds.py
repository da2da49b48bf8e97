"""Parse stage: feed bytes → usable entries, with a recorded reason for everything skipped.

feedparser reads RSS 0.9x/1.0/2.0, Atom and RDF from the fetched bytes; the response's
headers (Content-Type charset, Content-Location) and URL are passed along so relative links
resolve against the feed's own address. A feed feedparser cannot make sense of is returned
with ``bozo=True`` and no entries, never raised: the run goes on.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from newswatch.models import FeedEntry, ParsedFeed

__all__ = ["parse_feed"]

# feedparser resolves relative URIs itself, but also sanitises HTML in summaries;
# we keep its sanitising (summaries end up in digests) and resolve links ourselves too.
feedparser.RESOLVE_RELATIVE_URIS = 1
feedparser.SANITIZE_HTML = 1

_MAX_SUMMARY_CHARS = 20_000


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

    bozo = bool(parsed.get("bozo"))
    bozo_reason = None
    if bozo:
        exc = parsed.get("bozo_exception")
        bozo_reason = f"{type(exc).__name__}: {exc}" if exc is not None else "malformed feed"

    entries: list[FeedEntry] = []
    skipped: list[tuple[str, str]] = []
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
