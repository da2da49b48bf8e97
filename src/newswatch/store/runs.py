"""Passes and what went wrong in them: ``runs`` and ``problems`` (``store.runs``)."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb

from newswatch.models import ProblemStage, RunStatus
from newswatch.store import lock as dblock
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

    def start(
        self, run_id: str, started_at: datetime, feeds_total: int, *, owner: str | None = None
    ) -> None:
        """Record a pass as running; ``owner`` is ``host:pid:run_id`` (see :meth:`close_crashed`)."""
        self.store.run_in_transaction(
            lambda con: con.execute(
                "INSERT INTO runs (run_id, started_at, status, feeds_total, owner, heartbeat_at) "
                "SELECT ?, ?, 'running', ?, ?, ? "
                "WHERE NOT EXISTS (SELECT 1 FROM runs WHERE run_id = ?)",
                [run_id, started_at, feeds_total, owner, started_at, run_id],
            )
        )

    def heartbeat(
        self, run_id: str, owner: str, now: datetime, *, lease_seconds: float | None = None
    ) -> None:
        """The pass is alive: renew its heartbeat and (``lease_seconds``) its feed leases."""

        def beat(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                "UPDATE runs SET heartbeat_at = ? WHERE run_id = ? AND status = 'running'",
                [now, run_id],
            )
            if lease_seconds is not None:
                con.execute(
                    "UPDATE feed_leases SET leased_until = ? WHERE owner = ?",
                    [now + timedelta(seconds=lease_seconds), owner],
                )

        self.store.run_in_transaction(beat)

    def close_crashed(self, now: datetime, *, stale_after: timedelta) -> list[str]:
        """Close, as ``crashed`` (finished at ``now``, when it was noticed), the passes still
        marked running whose process is gone: on this host, its pid is dead; elsewhere (or
        for a pass of an older newswatch, with no owner), its heartbeat is older than
        ``stale_after``. Returns their run ids."""
        host = socket.gethostname()
        with self.store.reader() as con:
            rows = con.execute(
                "SELECT run_id, owner, coalesce(heartbeat_at, started_at) FROM runs "
                "WHERE status = 'running'"
            ).fetchall()
        dead = []
        for run_id, owner, beat in rows:
            parts = (owner or "").split(":")
            if len(parts) >= 2 and parts[0] == host and parts[1].isdigit():
                pid = int(parts[1])
                if pid != os.getpid() and not dblock.pid_alive(pid):
                    dead.append(run_id)
            elif beat is not None and beat < now - stale_after:
                dead.append(run_id)
        if dead:
            self.store.run_in_transaction(
                lambda con: con.execute(
                    "UPDATE runs SET status = 'crashed', finished_at = ? "
                    "WHERE status = 'running' AND list_contains(?::VARCHAR[], run_id)",
                    [now, dead],
                )
            )
        return dead

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
