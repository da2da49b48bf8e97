"""Work done in the extraction processes: page bytes → a finished ArticleRecord.

Extraction (trafilatura) is the dominant cost of a pass, so it runs in a process pool
across the machine's cores, together with everything else that is per-article CPU work:
choosing the canonical URL, language detection, flagging and the story signature. The
matcher is compiled once per process by :func:`init_worker`; :func:`usable_cpus` sizes the
pool when ``pipeline.workers`` is 0; workers started within :func:`workers_without_main` do
not run the parent's main module.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing.spawn as mp_spawn
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from newswatch.ingest.extract import extract_article, summary_text
from newswatch.ingest.urls import choose_canonical, url_id
from newswatch.models import (
    ArticleRecord,
    Attribution,
    Extracted,
    Extraction,
    FeedEntry,
    FlagResult,
)
from newswatch.settings import StorySettings
from newswatch.stories import DEFAULT_SETTINGS, signature

__all__ = [
    "PageJob",
    "content_hash",
    "init_worker",
    "process_page",
    "usable_cpus",
    "workers_without_main",
]

_MATCHER = None
_MATCHER_PATH: str | None = None
_STORY_SETTINGS = None
_EXTRACTION = "fast"  # pipeline.extraction, set by init_worker


@dataclass(frozen=True, slots=True)
class PageJob:
    entry: FeedEntry
    final_url: str  # where the page was fetched from (after redirects)
    content: bytes | None  # None when the page could not be fetched
    content_type: str
    fetched_at: datetime
    fetch_error: str | None = None


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask, capped by a cgroup (v2) CPU quota
    such as ``docker run --cpus 2``, where ``os.cpu_count()`` sees every core of the host."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


_PREPARATION_DATA = mp_spawn.get_preparation_data
_SPAWNING = threading.local()


def _preparation_data(name: str) -> dict[str, Any]:
    data: dict[str, Any] = _PREPARATION_DATA(name)
    if getattr(_SPAWNING, "without_main", False):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


@contextmanager
def workers_without_main() -> Iterator[None]:
    """Processes started in this block, by this thread, do not run the parent's ``__main__``.

    Under the forkserver (and spawn) start method, multiprocessing runs the parent's main
    script or module again in every new process, before its first task, so that functions
    defined there can be unpickled. The pool runs newswatch's own functions only, and the main
    is the ``newswatch`` script (the whole command line: typer, DuckDB, pyarrow; ~85 MB and
    0.1-0.3 s in every worker) or, under a Prefect worker, ``prefect.engine``."""
    if mp_spawn.get_preparation_data is not _preparation_data:
        mp_spawn.get_preparation_data = _preparation_data
    _SPAWNING.without_main = True
    try:
        yield
    finally:
        _SPAWNING.without_main = False


def init_worker(
    watchlist_path: str | None, story_settings: dict | None = None, extraction: str = "fast"
) -> None:
    """Process-pool initializer: compile the watchlist once per process."""
    global _MATCHER, _MATCHER_PATH, _STORY_SETTINGS, _EXTRACTION

    _STORY_SETTINGS = StorySettings(**(story_settings or {}))
    _EXTRACTION = extraction
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
    summary = summary_text(entry.summary)
    if job.content is not None:
        ex = extract_article(
            job.content,
            url=job.final_url,
            content_type=job.content_type,
            feed_title=entry.title,
            feed_summary=entry.summary,
            with_metadata=not (entry.title and entry.published_at),
            mode=_EXTRACTION,
        )
    else:
        ex = Extracted(
            text=summary,
            title=entry.title,
            extraction=Extraction.FEED_SUMMARY if summary else Extraction.FAILED,
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
    attributions = _attribute(flag, text, title, language)
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
        summary=summary,
        extraction=ex.extraction,
        content_hash=content_hash(text),
        flag=flag,
        signature=sig,
        attributions=attributions,
    )


_ATTRIBUTOR: Any = None


def _attribute(
    flag: FlagResult, text: str | None, title: str | None, language: str | None
) -> tuple[Attribution, ...]:
    """Whom the allegations are attributed to (newswatch.flagging.attribution), built once per
    process from the matcher's watchlist."""
    global _ATTRIBUTOR
    if _MATCHER is None or not flag.allegations:
        return ()
    if _ATTRIBUTOR is None or _ATTRIBUTOR.watchlist is not _MATCHER.watchlist:
        from newswatch.flagging.attribution import Attributor

        _ATTRIBUTOR = Attributor(_MATCHER.watchlist)
    result: tuple[Attribution, ...] = _ATTRIBUTOR.article(flag, text, title, language)
    return result


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
