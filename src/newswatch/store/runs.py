"""Passes and what went wrong in them: ``runs`` and ``problems`` (``store.runs``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from newswatch.models import ProblemStage, RunStatus
from newswatch.store.engine import Engine

__all__ = ["Problem", "Runs", "insert_problems"]


@dataclass(frozen=True, slots=True)
class Problem:
    stage: ProblemStage
    reason: str
    source: str | None = None
    url: str | None = None
    kind: str | None = None


def insert_problems(
    con: duckdb.DuckDBPyConnection, problems: Sequence[Problem], run_id: str | None
) -> None:
    if not problems:
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    con.executemany(
        "INSERT INTO problems VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(run_id, now, p.source, p.url, str(p.stage), p.kind, p.reason[:2000]) for p in problems],
    )


class Runs:
    """``runs`` and ``problems`` (``store.runs``)."""

    def __init__(self, store: Engine):
        self.store = store

    def start(self, run_id: str, started_at: datetime, feeds_total: int) -> None:
        self.store.run_in_transaction(
            lambda con: con.execute(
                "INSERT INTO runs (run_id, started_at, status, feeds_total) "
                "SELECT ?, ?, 'running', ? WHERE NOT EXISTS (SELECT 1 FROM runs WHERE run_id = ?)",
                [run_id, started_at, feeds_total, run_id],
            )
        )

    def finish(
        self, run_id: str, *, status: RunStatus, finished_at: datetime, counts: dict[str, int]
    ) -> None:
        cols = [
            "feeds_fetched",
            "feeds_unchanged",
            "feeds_failed",
            "entries_seen",
            "articles_new",
            "articles_flagged",
            "pages_failed",
        ]
        self.store.run_in_transaction(
            lambda con: con.execute(
                f"UPDATE runs SET status = ?, finished_at = ?, {', '.join(c + ' = ?' for c in cols)} WHERE run_id = ?",
                [str(status), finished_at, *[int(counts.get(c, 0)) for c in cols], run_id],
            )
        )

    def record_problems(self, problems: Sequence[Problem], *, run_id: str | None = None) -> None:
        if problems:
            self.store.run_in_transaction(lambda con: insert_problems(con, problems, run_id))
