"""The ``newswatch`` command line: one module per command group (see :mod:`.app`).

common.py   shared options (--config, --db, -f/--format), the database rule, the one
            error printer (and the hints: "fix the file" only for a file)
output.py   rows out: table, csv, json, jsonl (one CSV dialect, one JSON form)
app.py      the root command; usage errors as one ``Error:`` line and a hint
init.py     init                    run.py     run
sql.py      sql, export             flag.py    flag, eval, reflag
trends.py   trends                  status.py  sources, status
digest.py   digest                  serve.py   serve
worker.py   worker                  web.py     web
lake.py     lake migrate|maintain   watchlist.py  watchlist check|ids|test|suggest
provenance.py  story, claim         demo.py    demo
"""

from newswatch.cli.app import app, main

__all__ = ["app", "main"]
