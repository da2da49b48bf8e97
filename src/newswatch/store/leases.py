"""Feed leases: a pass shared by several workers claims its feeds (``store.leases``).

``feed_leases(name, owner, leased_until)``; owners are ``host:pid:run``. A claim takes the
given feeds that no live owner holds, in one transaction, so two workers claiming at once
get disjoint sets; a dead worker's feeds are free again once its leases expire.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import duckdb

from newswatch.store import lock as dblock
from newswatch.store.engine import Engine
from newswatch.store.lists import values

__all__ = ["Leases"]


class Leases:
    """``feed_leases`` (``store.leases``)."""

    def __init__(self, store: Engine):
        self.store = store

    def claim(
        self, names: Sequence[str], owner: str, ttl_seconds: float, *, now: datetime | None = None
    ) -> list[str]:
        """Claim, for ``owner``, those of ``names`` that no other live owner holds.

        One transaction (run again on a DuckLake conflict): expired leases and ``owner``'s
        own are dropped, the free feeds are leased until ``now + ttl_seconds``. Returns the
        claimed names in the given order; two workers claiming at once get disjoint sets,
        and a dead worker's feeds are free again once its leases expire."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return []

        def claim(con: duckdb.DuckDBPyConnection) -> list[str]:
            t = now or datetime.now(UTC).replace(tzinfo=None)
            with values(con, "_l_wanted", wanted):
                con.execute(
                    "DELETE FROM feed_leases WHERE name IN (SELECT v FROM _l_wanted) "
                    "AND (leased_until <= ? OR owner = ?)",
                    [t, owner],
                )
                free = {
                    r[0]
                    for r in con.execute(
                        "SELECT v FROM _l_wanted WHERE v NOT IN (SELECT name FROM feed_leases)"
                    ).fetchall()
                }
            claimed = [n for n in wanted if n in free]
            if claimed:
                with values(con, "_l_claimed", claimed):
                    con.execute(
                        "INSERT INTO feed_leases SELECT v, ?, ? FROM _l_claimed",
                        [owner, t + timedelta(seconds=ttl_seconds)],
                    )
            return claimed

        return self.store.run_in_transaction(claim)

    def release_dead_local(self) -> int:
        """Free the leases of passes on this host whose process is gone (a killed run).

        Lease owners are ``host:pid:run``; a lease of another host is left to expire, since
        only that host can tell whether its process is alive."""
        host = socket.gethostname()
        with self.store.reader() as con:
            owners = [
                r[0]
                for r in con.execute(
                    "SELECT DISTINCT owner FROM feed_leases WHERE starts_with(owner, ?)",
                    [host + ":"],
                ).fetchall()
            ]
        freed = 0
        for owner in owners:
            try:
                pid = int(owner.split(":")[1])
            except (IndexError, ValueError):
                continue
            if pid != os.getpid() and not dblock.pid_alive(pid):
                freed += self.release(owner)
        return freed

    def release(self, owner: str, names: Sequence[str] | None = None) -> int:
        """Give up ``owner``'s leases (only those of ``names`` when given); returns how many."""

        def release(con: duckdb.DuckDBPyConnection) -> int:
            if names is None:
                cur = con.execute("DELETE FROM feed_leases WHERE owner = ?", [owner])
            else:
                cur = con.execute(
                    "DELETE FROM feed_leases WHERE owner = ? AND list_contains(?::VARCHAR[], name)",
                    [owner, list(names)],
                )
            row = cur.fetchone()
            return int(row[0]) if row else 0

        return self.store.run_in_transaction(release)
