"""feedparser's own 2,106 test feeds through the real fetch-and-parse path, over HTTP.

Each document is served with the headers its manifest line names. Nothing may raise; every
document ends parsed or recorded as broken with a reason; entries whose links point at
unreachable hosts are recorded as failed fetches; the run completes.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from newsfixtures import write_config
from newswatch.demo.localsite import LocalSite
from newswatch.ingest.feeds import parse_feed
from newswatch.pipeline.run import run_pass
from newswatch.settings import load_config

pytestmark = pytest.mark.attack  # feedparser's 2,106 test documents: part of the hardening suite


def _manifest(corpora):
    root = corpora / "feeds-feedparser"
    lines = [json.loads(x) for x in (root / "manifest.jsonl").read_text().splitlines() if x.strip()]
    return root, lines


def _serve(site: LocalSite, root, lines) -> list[dict]:
    sources = []
    for i, m in enumerate(lines):
        headers = dict(m.get("headers") or {})
        ctype = m.get("content_type") or next(
            (v for k, v in headers.items() if k.lower() == "content-type"), None
        )
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        path = "/" + m["path"]
        # ETag/Last-Modified from the manifest replace the server's own
        site.add(
            path,
            (root / m["path"]).read_bytes(),
            content_type=ctype or "application/xml",
            headers=headers,
        )
        sources.append({"name": f"{i:04d} {m['path']}", "url": site.url(path)})
    return sources


@pytest.mark.corpus
def test_every_corpus_document_parses_or_is_recorded_broken(corpora):
    root, lines = _manifest(corpora)
    for m in lines:
        data = (root / m["path"]).read_bytes()
        parsed = parse_feed(
            "t", data, url="http://127.0.0.1/" + m["path"], headers=m.get("headers") or {}
        )
        # every document ends one of two ways: parsed (possibly with no entries: an empty
        # feed is a feed), or broken with the reason feedparser gave
        if parsed.bozo:
            assert parsed.bozo_reason, m["path"]
        else:
            assert parsed.bozo_reason is None, m["path"]


@pytest.mark.corpus
@pytest.mark.slow
def test_corpus_through_the_pipeline(corpora, tmp_path):
    root, lines = _manifest(corpora)
    with LocalSite() as site:
        sources = _serve(site, root, lines)
        db = tmp_path / "corpus.duckdb"
        cdir = write_config(
            tmp_path / "c",
            sources,
            db=db,
            settings={
                "fetch": {
                    "timeout_seconds": 20,
                    "connect_timeout_seconds": 10,
                    "retries": 1,
                    "max_concurrency": 32,
                },
                "pipeline": {"max_articles_per_feed": 2},
            },
        )
        summary = run_pass(load_config(cdir))
    assert len(summary.feeds) == len(lines)
    failed = [(f.name, f.reason) for f in summary.feeds if f.status not in ("ok", "broken")]
    assert not failed, failed[:10]
    con = duckdb.connect(str(db), read_only=True)
    try:
        (n_sources, n_unpolled) = con.execute(
            "SELECT count(*), count(*) FILTER (last_status IS NULL) FROM sources"
        ).fetchone()
        assert n_sources == len(lines) and n_unpolled == 0
        # every broken document has a recorded reason
        broken = con.execute("SELECT name FROM sources WHERE last_status = 'broken'").fetchall()
        reasons = dict(
            con.execute(
                "SELECT source, reason FROM problems WHERE stage = 'parse' AND kind = 'broken'"
            ).fetchall()
        )
        assert {b[0] for b in broken} <= set(reasons)
        assert all(reasons[b[0]] for b in broken)
        # nothing failed inside newswatch itself
        internal = con.execute(
            "SELECT source, reason FROM problems WHERE kind = 'internal'"
        ).fetchall()
        assert internal == []
        # links to hosts that cannot be reached are recorded as failed page fetches
        page_fail = con.execute("SELECT count(*) FROM problems WHERE stage = 'page'").fetchone()[0]
        assert page_fail > 0
        assert summary.pages_failed >= page_fail - summary.counts()["articles_new"]
        (status,) = con.execute("SELECT status FROM runs").fetchone()
        assert status == "completed"
    finally:
        con.close()
    ok = sum(1 for f in summary.feeds if f.status == "ok")
    assert ok > len(lines) * 0.8
