"""Store targets for tests: the same test against a DuckDB file and a DuckLake on PostgreSQL.

    import stores
    store_target = stores.store_target  # the fixture (its pg_server comes along)
    pg_server = stores.pg_server

    def test_something(store_target):
        store = store_target.store()

``store_target`` is parametrised: ``duckdb`` (a file in ``tmp_path``) and ``ducklake``
(a DuckLake whose catalog is a fresh PostgreSQL database and whose data files go to
``tmp_path``). PostgreSQL is the one on 127.0.0.1:5432 (trust authentication, user
``$NEWSWATCH_TEST_PG_USER``, else ``postgres``, else ``root``). Each test gets a fresh
database ``nw_test_<random>``, dropped when its test module ends. When
PostgreSQL is not reachable the ``ducklake`` case skips, saying why — unless ``$CI`` is set,
where it fails (CI's ``.ci/run`` starts PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from newswatch.store import Store, close_lakes

__all__ = [
    "PgServer",
    "StoreTarget",
    "claim_worker",
    "lake_target",
    "lease_once_worker",
    "make_records",
    "pg_server",
    "run_in_processes",
    "store_target",
    "write_batches_worker",
]

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_ADMIN_DB = "test"


@dataclass(frozen=True)
class StoreTarget:
    """What ``--db`` / ``NEWSWATCH_DB`` would be set to, and the data path of a lake."""

    kind: str  # duckdb / ducklake
    target: str
    data_path: str | None = None

    def store(self, **kwargs) -> Store:
        return Store(self.target, data_path=self.data_path, **kwargs)

    def env(self) -> dict[str, str]:
        """Environment for a process that opens this target (e.g. the pipeline)."""
        env = {"NEWSWATCH_DB": self.target}
        if self.data_path:
            env["NEWSWATCH_DATA_PATH"] = self.data_path
        return env


class PgServer:
    """The local PostgreSQL, driven through psql (or DuckDB's postgres extension without it)."""

    def __init__(self, user: str):
        self.user = user
        self.created: list[str] = []

    def conninfo(self, dbname: str) -> str:
        return f"dbname={dbname} host={PG_HOST} port={PG_PORT} user={self.user}"

    def admin(self, sql: str) -> None:
        psql = shutil.which("psql")
        if psql:
            subprocess.run(
                [
                    psql,
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    PG_HOST,
                    "-p",
                    str(PG_PORT),
                    "-U",
                    self.user,
                    "-d",
                    PG_ADMIN_DB,
                    "-c",
                    sql,
                ],
                check=True,
                capture_output=True,
                text=True,
                timeout=60,
            )
            return
        import duckdb

        from newswatch.store import postgres_extension

        con = duckdb.connect(config={"autoinstall_known_extensions": False})
        try:
            con.execute(f"LOAD '{postgres_extension()}'")
            con.execute(f"ATTACH '{self.conninfo(PG_ADMIN_DB)}' AS pgadmin (TYPE postgres)")
            con.execute("CALL postgres_execute('pgadmin', ?, use_transaction := false)", [sql])
        finally:
            con.close()

    def create_database(self, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.admin(f"CREATE DATABASE {name}")
        self.created.append(name)
        return name

    def drop_created(self) -> None:
        """Drop the databases made here, in parallel (each drop waits for a checkpoint)."""
        from concurrent.futures import ThreadPoolExecutor

        close_lakes()

        def drop(name: str) -> None:
            try:
                self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            except Exception:
                pass

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(drop, self.created))
        self.created.clear()


def _pg_user() -> tuple[str | None, str]:
    """A user that can create databases, or None and why not."""
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=2):
            pass
    except OSError as e:
        return None, f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT} ({e})"
    users = [u for u in (os.environ.get("NEWSWATCH_TEST_PG_USER"), "postgres", "root") if u]
    last = ""
    for user in users:
        try:
            PgServer(user).admin("SELECT 1")
            return user, ""
        except Exception as e:
            last = getattr(e, "stderr", None) or str(e)
    return (
        None,
        f"PostgreSQL on {PG_HOST}:{PG_PORT} refused users {users}: {str(last).strip()[:200]}",
    )


@pytest.fixture(scope="module")
def pg_server():
    """The local PostgreSQL (skips without it, except in CI); drops this module's databases."""
    user, why = _pg_user()
    if user is None:
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must provide PostgreSQL (see .ci/run)")
        pytest.skip(why)
    server = PgServer(user)
    try:
        yield server
    finally:
        server.drop_created()


