"""Digest bookkeeping: runs (the lease a sending run holds), messages and deliveries
(``store.digests``).

    digest_runs(run_id, digest, started_at, finished_at, status, messages, error)
    digest_messages(digest, recipient, message_id, sent_at, period_start, period_end, items, articles)
    digest_deliveries(digest, recipient, article_id, story_id, message_id, delivered_at)

A delivery is recorded only after the SMTP server accepted the message, with anti-joins, so
an item is never recorded twice; every write goes through ``run_in_transaction``, so a lake
conflict is retried and an accepted message is always recorded.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import duckdb

from newswatch.errors import StoreError
from newswatch.store.engine import Engine

__all__ = ["Digests"]


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Digests:
    """``digest_runs``, ``digest_messages``, ``digest_deliveries`` (``store.digests``)."""

    def __init__(self, store: Engine):
        self.store = store

    def take_lease(self, digest: str, now: datetime, lease: timedelta) -> str | None:
        """Claim ``digest`` for one run, so several workers never send it twice; returns
        the run id, or None when a live run (younger than ``lease``) holds it.

        On a DuckLake two workers taking the lease at once conflict at commit, and the loser
        retries and then sees the winner's lease."""
        run_id = uuid.uuid4().hex

        def take(con: duckdb.DuckDBPyConnection) -> bool:
            n = con.execute(
                "INSERT INTO digest_runs (run_id, digest, started_at, status) "
                "SELECT ?, ?, ?, 'running' WHERE NOT EXISTS (SELECT 1 FROM digest_runs "
                "WHERE digest = ? AND status = 'running' AND started_at > ?)",
                [run_id, digest, now, digest, now - lease],
            ).fetchone()
            return bool(n and n[0])

        return run_id if self.store.run_in_transaction(take) else None

    def end_lease(self, run_id: str, status: str, messages: int, error: str | None) -> None:
        """Close a sending run (best effort: a lease left open expires by itself)."""
        with contextlib.suppress(StoreError):
            self.store.run_in_transaction(
                lambda con: con.execute(
                    "UPDATE digest_runs SET status = ?, finished_at = ?, messages = ?, error = ? "
                    "WHERE run_id = ?",
                    [str(status), _utcnow(), messages, error, run_id],
                )
            )

    def record_delivery(
        self,
        digest: str,
        recipient: str,
        message_id: str,
        rows: Sequence[tuple[str, str]],
        *,
        items: int,
        period: tuple[datetime | None, datetime],
        sent_at: datetime,
    ) -> None:
        """Mark the (article_id, story_id) ``rows`` of an accepted message delivered."""

        def record(con: duckdb.DuckDBPyConnection) -> None:
            if rows:
                con.executemany(
                    "INSERT INTO digest_deliveries SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS "
                    "(SELECT 1 FROM digest_deliveries "
                    "WHERE digest = ? AND recipient = ? AND article_id = ?)",
                    [
                        (digest, recipient, a, s, message_id, sent_at, digest, recipient, a)
                        for a, s in rows
                    ],
                )
            con.execute(
                "INSERT INTO digest_messages SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS "
                "(SELECT 1 FROM digest_messages WHERE message_id = ? AND recipient = ?)",
                [
                    digest,
                    recipient,
                    message_id,
                    sent_at,
                    period[0],
                    period[1],
                    items,
                    len(rows),
                    message_id,
                    recipient,
                ],
            )

        self.store.run_in_transaction(record)
