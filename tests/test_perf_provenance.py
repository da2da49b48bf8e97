"""A pass derives each story once, after its batches, not once per batch (issue 16): the
trees it leaves are the all-at-once trees, every stored article has its node, and stories a
pass left underived (it died before its refresh) are derived by the next refresh."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from newsfixtures import build_site, site_sources, write_config
from newswatch.pipeline.run import run_pass
from newswatch.settings import load_config
from newswatch.store import Store
from newswatch.store.provenance import refresh_derivations
from newswatch.store.search import search

TREE = (
    "SELECT story_id, article_id, derived_from, overlap, adds_reporting, order_confidence "
    "FROM story_derivations ORDER BY story_id, article_id"
)


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_pass_of_one_article_batches_leaves_the_all_at_once_trees(tmp_path):
    db = tmp_path / "nw.duckdb"
    with build_site() as site:
        cdir = write_config(
            tmp_path / "config", site_sources(site), db=db, settings={"pipeline": {"batch_size": 1}}
        )
        summary = run_pass(load_config(cdir))
    assert summary.articles_new >= 5
    underived = _rows(
        db,
        "SELECT article_id FROM articles WHERE article_id NOT IN "
        "(SELECT article_id FROM story_derivations)",
    )
    assert underived == []
    stored = _rows(db, TREE)
    # the same stories derived from scratch, all at once, in a copy
    again = tmp_path / "again.duckdb"
    shutil.copy(db, again)
    with duckdb.connect(str(again)) as con:
        stories = [s for (s,) in con.execute("SELECT DISTINCT story_id FROM articles").fetchall()]
        con.execute("DELETE FROM story_derivations")
        refresh_derivations(con, stories)
    assert stored == _rows(again, TREE)
    assert len(stored) == summary.articles_new


def test_stories_a_dead_pass_left_underived_are_derived_by_the_next_refresh(tmp_path):
    db = tmp_path / "nw.duckdb"
    with build_site() as site:
        run_pass(load_config(write_config(tmp_path / "config", site_sources(site), db=db)))
    before = _rows(db, TREE)
    assert before
    with duckdb.connect(str(db)) as con:  # as if the pass had died before its refresh
        con.execute("DELETE FROM story_derivations")
    n_stories = len({r[0] for r in before})
    assert Store(db).articles.refresh_derivations([], backfill=n_stories) == n_stories
    assert _rows(db, TREE) == before


def test_the_end_of_a_pass_leaves_both_the_trees_and_the_full_text_index(tmp_path):
    """The derivation refresh and the index rebuild run side by side at the end of a pass
    (two writer connections of one process): both finish, and the index covers every
    article the pass stored, the last batch's included."""
    db = tmp_path / "nw.duckdb"
    with build_site() as site:
        cdir = write_config(
            tmp_path / "config", site_sources(site), db=db, settings={"pipeline": {"batch_size": 2}}
        )
        summary = run_pass(load_config(cdir))
    assert summary.articles_new >= 5
    assert _rows(db, "SELECT kind FROM problems WHERE kind = 'derivations'") == []
    underived = _rows(
        db,
        "SELECT article_id FROM articles WHERE article_id NOT IN "
        "(SELECT article_id FROM story_derivations)",
    )
    assert underived == []
    unindexed = _rows(
        db,
        "SELECT article_id FROM articles WHERE article_id NOT IN "
        "(SELECT name FROM fts_main_articles.docs)",
    )
    assert unindexed == []
    assert Store(db).search.age() is not None
    # the newest article (of the last batch) is found by a word of its title
    aid, title = _rows(
        db, "SELECT article_id, title FROM articles ORDER BY fetched_at DESC, article_id LIMIT 1"
    )[0]
    word = max(title.split(), key=len).strip(".,:;'\"")
    with duckdb.connect(str(db), read_only=True) as con:
        assert aid in [r["article_id"] for r in search(con, word, limit=100)]
