"""The ``newswatch`` command line: one module per command group (see :mod:`.app`).

common.py   shared options (--config, --db, -f/--format), the database rule, the one
            error printer
output.py   rows out: table, csv, json, jsonl
run.py      run                     sql.py     sql
flag.py     flag, eval, reflag      trends.py  trends, export
status.py   sources, status         digest.py  digest
serve.py    serve                   worker.py  worker
demo.py     demo
"""

from newswatch.cli.app import app, main

__all__ = ["app", "main"]