def lake_target(pg: PgServer, tmp_path: Path) -> StoreTarget:
    """A fresh DuckLake on a new PostgreSQL database, data files under ``tmp_path``."""
    db = pg.create_database("nw_test")
    return StoreTarget(
        "ducklake", f"ducklake:postgres:{pg.conninfo(db)}", str(tmp_path / "lake-data")
    )


@pytest.fixture(params=["duckdb", pytest.param("ducklake", marks=pytest.mark.postgres)])
def store_target(request, tmp_path):
    if request.param == "duckdb":
        yield StoreTarget("duckdb", str(tmp_path / "nw.duckdb"))
        return
    yield lake_target(request.getfixturevalue("pg_server"), tmp_path)
    close_lakes()  # this test's catalog connections; its database is dropped with the module


# -- helpers for tests that run several processes on one store -----------------------------
def make_records(ids, *, source: str = "S", flagged: bool = True):
    """Articles ``a<i>`` for the given numbers, each with one mention (flagged: one flag)."""
    from datetime import datetime

    from newswatch.models import ArticleRecord, FlagResult, Mention

    out = []
    for i in ids:
        flag = FlagResult(
            actors=("hamas",),
            allegations=("tunnel_network",),
            score=2.0,
            mentions=(
                Mention("actor", "hamas", "Hamas", "Hamas dug a tunnel.", 0, 5),
                Mention("allegation", "tunnel_network", "tunnel", "Hamas dug a tunnel.", 12, 18),
            ),
        )
        out.append(
            ArticleRecord(
                article_id=f"a{i:04d}",
                url=f"https://n.example/{i}",
                canonical_url=f"https://n.example/{i}",
                source=source,
                title=f"Story {i}",
                author=None,
                published_at=datetime(2026, 11, 1 + i % 20, 8),
                fetched_at=datetime(2026, 11, 21),
                language="en",
                text=f"Hamas dug a tunnel, report {i}.",
                summary=None,
                extraction="trafilatura",
                content_hash=f"h{i}",
                flag=flag if flagged else FlagResult(),
            )
        )
    return out


def write_batches_worker(target: StoreTarget, batches: list[list[int]], barrier) -> int:
    """Child process: wait for the others, then write each batch; returns articles new."""
    store = target.store()
    store.migrate()  # open the lake (and load its extensions) before the race starts
    barrier.wait(timeout=120)
    return sum(
        store.articles.write_batch(make_records(b), run_id=f"w{os.getpid()}").articles_new
        for b in batches
    )


def claim_worker(target: StoreTarget, owner: str, chunks: list[list[str]], barrier) -> list[str]:
    """Child process: claim the chunks of feeds one after another; returns what it got."""
    store = target.store()
    store.migrate()
    barrier.wait(timeout=120)
    got: list[str] = []
    for chunk in chunks:
        got += store.leases.claim(chunk, owner, ttl_seconds=300)
    return got


def lease_once_worker(target: StoreTarget, key: str, barrier) -> str:
    """Child process: take a one-row lease the way digest._take_lease does, inside
    ``with store.transaction()``; returns taken / busy / conflict."""
    from newswatch.store import StoreConflict

    store = target.store()
    store.migrate()
    barrier.wait(timeout=120)
    try:
        with store.transaction() as con:
            n = con.execute(
                "INSERT INTO feed_leases SELECT ?, ?, TIMESTAMP '2100-01-01' "
                "WHERE NOT EXISTS (SELECT 1 FROM feed_leases WHERE name = ?)",
                [key, f"p{os.getpid()}", key],
            ).fetchone()[0]
    except StoreConflict:
        return "conflict"
    return "taken" if n else "busy"


def _child(fn, args, barrier, results, index) -> None:
    try:
        results.put((index, "ok", fn(*args, barrier)))
    except BaseException as e:
        barrier.abort()
        results.put((index, "error", f"{type(e).__name__}: {e}"))


def run_in_processes(fn, arg_lists: list[tuple], timeout: float = 120) -> list:
    """Run ``fn(*args, barrier)`` in one fresh (spawned) process per entry; the processes
    pass ``barrier`` together, so their work overlaps. Returns the results in order."""
    import multiprocessing
    import queue

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(arg_lists))
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_child, args=(fn, args, barrier, results, i), daemon=True)
        for i, args in enumerate(arg_lists)
    ]
    for p in procs:
        p.start()
    out: dict[int, object] = {}
    errors = []
    try:
        for _ in procs:
            try:
                i, status, value = results.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"{fn.__name__}: no result within {timeout} s") from None
            if status == "ok":
                out[i] = value
            else:
                errors.append(value)
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    assert not errors, f"{fn.__name__} failed in a child process: {errors}"
    return [out[i] for i in range(len(procs))]
