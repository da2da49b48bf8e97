"""A batch write that fails loses nothing: every feed the batch came from is fetched in full
again by the next pass, which stores what the failed batch held.

The failure is injected into the store's batch write (the second batch of the pass raises,
as a full disk, a lock held too long or a lost catalog connection would); everything else is
real: a local news site with several feeds, the process pool, DuckDB file or DuckLake.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import stores
from newsfixtures import page, rss, write_config
from newswatch.demo.localsite import LocalSite
from newswatch.errors import StoreError
from newswatch.pipeline.run import run_pass
from newswatch.settings import load_config
from newswatch.store import Store
from newswatch.store.articles import Articles

pytestmark = pytest.mark.attack
pg_server = stores.pg_server  # fixture
store_target = stores.store_target  # fixture: a DuckDB file and a DuckLake on PostgreSQL

FEEDS = 6
PER_FEED = 3


def _site() -> LocalSite:
    site = LocalSite()
    for f in range(FEEDS):
        items = []
        for i in range(PER_FEED):
            path = f"/f{f}/story-{i}.html"
            site.add(
                path,
                page(
                    f"Outlet {f} report {i} on the harbour works",
                    [
                        f"Outlet {f} reports for the {i}th time that the harbour works go on; "
                        "cranes, barges and crews are busy day and night at the new quay.",
                        f"Officials said the works would take {i + 2} more months to finish, "
                        "and residents complained about the noise of the pile drivers.",
                    ],
                ),
            )
            items.append({"title": f"Outlet {f} report {i}", "link": site.url(path)})
        site.add(f"/f{f}/feed.xml", rss(items), content_type="application/rss+xml")
    return site


def _count(store: Store, sql: str) -> int:
    with store.reader() as con:
        row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_a_failed_batch_is_fetched_again_and_stored_by_the_next_pass(
    store_target, tmp_path: Path, monkeypatch
):
    if store_target.data_path:
        monkeypatch.setenv("NEWSWATCH_DATA_PATH", store_target.data_path)
    real_write = Articles.write_batch
    calls = {"n": 0, "failed_sources": set()}

    def failing_second_batch(self, records, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            calls["failed_sources"] = {r.source for r in records}
            raise StoreError(f"{self.store.display}: disk full (injected)")
        return real_write(self, records, **kwargs)

    with _site() as site:
        sources = [
            {"name": f"Outlet {f}", "url": site.url(f"/f{f}/feed.xml"), "language": "en"}
            for f in range(FEEDS)
        ]
        # small batches from many feeds at once: a batch mixes articles of several feeds
        cdir = write_config(
            tmp_path / "config",
            sources,
            db=store_target.target,
            settings={"pipeline": {"batch_size": 4, "workers": 2}},
        )
        config = load_config(cdir)
        store = store_target.store()

        monkeypatch.setattr(Articles, "write_batch", failing_second_batch)
        first = run_pass(config)
        monkeypatch.setattr(Articles, "write_batch", real_write)

        assert first.articles_not_stored == 4
        assert first.status == "incomplete"
        assert len(calls["failed_sources"]) >= 2, "the failed batch should mix feeds"
        stored = _count(store, "SELECT count(*) FROM articles")
        assert stored == FEEDS * PER_FEED - 4
        assert _count(store, "SELECT count(*) FROM runs WHERE status = 'incomplete'") == 1
        # the feeds of the failed batch kept no validators; the others did
        with store.reader() as con:
            kept = dict(con.execute("SELECT name, body_hash IS NOT NULL FROM sources").fetchall())
            problems = con.execute(
                "SELECT source FROM problems WHERE stage = 'store' AND kind = 'write_failed'"
            ).fetchall()
        assert {n for n, has in kept.items() if not has} == calls["failed_sources"]
        assert {p[0] for p in problems} == calls["failed_sources"]

        second = run_pass(config)
        assert second.status == "completed"
        assert second.articles_new == 4
        assert _count(store, "SELECT count(*) FROM articles") == FEEDS * PER_FEED
        assert _count(store, "SELECT count(*) - count(DISTINCT canonical_url) FROM articles") == 0
        # and now every feed keeps its validators: a third pass fetches nothing in full
        third = run_pass(config)
        assert third.counts()["feeds_unchanged"] == FEEDS
        assert third.articles_new == 0
