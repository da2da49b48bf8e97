"""The set-up instructions are correct for the files they name."""

from __future__ import annotations

import re
from pathlib import Path

from newswatch.cli import app

REPO = Path(__file__).resolve().parent.parent


def _readme_test_command() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(r"^(python3 -m pip install .*?uv run --frozen pytest)\s", text, re.M)
    assert m, "README has no test command"
    return m.group(1)


def test_ci_runs_exactly_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert _readme_test_command() in ci


def test_dockerfile_copies_files_that_exist_and_runs_a_real_command():
    docker = (REPO / "Dockerfile").read_text(encoding="utf-8")
    for line in docker.splitlines():
        m = re.match(r"COPY (?!--from)(.+) \S+$", line.strip())
        if m:
            for src in m.group(1).split():
                assert (REPO / src).exists(), f"Dockerfile copies {src}, which does not exist"
    cmd = re.search(r'^CMD \["newswatch", "([a-z-]+)"', docker, re.M)
    assert cmd, "Dockerfile CMD is not a newswatch command"
    names = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    assert cmd.group(1) in names


def test_lock_pins_the_versions_prefect_needs():
    lock = (REPO / "uv.lock").read_text(encoding="utf-8")

    def version(name: str) -> str:
        m = re.search(rf'\[\[package\]\]\nname = "{name}"\nversion = "([^"]+)"', lock)
        assert m, name
        return m.group(1)

    assert version("prefect") == "3.8.8"
    assert version("fastapi") == "0.141.1"
    assert version("starlette") == "1.3.1"
    assert version("sqlalchemy").startswith("2.0.")
    assert version("duckdb") == version("duckdb-extension-fts")
    version("lxml-html-clean")


def _uv() -> str | None:
    import os
    import shutil

    return os.environ.get("UV") or shutil.which("uv")


def test_the_wheel_ships_what_the_readme_commands_need(tmp_path):
    """`newswatch init` copies the shipped config/ (newswatch.yaml too), `newswatch eval`
    without PATH reads the team's labelled set, `newswatch demo` serves its site: all from
    inside the installed package, not from a repository that is not there."""
    import subprocess
    import zipfile

    import pytest

    uv = _uv()
    if uv is None:
        pytest.skip("uv is not on PATH (the README's set-up installs it)")
    out = subprocess.run(
        [uv, "build", "--wheel", "--quiet", "--out-dir", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("newswatch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("sources.yaml", "watchlist.yaml", "newswatch.yaml"):
        assert f"newswatch/default_config/{f}" in names, f
    evals = {n for n in names if n.startswith("newswatch/default_eval/")}
    assert "newswatch/default_eval/thresholds.yaml" in evals, "the labelled set is not shipped"
    assert {Path(n).name for n in evals} >= {
        p.name for p in (REPO / "tests" / "eval").iterdir() if p.is_file()
    }
    assert "newswatch/demo/site/index.html" in names


def test_eval_without_a_path_reads_the_shipped_set():
    from newswatch.cli.flag import shipped_eval_dir

    path = shipped_eval_dir()
    assert (path / "thresholds.yaml").is_file()
    assert sorted(p.name for p in path.glob("*.jsonl")) == sorted(
        p.name for p in (REPO / "tests" / "eval").glob("*.jsonl")
    )
