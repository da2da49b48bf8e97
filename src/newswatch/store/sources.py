"""Feeds in the store: the configured sources, their validators and health (``store.sources``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from newswatch.models import FeedStatus
from newswatch.settings import Source, StorySettings
from newswatch.store.engine import Engine
from newswatch.store.runs import Problem, insert_problems
from newswatch.store.stories import apply_trend_settings

__all__ = ["SourceState", "SourceUpdate", "Sources"]

_SOURCE_STATE_COLUMNS = [
    "name",
    "url",
    "etag",
    "last_modified",
    "body_hash",
    "consecutive_failures",
    "last_status",
    "last_polled_at",
    "last_success_at",
    "last_new_item_at",
    "update_minutes",
    "poll_interval_minutes",
    "failure_score",
    "next_poll_at",
    "failing_since",
]


@dataclass(frozen=True, slots=True)
class SourceState:
    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    consecutive_failures: int = 0
    last_status: str | None = None
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    last_new_item_at: datetime | None = None
    update_minutes: int | None = None
    poll_interval_minutes: float | None = None
    failure_score: float | None = None
    next_poll_at: datetime | None = None
    failing_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class SourceUpdate:
    """The outcome of polling one feed, written at the end of a pass."""

    name: str
    status: FeedStatus
    polled_at: datetime
    http_status: int | None = None
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    entries_seen: int | None = None
    new_items: int = 0
    update_minutes: int | None = None
    poll_interval_minutes: float | None = None
    failure_score: float | None = None
    next_poll_at: datetime | None = None


class Sources:
    """``sources``: what is configured, and the state each pass leaves (``store.sources``)."""

    def __init__(self, store: Engine):
        self.store = store

    def sync(self, sources: Sequence[Source], *, stories: StorySettings | None = None) -> None:
        """Insert configured sources that are new, and refresh url/language/tags/enabled
        (and the trend settings the views read, when given)."""
        rows = [(s.name, s.url, s.language, list(s.tags), s.enabled) for s in sources]
        names = [r[0] for r in rows]

        def sync(con: duckdb.DuckDBPyConnection) -> None:
            if rows:
                con.execute(
                    "CREATE TEMP TABLE _cfg(name VARCHAR, url VARCHAR, language VARCHAR, "
                    "tags VARCHAR[], enabled BOOLEAN)"
                )
                con.register(
                    "_cfg_rows",
                    pa.table(
                        {
                            "name": pa.array([r[0] for r in rows], pa.string()),
                            "url": pa.array([r[1] for r in rows], pa.string()),
                            "language": pa.array([r[2] for r in rows], pa.string()),
                            "tags": pa.array([r[3] for r in rows], pa.list_(pa.string())),
                            "enabled": pa.array([r[4] for r in rows], pa.bool_()),
                        }
                    ),
                )
                con.execute("INSERT INTO _cfg SELECT * FROM _cfg_rows")
                con.unregister("_cfg_rows")
                con.execute(
                    """
                    UPDATE sources SET url = c.url, language = c.language, tags = c.tags, enabled = c.enabled,
                        etag = CASE WHEN sources.url = c.url THEN sources.etag END,
                        last_modified = CASE WHEN sources.url = c.url THEN sources.last_modified END,
                        body_hash = CASE WHEN sources.url = c.url THEN sources.body_hash END
                    FROM _cfg c WHERE sources.name = c.name
                    """
                )
                con.execute(
                    """
                    INSERT INTO sources (name, url, language, tags, enabled, consecutive_failures)
                    SELECT name, url, language, tags, enabled, 0 FROM _cfg
                    WHERE name NOT IN (SELECT name FROM sources)
                    """
                )
                con.execute("DROP TABLE _cfg")
            # sources removed from the configuration are kept (history), but disabled
            con.execute(
                "UPDATE sources SET enabled = FALSE WHERE NOT list_contains(?, name)", [names]
            )
            if stories is not None:
                apply_trend_settings(con, stories)

        self.store.run_in_transaction(sync)

    def states(self) -> dict[str, SourceState]:
        with self.store.reader() as con:
            rows = con.execute(f"SELECT {', '.join(_SOURCE_STATE_COLUMNS)} FROM sources").fetchall()
        return {r[0]: SourceState(*r) for r in rows}

    def update(
        self,
        updates: Sequence[SourceUpdate],
        *,
        run_id: str | None = None,
        problems: Sequence[Problem] = (),
    ) -> None:
        """Write the outcome of a pass for each polled feed, and its problems, in one transaction."""

        # one statement for all feeds: the updates as an Arrow table, UPDATE … FROM (one
        # UPDATE per feed cost ~6 ms each, seconds for an idle pass over hundreds of feeds)
        def mode(u: SourceUpdate) -> str:
            # validators: 'ok' sets them exactly as given (None clears them, so a feed whose
            # entries must be looked at again is fetched in full next time); 304 and
            # 'unchanged' refresh what the server sent; a failure keeps what was there
            return (
                "keep"
                if u.status in (FeedStatus.FAILED, FeedStatus.BROKEN)
                else ("set" if u.status == FeedStatus.OK else "merge")
            )

        STR, INT, FLOAT, TS, BOOL = (
            pa.string(),
            pa.int64(),
            pa.float64(),
            pa.timestamp("us"),
            pa.bool_(),
        )
        cols = {
            "name": (STR, lambda u: u.name),
            "status": (STR, lambda u: str(u.status)),
            "http_status": (INT, lambda u: u.http_status),
            "error": (STR, lambda u: u.error),
            "polled_at": (TS, lambda u: u.polled_at),
            "failed": (BOOL, lambda u: u.status in (FeedStatus.FAILED, FeedStatus.BROKEN)),
            "new_items": (INT, lambda u: u.new_items),
            "mode": (STR, mode),
            "etag": (STR, lambda u: u.etag),
            "last_modified": (STR, lambda u: u.last_modified),
            "body_hash": (STR, lambda u: u.body_hash),
            "entries_seen": (INT, lambda u: u.entries_seen),
            "update_minutes": (INT, lambda u: u.update_minutes),
            "poll_interval_minutes": (FLOAT, lambda u: u.poll_interval_minutes),
            "failure_score": (FLOAT, lambda u: u.failure_score),
            "next_poll_at": (TS, lambda u: u.next_poll_at),
        }
        last = {u.name: u for u in updates}  # one row per feed: the last outcome wins
        table = pa.table(
            {k: pa.array([f(u) for u in last.values()], t) for k, (t, f) in cols.items()}
        )

        def update(con: duckdb.DuckDBPyConnection) -> None:
            if len(table):
                con.register("_upd", table)
                con.execute(
                    """
                    UPDATE sources SET
                        last_status = u.status, last_http_status = u.http_status, last_error = u.error,
                        last_polled_at = u.polled_at,
                        last_success_at = CASE WHEN u.failed THEN sources.last_success_at ELSE u.polled_at END,
                        last_new_item_at = CASE WHEN u.new_items > 0 THEN u.polled_at ELSE sources.last_new_item_at END,
                        consecutive_failures = CASE WHEN u.failed
                            THEN coalesce(sources.consecutive_failures, 0) + 1 ELSE 0 END,
                        etag = CASE u.mode WHEN 'set' THEN u.etag
                            WHEN 'merge' THEN coalesce(u.etag, sources.etag) ELSE sources.etag END,
                        last_modified = CASE u.mode WHEN 'set' THEN u.last_modified
                            WHEN 'merge' THEN coalesce(u.last_modified, sources.last_modified)
                            ELSE sources.last_modified END,
                        body_hash = CASE u.mode WHEN 'set' THEN u.body_hash
                            WHEN 'merge' THEN coalesce(u.body_hash, sources.body_hash)
                            ELSE sources.body_hash END,
                        entries_last_seen = coalesce(u.entries_seen, sources.entries_last_seen),
                        update_minutes = coalesce(u.update_minutes, sources.update_minutes),
                        poll_interval_minutes = coalesce(u.poll_interval_minutes, sources.poll_interval_minutes),
                        failure_score = coalesce(u.failure_score, sources.failure_score),
                        next_poll_at = coalesce(u.next_poll_at, sources.next_poll_at),
                        failing_since = CASE WHEN u.failed
                            THEN coalesce(sources.failing_since, u.polled_at) ELSE NULL END
                    FROM _upd u WHERE sources.name = u.name
                    """
                )
                con.unregister("_upd")
            insert_problems(con, problems, run_id)

        self.store.run_in_transaction(update)
