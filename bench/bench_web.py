"""How fast the workbench answers on a big archive (issue 13: every view < 300 ms p95, warm).

    uv run python bench/bench_web.py [--articles 1000000] [--db PATH] [--repeat 30]

Builds (or reuses, with ``--db`` naming an existing file) a DuckDB file of synthetic
articles spread over two years from 400 outlets in eight languages: about 1,100
characters of text each, an eighth of them flagged (more during waves, so there are
spikes), each flag with 1–3 actors and 0–2 allegations of the default watchlist and about
five mentions with offsets into the stored text, 40 % of the articles copies of an earlier
one (stories), 70,000 runs, 30,000 problems, 5,000 verdicts and the full-text index a pass
builds. Then it starts ``python -m newswatch.web`` on 127.0.0.1 against it, requests every
view a few times to warm up, times ``--repeat`` requests of each (one at a time, over
HTTP, like a browser), and prints a markdown table of p50 / p95 / max per view.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb
import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
START = datetime(2024, 12, 1)
DAYS = 730
ACTORS = [
    "north_korea",
    "hezbollah",
    "hamas",
    "iran",
    "komid",
    "jihad_construction_foundation",
    "alma_center",
]
ALLEGATIONS = ["tunnel_technology_transfer", "tunnel_network", "arms_transfer", "military_training"]
LANGS = ["en"] * 8 + ["ar"] * 3 + ["ko"] * 2 + ["he"] * 2 + ["fr", "de", "es", "ru"]
WORDS = (  # noqa: SIM905
    "the said on that had met to discuss the report which described under the border and a "
    "signed in 2014 with from according to seen by reporters warned that the network could be "
    "used to move while the government denied any role in the and called the claims intended "
    "to justify a spokesman for the group declined to comment the united nations panel of "
    "experts noted that such and that investigators were examining through third countries "
    "including front companies registered abroad officials on tuesday the ministry"
).split()


# the rest of the vocabulary: 30,000 made-up words of two to four syllables, drawn with
# Zipf-like frequencies (word k about as often as 1/k), so that rare words are rare, as in
# news text, and a search for them reads few postings
SYLLABLES = "ka lo mi ne ru ta vo zi be da fe gu ho ja ki le ma no pa re si tu wa ye".split()  # noqa: SIM905
VOCABULARY = 30_000
# words of the stories the watchlist follows, a few of them in each flagged article
TOPICS = (
    ["hezbollah"] * 4 + ["hamas"] * 4 + ["pyongyang"] * 3 + ["tunnel"] * 3 + ["tunnels"] * 2
    + ["weapons", "rockets", "training", "construction", "komid"]
)  # fmt: skip
# an eighth of the articles flagged, three times as many during a wave (3 days in every 37)
FLAGGED = (
    "((hash(g.i * 13) % 1000) < CASE WHEN (g.i * {DAYS} // {n}) % 37 < 3 THEN 360 ELSE 120 END)"
)
_FLAGGED = ""


def _zipf_word(h: str) -> str:
    syl = "[" + ", ".join(f"'{x}'" for x in SYLLABLES) + "]"
    k = f"(floor(exp(({h} % 1000000) / 1000000.0 * ln({VOCABULARY}))))::BIGINT"
    return (
        f"({syl}[1 + ({k} % 24)::INTEGER] || {syl}[1 + ({k} // 24 % 24)::INTEGER]"
        f" || CASE WHEN {k} >= 24 THEN {syl}[1 + ({k} // 576 % 24)::INTEGER] ELSE '' END"
        f" || CASE WHEN {k} >= 13824 THEN {syl}[1 + ({k} // 13824 % 24)::INTEGER] ELSE '' END)"
    )


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build(path: Path, n: int, *, fts: bool = True) -> None:
    """The synthetic archive, written with INSERT … SELECT (nothing row by row in Python)."""
    from newswatch.store import Store

    t0 = time.monotonic()
    store = Store(path)
    store.migrate()
    con = duckdb.connect(str(path))
    try:
        con.execute("SET preserve_insertion_order = true")
        words = "[" + ", ".join(f"'{w}'" for w in WORDS) + "]"
        langs = "[" + ", ".join(f"'{x}'" for x in LANGS) + "]"
        topics = "[" + ", ".join(f"'{x}'" for x in TOPICS) + "]"
        global _FLAGGED
        _FLAGGED = FLAGGED.format(DAYS=DAYS, n=n)
        actors = "[" + ", ".join(f"'{x}'" for x in ACTORS) + "]"
        alleg = "[" + ", ".join(f"'{x}'" for x in ALLEGATIONS) + "]"
        con.execute(
            f"""
            CREATE TEMP TABLE src AS
            SELECT i, 'Outlet ' || lpad(i::VARCHAR, 3, '0') AS name,
                   {langs}[1 + (hash(i * 7919) % {len(LANGS)})::INTEGER] AS language
            FROM range(400) t(i)
            """
        )
        con.execute(
            """
            INSERT INTO sources (name, url, language, tags, enabled, last_status, last_http_status,
                last_polled_at, last_success_at, last_new_item_at, consecutive_failures,
                poll_interval_minutes, failure_score, next_poll_at, failing_since, last_error)
            SELECT name, 'https://outlet' || i || '.example/feed.xml', language, ['bench'], true,
                   CASE WHEN i % 37 = 0 THEN 'failed' ELSE 'ok' END,
                   CASE WHEN i % 37 = 0 THEN 503 ELSE 200 END,
                   TIMESTAMP '2026-11-30 23:00' - to_minutes((i % 60)::BIGINT),
                   TIMESTAMP '2026-11-30 23:00' - to_minutes((i % 60)::BIGINT),
                   TIMESTAMP '2026-11-30 20:00' - to_minutes((i % 600)::BIGINT),
                   CASE WHEN i % 37 = 0 THEN 12 ELSE 0 END, 30 + i % 90,
                   CASE WHEN i % 37 = 0 THEN 6.5 ELSE 0 END,
                   TIMESTAMP '2026-12-01 00:00' + to_minutes((i % 90)::BIGINT),
                   CASE WHEN i % 37 = 0 THEN TIMESTAMP '2026-11-25 00:00' END,
                   CASE WHEN i % 37 = 0 THEN 'HTTP 503 Service Unavailable' END
            FROM src
            """
        )
        log(f"articles: generating {n:,} …")
        span = DAYS * 86400
        con.execute(
            f"""
            CREATE TEMP TABLE gen AS
            SELECT i,
                   substr(md5(i::VARCHAR), 1, 16) AS article_id,
                   TIMESTAMP '{START:%Y-%m-%d}' + to_seconds((i * {span} // {n})::BIGINT) AS fetched_at,
                   hash(i * 31) AS h
            FROM range({n}) t(i)
            """
        )
        con.execute(
            f"""
            INSERT INTO articles (article_id, url, canonical_url, source, title, author,
                published_at, fetched_at, language, text, summary, extraction, story_id,
                content_hash, run_id)
            SELECT g.article_id,
                   'https://' || lower(replace(s.name, ' ', '')) || '.example/news/' || g.i || '?utm_source=rss',
                   'https://' || lower(replace(s.name, ' ', '')) || '.example/news/' || g.i,
                   s.name,
                   array_to_string([
                       CASE WHEN hash(g.i * 151 + k) % 10 < 5
                            THEN {words}[1 + (hash(g.i * 157 + k) % {len(WORDS)})::INTEGER]
                            ELSE {_zipf_word("hash(g.i * 163 + k)")} END
                       for k in range(9)], ' '),
                   NULL,
                   CASE WHEN g.h % 33 = 0 THEN NULL
                        ELSE g.fetched_at - to_minutes(((g.h >> 7) % 360)::BIGINT) END,
                   g.fetched_at,
                   s.language,
                   array_to_string([
                       CASE WHEN hash(g.i * 131 + k) % 10 < 6
                            THEN {words}[1 + (hash(g.i * 137 + k) % {len(WORDS)})::INTEGER]
                            ELSE {_zipf_word("hash(g.i * 139 + k)")} END
                       for k in range(180)], ' ')
                   || CASE WHEN {_FLAGGED} THEN ' ' || array_to_string([
                       {topics}[1 + (hash(g.i * 149 + k) % {len(TOPICS)})::INTEGER]
                       for k in range(4)], ' ') ELSE '' END || '.',
                   NULL, 'trafilatura',
                   CASE WHEN (g.h >> 11) % 10 < 4 AND g.i > 40
                        THEN substr(md5((g.i - 1 - (g.h >> 15) % 40)::VARCHAR), 1, 16)
                        ELSE g.article_id END,
                   substr(md5('c' || g.i::VARCHAR), 1, 16),
                   'bench'
            FROM gen g JOIN src s ON s.i = (g.h % 400)::INTEGER
            ORDER BY g.i
            """
        )
        con.execute(
            "INSERT INTO article_urls (url, article_id, url_key) "
            "SELECT canonical_url, article_id, md5_number_lower(canonical_url) FROM articles "
            "ORDER BY fetched_at"
        )
        log(f"  {time.monotonic() - t0:.0f} s; flags …")
        # an eighth flagged, three times as many during a wave (three days in every 37)
        con.execute(
            f"""
            CREATE TEMP TABLE fl AS
            SELECT g.article_id, g.fetched_at, g.i, hash(g.i * 17) AS f
            FROM gen g
            WHERE {_FLAGGED.replace("{DAYS}", str(DAYS)).replace("{n}", str(n))}
            """
        )

        def actor(shift: int) -> str:
            return (
                f"{actors}[1 + CASE WHEN (f >> {shift}) % 20 < 6 THEN 0 WHEN (f >> {shift}) % 20 < 10 "
                f"THEN 1 WHEN (f >> {shift}) % 20 < 14 THEN 2 WHEN (f >> {shift}) % 20 < 17 THEN 3 "
                f"ELSE ((f >> {shift}) % 20 - 13)::INTEGER END]"
            )

        con.execute(
            f"""
            INSERT INTO flags (article_id, actors, allegations, score, flagged_at, watchlist_version)
            SELECT article_id,
                   list_sort(list_distinct(list_filter([{actor(0)},
                       CASE WHEN (f >> 5) % 3 > 0 THEN {actor(9)} END,
                       CASE WHEN (f >> 13) % 4 = 0 THEN {actor(17)} END], lambda x: x IS NOT NULL))),
                   list_sort(list_distinct(list_filter([
                       CASE WHEN (f >> 21) % 3 > 0 THEN {alleg}[1 + ((f >> 23) % 4)::INTEGER] END,
                       CASE WHEN (f >> 27) % 4 = 0 THEN {alleg}[1 + ((f >> 29) % 4)::INTEGER] END],
                       lambda x: x IS NOT NULL))),
                   1 + ((f >> 33) % 190) / 10.0,
                   fetched_at + INTERVAL 1 MINUTE,
                   'bench'
            FROM fl ORDER BY i
            """
        )
        log(f"  {time.monotonic() - t0:.0f} s; mentions …")
        con.execute(
            """
            INSERT INTO mentions (article_id, kind, entity_id, matched_text, sentence, field,
                start_offset, end_offset, rule, weight)
            WITH m AS (
                SELECT f.article_id, 'actor' AS kind, unnest(f.actors) AS entity_id FROM flags f
                UNION ALL
                SELECT f.article_id, 'allegation', unnest(f.allegations) FROM flags f
                UNION ALL
                SELECT f.article_id, 'actor', f.actors[1] FROM flags f
            ),
            n AS (SELECT *, row_number() OVER () AS k FROM m)
            SELECT n.article_id, n.kind, n.entity_id,
                   substr(a.text, (hash(n.k) % 900)::INTEGER + 1, 9),
                   substr(a.text, greatest(1, (hash(n.k) % 900)::INTEGER - 99), 240),
                   'text', (hash(n.k) % 900)::INTEGER, (hash(n.k) % 900)::INTEGER + 9,
                   'bench: ' || n.entity_id, 0.5 + (hash(n.k) % 100) / 40.0
            FROM n JOIN articles a ON a.article_id = n.article_id
            ORDER BY a.fetched_at
            """
        )
        log(f"  {time.monotonic() - t0:.0f} s; runs, problems, verdicts, digests …")
        runs = DAYS * 96
        con.execute(
            f"""
            INSERT INTO runs (run_id, started_at, finished_at, status, feeds_total, feeds_fetched,
                feeds_unchanged, feeds_failed, entries_seen, articles_new, articles_flagged,
                pages_failed)
            SELECT 'run' || lpad(i::VARCHAR, 6, '0'),
                   TIMESTAMP '{START:%Y-%m-%d}' + to_minutes((i * 15)::BIGINT),
                   TIMESTAMP '{START:%Y-%m-%d}' + to_minutes((i * 15)::BIGINT) + INTERVAL 40 SECOND,
                   'completed', 400, 120, 270, hash(i) % 5, 6000, {n} // {runs},
                   {n} // {runs} // 8, hash(i) % 3
            FROM range({runs}) t(i)
            """
        )
        con.execute(
            f"""
            INSERT INTO problems (run_id, occurred_at, source, url, stage, kind, reason)
            SELECT 'run' || lpad((i * {runs} // 30000)::VARCHAR, 6, '0'),
                   TIMESTAMP '{START:%Y-%m-%d}' + to_minutes((i * {runs} // 30000 * 15)::BIGINT),
                   'Outlet ' || lpad((hash(i) % 400)::VARCHAR, 3, '0'),
                   'https://outlet' || (hash(i) % 400) || '.example/news/' || i,
                   ['feed', 'page', 'extract', 'entry'][1 + (hash(i) % 4)::INTEGER],
                   ['timeout', 'http', 'connect', 'parse'][1 + (hash(i * 3) % 4)::INTEGER],
                   'synthetic problem ' || i
            FROM range(30000) t(i)
            """
        )
        con.execute(
            """
            INSERT INTO verdicts (verdict_id, article_id, kind, entity_id, verdict, note, analyst,
                decided_at, watchlist_version, story_id)
            SELECT md5('v' || k), article_id,
                   CASE WHEN k % 3 = 0 THEN 'flag' ELSE 'actor' END,
                   CASE WHEN k % 3 = 0 THEN NULL ELSE actors[1] END,
                   ['confirmed', 'false_positive', 'unsure'][1 + (k % 5 % 3)::INTEGER],
                   NULL, ['ana', 'ben', 'chloe'][1 + (k % 3)::INTEGER],
                   flagged_at + INTERVAL 2 HOUR, 'bench', NULL
            FROM (SELECT *, row_number() OVER () AS k FROM flags USING SAMPLE 5000 ROWS)
            """
        )
        con.execute(
            """
            INSERT INTO digest_deliveries (digest, recipient, article_id, story_id, message_id,
                delivered_at)
            SELECT 'morning', 'analyst@example.org', f.article_id, a.story_id, 'msg' || (row_number() OVER () // 40),
                   f.flagged_at + INTERVAL 6 HOUR
            FROM flags f JOIN articles a USING (article_id)
            WHERE f.flagged_at < TIMESTAMP '2026-11-20'
            """
        )
        con.execute(
            """
            INSERT INTO digest_messages (digest, recipient, message_id, sent_at, period_start,
                period_end, items, articles)
            SELECT 'morning', 'analyst@example.org', message_id, max(delivered_at),
                   min(delivered_at) - INTERVAL 1 DAY, max(delivered_at), count(DISTINCT story_id),
                   count(*)
            FROM digest_deliveries GROUP BY message_id
            """
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    if fts:
        log(f"  {time.monotonic() - t0:.0f} s; full-text index …")
        store.search.rebuild()
    log(f"built in {time.monotonic() - t0:.0f} s: {path} ({path.stat().st_size / 1e9:.2f} GB)")


def write_config(cdir: Path, db: Path) -> None:
    shutil.copy(REPO / "config" / "watchlist.yaml", cdir / "watchlist.yaml")
    (cdir / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"name": "placeholder", "url": "http://127.0.0.1:9/"}]}),
        encoding="utf-8",
    )
    (cdir / "newswatch.yaml").write_text(
        yaml.safe_dump(
            {
                "database": str(db),
                "digests": [
                    {
                        "name": "morning",
                        "recipients": ["analyst@example.org"],
                        "schedule": "0 7 * * *",
                        "actors": ["north_korea", "hezbollah", "hamas"],
                        "include_actor_only": False,
                        "max_items": 40,
                    }
                ],
            }
        ),
        encoding="utf-8",
    )


def start(cdir: Path, db: Path, *, cache: bool = True) -> tuple[subprocess.Popen, str]:
    env = {
        **os.environ,
        "NEWSWATCH_WEB_USER": "bench",
        "NEWSWATCH_WEB_CACHE": "1" if cache else "0",
    }
    env.pop("NEWSWATCH_WEB_PASSWORD", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "newswatch.web",
            "--config",
            str(cdir),
            "--db",
            str(db),
            "--port",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    while True:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            raise SystemExit(f"the workbench exited ({proc.returncode})")
        m = re.search(r"newswatch web: (http://\S+)", line)
        if m:
            return proc, m.group(1).rstrip("/")


def views(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(name, URL) of every view, on articles that exist in this database."""
    aid, _ = con.execute(
        "SELECT f.article_id, a.story_id FROM flags f JOIN articles a USING (article_id) "
        "WHERE list_contains(f.actors, 'north_korea') ORDER BY f.flagged_at DESC LIMIT 1"
    ).fetchone()
    big = con.execute(
        "SELECT story_id FROM articles WHERE fetched_at > (SELECT max(fetched_at) - INTERVAL 30 DAY "
        "FROM articles) GROUP BY story_id ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]
    src = con.execute("SELECT name FROM sources ORDER BY name LIMIT 1").fetchone()[0]
    last = con.execute("SELECT max(fetched_at)::DATE FROM articles").fetchone()[0]
    return [
        ("board", "/"),
        ("flagged: all, by score", "/articles"),
        ("flagged: newest first", "/articles?sort=time"),
        (
            "flagged: actor + allegation + language",
            "/articles?actor=north_korea&allegation=tunnel_network&language=en",
        ),
        ("flagged: one day", f"/articles?actor=hamas&day={last}"),
        ("flagged: verdict = false positive", "/articles?verdict=false_positive"),
        ("flagged: search (BM25)", "/articles?q=komid+tunnels"),
        ("flagged: page 50 (keyset)", "__page50__"),
        ("flagged: JSON twin", "/articles.json?actor=hezbollah"),
        ("article", f"/articles/{aid}"),
        ("story (largest of the last 30 days)", f"/stories/{big}"),
        ("trends: 30 days", "/trends"),
        ("trends: 365 days", "/trends?days=365"),
        ("sources", "/sources"),
        ("source", f"/sources/{src}"),
        ("watchlist bench: a stored article", f"/bench?article={aid}"),
        ("digests", "/digests"),
        ("digest: pending + log", "/digests/morning"),
        ("digest: preview", "/digests/morning/preview"),
        ("runs", "/runs"),
        ("problems", "/problems"),
        ("verdicts", "/verdicts"),
    ]


def page50(client: httpx.Client, base: str) -> str:
    url = base + "/articles.json"
    for _ in range(49):
        url = base + client.get(url).json()["next"]
    return url.removeprefix(base).replace("/articles.json", "/articles", 1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--articles", type=int, default=1_000_000)
    p.add_argument("--db", default=None, help="reuse this database (built there if missing)")
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--warm", type=int, default=3)
    p.add_argument("--no-fts", action="store_true", help="no full-text index (search by substring)")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="newswatch-bench-web-"))
    try:
        db = Path(args.db) if args.db else tmp / "web.duckdb"
        if not db.exists():
            build(db, args.articles, fts=not args.no_fts)
        cdir = tmp / "config"
        cdir.mkdir()
        write_config(cdir, db)
        with duckdb.connect(str(db), read_only=True) as con:
            n_articles, n_flags, n_mentions = con.execute(
                "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM flags), "
                "(SELECT count(*) FROM mentions)"
            ).fetchone()
            targets = views(con)
        rows: dict[str, list] = {}
        for cache in (True, False):
            proc, base = start(cdir, db, cache=cache)
            try:
                with httpx.Client(timeout=120) as client:
                    for name, url in targets:
                        if url == "__page50__":
                            url = page50(client, base)
                        for _ in range(args.warm):
                            client.get(base + url).raise_for_status()
                        times = []
                        for _ in range(args.repeat):
                            t = time.perf_counter()
                            r = client.get(base + url)
                            times.append((time.perf_counter() - t) * 1000)
                            r.raise_for_status()
                        times.sort()
                        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                        rows.setdefault(name, []).append(
                            (statistics.median(times), p95, times[-1], len(r.content))
                        )
                        log(
                            f"{name} ({'snapshot cache' if cache else 'no cache'}): p95 {p95:.0f} ms"
                        )
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        print(
            f"\n{n_articles:,} articles, {n_flags:,} flagged, {n_mentions:,} mentions; "
            f"{args.repeat} requests per view after {args.warm} to warm up, one at a time; "
            "load average at the end: " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + "\n"
        )
        print(
            "| view | p50 ms | p95 ms | max ms | p50 ms, no cache | p95 ms, no cache | KB "
            "| p95 < 300 ms |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|:---:|")
        for name, ((p50, p95, mx, size), (u50, u95, _, _)) in rows.items():
            ok = "yes" if p95 < 300 else "**no**"
            print(
                f"| {name} | {p50:.0f} | {p95:.0f} | {mx:.0f} | {u50:.0f} | {u95:.0f} "
                f"| {size / 1024:.0f} | {ok} |"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the config, and the archive unless --db
    return 0


if __name__ == "__main__":
    sys.exit(main())
