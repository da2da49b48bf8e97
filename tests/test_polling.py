"""Adaptive polling and feed health: intervals, back-off, due feeds, recovery."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import duckdb
from typer.testing import CliRunner

from newsfixtures import build_site, rss, write_config
from newswatch.cli import app
from newswatch.ingest.polling import PollingSettings, failure_weight, plan_next_poll
from newswatch.pipeline.run import run_pass
from newswatch.settings import load_config

NOW = datetime(2026, 11, 24, 12, 0)
S = PollingSettings(jitter=0)


def plan(**kw):
    base = dict(now=NOW, interval_minutes=60, failure_score=0, rng=random.Random(1))
    base.update(kw)
    return plan_next_poll(S, **base)


def test_interval_shortens_when_most_items_are_new_and_grows_when_none_are():
    assert plan(status="ok", entries_seen=10, new_items=10).interval_minutes == 30
    assert plan(status="ok", entries_seen=10, new_items=0).interval_minutes == 90
    assert plan(status="not_modified").interval_minutes == 90
    assert plan(status="unchanged").interval_minutes == 90


def test_a_busy_new_feed_is_polled_often_from_its_first_day():
    """A feed seen for the first time, all of whose items are new, comes back within 10
    minutes, not half an hour later (the defaults were 60 minutes × 0.5)."""
    first = plan_next_poll(
        PollingSettings(jitter=0), now=NOW, status="ok", interval_minutes=None,
        failure_score=None, entries_seen=20, new_items=20,
    )  # fmt: skip
    assert first.interval_minutes == 7.5
    assert first.next_poll_at - NOW <= timedelta(minutes=10)


def test_interval_is_clamped_and_honours_declared_period_and_retry_after():
    assert plan(status="ok", entries_seen=5, new_items=5, interval_minutes=8).interval_minutes == 5
    assert plan(status="not_modified", interval_minutes=1200).interval_minutes == 1440
    p = plan(status="ok", entries_seen=5, new_items=5, declared_minutes=180)
    assert p.interval_minutes == 180 and p.next_poll_at == NOW + timedelta(minutes=180)
    p = plan(status="failed", failure_kind="http", http_status=429, retry_after_seconds=7200)
    assert p.next_poll_at >= NOW + timedelta(hours=2)


def test_failures_are_weighted_and_back_off_but_never_stop():
    assert failure_weight("http", 404) == 1.0
    assert failure_weight("broken", None) == 1.0
    assert failure_weight("timeout", None) == 0.5
    assert failure_weight("http", 503) == 0.5
    assert failure_weight("http", 429) == 0.25
    score, waits = 0.0, []
    for _ in range(30):  # a month of daily failures
        p = plan(status="failed", failure_kind="http", http_status=404, failure_score=score)
        score = p.failure_score
        waits.append(p.next_poll_at - NOW)
    assert waits[0] == timedelta(minutes=120)
    assert waits == sorted(waits)
    assert max(waits) == timedelta(
        minutes=S.max_backoff_minutes
    )  # retried at least daily, for ever
    timeout = plan(status="failed", failure_kind="timeout")
    hard = plan(status="failed", failure_kind="http", http_status=404)
    assert timeout.next_poll_at < hard.next_poll_at
    assert plan(status="ok", entries_seen=3, new_items=1, failure_score=12).failure_score == 0


def test_jitter_spreads_feeds():
    s = PollingSettings(jitter=0.1)
    times = {
        plan_next_poll(
            s,
            now=NOW,
            status="not_modified",
            interval_minutes=60,
            failure_score=0,
            rng=random.Random(i),
        ).next_poll_at
        for i in range(20)
    }
    assert len(times) > 10
    assert all(NOW + timedelta(minutes=80) <= t <= NOW + timedelta(minutes=100) for t in times)


def _q(db, sql):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_failing_feed_backs_off_shows_in_health_and_recovers(tmp_path):
    with build_site() as site:
        feed = rss([{"title": "Hamas tunnels", "link": site.url("/wire/arms.html")}])
        site.add(
            "/feeds/flip.xml", "gone", status=404, content_type="text/plain", conditional=False
        )
        site.add("/feeds/ok.xml", feed, content_type="application/rss+xml")
        db = tmp_path / "h.duckdb"
        cdir = write_config(
            tmp_path / "c",
            [
                {"name": "Flip", "url": site.url("/feeds/flip.xml")},
                {"name": "Fine", "url": site.url("/feeds/ok.xml")},
            ],
            db=db,
        )
        config = load_config(cdir)
        started = datetime.now(UTC).replace(tzinfo=None)
        run_pass(config)
        rows = {
            r[0]: r[1:]
            for r in _q(
                db,
                "SELECT name, health, consecutive_failures, failure_score, "
                "next_poll_at, last_error, due FROM source_health",
            )
        }
        assert rows["Flip"][0] == "erroring" and rows["Flip"][1] == 1 and rows["Flip"][2] == 1.0
        assert "404" in rows["Flip"][4]
        assert rows["Fine"][0] == "ok" and rows["Fine"][1] == 0
        # backed off: twice the first interval (one failure point), less the jitter
        p = config.settings.polling
        backoff = timedelta(minutes=2 * p.initial_minutes * (1 - p.jitter))
        assert rows["Flip"][3] - started >= backoff - timedelta(seconds=1)
        # neither is due now: a scheduled (due-only) pass polls nothing
        assert not rows["Flip"][5] and not rows["Fine"][5]
        before = sum(site.hits.values())
        quiet = run_pass(config, due_only=True)
        assert quiet.feeds == [] and sum(site.hits.values()) == before
        # CLI: the failing feed is listed
        out = CliRunner().invoke(app, ["sources", "--db", str(db), "--failing", "-f", "json"])
        assert [r["name"] for r in json.loads(out.stdout)] == ["Flip"]
        # it has failed for more than a day: 'failing'
        con = duckdb.connect(str(db))
        con.execute(
            "UPDATE sources SET failing_since = failing_since - INTERVAL 2 DAY WHERE name = 'Flip'"
        )
        con.close()
        assert _q(db, "SELECT health FROM source_health WHERE name = 'Flip'") == [("failing",)]
        # the server recovers: the feed is polled again and is healthy
        site.add("/feeds/flip.xml", feed, content_type="application/rss+xml")
        run_pass(config)
        assert _q(
            db,
            "SELECT health, consecutive_failures, failure_score, failing_since FROM source_health "
            "WHERE name = 'Flip'",
        ) == [("ok", 0, 0.0, None)]


def test_status_command(tmp_path):
    with build_site() as site:
        db = tmp_path / "s.duckdb"
        cdir = write_config(
            tmp_path / "c", [{"name": "Fine", "url": site.url("/feeds/main.xml")}], db=db
        )
        run_pass(load_config(cdir))
    r = CliRunner().invoke(app, ["status", "--config", str(cdir), "-f", "json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert (
        rep["articles"] == 6
        and rep["feeds"]["enabled"] == 1
        and rep["last_runs"][0]["status"] == "completed"
    )
    assert rep["database_bytes"] > 0
    r = CliRunner().invoke(app, ["status", "--config", str(cdir)])
    assert "6 articles" in r.stdout and "completed" in r.stdout
