"""``newswatch demo``: the whole pipeline against the bundled sample news site."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import typer
from rich.console import Console

from newswatch.cli.common import (
    err_console,
    errors_to_exit,
)
from newswatch.cli.run import print_summary, run_with_progress
from newswatch.errors import UsageError
from newswatch.settings import shipped_config_dir


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
) -> None:
    """Run the whole pipeline against a bundled sample news site on 127.0.0.1.

    Starts a small sample news web (a few outlets, about 30 articles in several languages,
    written by the newswatch team), polls it into a fresh database, prints what was flagged
    and shows how to query the result.

    [bold]Example[/bold]

      newswatch demo && newswatch sql --db data/demo.duckdb "SELECT * FROM flags"
    """
    import yaml

    from newswatch.demo import demo_site, demo_sources
    from newswatch.settings import load_config

    with errors_to_exit():
        defaults = shipped_config_dir()
        dbp = Path(db)
        for p in (dbp, Path(str(dbp) + ".wal")):
            if p.exists():
                p.unlink()
        site = demo_site()
        with site, tempfile.TemporaryDirectory(prefix="newswatch-demo-") as tmp:
            cdir = Path(tmp)
            (cdir / "sources.yaml").write_text(
                yaml.safe_dump(
                    {"sources": demo_sources(site)}, allow_unicode=True, sort_keys=False
                ),
                encoding="utf-8",
            )
            shutil.copy(defaults / "watchlist.yaml", cdir / "watchlist.yaml")
            (cdir / "newswatch.yaml").write_text(
                yaml.safe_dump(
                    {
                        "database": str(dbp),
                        "fetch": {
                            # the sample site runs on this machine, so it must be allowed,
                            # and politeness delays are not needed for it
                            "allow_private_addresses": True,
                            "unthrottled_hosts": ["127.0.0.1"],
                        },
                    }
                ),
                encoding="utf-8",
            )
            err_console.print(
                f"Sample news site running at {site.base_url} ({len(demo_sources(site))} feeds)"
            )
            config = load_config(cdir)
            summary = run_with_progress(config, quiet=False)
            print_summary(summary.to_dict())
            _print_demo_flags(str(dbp))
            eml = _write_demo_digest(config, dbp)
            out = Console(highlight=False, soft_wrap=True)
            out.print(
                f"\nThe results are in [bold]{dbp}[/bold]. Try:\n"
                f'  newswatch sql --db {dbp} "SELECT source, title, language FROM articles ORDER BY published_at"\n'
                f'  newswatch sql --db {dbp} "SELECT a.title, f.actors, f.allegations, f.score FROM flags f '
                'JOIN articles a USING (article_id) ORDER BY f.score DESC"\n'
                f'  newswatch sql --db {dbp} -f json "SELECT entity_id, matched_text, sentence FROM mentions '
                "WHERE kind = 'allegation'\"\n"
                f"\nThe alert digest newswatch would email is in [bold]{eml}[/bold] (open it with a mail client)."
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
                out.print(f"\nThe workbench: {url} (the sample site and it run until Ctrl-C)")
            else:
                out.print(
                    f"\nThe workbench (flagged articles with their evidence, stories, trends): "
                    f"newswatch web --db {dbp}  then open http://127.0.0.1:8080/ "
                    "(or run newswatch demo --web)"
                )
            if keep_serving or web:
                err_console.print(f"Serving {site.base_url} until Ctrl-C …")
                try:
                    import time

                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
                finally:
                    if workbench is not None:
                        workbench.stop()


def _print_demo_flags(db: str) -> None:
    from newswatch.cli.output import write_rows
    from newswatch.store import Store

    with Store(db).reader() as con:
        rel = con.execute(
            """
            SELECT a.source, a.language, a.title, f.actors, f.allegations, round(f.score, 2) AS score
            FROM flags f JOIN articles a USING (article_id)
            ORDER BY f.score DESC, a.title
            """
        )
        cols = [d[0] for d in rel.description]
        print("\nFlagged articles:")
        write_rows(cols, rel.fetchall(), "table", sys.stdout, max_width=60)


def _write_demo_digest(config, dbp: Path) -> Path:
    """The digest the demo would email, as a standard .eml file beside the database."""
    from newswatch.digest.deliver import send_digest
    from newswatch.settings import DigestSettings
    from newswatch.store import Store

    eml = dbp.with_name(dbp.stem + "-digest.eml")
    digest = DigestSettings(
        name="demo",
        recipients=["analyst@example.org"],
        immediate=True,
        backfill_days=365,
        include_actor_only=False,
        subject="newswatch demo digest: {count} new ({date})",
    )
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
