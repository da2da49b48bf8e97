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
