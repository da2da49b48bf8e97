"""Extraction quality on real pages: extract_article is at least as good as trafilatura's
defaults, measured in the same test on the article corpus (181 pages with hand-made bodies).

The measure is the mean whitespace-token F1 (bags of tokens) of the extracted text against
``ground-truth.json``, the one bench/bench_pipeline.py reports for the stored text. Speed is
not asserted here (that is the benchmark's job).
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
from collections import Counter
from pathlib import Path

import pytest
import trafilatura

from newswatch.ingest.extract import extract_article

pytestmark = pytest.mark.corpus

CORPORA = Path(
    os.environ.get("NEWSWATCH_CORPORA", Path(__file__).resolve().parents[2] / "shared" / "corpora")
)


def token_f1(pred: str | None, truth: str) -> float:
    p, t = (pred or "").split(), truth.split()
    if not p and not t:
        return 1.0
    common = sum((Counter(p) & Counter(t)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(t)
    return 2 * precision * recall / (precision + recall)


@pytest.fixture(scope="module")
def pages() -> list[tuple[str, bytes, str]]:
    root = CORPORA / "articles-aeb"
    if not (root / "manifest.jsonl").is_file() or not (root / "ground-truth.json").is_file():
        pytest.skip(f"article corpus not found at {root} (set NEWSWATCH_CORPORA)")
    truth = json.loads((root / "ground-truth.json").read_text())
    out = []
    for line in (root / "manifest.jsonl").read_text().splitlines():
        if line.strip():
            m = json.loads(line)
            html = gzip.decompress(Path(root / m["path"]).read_bytes())
            out.append((m["url"], html, truth[m["id"]]["articleBody"]))
    assert len(out) >= 150, f"expected the 181 pages of articles-aeb, found {len(out)}"
    return out


def _mean_f1(pages, extract) -> float:
    return statistics.mean(token_f1(extract(html, url), body) for url, html, body in pages)


@pytest.fixture(scope="module")
def floor(pages) -> float:
    """trafilatura's defaults, as the benchmark's floor runs them."""
    return _mean_f1(pages, lambda html, url: trafilatura.extract(html, url=url))


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_extract_article_is_at_least_as_good_as_trafilatura_defaults(pages, floor, mode):
    ours = _mean_f1(
        pages,
        lambda html, url: extract_article(html, url=url, with_metadata=False, mode=mode).text,
    )
    assert floor > 0.9, f"trafilatura's defaults scored {floor:.3f}: is the corpus intact?"
    assert ours >= floor, (
        f"extract_article ({mode}) F1 {ours:.4f} < trafilatura defaults {floor:.4f}"
    )
