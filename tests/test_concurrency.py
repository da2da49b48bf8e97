"""Ad hoc SQL while a pass runs: one writer process and concurrent readers in other processes.

DuckDB allows one writing process. The pass holds the database only while it writes a
batch, and readers wait and retry while a write is in progress, so neither side fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import duckdb

from newsfixtures import page, rss, write_config
from newswatch.demo.localsite import LocalSite

READER = textwrap.dedent(
    """
    import json, os, sys, time
    from newswatch.store import Store
    store = Store(sys.argv[1], lock_timeout=60)
    counts, errors, stop = [], [], sys.argv[2]
    while not os.path.exists(stop):  # until the test says the pass is over
        try:
            with store.reader() as con:
                counts.append(con.execute("SELECT count(*) FROM articles").fetchone()[0])
                time.sleep(0.05)  # hold the database a little, as a user's query does
        except Exception as e:
            if "does not exist" in str(e):
                time.sleep(0.05)
                continue
            errors.append(repr(e))
        time.sleep(0.02)
    print(json.dumps({"counts": counts, "errors": errors}))
    """
)


def test_readers_and_a_writer_in_separate_processes(tmp_path):
    n = 60
    with LocalSite() as site:
        items = []
        for i in range(n):
            path = f"/a/{i}.html"
            site.add(
                path,
                page(
                    f"Story number {i}",
                    [f"Paragraph {j} of story {i} about the harbour works. " * 6 for j in range(4)],
                ),
            )
            items.append({"title": f"Story number {i}", "link": site.url(path)})
        site.add("/feed.xml", rss(items), content_type="application/rss+xml")
        db = tmp_path / "c.duckdb"
        cdir = write_config(
            tmp_path / "c",
            [{"name": "Harbour", "url": site.url("/feed.xml")}],
            db=db,
            settings={"pipeline": {"batch_size": 4, "workers": 1}},
        )
        script = tmp_path / "reader.py"
        script.write_text(READER)
        stop = tmp_path / "stop-reading"
        env = dict(os.environ, NEWSWATCH_ALLOW_PRIVATE_ADDRESSES="1")
        writer = subprocess.Popen(
            [sys.executable, "-m", "newswatch.cli", "run", "--config", str(cdir), "-q"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        readers = [
            subprocess.Popen(
                [sys.executable, str(script), str(db), str(stop)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        # and the user's own command, while the pass runs
        sql_results = []
        t_end = time.time() + 8
        while time.time() < t_end and writer.poll() is None:
            if db.exists():
                r = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "newswatch.cli",
                        "sql",
                        "--db",
                        str(db),
                        "-f",
                        "json",
                        "SELECT count(*) AS n FROM articles",
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                sql_results.append((r.returncode, r.stdout, r.stderr))
        _out, err = writer.communicate(timeout=240)
        stop.touch()  # the readers read once more and report
        assert writer.returncode == 0, err
        reports = [json.loads(p.communicate(timeout=120)[0]) for p in readers]
    for rep in reports:
        assert rep["errors"] == []
        assert rep["counts"], "a reader never got in"
        assert rep["counts"] == sorted(rep["counts"])  # committed data only grows
    seen = {c for rep in reports for c in rep["counts"]}
    assert len(seen) >= 2, f"readers saw no progress: {sorted(seen)}"  # they read while it wrote
    for rc, stdout, stderr in sql_results:
        assert rc == 0, stderr
        assert json.loads(stdout)[0]["n"] <= n
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == n
    finally:
        con.close()
