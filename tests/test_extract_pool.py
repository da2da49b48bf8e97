"""The extraction pool's processes: sized to the usable cores, and not running the parent's
main module again (the `newswatch` script would import the whole command line in each)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from newswatch.pipeline.extraction import usable_cpus

SCRIPT = """
import os, sys
from pathlib import Path

if __name__ == "__mp_main__":  # what multiprocessing runs in a new worker
    (Path(sys.argv[1]) / f"main-ran-in-{os.getpid()}").touch()

if __name__ == "__main__":
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from newswatch.pipeline.extraction import workers_without_main

    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        if sys.argv[2] == "without-main":
            with workers_without_main():
                futures = [pool.submit(os.getpid) for _ in range(2)]
        else:
            futures = [pool.submit(os.getpid) for _ in range(2)]
        print(sorted({f.result() for f in futures}))
"""


def _run(tmp_path: Path, mode: str) -> list[Path]:
    marks = tmp_path / mode
    marks.mkdir()
    script = tmp_path / "main_script.py"
    script.write_text(SCRIPT)
    out = subprocess.run(
        [sys.executable, str(script), str(marks), mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip().startswith("["), out.stderr
    return sorted(marks.iterdir())


def test_workers_started_without_main_do_not_run_the_parents_script(tmp_path):
    assert len(_run(tmp_path, "as-usual")) >= 1  # multiprocessing's default: they do
    assert _run(tmp_path, "without-main") == []


def test_usable_cpus_is_within_the_affinity_mask():
    n = usable_cpus()
    assert 1 <= n <= len(os.sched_getaffinity(0))
