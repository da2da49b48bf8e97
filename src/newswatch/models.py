"""Typed values passed between the stages of a polling pass.

    Source ─fetch─▶ FetchResult ─parse─▶ FeedEntry ─fetch+extract─▶ Extracted
           ─canonicalise+flag─▶ ArticleRecord (with FlagResult) ─store─▶ DuckDB

Frozen dataclasses, cheap to pickle (they cross the process pool). Statuses and kinds are
``StrEnum`` members: they compare equal to, and are stored as, the strings the public SQL
has always held (``runs.status = 'completed'``, ``articles.extraction = 'trafilatura'``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "ArticleRecord",
    "Attribution",
    "DigestStatus",
    "Extracted",
    "Extraction",
    "FeedEntry",
    "FeedStatus",
    "FetchResult",
    "FlagResult",
    "Mention",
    "MentionKind",
    "ParsedFeed",
    "ProblemStage",
    "RunStatus",
]


class FeedStatus(StrEnum):
    """What polling a feed came to (``sources.last_status``)."""

    OK = "ok"  # fetched and parsed; its entries were looked at
    NOT_MODIFIED = "not_modified"  # 304 to a conditional request
    UNCHANGED = "unchanged"  # 200 with the same body as last time
    FAILED = "failed"  # not fetched (network, HTTP error, refused address, ...)
    BROKEN = "broken"  # fetched, but not a usable feed


class RunStatus(StrEnum):
    """``runs.status``."""

    RUNNING = "running"
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"  # finished, but a batch write failed: its feeds are refetched
    FAILED = "failed"  # the pass stopped on an error (what was committed stays)
    CRASHED = "crashed"  # its process died; closed by a later pass


class Extraction(StrEnum):
    """``articles.extraction``: where an article's text came from."""

    TRAFILATURA = "trafilatura"
    FEED_SUMMARY = "feed_summary"
    FAILED = "failed"


class MentionKind(StrEnum):
    """``mentions.kind``."""

    ACTOR = "actor"
    ALLEGATION = "allegation"


class ProblemStage(StrEnum):
    """``problems.stage``: where in a pass something went wrong."""

    FEED = "feed"
    PARSE = "parse"
    ENTRY = "entry"
    PAGE = "page"
    EXTRACT = "extract"
    STORE = "store"
    DIGEST = "digest"


class DigestStatus(StrEnum):
    """What a digest run or message came to (``digest_runs.status`` and results)."""

    SENT = "sent"
    NOTHING_NEW = "nothing_new"
    EMPTY = "empty"
    BUSY = "busy"
    NOT_DUE = "not_due"
    WRITTEN = "written"
    DRY_RUN = "dry_run"
    WOULD_SEND = "would_send"
    NOT_SENT = "not_sent"
    REFUSED = "refused"
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one HTTP fetch returned (after redirects)."""

    url: str  # the URL asked for
    final_url: str  # the URL that answered, after redirects
    status: int
    headers: dict[str, str]  # lower-cased names
    content: bytes
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False  # 304 to a conditional request
    elapsed: float = 0.0

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One usable entry of a feed: it has an absolute http(s) link."""

    source: str
    link: str
    title: str | None = None
    summary: str | None = None
    published_at: datetime | None = None  # UTC, naive
    author: str | None = None
    language: str | None = None  # the feed's or source's declared language


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed: usable entries, and the entries skipped with a reason."""

    source: str
    entries: tuple[FeedEntry, ...]
    skipped: tuple[tuple[str, str], ...] = ()  # (what, reason)
    bozo: bool = False
    bozo_reason: str | None = None
    feed_title: str | None = None
    language: str | None = None
    ttl_minutes: int | None = None  # <ttl> or sy:updatePeriod/updateFrequency


@dataclass(frozen=True, slots=True)
class Extracted:
    """Text and metadata taken from an article page."""

    text: str | None
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    language: str | None = None
    canonical_url: str | None = None  # the page's rel=canonical, raw
    extraction: Extraction = Extraction.TRAFILATURA
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Mention:
    """One match of a tracked actor or allegation, with its evidence."""

    kind: MentionKind | str  # "actor" or "allegation"
    entity_id: str
    matched_text: str  # the text as it stands in the article
    sentence: str  # the sentence it stands in
    start: int  # character offsets of matched_text in the matched field
    end: int
    field: str = "text"  # "title" or "text"
    rule: str | None = None  # which alias / rule fired
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Attribution:
    """Whom an allegation mention is attributed to (newswatch.flagging.attribution)."""

    entity_id: str  # the allegation
    mention_start: int  # the allegation mention's offsets in its field
    mention_end: int
    source_text: str  # the attributed source as it stands ("South Korea's JCS")
    start: int  # offsets of source_text in the field
    end: int
    source_id: str | None  # a source of the watchlist or a tracked actor; None: anonymous
    kind: str  # the source's kind (think_tank, military, media, …), "actor" or "anonymous"
    cue: str  # "according to", "에 따르면", "بحسب", …
    sentence: str
    field: str = "text"


@dataclass(frozen=True, slots=True)
class FlagResult:
    """The flag for one article: ids found, every mention, and a score."""

    actors: tuple[str, ...] = ()
    allegations: tuple[str, ...] = ()
    mentions: tuple[Mention, ...] = ()
    score: float = 0.0

    @property
    def flagged(self) -> bool:
        return bool(self.actors)


@dataclass(frozen=True, slots=True)
class ArticleRecord:
    """An article ready to store."""

    article_id: str
    url: str
    canonical_url: str
    source: str
    title: str | None
    author: str | None
    published_at: datetime | None
    fetched_at: datetime
    language: str | None
    text: str | None
    summary: str | None
    extraction: Extraction
    content_hash: str
    flag: FlagResult = field(default_factory=FlagResult)
    signature: bytes = b""  # near-duplicate signature (newswatch.stories); b"" = too short to sign
    attributions: tuple[Attribution, ...] = ()  # of the allegation mentions (flagging.attribution)
