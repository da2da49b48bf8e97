"""The stored derivation trees, kept up to date batch by batch (only the new copies' nodes
when they come after the known ones, the whole tree otherwise), equal the tree computed
from all the story's articles at once, whatever order and batches they arrive in."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from newswatch.models import ArticleRecord
from newswatch.store import Store
from newswatch.stories import signature
from newswatch.stories.provenance import Doc, derive

T0 = datetime(2026, 11, 20, 6)
BASE = [
    "North Korea sold Hezbollah two tunnel-boring machines and trained the group's engineers "
    "to run them, according to a research centre that put the deal at eight million dollars.",
    "The centre's director said the machines were shipped in parts through a third country "
    "and put together near the Litani river, where tunnels run under several villages.",
    "The researchers said the machines were far smaller than the ones that cut city metro "
    "lines and could bore a passage about two metres wide through limestone rock.",
    "Satellite pictures, they said, showed fresh spoil heaps beside two farms that appeared "
    "within weeks of each other in the spring, near a road the army watches closely.",
]
NEW = (
    "A reserve officer who served with the engineering corps on the northern border said his "
    "unit had found cutting marks on the walls of a tunnel that only a machine could have left."
)
# (id, minutes after T0 or None for no published time, paragraphs)
ARTICLES = [
    ("orig", 0, BASE),
    ("copy1", 40, BASE),  # within the hour: the first report's confidence is 0.75
    ("edit", 120, [*BASE[:2], NEW, *BASE[2:]]),
    ("copy2", 200, BASE[:3]),
    ("late", None, BASE),  # no published time: placed at its fetch time
]


def record(aid: str, minutes: int | None, paras: list[str], fetched: datetime) -> ArticleRecord:
    text = "\n\n".join(paras)
    title = "North Korea sold Hezbollah tunnel-boring machines"
    return ArticleRecord(
        article_id=aid,
        url=f"https://n.example/{aid}",
        canonical_url=f"https://n.example/{aid}",
        source=f"Outlet {aid}",
        title=title,
        author=None,
        published_at=None if minutes is None else T0 + timedelta(minutes=minutes),
        fetched_at=fetched,
        language="en",
        text=text,
        summary=None,
        extraction="trafilatura",
        content_hash=aid,
        signature=signature(text, title),
    )


def expected(recs: list[ArticleRecord]) -> set[tuple]:
    docs = [Doc(r.article_id, r.source, r.language, r.published_at, r.fetched_at, r.text, r.title)
            for r in recs]  # fmt: skip
    return {
        (n.article_id, n.derived_from, n.overlap, n.adds_reporting, n.order_confidence)
        for n in derive(docs)
    }


@pytest.mark.parametrize("seed", range(12))
def test_batch_by_batch_equals_all_at_once(tmp_path, seed):
    rng = random.Random(seed)
    arrival = list(ARTICLES)
    if seed:  # seed 0: in time order (the incremental path every time)
        rng.shuffle(arrival)
    recs = [
        record(aid, m, paras, T0 + timedelta(hours=6, minutes=i))
        for i, (aid, m, paras) in enumerate(arrival)
    ]
    store = Store(str(tmp_path / "nw.duckdb"))
    i = 0
    while i < len(recs):
        n = rng.randint(1, 2)
        store.articles.write_batch(recs[i : i + n])
        i += n
    with store.reader() as con:
        stories = {s for (s,) in con.execute("SELECT DISTINCT story_id FROM articles").fetchall()}
        assert len(stories) == 1, "the copies should be one story"
        got = set(
            con.execute(
                "SELECT article_id, derived_from, overlap, adds_reporting, order_confidence "
                "FROM story_derivations"
            ).fetchall()
        )
    assert got == expected(recs)
    by_id = {r[0]: r for r in got}
    assert by_id["orig"][1] is None and by_id["orig"][4] == 0.75
    assert by_id["copy1"][1] == "orig" and by_id["edit"][3] is True


@pytest.mark.parametrize("lost", [["edit", "late"], ["orig", "copy1", "edit", "copy2", "late"]])
def test_underived_articles_are_derived_later(tmp_path, lost):
    """Rows lost (a pass that died before its refresh, an older archive): refresh_underived
    derives those stories again, to the tree computed all at once."""
    from newswatch.store.provenance import refresh_underived

    recs = [
        record(aid, m, paras, T0 + timedelta(hours=6, minutes=i))
        for i, (aid, m, paras) in enumerate(ARTICLES)
    ]
    store = Store(str(tmp_path / "nw.duckdb"))
    store.articles.write_batch(recs)
    with store.transaction() as con:
        con.execute("DELETE FROM story_derivations WHERE list_contains(?, article_id)", [lost])
        assert refresh_underived(con) == 1
        assert refresh_underived(con) == 0  # nothing left
    with store.reader() as con:
        got = set(
            con.execute(
                "SELECT article_id, derived_from, overlap, adds_reporting, order_confidence "
                "FROM story_derivations"
            ).fetchall()
        )
    assert got == expected(recs)
