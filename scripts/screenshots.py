"""Screenshots of every workbench view, from the demo database, with headless chromium.

    uv run python scripts/screenshots.py [--out docs/img] [--db data/demo.duckdb]

Builds the demo database (``newswatch demo``) unless ``--db`` names one, starts the
workbench on 127.0.0.1 (a free port) with a demo digest configured, gives one verdict
through the article page's form (so the history shows), and writes one PNG per view to
``--out``. Uses the system's chromium (``/usr/bin/chromium``, or ``--chromium PATH``);
nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def write_config(cdir: Path, db: Path) -> None:
    shutil.copy(REPO / "config" / "watchlist.yaml", cdir / "watchlist.yaml")
    (cdir / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [{"name": "placeholder", "url": "http://127.0.0.1:9/"}]}),
        encoding="utf-8",
    )
    settings = {
        "database": str(db),
        "digests": [
            {
                "name": "morning",
                "recipients": ["analyst@example.org"],
                "schedule": "0 7 * * mon-fri",
                "timezone": "Europe/Berlin",
                "backfill_days": 365,
                "include_actor_only": False,
            }
        ],
    }
    (cdir / "newswatch.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")


def start_server(cdir: Path, db: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "newswatch.web",
            "--config",
            str(cdir),
            "--db",
            str(db),
            "--port",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                raise SystemExit(f"the workbench did not start (exit {proc.returncode})")
            continue
        m = re.search(r"newswatch web: (http://\S+)", line)
        if m:
            return proc, m.group(1).rstrip("/")
    proc.kill()
    raise SystemExit("the workbench did not start within 60 s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", default=str(REPO / "docs" / "img"))
    p.add_argument("--db", default=None, help="an existing demo database (default: build one)")
    p.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    p.add_argument("--width", type=int, default=1360)
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="newswatch-shots-") as tmp:
        tmpd = Path(tmp)
        if args.db:
            db = tmpd / "demo.duckdb"
            shutil.copy(args.db, db)
        else:
            db = tmpd / "demo.duckdb"
            subprocess.run(
                [sys.executable, "-m", "newswatch.cli", "demo", "--db", str(db)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        cdir = tmpd / "config"
        cdir.mkdir()
        write_config(cdir, db)
        env = {**os.environ, "NEWSWATCH_WEB_USER": "analyst"}
        env.pop("NEWSWATCH_WEB_PASSWORD", None)
        proc, base = start_server(cdir, db, env)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                try:
                    page = browser.new_page(
                        viewport={"width": args.width, "height": 900}, device_scale_factor=1
                    )
                    shots = shoot(page, base)
                finally:
                    browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        for name, png in shots:
            (out / f"web-{name}.png").write_bytes(png)
            print(out / f"web-{name}.png")
    return 0


def shoot(page: object, base: str) -> list[tuple[str, bytes]]:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    shots: list[tuple[str, bytes]] = []

    def snap(
        name: str,
        url: str,
        *,
        full: bool = True,
        clip_height: int | None = None,
        ready: str | None = None,
    ) -> None:
        page.goto(base + url, wait_until="load")
        if ready:
            page.frame_locator("iframe").locator(ready).first.wait_for()
        if clip_height:
            h = min(clip_height, page.evaluate("document.documentElement.scrollHeight"))
            width = page.viewport_size["width"] if page.viewport_size else 1360
            png = page.screenshot(
                full_page=True, clip={"x": 0, "y": 0, "width": width, "height": h}
            )
        else:
            png = page.screenshot(full_page=full)
        shots.append((name, png))

    snap("board", "/", clip_height=1100)
    snap("articles", "/articles", clip_height=1100)
    # the strongest Korean flag: highlights in Hangul
    page.goto(base + "/articles?language=ko")
    href = page.locator("table.list a.title").first.get_attribute("href")
    assert href
    page.goto(base + href)
    page.locator('form.verdict-form[data-target="flag"] button[value="confirmed"]').click()
    page.wait_for_url(re.compile(r"verdict=(saved|queued)"))
    snap("article", href, clip_height=1250)
    # the story with the most copies
    rows = page.evaluate(
        "async (u) => (await (await fetch(u)).json()).rows", base + "/articles.json?sort=score"
    )
    best = max(rows, key=lambda r: (r["copies"], r["score"]))
    snap("story", f"/stories/{best['story_id']}", clip_height=1100)
    snap("trends", "/trends", clip_height=1500)
    snap("sources", "/sources", clip_height=900)
    snap("bench", href.replace("/articles/", "/bench?article="), clip_height=1100)
    snap("digests", "/digests/morning", clip_height=1000, ready="img")
    snap("runs", "/runs", clip_height=700)
    snap("verdicts", "/verdicts", clip_height=700)
    return shots


if __name__ == "__main__":
    sys.exit(main())
