"""The package's layers: an import only points down, and the matcher stays light.

    5  cli, web                      the command line and the workbench
    4  orchestration                 Prefect flows, serve, the process worker
    3  pipeline, digest, reports     a polling pass, alert digests, trends/status/export
    2  store                         the only code that writes SQL
    1  ingest, flagging, stories, demo   the stages (and the sample site)
    0  errors, models, settings      values, errors and configuration

A module may import its own package and anything in a lower layer; two packages of one
layer may import each other only one way (no cycle). Every import counts, including the
ones inside functions.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import newswatch

ROOT = Path(newswatch.__file__).parent

LAYERS = {
    "errors": 0,
    "models": 0,
    "settings": 0,
    "ingest": 1,
    "flagging": 1,
    "stories": 1,
    "demo": 1,
    "store": 2,
    "pipeline": 3,
    "digest": 3,
    "reports": 3,
    "orchestration": 4,
    "cli": 5,
    "web": 5,
}
# the bottom modules import (almost) nothing of newswatch
ONLY = {"errors": set(), "models": set(), "settings": {"errors"}}


def _room(module: str) -> str | None:
    """``newswatch.store.engine`` → ``store``; None for the package root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "newswatch" else None


def _imports() -> list[tuple[str, str, str]]:
    """(importing room, where: module and line, imported room) for every newswatch import."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        module = ".".join(parts)
        room = _room(module)
        if room is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:  # relative import: resolve against this package
                    pkg = parts if path.name == "__init__.py" else parts[:-1]
                    base = ".".join([*pkg[: len(pkg) - node.level + 1], node.module])
                targets = (
                    [base] if base != "newswatch" else [f"newswatch.{a.name}" for a in node.names]
                )
            for t in targets:
                target_room = _room(t)
                if (
                    target_room is not None
                    and target_room != room
                    and not target_room.startswith("__")
                ):
                    out.append((room, f"{module}:{node.lineno}", target_room))
    return out


def test_every_room_has_a_layer():
    rooms = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()}
    rooms = {r for r in rooms if not r.startswith("_") and r not in {"py", "default_config"}}
    rooms.discard("__pycache__")
    assert rooms <= set(LAYERS), f"give these a layer: {sorted(rooms - set(LAYERS))}"


def test_imports_only_point_down():
    wrong = []
    for room, where, target in _imports():
        layer = LAYERS[room]
        if room in ONLY and target not in ONLY[room]:
            wrong.append(f"{where} imports newswatch.{target} ({room} imports nothing of that)")
        elif LAYERS[target] > layer:
            wrong.append(
                f"{where} (layer {layer}) imports newswatch.{target} (layer {LAYERS[target]})"
            )
    assert not wrong, "imports that point up:\n" + "\n".join(wrong)


def test_no_cycle_between_rooms_of_one_layer():
    edges = {(room, target) for room, _, target in _imports()}
    cycles = sorted(f"{a} <-> {b}" for a, b in edges if (b, a) in edges and a < b)
    assert not cycles, f"rooms that import each other: {cycles}"


@pytest.mark.parametrize(
    "module",
    ["newswatch.flagging.matcher", "newswatch.flagging.evaluate", "newswatch.settings"],
)
def test_the_matcher_and_the_settings_load_no_heavy_machinery(module):
    code = (
        f"import sys, {module}\n"
        "heavy = {'prefect', 'duckdb', 'httpx', 'numpy', 'pyarrow', 'trafilatura', 'typer'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"importing {module} loads {out.stdout.strip()}"
