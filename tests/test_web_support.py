"""Shared pieces of the workbench tests (no tests here): the demo database, a config folder,
a real workbench process on 127.0.0.1, and the system's chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
WEB = [sys.executable, "-m", "newswatch.web"]
DEMO_DIGEST = {
    "name": "demo",
    "recipients": ["analyst@example.org"],
    "immediate": True,
    "backfill_days": 3650,
    "include_actor_only": False,
}


def build_demo_db(path: Path) -> Path:
    """``newswatch demo --db PATH``, as a user runs it (test_demo.py does the same)."""
    from typer.testing import CliRunner

    from newswatch.cli import app

    result = CliRunner().invoke(app, ["demo", "--db", str(path)])
    assert result.exit_code == 0, result.output
    return path


def write_config(cdir: Path, db: Path, *, digests: list[dict] | None = None) -> Path:
    cdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config" / "watchlist.yaml", cdir / "watchlist.yaml")
    (cdir / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"name": "unused", "url": "http://127.0.0.1:9/feed.xml"}]}),
        encoding="utf-8",
    )
    settings = {"database": str(db), "digests": [DEMO_DIGEST] if digests is None else digests}
    (cdir / "newswatch.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return cdir


class Workbench:
    """A ``python -m newswatch.web`` process on 127.0.0.1 (a free port)."""

    def __init__(self, proc: subprocess.Popen, url: str, log: list[str]):
        self.proc = proc
        self.url = url.rstrip("/")
        self.log = log

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kw)


@contextmanager
def workbench(
    cdir: Path, db: Path, *, env: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> Iterator[Workbench]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_WEB_")}
    e.update(env or {})
    proc = subprocess.Popen(
        [*WEB, "--config", str(cdir), "--db", str(db), "--host", host, "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=e,
    )
    log: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            m = re.search(r"newswatch web: (http://\S+)", line)
            if m and not found.is_set():
                url.append(m.group(1))
                found.set()
        found.set()

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    try:
        if not found.wait(60) or not url:
            raise AssertionError("the workbench did not start:\n" + "".join(log))
        yield Workbench(proc, url[0], log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        t.join(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()


def wait_until(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something true (an event we wait for, not a
    guessed sleep); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def chromium_or_skip() -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright for Python is not installed")
    return CHROMIUM


@contextmanager
def browser() -> Iterator[Any]:
    path = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class PageWatch:
    """Console errors, failed requests and error responses seen by a page."""

    def __init__(self, page: Any):
        page.set_default_timeout(60_000)  # a shared CI machine can be slow
        self.problems: list[str] = []
        page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on(
            "requestfailed",
            lambda r: (
                # ERR_ABORTED: the browser cancelled it (the page navigated on), not a failure
                None
                if "ERR_ABORTED" in str(r.failure)
                else self.problems.append(f"request failed: {r.url} ({r.failure})")
            ),
        )
        page.on(
            "response",
            lambda r: (
                self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
            ),
        )
