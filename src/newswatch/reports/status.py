"""Operations: the state of a newswatch installation, and retention.

Used by ``newswatch status`` and ``newswatch sources`` and at the end of every pass.
newswatch stores UTC without a zone (``TIMESTAMP``); every time these reports return is a
timezone-aware datetime in UTC, so no reader has to know that.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from newswatch.settings import Settings
from newswatch.store import Store
from newswatch.store.engine import fetch_one

__all__ = ["SOURCE_COLUMNS", "apply_retention", "source_rows", "status_report"]

SOURCE_COLUMNS = [
    "name",
    "health",
    "last_status",
    "consecutive_failures",
    "failure_score",
    "failing_since",
    "last_polled_at",
    "last_success_at",
    "last_new_item_at",
    "poll_interval_minutes",
    "next_poll_at",
    "last_error",
]


def _utc(value: Any) -> Any:
    """A stored time (naive, in UTC) as an aware datetime in UTC; anything else unchanged."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def source_rows(store: Store, *, failing: bool = False) -> tuple[list[str], list[tuple]]:
    """Each feed's state from the ``source_health`` view (``failing``: only erroring ones)."""
    where = "WHERE health IN ('failing', 'erroring')" if failing else ""
    with store.reader() as con:
        rows = con.execute(
            f"SELECT {', '.join(SOURCE_COLUMNS)} FROM source_health {where} "
            "ORDER BY health = 'ok', consecutive_failures DESC, name"
        ).fetchall()
    return SOURCE_COLUMNS, [tuple(_utc(v) for v in r) for r in rows]


def apply_retention(
    store: Store, article_text_days: int | None, *, now: datetime | None = None
) -> int:
    """Drop the text of articles fetched more than ``article_text_days`` ago.

    Titles, URLs, flags, mentions (with their evidence sentences) and every count stay."""
    if not article_text_days:
        return 0
    return store.articles.drop_old_text(article_text_days, now=now)


def status_report(store: Store, settings: Settings | None = None) -> dict[str, Any]:
    """What ``newswatch status`` shows: last runs, feeds due and failing, digests pending, size."""
    report: dict[str, Any] = {"database": store.target}
    if store.target != ":memory:" and os.path.exists(store.target):
        size = os.path.getsize(store.target)
        wal = store.target + ".wal"
        report["database_bytes"] = size + (os.path.getsize(wal) if os.path.exists(wal) else 0)
    with store.reader() as con:
        report["schema_version"] = store.schema_version(con)
        runs = con.execute(
            "SELECT run_id, started_at, finished_at, status, feeds_total, feeds_failed, articles_new, "
            "articles_flagged FROM runs ORDER BY started_at DESC LIMIT 5"
        ).fetchall()
        report["last_runs"] = [
            dict(
                zip(
                    [
                        "run_id",
                        "started_at",
                        "finished_at",
                        "status",
                        "feeds",
                        "feeds_failed",
                        "articles_new",
                        "articles_flagged",
                    ],
                    (_utc(v) for v in r),
                    strict=False,
                )
            )
            for r in runs
        ]
        feeds = fetch_one(
            con,
            "SELECT count(*) FILTER (enabled), count(*) FILTER (due), "
            "count(*) FILTER (health = 'failing'), count(*) FILTER (health = 'erroring'), "
            "min(next_poll_at) FILTER (enabled) FROM source_health",
        )
        report["feeds"] = dict(
            zip(
                ["enabled", "due_now", "failing_over_a_day", "erroring", "next_due_at"],
                (_utc(v) for v in feeds),
                strict=False,
            )
        )
        counts = fetch_one(
            con,
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM flags), "
            "(SELECT count(DISTINCT story_id) FROM articles)",
        )
        report["articles"], report["flagged"], report["stories"] = counts
        digests: list[dict[str, Any]] = []
        if settings is not None and settings.digests:
            from newswatch.digest.deliver import pending_items

            for d in settings.digests:
                n: int | str
                try:
                    n = len(pending_items(con, d))
                except Exception as e:  # a status report must not fail on one digest
                    n = f"error: {e}"
                digests.append(
                    {
                        "name": d.name,
                        "pending_items": n,
                        "schedule": "immediate" if d.immediate else f"{d.schedule} ({d.timezone})",
                    }
                )
        report["digests"] = digests
    return report
