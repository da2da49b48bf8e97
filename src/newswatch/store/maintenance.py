"""Upkeep of a DuckLake store: ``newswatch lake maintain`` (``store.maintenance``).

Every batch, heartbeat and feed update of a lake is a snapshot, many of them small Parquet
files or rows inlined in the catalog; old snapshots keep deleted rows and replaced files.
:func:`maintain` runs, in DuckLake's recommended order, one step at a time:

1. ``ducklake_expire_snapshots``: snapshots older than ``lake.snapshot_days`` go (time travel
   reaches back that far), the current one always stays;
2. ``ducklake_merge_adjacent_files``: small files of a table become one;
3. ``ducklake_rewrite_data_files``: files with many deleted rows are rewritten;
4. ``ducklake_cleanup_old_files``: files no snapshot needs are deleted once unused for
   ``lake.cleanup_hours`` (a reader still on an older snapshot is not cut off);
5. ``ducklake_delete_orphaned_files``: files the catalog never named (the write of a process
   that died or lost a conflict) are deleted once ``lake.orphan_hours`` old, so never a
   write still in progress;
6. only with ``flush_inlined=True`` (``--flush-inlined``), first of all:
   ``ducklake_flush_inlined_data`` moves the rows small commits left in catalog tables to
   Parquet. With DuckLake 1.5.5 every *other* process attached to the lake then fails (its
   reads name the dropped tables, its next write aborts the process), so it is for a
   stopped fleet only: stop every worker, ``serve`` and ``web`` first.

The steps run in a DuckDB of their own, closed at the end: a DuckDB that expired and merged
and then goes on writing can abort (DuckLake 1.5.5), and a separate process can not.

Safe beside writers (steps 1–5): none of them changes what any snapshot holds; a step that
conflicts with a concurrent commit is run again, and a writer that conflicts with a step is
run again by its own retry. It is meant for cron on one host outside the polling times (it
competes for the catalog), and the command refuses to start while a pass is running unless
told otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb

from newswatch.errors import StoreConflict, StoreError
from newswatch.settings import LakeSettings
from newswatch.store.engine import (
    LANE_ARTICLES,
    LANE_STORE,
    Engine,
    fetch_one,
    is_conflict_error,
    retry,
)

__all__ = ["LakeStats", "MaintenanceReport", "lake_stats", "live_passes", "maintain"]

_ALIAS = "nw"


@dataclass(frozen=True)
class LakeStats:
    snapshots: int
    data_files: int
    data_bytes: int
    delete_files: int


@dataclass
class MaintenanceReport:
    before: LakeStats
    after: LakeStats
    steps: dict[str, int] = field(default_factory=dict)  # step → rows/files it reported
    seconds: dict[str, float] = field(default_factory=dict)


def lake_stats(con: duckdb.DuckDBPyConnection) -> LakeStats:
    """Snapshots, live data files (and their bytes) and delete files of the lake ``nw``."""
    (snapshots,) = fetch_one(con, f"SELECT count(*) FROM ducklake_snapshots('{_ALIAS}')")
    files, size, deletes = fetch_one(
        con,
        "SELECT coalesce(sum(file_count), 0), coalesce(sum(file_size_bytes), 0), "
        f"coalesce(sum(delete_file_count), 0) FROM ducklake_table_info('{_ALIAS}')",
    )
    return LakeStats(int(snapshots), int(files), int(size), int(deletes))


def live_passes(store: Engine, *, now: datetime, stale_after: timedelta) -> list[str]:
    """Passes that look alive: ``running`` with a heartbeat younger than ``stale_after``, and
    owners of unexpired feed leases (one line each, for a message)."""
    if not store.exists():
        return []
    with store.reader() as con:
        if store.schema_version(con) < 8:
            return []
        runs = con.execute(
            "SELECT run_id, coalesce(owner, '?'), coalesce(heartbeat_at, started_at) FROM runs "
            "WHERE status = 'running' AND coalesce(heartbeat_at, started_at) > ?",
            [now - stale_after],
        ).fetchall()
        leases = con.execute(
            "SELECT owner, count(*), max(leased_until) FROM feed_leases "
            "WHERE leased_until > ? AND NOT starts_with(name, 'digest:') GROUP BY owner",
            [now],
        ).fetchall()
    out = [f"pass {r} ({o}, heartbeat {t:%Y-%m-%d %H:%M:%S} UTC)" for r, o, t in runs]
    out += [f"{o} holds {n} feed lease(s) until {t:%H:%M:%S} UTC" for o, n, t in leases]
    return out


def maintain(
    store: Engine,
    settings: LakeSettings | None = None,
    *,
    now: datetime | None = None,
    flush_inlined: bool = False,
    log: Callable[[str], None] = lambda _m: None,
) -> MaintenanceReport:
    """Run the maintenance steps on the lake ``store`` (see the module docstring)."""
    if not store.is_lake:
        raise StoreError(
            f"{store.display}: lake maintain is for a DuckLake store; a DuckDB file needs none"
        )
    if not store.exists():
        raise StoreError(f"{store.display}: the DuckLake does not exist yet")
    st = settings or LakeSettings()
    now = now or datetime.now(UTC).replace(tzinfo=None)
    store.migrate()
    with store.private_lake() as con:
        before = lake_stats(con)
    report = MaintenanceReport(before=before, after=before)
    expire_before = now - timedelta(days=st.snapshot_days)
    cleanup_before = now - timedelta(hours=st.cleanup_hours)
    orphans_before = now - timedelta(hours=st.orphan_hours)
    steps: list[tuple[str, str, list[object]]] = [
        (
            "expire_snapshots",
            f"CALL ducklake_expire_snapshots('{_ALIAS}', older_than => ?::TIMESTAMPTZ)",
            [_utc(expire_before)],
        ),
        ("merge_adjacent_files", f"CALL ducklake_merge_adjacent_files('{_ALIAS}')", []),
        ("rewrite_data_files", f"CALL ducklake_rewrite_data_files('{_ALIAS}')", []),
        (
            "cleanup_old_files",
            f"CALL ducklake_cleanup_old_files('{_ALIAS}', older_than => ?::TIMESTAMPTZ)",
            [_utc(cleanup_before)],
        ),
        (
            "delete_orphaned_files",
            f"CALL ducklake_delete_orphaned_files('{_ALIAS}', older_than => ?::TIMESTAMPTZ)",
            [_utc(orphans_before)],
        ),
    ]
    if flush_inlined:
        steps.insert(0, ("flush_inlined_data", f"CALL ducklake_flush_inlined_data('{_ALIAS}')", []))
    for name, sql, params in steps:
        t0 = time.monotonic()
        if name == "flush_inlined_data":
            # it rewrites the catalog rows every writer's fence update touches: writers of
            # this process wait rather than fail at commit
            with store.lane(LANE_ARTICLES), store.lane(LANE_STORE):
                report.steps[name] = _run_step(store, name, sql, params)
        else:
            report.steps[name] = _run_step(store, name, sql, params)
        report.seconds[name] = time.monotonic() - t0
        log(f"{name}: {report.steps[name]} ({report.seconds[name]:.1f} s)")
    with store.private_lake() as con:
        report.after = lake_stats(con)
    return report


def _utc(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.%f+00")


def _run_step(store: Engine, name: str, sql: str, params: list[object]) -> int:
    """One step in its own (autocommit) transaction, run again while it conflicts with a
    concurrent commit; the count it reports: rows flushed, snapshots expired, files
    processed or deleted."""

    def step() -> int:
        with store.private_lake() as con:
            try:
                cur = con.execute(sql, params)
                rows = cur.fetchall()
            except duckdb.Error as e:
                if is_conflict_error(e):
                    raise StoreConflict(f"{store.display}: {name}: {e}") from None
                raise StoreError(f"{store.display}: lake maintain, {name}: {e}") from None
            cols = [d[0] for d in cur.description or ()]
        for wanted in ("rows_flushed", "files_processed"):
            if wanted in cols:
                i = cols.index(wanted)
                return sum(int(r[i] or 0) for r in rows)
        return len(rows)

    return retry(
        step,
        when=lambda e: isinstance(e, StoreConflict),
        timeout=max(store.lock_timeout, 60.0),
        give_up=lambda e, n: StoreConflict(
            f"{store.display}: lake maintain, {name}: still conflicting after {n} attempts: {e}"
        ),
    )
