"""Re-flagging stored articles after a watchlist edit; retention of article text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import duckdb
from typer.testing import CliRunner

from newsfixtures import build_site, site_sources, write_config
from newswatch.cli import app
from newswatch.pipeline.run import run_pass
from newswatch.reports.status import apply_retention
from newswatch.settings import load_config
from newswatch.store import Store


def _q(db, sql):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_reflag_after_a_watchlist_edit(tmp_path):
    with build_site() as site:
        db = tmp_path / "r.duckdb"
        cdir = write_config(tmp_path / "c", site_sources(site), db=db)
        run_pass(load_config(cdir))
    before = dict(_q(db, "SELECT article_id, flagged_at FROM flags"))
    versions = {v for (v,) in _q(db, "SELECT DISTINCT watchlist_version FROM flags")}
    assert len(versions) == 1
    # the analyst adds an actor: the city metro's operator
    wl = (cdir / "watchlist.yaml").read_text(encoding="utf-8")
    wl = wl.replace(
        "actors:\n",
        "actors:\n  - id: city_metro\n    name: City metro\n    aliases:\n      en: [metro line]\n",
        1,
    )
    (cdir / "watchlist.yaml").write_text(wl, encoding="utf-8")
    # first the dry run: the diff the edit would make, and nothing written
    r = CliRunner().invoke(
        app, ["reflag", "--config", str(cdir), "--quiet", "--dry-run", "-f", "json"]
    )
    assert r.exit_code == 0, r.output
    diff = json.loads(r.stdout)
    assert diff["dry_run"] is True and diff["newly_flagged"] == 1
    gained = {(i["kind"], i["id"]): i["gained"] for i in diff["ids"]}
    assert gained[("actor", "city_metro")] == 1
    assert {v for (v,) in _q(db, "SELECT DISTINCT watchlist_version FROM flags")} == versions
    assert dict(_q(db, "SELECT article_id, flagged_at FROM flags")) == before
    r = CliRunner().invoke(app, ["reflag", "--config", str(cdir), "--quiet", "--dry-run"])
    assert "city_metro" in r.stdout and "Nothing was written." in r.stdout
    # then the real one, which shows the same diff
    r = CliRunner().invoke(app, ["reflag", "--config", str(cdir), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "Re-flagged 6 articles" in r.stdout and "city_metro" in r.stdout
    metro = _q(
        db,
        "SELECT f.actors FROM flags f JOIN articles a USING (article_id) WHERE a.url LIKE '%metro%'",
    )
    assert metro == [(["city_metro"],)]
    new_versions = {v for (v,) in _q(db, "SELECT DISTINCT watchlist_version FROM flags")}
    assert len(new_versions) == 1 and new_versions != versions
    after = dict(_q(db, "SELECT article_id, flagged_at FROM flags"))
    assert all(after[a] == t for a, t in before.items())  # earlier flags keep their time
    assert len(after) == len(before) + 1
    # mentions were replaced, not added to
    assert _q(
        db,
        "SELECT count(*) FROM (SELECT article_id, kind, entity_id, start_offset, field, count(*) c "
        "FROM mentions GROUP BY ALL HAVING c > 1)",
    ) == [(0,)]
    # a second reflag changes nothing
    r = CliRunner().invoke(
        app, ["reflag", "--config", str(cdir), "--quiet", "--since", "2000-01-01"]
    )
    assert "0 changed" in r.stdout
    r = CliRunner().invoke(app, ["reflag", "--config", str(cdir), "--since", "yesterday"])
    assert r.exit_code == 2 and "not a date" in r.output


def test_retention_drops_old_text_and_keeps_flags(tmp_path):
    with build_site() as site:
        db = tmp_path / "t.duckdb"
        cdir = write_config(tmp_path / "c", site_sources(site), db=db)
        run_pass(load_config(cdir))
    flags = _q(db, "SELECT count(*) FROM flags")
    assert (
        apply_retention(
            Store(db), 30, now=datetime.now(UTC).replace(tzinfo=None) + timedelta(days=10)
        )
        == 0
    )
    assert (
        apply_retention(
            Store(db), 30, now=datetime.now(UTC).replace(tzinfo=None) + timedelta(days=31)
        )
        == 6
    )
    assert _q(db, "SELECT count(*) FROM articles WHERE text IS NOT NULL") == [(0,)]
    assert _q(db, "SELECT count(*) FROM flags") == flags
    assert _q(db, "SELECT count(*) FROM articles WHERE title IS NOT NULL") == [(6,)]


def test_eval_from_verdicts_measures_the_watchlist_on_the_analysts_judgements(tmp_path):
    """A verdict survives reflag, and eval --from-verdicts writes it out as a labelled set."""
    from newswatch.store import Store
    from newswatch.store.verdicts import Verdict, record_verdicts

    with build_site() as site:
        db = tmp_path / "v.duckdb"
        cdir = write_config(tmp_path / "c", site_sources(site), db=db)
        run_pass(load_config(cdir))
    (aid, actors), *_ = _q(db, "SELECT article_id, actors FROM flags ORDER BY score DESC")
    wrong = actors[0]
    record_verdicts(
        Store(db),
        [
            Verdict(
                verdict_id="v1",
                article_id=aid,
                kind="actor",
                entity_id=wrong,
                verdict="false_positive",
                analyst="tester",
                decided_at=datetime(2026, 12, 1, 12),
            )
        ],
    )
    r = CliRunner().invoke(app, ["reflag", "--config", str(cdir), "--quiet"])
    assert r.exit_code == 0, r.output
    assert _q(db, "SELECT verdict FROM verdicts WHERE verdict_id = 'v1'") == [("false_positive",)]
    out = tmp_path / "judged.jsonl"
    r = CliRunner().invoke(
        app,
        ["eval", "--config", str(cdir), "--db", str(db), "--from-verdicts", str(out), "-f", "json"],
    )
    assert r.exit_code == 0, r.output
    items = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    judged = next(i for i in items if i["id"].endswith(aid) or aid in i["id"])
    assert wrong not in judged["actors"]  # the analyst said it is not there
    report = json.loads(r.stdout)
    assert report["micro"]["actors"]["fp"] >= 1  # the watchlist still raises it: measured
    assert "No thresholds file" in r.stderr
