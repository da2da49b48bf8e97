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
