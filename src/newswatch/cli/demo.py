"""``newswatch demo``: the whole pipeline against the bundled sample news site."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import typer

from newswatch.cli.common import SUMMARY, FormatOpt, check_format, err_console, errors_to_exit
from newswatch.cli.output import jsonable
from newswatch.cli.run import print_summary, run_with_progress
from newswatch.demo import demo_sources
from newswatch.demo.localsite import LocalSite
from newswatch.errors import UsageError
from newswatch.settings import Config, shipped_config_dir

DEMO_SITE_PORT = 8765  # the sample site's port when free, so data/demo-config stays valid


def demo(
    db: str = typer.Option(
        "data/demo.duckdb", "--db", help="Where to write the demo database (replaced)."
    ),
    keep_serving: bool = typer.Option(
        False, "--serve", help="Keep the sample site running until Ctrl-C."
    ),
    web: bool = typer.Option(
        False,
        "--web",
        help="Then keep the sample site and the workbench (newswatch web) running until Ctrl-C.",
    ),
    web_port: int = typer.Option(8080, "--web-port", help="The workbench's port with --web."),
    fmt: str = FormatOpt("text", SUMMARY),
) -> None:
    """Run the whole pipeline against a bundled sample news site on 127.0.0.1.

    Starts a small sample news web (a few outlets, about 40 articles in several languages,
    written by the newswatch team), polls it into a fresh database, prints what was flagged,
    one story's timeline (its first report, the copies with their parent, where each
    language picked the claim up) and commands to go on with. The configuration it used
    stays beside the database (data/demo-config/), so run, digest and sources work on it.

    [bold]Examples[/bold]

      newswatch demo && newswatch sql --db data/demo.duckdb "SELECT * FROM flags"
      newswatch demo -f json        # the same, as one JSON object
      newswatch demo --serve        # keep the sample site up for newswatch run
    """
    fmt = check_format(fmt, SUMMARY)
    with errors_to_exit():
        dbp = Path(db)
        cdir = dbp.with_name(dbp.stem + "-config")
        for p in (dbp, Path(str(dbp) + ".wal")):
            if p.exists():
                p.unlink()
        site = _start_site()
        with site:
            config = _write_demo_config(cdir, dbp, site)
            if fmt == "text":
                err_console.print(
                    f"Sample news site running at {site.base_url} "
                    f"({len(demo_sources(site))} feeds)",
                    markup=False,
                )
            summary = run_with_progress(config, quiet=fmt == "json")
            eml = _write_demo_digest(config, dbp)
            report = _demo_report(str(dbp))
            commands = demo_commands(dbp, cdir)
            if fmt == "json":
                doc = {
                    "database": str(dbp),
                    "config": str(cdir),
                    "site": site.base_url,
                    "summary": summary.to_dict(),
                    **report,
                    "digest_file": str(eml),
                    "commands": commands,
                }
                typer.echo(json.dumps(jsonable(doc), ensure_ascii=False, indent=2))
            else:
                from newswatch.flagging.watchlist import watchlist_labels

                print_summary(summary.to_dict())
                _print_report(report, watchlist_labels(config.watchlist_path))
                print(f"\nThe results are in {dbp}, the configuration in {cdir}/. Try:")
                for c in commands["sql"]:
                    print("  " + c)
                print(
                    "\nThe same configuration again (run needs the sample site: keep it up "
                    f"with {newswatch_command()} demo --serve in another terminal):"
                )
                for c in commands["config"]:
                    print("  " + c)
                print(
                    f"\nThe alert digest newswatch would email is in {eml} (open it with a mail client)."
                )
            workbench = None
            if web:
                from newswatch.orchestration.web import WorkbenchProcess

                workbench = WorkbenchProcess(cdir, str(dbp.resolve()), port=web_port)
                try:
                    url = workbench.start()
                except RuntimeError as e:
                    raise UsageError(
                        f"the workbench did not start: {e}", hint="try another --web-port"
                    ) from None
                print(
                    f"\nThe workbench: {url} (the sample site and it run until Ctrl-C)", flush=True
                )
            elif fmt == "text":
                print(
                    "\nThe workbench (flagged articles with their evidence, stories, trends; "
                    f"then open http://127.0.0.1:8080/; {newswatch_command()} demo --web does both):"
                )
                print("  " + commands["web"])
            if keep_serving or web:
                err_console.print(f"Serving {site.base_url} until Ctrl-C …", markup=False)
                try:
                    import time

                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
                finally:
                    if workbench is not None:
                        workbench.stop()


def _start_site() -> LocalSite:
    from newswatch.demo import demo_site

    try:
        return demo_site(port=DEMO_SITE_PORT)
    except OSError:  # taken (another demo is serving): any free port
        return demo_site()


def _write_demo_config(cdir: Path, dbp: Path, site: LocalSite) -> Config:
    """data/demo-config/: the sample site's feeds, the shipped watchlist, the settings
    (the local site allowed and unthrottled) and the demo digest."""
    import yaml

    from newswatch.settings import load_config

    cdir.mkdir(parents=True, exist_ok=True)
    (cdir / "sources.yaml").write_text(
        "# the demo's sample site (newswatch demo --serve keeps it up)\n"
        + yaml.safe_dump({"sources": demo_sources(site)}, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    shutil.copy(shipped_config_dir() / "watchlist.yaml", cdir / "watchlist.yaml")
    settings = {
        "database": str(dbp),
        "fetch": {
            # the sample site runs on this machine, so it must be allowed, and politeness
            # delays are not needed for it
            "allow_private_addresses": True,
            "unthrottled_hosts": ["127.0.0.1"],
        },
        "digests": [
            {
                "name": "demo",
                "recipients": ["analyst@example.org"],
                # no immediate alerts: the demo writes its digest to a file, and a pass
                # against the sample site should not try a mail server that is not there
                "immediate": False,
                "schedule": "0 7 * * *",  # daily, when serve runs with this configuration
                "backfill_days": 365,
                "include_actor_only": False,
                "subject": "newswatch demo digest: {count} new ({date})",
            }
        ],
    }
    (cdir / "newswatch.yaml").write_text(
        yaml.safe_dump(settings, sort_keys=False), encoding="utf-8"
    )
    return load_config(cdir)


def newswatch_command() -> str:
    """How to call newswatch again, the way this one was started: ``uv run newswatch`` when
    uv (on PATH) started it; the full path of uv when it is not on PATH (uv in a venv of
    its own, README's route where pip is refused); plain ``newswatch`` when installed."""
    uv = os.environ.get("UV")  # set by uv run for what it starts
    if uv:
        on_path = shutil.which("uv")
        if on_path and Path(on_path).resolve() == Path(uv).resolve():
            return "uv run newswatch"
        return f"{shlex.quote(uv)} run newswatch"
    if shutil.which("newswatch"):
        return "newswatch"
    return "uv run newswatch"


def demo_commands(dbp: Path, cdir: Path) -> dict[str, Any]:
    """The commands the demo suggests, as they work when pasted (``uv run newswatch …``)."""
    nw = newswatch_command()
    d, c = shlex.quote(str(dbp)), shlex.quote(str(cdir))
    return {
        "sql": [
            f'{nw} sql --db {d} "SELECT source, title, language FROM articles ORDER BY published_at"',
            f'{nw} sql --db {d} "SELECT a.title, f.actors, f.allegations, f.score FROM flags f '
            'JOIN articles a USING (article_id) ORDER BY f.score DESC"',
            f'{nw} sql --db {d} -f json "SELECT entity_id, matched_text, sentence FROM mentions '
            "WHERE kind = 'allegation'\"",
            f'{nw} sql --db {d} "SELECT claim, stories, languages, confidence FROM claims"',
        ],
        "config": [
            f"{nw} sources --config {c} --db {d}",
            f"{nw} digest --dry-run --config {c} --db {d}",
            f"{nw} run --config {c} --db {d}",
        ],
        "web": f"{nw} web --db {d}",
    }


def _demo_story(con: Any) -> str | None:
    """The story of the demo's provenance set (site.yaml: provenance role original)."""
    from newswatch.demo import demo_manifest

    paths = [
        a["path"]
        for a in demo_manifest()["articles"]
        if (a.get("provenance") or {}).get("role") == "original"
    ]
    for path in paths:
        row = con.execute(
            "SELECT story_id FROM articles WHERE canonical_url LIKE '%' || ? LIMIT 1", [path]
        ).fetchone()
        if row:
            return str(row[0])
    return None


def _demo_report(db: str) -> dict[str, Any]:
    """What the demo shows: the flagged articles, one story's timeline and its claim."""
    from newswatch.store import Store
    from newswatch.store.provenance import claim_timeline, story_timeline

    with Store(db).reader() as con:
        rel = con.execute(
            """
            SELECT a.source, a.language, a.title, f.actors, f.allegations, round(f.score, 2) AS score
            FROM flags f JOIN articles a USING (article_id)
            ORDER BY f.score DESC, a.title
            """
        )
        cols = [d[0] for d in rel.description]
        flagged = [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]
        story = _demo_story(con)
        timeline: list[dict[str, Any]] = []
        spread: list[dict[str, Any]] = []
        if story is not None:
            tcols, rows = story_timeline(con, story)
            timeline = [dict(zip(tcols, r, strict=True)) for r in rows]
            outlet = {r["article"]: r["outlet"] for r in timeline}
            for r in timeline:
                r["derived_from_outlet"] = outlet.get(r["derived_from"])
            found = claim_timeline(con, story)
            if found is not None:
                spread = [dict(zip(found[0], r, strict=True)) for r in found[1]]
    return {
        "flagged": flagged,
        "story": story,
        "story_timeline": timeline,
        "claim_timeline": spread,
    }


def _print_report(report: dict[str, Any], labels: dict[str, str]) -> None:
    """The demo's tables for people: the sources a claim is attributed to by their display
    names (``labels``, the watchlist's: "Radio Free Asia", not ``rfa``), as the workbench
    and the digest show them; the JSON keeps the ids."""
    from newswatch.cli.output import write_rows

    cols = ["source", "language", "title", "actors", "allegations", "score"]
    print("\nFlagged articles:")
    write_rows(
        cols, [[r[c] for c in cols] for r in report["flagged"]], "table", sys.stdout, max_width=60
    )
    if report["story_timeline"]:
        print(f"\nOne story's timeline (newswatch story {report['story']}):")
        rows = [
            [
                r["time"],
                r["outlet"],
                r["language"],
                "first report"
                if i == 0
                else (
                    f"copy of {r['derived_from_outlet']}" if r["derived_from"] else "independent"
                ),
                r["overlap"],
                r["adds_reporting"],
            ]
            for i, r in enumerate(report["story_timeline"])
        ]
        write_rows(
            ["time", "outlet", "language", "derives from", "overlap", "adds reporting"],
            rows, "table", sys.stdout, max_width=60,
        )  # fmt: skip
    if report["claim_timeline"]:
        claim = report["claim_timeline"][0]["claim"]
        print(f"\nThe claim across languages (newswatch claim {claim}):")
        rows = [
            [
                r["time"],
                r["language"],
                r["outlet"],
                r["first_in_language"],
                ", ".join(labels.get(s, s) for s in r["attributed_to"] or ()),
            ]
            for r in report["claim_timeline"]
        ]
        write_rows(
            ["time", "language", "outlet", "first in language", "attributed to"],
            rows, "table", sys.stdout, max_width=60,
        )  # fmt: skip


def _write_demo_digest(config: Config, dbp: Path) -> Path:
    """The digest the demo would email, as a standard .eml file beside the database."""
    from newswatch.digest.deliver import send_digest
    from newswatch.store import Store

    eml = dbp.with_name(dbp.stem + "-digest.eml")
    digest = next(d for d in config.settings.digests if d.name == "demo")
    from newswatch.flagging.watchlist import watchlist_labels

    send_digest(
        Store(dbp),
        digest,
        config.settings.smtp,
        to_file=eml,
        labels=watchlist_labels(config.watchlist_path),
    )
    return eml


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
