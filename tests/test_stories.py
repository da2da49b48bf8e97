"""Near-duplicate clustering: labelled pairs (precision/recall floor), batches, restarts, window."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from newswatch.settings import StorySettings
from newswatch.store.schema import STORIES_SQL as MIGRATION_SQL
from newswatch.store.stories import assign_stories
from newswatch.stories import StoryItem, normalise, signature

sys.path.insert(0, str(Path(__file__).parent / "stories"))
import labelled

THRESHOLDS = json.loads((Path(__file__).parent / "stories" / "thresholds.json").read_text())
T0 = datetime(2024, 5, 6, 8, 0)


@pytest.fixture(scope="module")
def articles():
    return labelled.load_articles()


def _item(a, *, hours: float = 0, article_id: str | None = None) -> StoryItem:
    return StoryItem(
        article_id or a.id,
        signature(a.text, a.title),
        a.published_at + timedelta(hours=hours),
        a.title,
    )


def test_labelled_set_is_big_and_varied(articles):
    pairs = labelled.load_pairs()
    assert len(pairs) >= 40
    langs = {articles[a].lang for a, b, *_ in pairs} | {articles[b].lang for a, b, *_ in pairs}
    assert len(langs) >= 4
    kinds = {k for *_, k in pairs}
    assert {
        "headline",
        "extra_paragraph",
        "trimmed",
        "translation",
        "follow_up",
        "same_topic",
    } <= kinds


def test_precision_and_recall_do_not_fall():
    rows = labelled.predict(StorySettings())
    precision, recall = labelled.precision_recall(rows)
    wrong = [(a, b, kind) for a, b, same, kind, pred in rows if same != pred]
    assert precision >= THRESHOLDS["precision"], wrong
    assert recall >= THRESHOLDS["recall"], wrong


def test_signature_is_deterministic_and_case_and_unicode_blind():
    text = "Die Straße war gesperrt, sagte die Polizei am Montag. " * 8
    assert signature(text) == signature(text)
    assert signature(text) == signature(text.upper().replace("ß", "SS"))
    assert normalise("Ｆｕｌｌ－width  ＡＢＣ!") == "full width abc"
    assert signature("too short", "tiny") == b""


def test_syndicated_copies_share_a_story_within_one_batch(articles):
    con = duckdb.connect()
    con.execute(MIGRATION_SQL)
    ids = [
        "en_port",
        "en_port_headline",
        "en_port_extra",
        "en_port_trim",
        "en_port_style",
        "en_port_followup",
        "en_tunnels_a",
        "en_tunnels_b",
        "en_tunnels_a_copy",
    ]
    got = assign_stories(con, [_item(articles[i]) for i in ids], StorySettings())
    assert {got[i] for i in ids[:5]} == {"en_port"}
    assert got["en_port_followup"] == "en_port_followup"
    assert got["en_tunnels_a_copy"] == got["en_tunnels_a"] == "en_tunnels_a"
    assert got["en_tunnels_b"] == "en_tunnels_b"
    assert con.execute("SELECT count(*) FROM story_signatures").fetchone()[0] == len(ids)


def test_clustering_survives_two_batches_and_a_restart(tmp_path, articles):
    path = str(tmp_path / "s.duckdb")
    con = duckdb.connect(path)
    con.execute(MIGRATION_SQL)
    first = assign_stories(con, [_item(articles["de_bahn"]), _item(articles["fr_feu"])])
    second = assign_stories(con, [_item(articles["de_bahn_headline"])])
    assert first == {"de_bahn": "de_bahn", "fr_feu": "fr_feu"}
    assert second == {"de_bahn_headline": "de_bahn"}
    con.close()
    con = duckdb.connect(path)  # a restart: a new connection to the same file
    third = assign_stories(
        con,
        [
            _item(articles["fr_feu_extra"]),
            _item(articles["de_bahn_trim"]),
            _item(articles["en_bahn_translation"]),
        ],
    )
    assert third == {
        "fr_feu_extra": "fr_feu",
        "de_bahn_trim": "de_bahn",
        "en_bahn_translation": "en_bahn_translation",
    }
    # a rerun of a stored article keeps its story and adds no rows
    n = con.execute("SELECT count(*) FROM story_bands").fetchone()[0]
    assert assign_stories(con, [_item(articles["de_bahn_trim"])]) == {"de_bahn_trim": "de_bahn"}
    assert con.execute("SELECT count(*) FROM story_bands").fetchone()[0] == n


def test_time_window_is_respected(articles):
    settings = StorySettings(window_days=3)
    con = duckdb.connect()
    con.execute(MIGRATION_SQL)
    a = articles["es_sequia"]
    assign_stories(con, [_item(a)], settings)
    got = assign_stories(
        con,
        [
            _item(articles["es_sequia_headline"], hours=2 * 24),  # inside the window
            _item(articles["es_sequia_style"], hours=10 * 24),  # a copy, but 10 days later
        ],
        settings,
    )
    assert got == {"es_sequia_headline": "es_sequia", "es_sequia_style": "es_sequia_style"}
    # within one batch too: an old copy does not join a story 10 days later
    got = assign_stories(
        con,
        [_item(a, hours=40 * 24, article_id="x1"), _item(a, hours=50 * 24, article_id="x2")],
        settings,
    )
    assert got == {"x1": "x1", "x2": "x2"}


def test_articles_without_text_get_their_own_story():
    con = duckdb.connect()
    con.execute(MIGRATION_SQL)
    got = assign_stories(
        con, [StoryItem("a", b"", T0, "Same title"), StoryItem("b", None, None, "Same title")]
    )
    assert got == {"a": "a", "b": "b"}


def test_settings_are_checked():
    with pytest.raises(ValueError):
        StorySettings(bands=50, rows=3)
    with pytest.raises(ValueError):
        StorySettings(unknown=1)


def test_the_batched_comparison_agrees_with_the_pairwise_one(articles):
    """assign_stories compares an article with all its candidates at once (decode_many,
    same_story_many): every verdict and score is the pairwise decode/same_story's, on every
    pair of the labelled set, with signatures of another length or version refused."""
    from newswatch.stories.minhash import (
        decode,
        decode_many,
        same_story,
        same_story_many,
        title_grams,
        title_similarity,
    )

    st = StorySettings()
    arts = list(articles.values())
    blobs = [signature(a.text, a.title) for a in arts]
    odd = [b"", None, blobs[0][:-4], bytes([9]) + blobs[0][1:]]  # short, none, cut, version 9
    usable, values, k, shingles = decode_many([*blobs, *odd], st.num_perm)
    assert usable.tolist() == [decode(b) is not None for b in blobs] + [False] * len(odd)
    grams = [title_grams(a.title) for a in arts]
    compared = 0
    for i, a in enumerate(blobs):
        sa = decode(a)
        if sa is None:
            continue
        rows = [r for r in range(len(blobs)) if usable[r] and r != i]
        same, score = same_story_many(
            sa,
            values[rows],
            shingles[rows],
            lambda r, i=i, rows=rows: title_similarity(grams[i], grams[rows[r]]),
            st,
        )
        for n, r in enumerate(rows):
            sb = decode(blobs[r])
            assert sb is not None and int(k[r]) == sb.shingle_size
            want = same_story(sa, sb, title_similarity(grams[i], grams[r]), st)
            assert (bool(same[n]), float(score[n])) == want, (arts[i].id, arts[r].id)
            compared += 1
    assert compared > 1000


@pytest.mark.parametrize("size", [1, 1023, 1024, 1025, 2500])
def test_minhash_blocks_give_the_textbook_values(size):
    """The blocked, in-place MinHash is min over x of ((a·x + b) mod 2^64) >> 32, whatever
    the number of shingles against the block size (stored signatures stay comparable)."""
    import numpy as np

    from newswatch.stories.minhash import _minhash, _perm_params

    rng = np.random.default_rng(size)
    x = rng.integers(0, 2**32, size=size, dtype=np.uint64)
    a, b = _perm_params(16)
    want = [
        min(((int(ap) * int(v) + int(bp)) % 2**64) >> 32 for v in x.tolist())
        for ap, bp in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True)
    ]
    assert _minhash(x, 16).tolist() == want
