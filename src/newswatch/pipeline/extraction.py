"""Work done in the extraction processes: page bytes → a finished ArticleRecord.

Extraction (trafilatura) is the dominant cost of a pass, so it runs in a process pool
across the machine's cores, together with everything else that is per-article CPU work:
choosing the canonical URL, language detection and flagging. The matcher is compiled once
per process by :func:`init_worker`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from newswatch.ingest.extract import extract_article, summary_text
from newswatch.ingest.urls import choose_canonical, url_id
from newswatch.models import ArticleRecord, Extracted, FeedEntry, FlagResult
from newswatch.settings import StorySettings
from newswatch.stories import DEFAULT_SETTINGS, signature

__all__ = ["PageJob", "content_hash", "init_worker", "process_page"]

_MATCHER = None
_MATCHER_PATH: str | None = None
_STORY_SETTINGS = None


@dataclass(frozen=True, slots=True)
class PageJob:
    entry: FeedEntry
    final_url: str  # where the page was fetched from (after redirects)
    content: bytes | None  # None when the page could not be fetched
    content_type: str
    fetched_at: datetime
    fetch_error: str | None = None


def init_worker(watchlist_path: str | None, story_settings: dict | None = None) -> None:
    """Process-pool initializer: compile the watchlist once per process."""
    global _MATCHER, _MATCHER_PATH, _STORY_SETTINGS

    _STORY_SETTINGS = StorySettings(**(story_settings or {}))
    if watchlist_path is None:
        _MATCHER, _MATCHER_PATH = None, None
        return
    if _MATCHER is None or watchlist_path != _MATCHER_PATH:
        from newswatch.flagging.matcher import Matcher

        _MATCHER = Matcher.from_path(Path(watchlist_path))
        _MATCHER_PATH = watchlist_path


_WS = re.compile(r"\s+")


def content_hash(text: str | None) -> str:
    norm = _WS.sub(" ", (text or "").casefold()).strip()
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()[:32]


def process_page(job: PageJob) -> ArticleRecord:
    """Extract, canonicalise, detect language and flag one page. Never raises for bad pages."""
    entry = job.entry
    if job.content is not None:
        ex = extract_article(
            job.content,
            url=job.final_url,
            content_type=job.content_type,
            feed_title=entry.title,
            feed_summary=entry.summary,
            with_metadata=not (entry.title and entry.published_at),
        )
    else:
        summary = summary_text(entry.summary)
        ex = Extracted(
            text=summary,
            title=entry.title,
            extraction="feed_summary" if summary else "failed",
            error=job.fetch_error,
        )
    canonical = choose_canonical(job.final_url, ex.canonical_url)
    title = entry.title or ex.title  # the feed's headline is cleaner than a page <title>
    text = ex.text
    language = _language(ex, text, title, entry)
    flag = FlagResult()
    if _MATCHER is not None and (text or title):
        flag = _MATCHER.match(text or "", title=title, language=language)
    sig = signature(text, title, _STORY_SETTINGS or DEFAULT_SETTINGS)
    return ArticleRecord(
        article_id=url_id(canonical),
        url=job.final_url,
        canonical_url=canonical,
        source=entry.source,
        title=title,
        author=entry.author or ex.author,
        published_at=entry.published_at or ex.published_at,
        fetched_at=job.fetched_at,
        language=language,
        text=text,
        summary=summary_text(entry.summary),
        extraction=ex.extraction,
        content_hash=content_hash(text),
        flag=flag,
        signature=sig,
    )


def _language(ex: Extracted, text: str | None, title: str | None, entry: FeedEntry) -> str | None:
    if ex.language:
        return ex.language.split("-")[0].lower()
    sample = text or title
    if sample:
        from newswatch.ingest.language import detect_language

        found = detect_language(sample)
        if found:
            return found
    return entry.language
