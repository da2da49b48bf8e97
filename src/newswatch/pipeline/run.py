"""One polling pass: feeds → entries → pages → articles → DuckDB.

    fetch feeds (async, conditional GET) ─▶ parse ─▶ skip known URLs (one lookup per feed)
        ─▶ fetch pages (async, bounded) ─▶ process pool: extract + canonicalise + flag
        ─▶ batched, idempotent writes (one transaction per batch)

Every queue is bounded, so a pass of any size uses bounded memory. A feed that fails is
recorded with its reason and the pass goes on. Feed state (ETag, Last-Modified, body hash)
is written only at the end of the pass, after every article it led to is committed: a pass
killed half-way leaves the feeds to be fetched in full again, and the articles already
committed are skipped as known.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from newswatch.errors import FetchError
from newswatch.ingest.feeds import parse_feed
from newswatch.ingest.fetch import Fetcher
from newswatch.ingest.polling import plan_next_poll
from newswatch.ingest.urls import canonicalize_url
from newswatch.models import ArticleRecord, FeedEntry, FeedStatus, ProblemStage, RunStatus
from newswatch.pipeline import lifeline
from newswatch.pipeline.extraction import (
    PageJob,
    init_worker,
    process_page,
    usable_cpus,
    workers_without_main,
)
from newswatch.pipeline.lifeline import start_worker
from newswatch.settings import Config, Source
from newswatch.store import Problem, SourceState, SourceUpdate, Store

__all__ = ["TRANSIENT_FETCH_ERRORS", "FeedOutcome", "RunSummary", "run_pass", "run_pass_async"]

# a page that failed with one of these is retried next pass; any other failure is final,
# and the article is kept with the feed's title and summary
TRANSIENT_FETCH_ERRORS = {"timeout", "connect", "protocol"}

# a pass leases this many feeds at a time, when it has room for them (its page queue is
# bounded): two workers on one pass take turns instead of the first taking every feed
CLAIM_CHUNK = 50

# a pass refreshes the derivation trees of the stories it stored at its end, or as soon as
# this many are waiting (a story met in many batches of a pass is derived once)
STORIES_PER_REFRESH = 2000

ProgressFn = Callable[[str, int], None]


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _utc_iso(t: datetime) -> str:
    """ISO 8601 with the zone: the pass records its times naive, in UTC."""
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()


@dataclass
class FeedOutcome:
    name: str
    status: FeedStatus
    reason: str | None = None
    entries: int = 0
    new_entries: int = 0


@dataclass
class RunSummary:
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    feeds: list[FeedOutcome] = field(default_factory=list)
    entries_seen: int = 0
    entries_skipped: int = 0
    articles_known: int = 0
    articles_new: int = 0
    articles_flagged: int = 0
    pages_failed: int = 0
    # articles of batches whose write failed: not stored, their feeds fetched again in full
    # next pass (their validators are not saved), so they come back
    articles_not_stored: int = 0
    status: RunStatus = RunStatus.RUNNING
    # feeds of this pass that another live pass held (it polls them), and earlier passes
    # found dead and closed as crashed
    feeds_leased_elsewhere: int = 0
    crashed_runs: list[str] = field(default_factory=list)
    store_errors: list[str] = field(default_factory=list)
    flagged: list[dict[str, Any]] = field(default_factory=list)  # the first flagged articles
    alerts: list[str] = field(
        default_factory=list
    )  # immediate digests sent (or failed) after the pass

    def count(self, status: FeedStatus) -> int:
        return sum(1 for f in self.feeds if f.status == status)

    @property
    def failing(self) -> list[FeedOutcome]:
        return [f for f in self.feeds if f.status in (FeedStatus.FAILED, FeedStatus.BROKEN)]

    def counts(self) -> dict[str, int]:
        return {
            "feeds_total": len(self.feeds),
            "feeds_fetched": self.count(FeedStatus.OK),
            "feeds_unchanged": self.count(FeedStatus.NOT_MODIFIED)
            + self.count(FeedStatus.UNCHANGED),
            "feeds_failed": len(self.failing),
            "entries_seen": self.entries_seen,
            "articles_new": self.articles_new,
            "articles_flagged": self.articles_flagged,
            "pages_failed": self.pages_failed,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "started_at": _utc_iso(self.started_at),
            "finished_at": _utc_iso(self.finished_at) if self.finished_at else None,
            **self.counts(),
            "articles_known": self.articles_known,
            "articles_not_stored": self.articles_not_stored,
            "feeds_leased_elsewhere": self.feeds_leased_elsewhere,
            "crashed_runs": self.crashed_runs,
            "store_errors": self.store_errors,
            "failing_feeds": [
                {"name": f.name, "status": f.status, "reason": f.reason} for f in self.failing
            ],
            "flagged": self.flagged,
            "alerts": self.alerts,
        }

    def to_markdown(self) -> str:
        c = self.counts()
        lines = [
            f"# newswatch polling pass `{self.run_id}`",
            "",
            "| feeds | fetched | unchanged | failed | entries | new articles | flagged | pages failed |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {c['feeds_total']} | {c['feeds_fetched']} | {c['feeds_unchanged']} | {c['feeds_failed']} "
            f"| {c['entries_seen']} | {c['articles_new']} | {c['articles_flagged']} | {c['pages_failed']} |",
        ]
        if self.failing:
            lines += ["", "## Failing feeds", "", "| feed | status | reason |", "|---|---|---|"]
            lines += [
                f"| {f.name} | {f.status} | {(f.reason or '').replace('|', '/')} |"
                for f in self.failing
            ]
        if self.flagged:
            lines += [
                "",
                "## Newly flagged",
                "",
                "| source | title | actors | allegations |",
                "|---|---|---|---|",
            ]
            for a in self.flagged:
                lines.append(
                    f"| {a['source']} | {(a['title'] or '').replace('|', '/')} | {', '.join(a['actors'])} "
                    f"| {', '.join(a['allegations'])} |"
                )
        return "\n".join(lines) + "\n"


class _Pass:
    """The state of one pass; one instance per run."""

    def __init__(
        self, config: Config, store: Store, progress: ProgressFn | None, workers: int | None
    ):
        self.config = config
        self.settings = config.settings
        self.store = store
        self.progress = progress or (lambda event, n: None)
        self.summary = RunSummary(run_id=uuid.uuid4().hex[:12], started_at=_utcnow())
        self.updates: list[SourceUpdate] = []
        self.problems: list[Problem] = []
        self.batch: list[ArticleRecord] = []
        self.extra_urls: dict[str, list[str]] = {}
        self.seen_links: set[str] = set()
        # stories of the articles stored so far whose derivation trees are not yet refreshed
        self.stories_touched: set[str] = set()
        # feeds with an entry that failed transiently: their validators are not saved, so the
        # next pass reads them in full and tries the entry again
        self.refetch_feeds: set[str] = set()
        self.db_lock = asyncio.Lock()
        self.pages: asyncio.Queue[tuple[FeedEntry, str] | None] = asyncio.Queue(
            maxsize=self.settings.pipeline.max_in_flight
        )
        n = workers if workers is not None else self.settings.pipeline.workers
        self.workers = n or usable_cpus()  # 0: one per core this process may use
        self._pool: ProcessPoolExecutor | None = None
        self._pool_ready: asyncio.Task[ProcessPoolExecutor] | None = None
        self.watchlist_version: str | None = None
        self._lookups: list[tuple[list[str], asyncio.Future[set[str]]]] = []
        self._lookup_running = False
        self._lookup_task: asyncio.Task[None] | None = None

    async def known_urls(self, urls: list[str]) -> set[str]:
        """Coalesced dedup lookups: feeds that ask while a lookup or a write is under way
        share the next one, so a pass opens a few connections instead of one per feed."""
        fut: asyncio.Future[set[str]] = asyncio.get_running_loop().create_future()
        self._lookups.append((urls, fut))
        if not self._lookup_running:
            self._lookup_running = True
            self._lookup_task = asyncio.create_task(self._drain_lookups())
        return await fut

    async def _drain_lookups(self) -> None:
        try:
            while self._lookups:
                async with self.db_lock:  # wait for a running write first: more feeds join
                    batch, self._lookups = self._lookups, []
                    try:
                        found = await asyncio.to_thread(
                            self.store.articles.known_urls, [u for us, _ in batch for u in us]
                        )
                    except Exception as e:
                        for _, f in batch:
                            f.set_exception(e)
                        continue
                for _, f in batch:
                    f.set_result(found)
        finally:
            self._lookup_running = False

    # -- the process pool, started on first use (an idle pass never pays for it) ----------
    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("forkserver")
            lifeline.arm()
            # warm everything a worker needs once, in the fork server: workers fork from it
            ctx.set_forkserver_preload(
                [
                    "newswatch.pipeline.lifeline",  # the fork server dies with this process
                    "newswatch.pipeline.extraction",
                    "newswatch.flagging.matcher",
                    "newswatch.pipeline.warm",
                ]
            )
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=ctx,
                initializer=start_worker,  # each worker dies with the fork server
                initargs=(
                    init_worker,
                    str(self.config.watchlist_path),
                    self.settings.stories.model_dump(),
                    self.settings.pipeline.extraction,
                ),
            )
        return self._pool

    def close_pool(self, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
            self._pool = None

    def start_pool(self) -> asyncio.Task[ProcessPoolExecutor]:
        """Start the fork server and fork every worker, in a thread: the fork server loads the
        extraction modules first (~1 s), which would otherwise stop the event loop (and every
        fetch) at the first page. Called at the first page, or when the pass begins if a feed
        is polled for the first time (its pages will come: the pool boots meanwhile)."""
        if self._pool_ready is None:
            pool = self.pool()
            self._pool_ready = asyncio.create_task(asyncio.to_thread(self._spawn_workers, pool))
            self._pool_ready.add_done_callback(_retrieve_exception)
        return self._pool_ready

    def _spawn_workers(self, pool: ProcessPoolExecutor) -> ProcessPoolExecutor:
        with workers_without_main():  # not the whole CLI again in each worker
            futures = [pool.submit(int) for _ in range(self.workers)]  # a no-op forks a worker
        for f in futures:
            f.result()
        return pool

    # -- database calls, one at a time, off the event loop ---------------------------------
    async def db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        async with self.db_lock:
            return await asyncio.to_thread(fn, *args, **kwargs)

    async def flush(self, force: bool = False) -> None:
        if not self.batch and not (force and self.problems):
            return
        if not force and len(self.batch) < self.settings.pipeline.batch_size:
            return
        batch, self.batch = self.batch, []
        extra = {
            a: self.extra_urls.pop(a) for a in [r.article_id for r in batch] if a in self.extra_urls
        }
        try:
            stats = await self.db(
                self.store.articles.write_batch,
                batch,
                run_id=self.summary.run_id,
                watchlist_version=self.watchlist_version,
                extra_urls=extra,
                stories=self.settings.stories,
                derivations=False,
            )
        except Exception as e:  # a lock held too long, a full disk, a conflict, a lost catalog
            if isinstance(e, asyncio.CancelledError):
                raise
            # nothing of the batch was committed: every feed that led to one of its articles
            # keeps its old validators, so the next pass fetches it in full and stores them
            feeds = sorted({r.source for r in batch})
            self.refetch_feeds.update(feeds)
            self.summary.articles_not_stored += len(batch)
            reason = (
                f"a batch of {len(batch)} articles from {len(feeds)} feed(s) was not stored "
                f"({type(e).__name__}: {e}); those feeds are fetched again in full next pass"
            )
            self.summary.store_errors.append(reason)
            self.problems += [
                Problem(ProblemStage.STORE, reason, source=f, kind="write_failed") for f in feeds
            ]
            return
        self.summary.articles_new += stats.articles_new
        self.summary.articles_flagged += stats.articles_flagged
        self.summary.articles_known += stats.duplicates
        self.stories_touched.update(stats.story_ids)
        if len(self.stories_touched) >= STORIES_PER_REFRESH:
            await self.refresh_derivations()
        new = set(stats.new_ids)
        for r in batch:
            if r.article_id in new and r.flag.flagged and len(self.summary.flagged) < 50:
                self.summary.flagged.append(
                    {
                        "article_id": r.article_id,
                        "source": r.source,
                        "title": r.title,
                        "url": r.url,
                        "language": r.language,
                        "actors": list(r.flag.actors),
                        "allegations": list(r.flag.allegations),
                        "score": r.flag.score,
                    }
                )

    async def finish_store(self) -> None:
        """After the last batch: the stories' derivation trees and, when it is due, the
        full-text index. They are independent (one writes story_derivations, the other the
        index's own tables), and on a DuckDB file they run side by side: the derivation is
        Python in this process, the index is built by DuckDB's threads, so the two cores
        share the end of the pass instead of taking turns (a DuckLake has no index)."""
        rebuild = False
        if self.settings.pipeline.fulltext_index and not self.store.is_lake:
            age = await self.db(self.store.search.age)
            rebuild = age is None or age >= self.settings.pipeline.fulltext_refresh_minutes * 60
        if not rebuild:
            await self.refresh_derivations()
            return
        # the index's writer connection shares this process's database instance with the
        # derivation's (DuckDB's optimistic concurrency: no row of one is a row of the other)
        index = asyncio.create_task(asyncio.to_thread(self.store.search.rebuild))
        try:
            await self.refresh_derivations()
        finally:
            await asyncio.wait([index])
        index.result()  # a failed rebuild fails the pass, as it did when it ran alone

    async def refresh_derivations(self) -> None:
        """The derivation trees of the stories stored since the last refresh, once each."""
        todo, self.stories_touched = self.stories_touched, set()
        try:
            await self.db(self.store.articles.refresh_derivations, sorted(todo))
        except Exception as e:  # the articles are stored: a later pass derives them
            if isinstance(e, asyncio.CancelledError):
                raise
            self.problems.append(
                Problem(ProblemStage.STORE, f"derivations not refreshed: {e}", kind="derivations")
            )

    # -- feeds ------------------------------------------------------------------------------
    def record(
        self,
        state: SourceState | None,
        update: SourceUpdate,
        *,
        kind: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Keep a feed's outcome, with its next poll planned (see newswatch.ingest.polling)."""
        plan = plan_next_poll(
            self.settings.polling,
            now=update.polled_at,
            status=update.status,
            interval_minutes=state.poll_interval_minutes if state else None,
            failure_score=state.failure_score if state else None,
            entries_seen=update.entries_seen,
            new_items=update.new_items,
            declared_minutes=update.update_minutes or (state.update_minutes if state else None),
            retry_after_seconds=retry_after,
            failure_kind=kind,
            http_status=update.http_status,
        )
        self.updates.append(
            replace(
                update,
                poll_interval_minutes=plan.interval_minutes,
                failure_score=plan.failure_score,
                next_poll_at=plan.next_poll_at,
            )
        )

    async def poll_feed(self, fetcher: Fetcher, source: Source, state: SourceState | None) -> None:
        now = _utcnow()
        outcome = FeedOutcome(name=source.name, status=FeedStatus.OK)
        try:
            try:
                res = await fetcher.fetch(
                    source.url,
                    etag=state.etag if state else None,
                    last_modified=state.last_modified if state else None,
                    kind="feed",
                )
            except FetchError as e:
                outcome.status, outcome.reason = FeedStatus.FAILED, e.reason
                self.record(
                    state,
                    SourceUpdate(
                        source.name, FeedStatus.FAILED, now, http_status=e.status, error=e.reason
                    ),
                    kind=e.kind,
                    retry_after=e.retry_after,
                )
                self.problems.append(
                    Problem(
                        ProblemStage.FEED, e.reason, source=source.name, url=source.url, kind=e.kind
                    )
                )
                return
            if res.not_modified:
                outcome.status = FeedStatus.NOT_MODIFIED
                self.record(
                    state,
                    SourceUpdate(
                        source.name,
                        FeedStatus.NOT_MODIFIED,
                        now,
                        http_status=304,
                        etag=res.etag,
                        last_modified=res.last_modified,
                    ),
                )
                return
            body_hash = hashlib.sha256(res.content).hexdigest()[:32]
            if state is not None and state.body_hash == body_hash:
                outcome.status = FeedStatus.UNCHANGED
                self.record(
                    state,
                    SourceUpdate(
                        source.name,
                        FeedStatus.UNCHANGED,
                        now,
                        http_status=res.status,
                        etag=res.etag,
                        last_modified=res.last_modified,
                        body_hash=body_hash,
                    ),
                )
                return
            # off the event loop: a large feed takes seconds of CPU, and every fetch in flight
            # (with its timeout) waits on the loop meanwhile
            parsed = await asyncio.to_thread(
                parse_feed,
                source.name,
                res.content,
                url=res.final_url,
                headers=res.headers,
                default_language=source.language,
            )
            if parsed.bozo and not parsed.entries and not parsed.skipped:
                reason = f"not a usable feed: {parsed.bozo_reason}"
                outcome.status, outcome.reason = FeedStatus.BROKEN, reason
                self.record(
                    state,
                    SourceUpdate(
                        source.name, FeedStatus.BROKEN, now, http_status=res.status, error=reason
                    ),
                    kind="broken",
                )
                self.problems.append(
                    Problem(
                        ProblemStage.PARSE,
                        reason,
                        source=source.name,
                        url=source.url,
                        kind="broken",
                    )
                )
                return
            for what, why in parsed.skipped:
                self.problems.append(
                    Problem(
                        ProblemStage.ENTRY,
                        f"{what}: {why}",
                        source=source.name,
                        url=source.url,
                        kind="skipped",
                    )
                )
            self.summary.entries_skipped += len(parsed.skipped)
            entries = list(parsed.entries)
            outcome.entries = len(entries)
            self.summary.entries_seen += len(entries)
            canon = [canonicalize_url(e.link) for e in entries]
            known = await self.known_urls(canon)
            new: list[tuple[FeedEntry, str]] = []
            for entry, c in zip(entries, canon, strict=True):
                if c in known:
                    self.summary.articles_known += 1
                elif c not in self.seen_links:
                    self.seen_links.add(c)
                    new.append((entry, c))
            new = new[: self.settings.pipeline.max_articles_per_feed]
            outcome.new_entries = len(new)
            self.record(
                state,
                SourceUpdate(
                    source.name,
                    FeedStatus.OK,
                    now,
                    http_status=res.status,
                    etag=res.etag,
                    last_modified=res.last_modified,
                    body_hash=body_hash,
                    entries_seen=len(entries),
                    new_items=len(new),
                    update_minutes=parsed.ttl_minutes,
                ),
            )
            if parsed.bozo:
                self.problems.append(
                    Problem(
                        ProblemStage.PARSE,
                        f"feed is malformed but usable: {parsed.bozo_reason}",
                        source=source.name,
                        url=source.url,
                        kind="bozo",
                    )
                )
            self.progress("pages_total", len(new))
            for item in new:
                await self.pages.put(item)
        except Exception as e:  # a bug or an unforeseen input must not stop the other feeds
            reason = f"internal error: {type(e).__name__}: {e}"
            outcome.status, outcome.reason = FeedStatus.FAILED, reason
            self.record(
                state,
                SourceUpdate(source.name, FeedStatus.FAILED, now, error=reason),
                kind="internal",
            )
            self.problems.append(
                Problem(
                    ProblemStage.FEED, reason, source=source.name, url=source.url, kind="internal"
                )
            )
        finally:
            self.summary.feeds.append(outcome)
            self.progress("feed_done", 1)

    # -- pages ------------------------------------------------------------------------------
    async def page_worker(self, fetcher: Fetcher) -> None:
        loop = asyncio.get_running_loop()
        while True:
            item = await self.pages.get()
            try:
                if item is None:
                    return
                await self.handle_page(loop, fetcher, *item)
            finally:
                self.pages.task_done()

    async def handle_page(
        self, loop: asyncio.AbstractEventLoop, fetcher: Fetcher, entry: FeedEntry, link: str
    ) -> None:
        now = _utcnow()
        try:
            try:
                res = await fetcher.fetch(entry.link, kind="page")
                job = PageJob(entry, res.final_url, res.content, res.content_type, now)
            except FetchError as e:
                self.problems.append(
                    Problem(
                        ProblemStage.PAGE,
                        e.reason,
                        source=entry.source,
                        url=entry.link,
                        kind=e.kind,
                    )
                )
                self.summary.pages_failed += 1
                if (
                    e.kind in TRANSIENT_FETCH_ERRORS
                    or (e.kind == "http" and (e.status or 0) >= 500)
                    or e.status == 429
                ):
                    self.refetch_feeds.add(entry.source)
                    return  # not stored: the next pass tries again
                job = PageJob(entry, entry.link, None, "", now, fetch_error=e.reason)
            pool = await asyncio.shield(self.start_pool())
            record: ArticleRecord = await loop.run_in_executor(pool, process_page, job)
            if record.canonical_url != link:
                self.extra_urls.setdefault(record.article_id, []).append(link)
            self.batch.append(record)
            await self.flush()
        except Exception as e:
            if isinstance(e, asyncio.CancelledError):
                raise
            self.summary.pages_failed += 1
            self.refetch_feeds.add(entry.source)
            self.problems.append(
                Problem(
                    ProblemStage.EXTRACT,
                    f"internal error: {type(e).__name__}: {e}",
                    source=entry.source,
                    url=entry.link,
                    kind="internal",
                )
            )
        finally:
            self.progress("page_done", 1)

    @property
    def heartbeat_seconds(self) -> float:
        """How often a running pass says it is alive (and renews its leases)."""
        return max(1.0, min(30.0, self.settings.pipeline.lease_seconds / 4))

    @property
    def stale_after(self) -> timedelta:
        """A pass on another host silent for this long is taken for dead."""
        return timedelta(seconds=max(3 * self.heartbeat_seconds, 10.0))

    async def heartbeat(self, owner: str) -> None:
        """Renew this pass's heartbeat and feed leases until it is cancelled."""
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self.db(
                    self.store.runs.heartbeat,
                    self.summary.run_id,
                    owner,
                    _utcnow(),
                    lease_seconds=self.settings.pipeline.lease_seconds,
                )
            except Exception as e:  # a missed beat is not fatal; the next one tries again
                self.problems.append(
                    Problem(ProblemStage.STORE, f"heartbeat not written: {e}", kind="heartbeat")
                )

    # -- the pass ---------------------------------------------------------------------------
    async def run(self, sources: list[Source], *, due_only: bool = False) -> RunSummary:
        await self.db(self.store.sources.sync, self.config.sources, stories=self.settings.stories)
        states = await self.db(self.store.sources.states)
        if due_only:
            now = _utcnow()
            sources = [s for s in sources if _is_due(states.get(s.name), now)]
        # several workers may poll at once: each claims the feeds a chunk at a time, as it has
        # room for them, so concurrent workers share a pass and no feed is fetched twice in it
        # (a dead worker's leases expire, or are freed at once on its own host)
        owner = f"{socket.gethostname()}:{os.getpid()}:{self.summary.run_id}"
        await self.db(self.store.leases.release_dead_local)
        # passes whose process died (kill -9, a lost container) are closed as crashed
        self.summary.crashed_runs = await self.db(
            self.store.runs.close_crashed, _utcnow(), stale_after=self.stale_after
        )
        await self.db(
            self.store.runs.start,
            self.summary.run_id,
            self.summary.started_at,
            len(sources),
            owner=owner,
        )
        heartbeat = asyncio.create_task(self.heartbeat(owner))
        from newswatch.flagging.matcher import (
            Matcher,
        )  # validated by the caller; here for its version only

        self.watchlist_version = Matcher.from_path(self.config.watchlist_path).version
        self.progress("feeds_total", len(sources))
        status = RunStatus.FAILED
        try:
            async with Fetcher(self.settings.fetch) as fetcher:
                n_workers = min(
                    self.settings.fetch.max_concurrency, self.settings.pipeline.max_in_flight
                )
                consumers = [
                    asyncio.create_task(self.page_worker(fetcher)) for _ in range(n_workers)
                ]
                before = states  # as this pass began
                for i in range(0, len(sources), CLAIM_CHUNK):
                    chunk = sources[i : i + CLAIM_CHUNK]
                    claimed = set(
                        await self.db(
                            self.store.leases.claim,
                            [s.name for s in chunk],
                            owner,
                            ttl_seconds=self.settings.pipeline.lease_seconds,
                        )
                    )
                    self.summary.feeds_leased_elsewhere += len(chunk) - len(claimed)
                    if not claimed:
                        continue
                    # another worker may have polled a feed (and let it go) since this pass began
                    states = await self.db(self.store.sources.states)
                    now = _utcnow()
                    todo = [
                        s
                        for s in chunk
                        if s.name in claimed
                        and not _polled_meanwhile(before.get(s.name), states.get(s.name))
                        and (not due_only or _is_due(states.get(s.name), now))
                    ]
                    if any(_never_fetched(states.get(s.name)) for s in todo):
                        self.start_pool()
                    await asyncio.gather(
                        *(self.poll_feed(fetcher, s, states.get(s.name)) for s in todo)
                    )
                for _ in consumers:
                    await self.pages.put(None)
                await asyncio.gather(*consumers)
            # every page is extracted: the workers exit now instead of idling, with their
            # memory, through the last writes and the full-text rebuild (the peak of a pass)
            await asyncio.to_thread(self.close_pool)
            await self.flush(force=True)
            if self.summary.articles_new:
                await self.finish_store()
            status = (
                RunStatus.INCOMPLETE if self.summary.articles_not_stored else RunStatus.COMPLETED
            )
        finally:
            heartbeat.cancel()
            finished = status in (RunStatus.COMPLETED, RunStatus.INCOMPLETE)
            self.close_pool(cancel=not finished)
            self.summary.finished_at = _utcnow()
            self.summary.status = status
            if finished:
                self.updates = [
                    replace(u, etag=None, last_modified=None, body_hash=None)
                    if u.name in self.refetch_feeds and u.status == FeedStatus.OK
                    else u
                    for u in self.updates
                ]
                await self.db(
                    self.store.sources.update,
                    self.updates,
                    run_id=self.summary.run_id,
                    problems=self.problems,
                )
            await self.db(
                self.store.runs.finish,
                self.summary.run_id,
                status=status,
                finished_at=self.summary.finished_at,
                counts=self.summary.counts(),
            )
            await self.db(self.store.leases.release, owner)
        return self.summary


def _never_fetched(state: SourceState | None) -> bool:
    """No validators and no body hash: the feed is read in full, and its pages are new."""
    return state is None or not (state.etag or state.last_modified or state.body_hash)


def _retrieve_exception(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # seen by whoever awaits it; never "exception was never retrieved"


def _is_due(state: SourceState | None, now: datetime) -> bool:
    return state is None or state.next_poll_at is None or state.next_poll_at <= now


def _polled_meanwhile(before: SourceState | None, now: SourceState | None) -> bool:
    """Polled by another run (which finished and released it) since this pass read ``before``."""
    return (
        now is not None
        and now.last_polled_at is not None
        and (before is None or before.last_polled_at != now.last_polled_at)
    )


async def run_pass_async(
    config: Config,
    *,
    progress: ProgressFn | None = None,
    sources: list[Source] | None = None,
    workers: int | None = None,
    due_only: bool = False,
) -> RunSummary:
    """One pass over the enabled sources (``due_only``: only those whose next poll is due)."""
    store = Store(config.db)
    todo = [s for s in (sources if sources is not None else config.sources) if s.enabled]
    summary = await _Pass(config, store, progress, workers).run(todo, due_only=due_only)
    if config.settings.retention.article_text_days:
        await asyncio.to_thread(
            store.articles.drop_old_text, config.settings.retention.article_text_days
        )
    if summary.articles_flagged and any(d.immediate for d in config.settings.digests):
        await asyncio.to_thread(_send_immediate_alerts, config, store, summary)
    return summary


def _send_immediate_alerts(config: Config, store: Store, summary: RunSummary) -> None:
    """Digests marked ``immediate`` go out at the end of the pass that found new items.

    A delivery failure does not fail the pass (its articles are committed): it is recorded as
    a problem, and the items stay pending for the next immediate or scheduled send."""
    from newswatch.digest.deliver import send_due_digests
    from newswatch.errors import DeliveryError

    try:
        from newswatch.flagging.watchlist import watchlist_labels

        results = send_due_digests(
            store,
            config.settings,
            immediate_only=True,
            labels=watchlist_labels(config.watchlist_path),
        )
        summary.alerts += [f"{r.name}: {r.status} ({r.items_sent} items)" for r in results]
    except DeliveryError as e:
        summary.alerts.append(f"failed: {e}")
        store.runs.record_problems(
            [Problem(ProblemStage.DIGEST, str(e), kind="delivery")], run_id=summary.run_id
        )


def run_pass(config: Config, **kwargs: Any) -> RunSummary:
    """Run one polling pass over the configured (enabled) sources and return its summary."""
    return asyncio.run(run_pass_async(config, **kwargs))
