"""How close does a polling pass come to the machine's limit? (issue 7)

    uv run python bench/bench_pipeline.py                 # full run: scales 5,20, 3 repeats (~10 min)
    uv run python bench/bench_pipeline.py --quick         # scale 1, 1 repeat, 100k archive (~1 min)
    uv run python bench/bench_pipeline.py --repeat 3 --scales 5,20 --out bench/results/pipeline.md

Measures in one run, side by side:

* **floor**: ``trafilatura.extract`` over the corpus pages in this process (pages/s), and
  newswatch's own per-page work (``worker.process_page``: extraction with metadata,
  canonical URL, language, flagging) in one process, for reference;
* **pipeline**: ``newswatch run --config <tmp> --quiet`` as a fresh process against a local
  HTTP server on 127.0.0.1 serving feeds (50 items each) that link to N copies of the corpus
  pages, each copy made distinct by a unique inserted paragraph, into a fresh database:
  articles/s, wall time, CPU time (user+sys of the whole process tree), peak memory (sum of
  RSS, and of PSS, over the tree, sampled from /proc), and the ratio pipeline wall time /
  floor time for the same N;
* **idle pass**: a second ``newswatch run`` over 500 feeds when nothing changed (every feed
  answers 304), against the start-up cost of the ``newswatch`` command (``newswatch --help``);
* **archive scale**: ``Store.articles.known_urls`` and ``Store.articles.write_batch`` on batches of 200 when
  the database already holds 1,000,000 (synthetic) articles, against an empty database, and
  the matcher's flagging cost per article.

Politeness: the benchmark serves everything from one local host, so its configuration sets
``fetch.unthrottled_hosts: ["127.0.0.1"]`` and ``fetch.allow_private_addresses: true``
(the defaults, two requests at a time 0.5 s apart, are for the real web).

The server is a minimal asyncio HTTP/1.1 server in this process (keep-alive, ETag / 304),
not ``newswatch.demo.localsite.LocalSite``: LocalSite (a ThreadingHTTPServer, a thread and a
new connection per request) spends more CPU per request, which on a 2-core machine is
taken from extraction; ``--server localsite`` runs the pipeline against it instead, and
``--probe-servers`` measures both.

Corpus: ../shared/corpora/articles-aeb (or ``--corpus``); without it the benchmark prints
why and exits 0. The numbers are a benchmark, not a test: nothing fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import dataclasses
import gzip
import hashlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpora" / "articles-aeb"
ITEMS_PER_FEED = 50
IDLE_FEEDS = 500
NEWSWATCH = Path(sys.executable).parent / "newswatch"

TARGETS = {  # issue 16
    "articles_per_s": 100.0,  # at N = 181 x 20
    "ratio": 0.6,  # pass wall time / single-process trafilatura.extract time for the same N
    "f1": 0.94,  # mean whitespace-token F1 of the stored text against the ground truth
    "idle_beyond_start_s": 3.0,
    "mem_growth": 1.2,  # peak at x20 / peak at x5
    "mem_mb": 1024.0,
    "archive_growth": 1.5,  # per-article cost at 1M / empty
}


# -- the corpus ------------------------------------------------------------------------------
@dataclasses.dataclass
class Page:
    id: str
    url: str
    html: bytes
    head: bytes  # html = head + tail; a copy's unique paragraph goes between them
    tail: bytes
    truth: str | None = None  # the hand-made article body (ground-truth.json), if there is one


_P_OPEN = re.compile(rb"<p[\s>]", re.I)
_BODY_OPEN = re.compile(rb"<body[^>]*>", re.I)


def load_corpus(path: Path) -> list[Page]:
    truth_file = path / "ground-truth.json"
    truth = json.loads(truth_file.read_text()) if truth_file.exists() else {}
    pages = []
    for line in (path / "manifest.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        m = json.loads(line)
        html = gzip.decompress((path / m["path"]).read_bytes())
        # the unique paragraph goes before the first <p> (inside the article, for most
        # pages), else right after <body>, else at the start
        hit = _P_OPEN.search(html)
        if hit:
            cut = hit.start()
        else:
            b = _BODY_OPEN.search(html)
            cut = b.end() if b else 0
        body = (truth.get(m["id"]) or {}).get("articleBody")
        pages.append(Page(m["id"], m["url"], html, html[:cut], html[cut:], body))
    return pages


def copy_text(copy: int, idx: int) -> str:
    return (
        f"Benchmark copy {copy} of page {idx}: this paragraph makes every copy distinct "
        f"(token nwb-{copy}-{idx}-{hashlib.sha1(f'{copy}/{idx}'.encode()).hexdigest()[:12]})."
    )


def copy_paragraph(copy: int, idx: int) -> bytes:
    return f"<p>{copy_text(copy, idx)}</p>".encode()


# -- extraction quality ----------------------------------------------------------------------
def token_f1(pred: str | None, truth: str | None) -> float:
    """Whitespace-token F1 (bags of tokens) of an extracted text against the ground truth."""
    p, t = (pred or "").split(), (truth or "").split()
    if not p and not t:
        return 1.0
    common = sum((Counter(p) & Counter(t)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(t)
    return 2 * precision * recall / (precision + recall)


def mean_f1(pages: list[Page], texts: list[tuple[int, int, str | None]]) -> float | None:
    """Mean F1 over (copy, page index, text) triples, the copy's own paragraph taken out of the
    text first (it is not in the ground truth); None without ground truth."""
    scores = [
        token_f1((text or "").replace(copy_text(c, i), " "), pages[i].truth)
        for c, i, text in texts
        if pages[i].truth is not None
    ]
    return statistics.mean(scores) if scores else None


_ARTICLE_PATH = re.compile(r"/a/(\d+)/(\d+)\.html$")


def stored_texts(db: Path) -> list[tuple[int, int, str | None]]:
    """(copy, page index, stored text) of every article a pass stored in ``db``."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT url, text FROM articles").fetchall()
    finally:
        con.close()
    out = []
    for url, text in rows:
        m = _ARTICLE_PATH.search(url or "")
        if m:
            out.append((int(m.group(1)), int(m.group(2)), text))
    return out


# -- a fast local HTTP server ----------------------------------------------------------------
class Site:
    """Feeds and pages from memory. Paths:

    /feeds/<set>/<n>.xml          an RSS feed (ETag; If-None-Match -> 304)
    /a/<copy>/<idx>.html          corpus page <idx> with the unique paragraph of <copy>
    anything else                 404 (so robots.txt allows everything)
    """

    def __init__(self, pages: list[Page]):
        self.pages = pages
        self.feeds: dict[str, tuple[bytes, str]] = {}
        self.port = 0
        self.counts: dict[int, int] = {}
        self.requests = 0

    def add_feed(self, path: str, body: bytes) -> None:
        self.feeds[path] = (body, '"' + hashlib.sha1(body).hexdigest()[:16] + '"')

    def respond(
        self, path: str, headers: dict[bytes, bytes]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        self.requests += 1
        feed = self.feeds.get(path)
        if feed is not None:
            body, etag = feed
            if headers.get(b"if-none-match", b"").decode() == etag:
                return 304, [("ETag", etag)], b""
            return 200, [("Content-Type", "application/rss+xml"), ("ETag", etag)], body
        if path.startswith("/a/"):
            try:
                copy_s, rest = path[3:].split("/", 1)
                copy, idx = int(copy_s), int(rest.split(".", 1)[0])
                page = self.pages[idx]
            except (ValueError, IndexError):
                return 404, [("Content-Type", "text/plain")], b"not found"
            body = page.head + copy_paragraph(copy, idx) + page.tail
            return 200, [("Content-Type", "text/html; charset=utf-8")], body
        return 404, [("Content-Type", "text/plain")], b"not found"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class _Proto(asyncio.Protocol):
    def __init__(self, site: Site):
        self.site = site
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport):  # type: ignore[override]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
            lines = raw.split(b"\r\n")
            try:
                method, target, _ = lines[0].split(b" ", 2)
            except ValueError:
                self.transport.close()  # type: ignore[union-attr]
                return
            headers = {}
            for h in lines[1:]:
                k, _, v = h.partition(b":")
                headers[k.strip().lower()] = v.strip()
            status, hdrs, body = self.site.respond(target.decode("latin-1"), headers)
            self.site.counts[status] = self.site.counts.get(status, 0) + 1
            reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}.get(status, "X")
            head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
            head += [f"{k}: {v}" for k, v in hdrs]
            out = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
            self.transport.write(out + body if method != b"HEAD" else out)  # type: ignore[union-attr]
            if headers.get(b"connection", b"").lower() == b"close":
                self.transport.close()  # type: ignore[union-attr]
                return


class FastServer:
    """The Site on an asyncio server in a background thread of this process."""

    def __init__(self, site: Site):
        self.site = site
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bench-site", daemon=True)
        self.server = None

    def __enter__(self) -> FastServer:
        self.thread.start()

        async def start():
            return await self.loop.create_server(
                lambda: _Proto(self.site), "127.0.0.1", 0, backlog=512
            )

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result()
        self.site.port = self.server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc) -> None:
        async def stop():
            self.server.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class LocalSiteServer:
    """The same Site behind newswatch.demo.localsite.LocalSite (a ThreadingHTTPServer)."""

    def __init__(self, site: Site):
        from newswatch.demo.localsite import LocalSite, Route

        self.site = site
        self.ls = LocalSite()

        def handler(req):
            status, hdrs, body = site.respond(
                req.path, {k.encode(): v.encode() for k, v in req.headers.items()}
            )
            return status, dict(hdrs), body

        # every path goes to the Site (LocalSite otherwise matches exact paths)
        route = Route(handler=handler)
        self.ls._lookup = lambda path: route

    def __enter__(self) -> LocalSiteServer:
        self.ls.start()
        self.site.port = self.ls.port
        return self

    def __exit__(self, *exc) -> None:
        self.ls.stop()


def make_server(kind: str, site: Site):
    return FastServer(site) if kind == "asyncio" else LocalSiteServer(site)


def rss(title: str, items: list[tuple[str, str, str]], when: datetime) -> bytes:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>http://127.0.0.1/</link><description>bench</description>",
    ]
    for i, (link, t, summary) in enumerate(items):
        out.append(
            f"<item><title>{escape(t)}</title><link>{escape(link)}</link><guid>{escape(link)}</guid>"
            f"<description>{escape(summary)}</description>"
            f"<pubDate>{format_datetime(when - timedelta(minutes=i))}</pubDate></item>"
        )
    out.append("</channel></rss>\n")
    return "".join(out).encode()


def build_feeds(
    site: Site, set_name: str, links: list[tuple[int, int]], pages: list[Page]
) -> list[str]:
    """Feeds of ITEMS_PER_FEED items over (copy, idx) links; returns the feed URLs."""
    when = datetime(2026, 1, 1, 12, 0)
    urls = []
    for f, start in enumerate(range(0, len(links), ITEMS_PER_FEED)):
        chunk = links[start : start + ITEMS_PER_FEED]
        items = [
            (
                site.url(f"/a/{c}/{i}.html"),
                f"Bench article {c}-{i}",
                f"Summary of benchmark article {c}-{i}.",
            )
            for c, i in chunk
        ]
        path = f"/feeds/{set_name}/{f}.xml"
        site.add_feed(path, rss(f"bench {set_name} {f}", items, when))
        urls.append(site.url(path))
    return urls


def write_config(cdir: Path, feed_urls: list[str], db: Path, workers: int = 0) -> None:
    cdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "config" / "watchlist.yaml", cdir / "watchlist.yaml")
    lines = ["sources:"]
    for i, u in enumerate(feed_urls):
        lines += [f"  - name: bench-{i:04d}", f"    url: {u}", "    language: en"]
    (cdir / "sources.yaml").write_text("\n".join(lines) + "\n")
    (cdir / "newswatch.yaml").write_text(
        f"database: {db}\n"
        "fetch:\n"
        "  # everything is served from one local host: the politeness limits for the real web\n"
        "  # (per-host concurrency and delay) are lifted for it, and private addresses allowed\n"
        '  unthrottled_hosts: ["127.0.0.1"]\n'
        "  allow_private_addresses: true\n"
        "pipeline:\n"
        f"  workers: {workers}\n"
    )


# -- running a process tree and measuring it ----------------------------------------------------
def _become_subreaper() -> bool:
    """Orphaned descendants (the forkserver's workers) are reparented to us and reaped here,
    so RUSAGE_CHILDREN counts the CPU time of the whole tree."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except Exception:
        return False


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _kind(pid: int, main: int) -> str:
    """main / forkserver / worker / resource_tracker / other, from /proc."""
    if pid == main:
        return "main"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return "other"
    ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
    if b"resource_tracker" in cmd:
        return "resource_tracker"
    if b"forkserver" in cmd:
        return "forkserver" if ppid == main else "worker"
    return "other"


def _tree(pid: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _rss_kb(pid: int) -> int:
    """RSS in kB of one process (0 if gone), from /proc/<pid>/statm: microseconds."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def _pss_kb(pid: int) -> int:
    """PSS in kB of one process (0 if gone). smaps_rollup walks the page tables: ~5 ms for a
    300 MB process, so it is read less often than the RSS."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclasses.dataclass
class ProcResult:
    wall: float
    cpu: float
    peak_rss_mb: float
    peak_pss_mb: float
    procs: int
    returncode: int
    stdout: str
    stderr: str
    at_peak: dict[str, list[float]] = dataclasses.field(default_factory=dict)  # kind -> MB each
    main_cpu: float = 0.0  # the `newswatch` process itself
    main_rss_mb: float = 0.0  # its peak RSS
    bench_cpu: float = 0.0  # this process meanwhile: the local server (and the sampler)


def run_tree(
    cmd: list[str], env: dict[str, str] | None = None, interval: float = 0.1
) -> ProcResult:
    """Run ``cmd`` and measure its process tree. The sampler is cheap on purpose (it shares the
    two cores with the pass): RSS every ``interval`` seconds, the tree re-read every 1 s, PSS
    every 2 s."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    out_chunks: dict[str, list[bytes]] = {"out": [], "err": []}

    def pump(stream, key):
        for chunk in iter(lambda: stream.read(65536), b""):
            out_chunks[key].append(chunk)

    pumps = [
        threading.Thread(target=pump, args=(proc.stdout, "out"), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, "err"), daemon=True),
    ]
    for t in pumps:
        t.start()
    peak_rss = peak_pss = main_rss = 0
    seen: set[int] = set()
    kinds: dict[int, str] = {}
    peak_each: dict[int, int] = {}
    self0 = time.process_time()
    pids: list[int] = []
    tick = 0
    while True:
        # wait4: the exit status and the CPU time of the main process alone (the forkserver
        # and its workers are not its waited children; they are reaped below)
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        every_s = max(1, round(1 / interval))
        if tick % every_s == 0:
            pids = _tree(proc.pid)
            seen.update(pids)
            for p in pids:
                if p not in kinds:
                    kinds[p] = _kind(p, proc.pid)
        rss = 0
        each = {}
        for p in pids:
            r = each[p] = _rss_kb(p)
            rss += r
            if p == proc.pid:
                main_rss = max(main_rss, r)
        if rss > peak_rss:
            peak_rss, peak_each = rss, each
        if tick % (2 * every_s) == 0:
            peak_pss = max(peak_pss, sum(_pss_kb(p) for p in pids))
        tick += 1
        time.sleep(interval)
    wall = time.perf_counter() - t0
    bench_cpu = time.process_time() - self0
    at_peak: dict[str, list[float]] = {}
    for p, r in sorted(peak_each.items()):
        at_peak.setdefault(kinds.get(p, "other"), []).append(r / 1024)
    main_cpu = usage.ru_utime + usage.ru_stime
    for t in pumps:
        t.join(5)
    # reap descendants that were reparented to us (we are a subreaper), so their CPU counts
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.02)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ProcResult(
        wall,
        cpu,
        peak_rss / 1024,
        peak_pss / 1024,
        len(seen),
        proc.returncode,
        b"".join(out_chunks["out"]).decode(errors="replace"),
        b"".join(out_chunks["err"]).decode(errors="replace"),
        at_peak=at_peak,
        main_cpu=main_cpu,
        main_rss_mb=main_rss / 1024,
        bench_cpu=bench_cpu,
    )


WRAP: list[str] = []  # --wrap: a command prefix for `newswatch run` (a profiler)
CHILD_ENV: dict[str, str] = dict(os.environ)  # the environment of `newswatch` processes (see main)


# --without attribution,provenance: a sitecustomize.py on the PYTHONPATH of every newswatch
# process (the fork server and the workers too) replaces, once the module is imported, the
# part with a no-op: the pass measured with and without it (issue 17: at most 15 % extra CPU)
_WITHOUT_HOOK = """
import importlib.abc, importlib.machinery, os, sys

_PATCHES = {
    "attribution": ("newswatch.pipeline.extraction", "_attribute", lambda *a, **k: ()),
    "provenance": ("newswatch.store.articles", "write_provenance", lambda *a, **k: None),
}
_TODO = {}
for _part in filter(None, os.environ.get("NW_BENCH_WITHOUT", "").split(",")):
    _mod, _name, _fn = _PATCHES[_part]
    _TODO.setdefault(_mod, []).append((_name, _fn))


class _Patch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in _TODO:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module, run=run):
            run(module)
            for attr, fn in _TODO[name]:
                setattr(module, attr, fn)

        spec.loader.exec_module = exec_module
        return spec


if _TODO:
    sys.meta_path.insert(0, _Patch())
"""


def set_child_paths(work: Path, without: set[str], src: Path | None) -> str:
    """PYTHONPATH of the newswatch processes for --without and --src; a note for the table."""
    paths, notes = [], []
    if without:
        hook = work / "without-hook"
        hook.mkdir(parents=True, exist_ok=True)
        (hook / "sitecustomize.py").write_text(_WITHOUT_HOOK)
        paths.append(str(hook))
        CHILD_ENV["NW_BENCH_WITHOUT"] = ",".join(sorted(without))
        notes.append(f"without {', '.join(sorted(without))} (no-ops in every process)")
    if src is not None:
        paths.append(str(src.resolve()))
        notes.append(f"newswatch imported from {src}")
    if paths:
        CHILD_ENV["PYTHONPATH"] = os.pathsep.join(
            [*paths, *filter(None, [CHILD_ENV.get("PYTHONPATH")])]
        )
    return "; ".join(notes)


RUNNER = ["cli"]  # --runner: `newswatch run` (cli) or the same pass as the Prefect flow (flow)


def newswatch_run(cdir: Path) -> tuple[ProcResult, dict]:
    cmd = [*WRAP, str(NEWSWATCH), "run", "--config", str(cdir), "--quiet", "--format", "json"]
    if RUNNER[0] == "flow":
        # newswatch.orchestration.flows.poll_flow (Prefect's ephemeral mode: no server)
        cmd.insert(len(WRAP) + 2, "--prefect")
    res = run_tree(cmd, env=CHILD_ENV)
    if res.returncode != 0:
        raise SystemExit(f"{RUNNER[0]} pass failed ({res.returncode}):\n{res.stderr[-3000:]}")
    out = res.stdout  # a --wrap profiler may print around the JSON
    return res, json.JSONDecoder().raw_decode(out[out.index("{") :])[0]


def start_prefect_server(log) -> subprocess.Popen:
    """`prefect server start` on a free port, until its API answers; sets PREFECT_API_URL."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)],
        env=CHILD_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.terminate()
        raise SystemExit("the Prefect server did not answer within 120 s")
    CHILD_ENV["PREFECT_API_URL"] = url
    log(f"Prefect server at {url}")
    return proc


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


# -- the parts -----------------------------------------------------------------------------------
def bench_floor(pages: list[Page], repeat: int) -> dict:
    import trafilatura

    trafilatura.extract(pages[0].html, url=pages[0].url)  # warm
    rates = []
    for _ in range(repeat):
        t = time.perf_counter()
        texts = [trafilatura.extract(p.html, url=p.url) for p in pages]
        rates.append(len(pages) / (time.perf_counter() - t))
    f1 = mean_f1(pages, [(-1, i, text) for i, text in enumerate(texts)])
    return {"rates": rates, "rate": statistics.median(rates), "f1": f1}


def bench_variants(pages: list[Page], repeat: int, log) -> list[dict]:
    """Extraction settings side by side in this process: pages/s and mean F1 (issue 16)."""
    import trafilatura

    from newswatch.ingest.extract import extract_article

    def nw(p: Page) -> str | None:
        return extract_article(p.html, url=p.url, with_metadata=False).text

    def tf(**kw):
        return lambda p: trafilatura.extract(p.html, url=p.url, **kw)

    variants = [
        ("`trafilatura.extract` defaults (the floor)", tf()),
        ("`extract(fast=True)`", tf(fast=True)),
        ("`extract(favor_recall=True)`", tf(favor_recall=True)),
        ("`extract(favor_precision=True)`", tf(favor_precision=True)),
        ("newswatch `extract_article` (no metadata)", nw),
    ]
    out = []
    for name, fn in variants:
        fn(pages[0])
        rates = []
        for _ in range(repeat):
            t = time.perf_counter()
            texts = [fn(p) for p in pages]
            rates.append(len(pages) / (time.perf_counter() - t))
        f1 = mean_f1(pages, [(-1, i, text) for i, text in enumerate(texts)])
        out.append({"name": name, "rate": statistics.median(rates), "f1": f1})
        log(f"  {name}: {out[-1]['rate']:.1f} pages/s, F1 {f1 or float('nan'):.3f}")
    return out


def bench_process_page(pages: list[Page]) -> tuple[dict, list]:
    """newswatch's per-page work in one process, as in the pass (the feed entry has a title and
    a date, so no page metadata is extracted), and the cost of each of its stages."""
    from newswatch.flagging.matcher import Matcher
    from newswatch.ingest.extract import extract_article
    from newswatch.ingest.language import detect_language
    from newswatch.models import FeedEntry
    from newswatch.pipeline.extraction import PageJob, content_hash, init_worker, process_page
    from newswatch.stories import signature

    init_worker(str(ROOT / "config" / "watchlist.yaml"))
    now = datetime(2026, 1, 1)
    jobs = [
        PageJob(
            FeedEntry(
                "bench",
                f"http://127.0.0.1/a/0/{i}.html",
                f"Bench article {i}",
                "Summary.",
                published_at=now,
            ),
            f"http://127.0.0.1/a/0/{i}.html",
            p.head + copy_paragraph(0, i) + p.tail,
            "text/html; charset=utf-8",
            now,
        )
        for i, p in enumerate(pages)
    ]
    process_page(jobs[0])
    t, cpu = time.perf_counter(), time.process_time()
    records = [process_page(j) for j in jobs]
    dt, cpu = time.perf_counter() - t, time.process_time() - cpu
    f1 = mean_f1(pages, [(0, i, r.text) for i, r in enumerate(records)])

    matcher = Matcher.from_path(ROOT / "config" / "watchlist.yaml")
    texts = [r.text or "" for r in records]
    stages = {
        "extraction (`extract_article`)": lambda j, text: extract_article(
            j.content, url=j.final_url, with_metadata=False
        ),
        "language detection": lambda j, text: detect_language(text),
        "flagging (`Matcher.match`)": lambda j, text: matcher.match(text, title=j.entry.title),
        "story signature": lambda j, text: signature(text, j.entry.title),
        "content hash": lambda j, text: content_hash(text),
    }
    ms = {}
    for name, fn in stages.items():
        t0 = time.process_time()
        for j, text in zip(jobs, texts, strict=True):
            fn(j, text)
        ms[name] = 1000 * (time.process_time() - t0) / len(jobs)
    return {"rate": len(jobs) / dt, "f1": f1, "ms": 1000 * cpu / len(jobs), "stages": ms}, records


def bench_matcher(records: list, repeat: int = 3) -> dict:
    from newswatch.flagging.matcher import Matcher

    m = Matcher.from_path(ROOT / "config" / "watchlist.yaml")
    texts = [(r.text or "", r.title, r.language) for r in records]
    mb = sum(len(t.encode()) for t, _, _ in texts) / 1e6
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for text, title, lang in texts:
            m.match(text, title=title, language=lang)
        times.append(time.perf_counter() - t)
    dt = statistics.median(times)
    return {"ms_per_article": 1000 * dt / len(texts), "mb_per_s": mb / dt}


def bench_pipeline(
    site: Site, pages: list[Page], scale: int, repeat: int, work: Path, floor_rate: float, log
) -> dict:
    """``repeat`` passes over N = pages × scale; before each, the floor is measured again (one
    round of the corpus), and each run's ratio is its wall time over that floor's time for N."""
    n = len(pages) * scale
    links = [(c, i) for c in range(scale) for i in range(len(pages))]
    feeds = build_feeds(site, f"x{scale}", links, pages)
    runs = []
    for r in range(repeat):
        d = work / f"x{scale}-{r}"
        shutil.rmtree(d, ignore_errors=True)
        write_config(d / "config", feeds, d / "bench.duckdb")
        run_floor = bench_floor(pages, 1)["rate"]
        ld = load()
        res, summary = newswatch_run(d / "config")
        if summary["articles_new"] != n:
            log(f"  warning: {summary['articles_new']} new articles, expected {n}: {summary}")
        f1 = mean_f1(pages, stored_texts(d / "bench.duckdb"))
        runs.append(
            {
                "wall": res.wall,
                "cpu": res.cpu,
                "main_cpu": res.main_cpu,
                "bench_cpu": res.bench_cpu,
                "rss": res.peak_rss_mb,
                "main_rss": res.main_rss_mb,
                "at_peak": res.at_peak,
                "pss": res.peak_pss_mb,
                "articles": summary["articles_new"],
                "pages_failed": summary["pages_failed"],
                "procs": res.procs,
                "f1": f1,
                "floor_rate": run_floor,
                "ratio": res.wall / (n / run_floor),
                "load": ld,
            }
        )
        log(
            f"  x{scale} run {r + 1}/{repeat}: {n} pages, {res.wall:.1f} s wall, "
            f"{res.cpu:.1f} s CPU ({res.main_cpu:.1f} s in the main process; "
            f"this process {res.bench_cpu:.1f} s), {summary['articles_new']} new, "
            f"stored-text F1 {f1 or float('nan'):.3f}, peak RSS {res.peak_rss_mb:.0f} MB "
            f"(main {res.main_rss_mb:.0f}) / PSS {res.peak_pss_mb:.0f} MB, "
            f"{res.procs} processes, load before {ld}"
        )
        log(
            "    RSS at the peak: "
            + ", ".join(
                f"{k} {' + '.join(f'{mb:.0f}' for mb in v)} MB" for k, v in res.at_peak.items()
            )
        )
        shutil.rmtree(d, ignore_errors=True)
    med = lambda k: statistics.median(x[k] for x in runs)  # noqa: E731
    wall = med("wall")
    return {
        "scale": scale,
        "n": n,
        "feeds": len(feeds),
        "runs": runs,
        "wall": wall,
        "cpu": med("cpu"),
        "main_cpu": med("main_cpu"),
        "bench_cpu": med("bench_cpu"),
        "rss": med("rss"),
        "main_rss": med("main_rss"),
        "pss": med("pss"),
        "max_rss": max(x["rss"] for x in runs),
        "f1": min((x["f1"] for x in runs if x["f1"] is not None), default=None),
        "rate": n / wall,
        "floor_rate": med("floor_rate"),
        "ratio": med("ratio"),
        "articles": min(x["articles"] for x in runs),
    }


def bench_idle(site: Site, pages: list[Page], repeat: int, work: Path, log) -> dict:
    # 500 feeds of 50 items each, over a pool of the corpus pages (copy 0): the first pass
    # stores them and the feeds' validators; every later pass gets 304 from every feed
    links_pool = [(10_000, i) for i in range(len(pages))]
    links = [links_pool[(k * 7) % len(links_pool)] for k in range(IDLE_FEEDS * ITEMS_PER_FEED)]
    feeds = build_feeds(site, "idle", links, pages)[:IDLE_FEEDS]
    d = work / "idle"
    shutil.rmtree(d, ignore_errors=True)
    write_config(d / "config", feeds, d / "bench.duckdb")
    first, s1 = newswatch_run(d / "config")
    log(
        f"  idle set-up pass: {len(feeds)} feeds, {s1['articles_new']} articles, {first.wall:.1f} s"
    )
    runs = []
    for r in range(repeat):
        before = dict(site.counts)
        ld = load()
        res, s = newswatch_run(d / "config")
        got304 = site.counts.get(304, 0) - before.get(304, 0)
        runs.append(
            {
                "wall": res.wall,
                "cpu": res.cpu,
                "rss": res.peak_rss_mb,
                "unchanged": s["feeds_unchanged"],
                "n304": got304,
                "load": ld,
            }
        )
        log(
            f"  idle pass {r + 1}/{repeat}: {res.wall:.2f} s wall, {res.cpu:.2f} s CPU, "
            f"{s['feeds_unchanged']} feeds unchanged, {got304} answered 304, load before {ld}"
        )
    starts, imports = [], []
    for _ in range(repeat):
        starts.append(run_tree([str(NEWSWATCH), "--help"], env=CHILD_ENV).wall)
        imports.append(
            run_tree(
                [sys.executable, "-c", "import newswatch.cli, newswatch.pipeline.run"],
                env=CHILD_ENV,
            ).wall
        )
    shutil.rmtree(d, ignore_errors=True)
    wall = statistics.median(x["wall"] for x in runs)
    start = statistics.median(starts)
    return {
        "feeds": len(feeds),
        "runs": runs,
        "wall": wall,
        "cpu": statistics.median(x["cpu"] for x in runs),
        "start": start,
        "import": statistics.median(imports),
        "beyond": wall - start,
        "unchanged": min(x["unchanged"] for x in runs),
        "n304": min(x["n304"] for x in runs),
    }


def _archive_db(path: Path, rows: int, log) -> None:
    import duckdb

    from newswatch.store import Store

    Store(path).migrate()
    t = time.perf_counter()
    con = duckdb.connect(str(path))
    con.execute("BEGIN TRANSACTION")
    con.execute(f"""
        INSERT INTO articles
        SELECT substr(sha256('a' || i::VARCHAR), 1, 16) AS article_id,
               'https://news' || (i % 500)::VARCHAR || '.example.com/2025/' || i::VARCHAR || '.html' AS url,
               'https://news' || (i % 500)::VARCHAR || '.example.com/2025/' || i::VARCHAR || '.html' AS canonical_url,
               'source-' || (i % 500)::VARCHAR, 'Synthetic headline number ' || i::VARCHAR, NULL,
               TIMESTAMP '2026-01-01' - to_seconds(i * 60), TIMESTAMP '2026-01-01' - to_seconds(i * 60 - 30),
               'en',
               'Synthetic article ' || i::VARCHAR || '. '
                   || repeat('Officials said on Tuesday that talks would resume next week. ', 8),
               'Synthetic summary ' || i::VARCHAR, 'trafilatura',
               substr(sha256('a' || i::VARCHAR), 1, 16), substr(sha256('t' || i::VARCHAR), 1, 32), 'synthetic'
        FROM range({rows}) t(i)
    """)
    con.execute(
        "INSERT INTO article_urls (url, article_id, url_key) "
        "SELECT canonical_url, article_id, md5_number_lower(canonical_url) FROM articles"
    )
    con.execute("""
        INSERT INTO flags SELECT article_id, ['north_korea', 'hamas'], ['tunnel_network'], 2.5,
               fetched_at, 'synthetic' FROM articles WHERE hash(article_id) % 10 = 0
    """)
    con.execute("""
        INSERT INTO mentions SELECT f.article_id, 'actor', 'north_korea', 'North Korea',
               'North Korea reportedly helped build the tunnels.', 'text', 0, 11, 'north korea', 1.0
        FROM flags f
    """)
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    if {"story_signatures", "story_bands"} <= tables:
        # near-duplicate clustering state: a signature per article and one row per LSH band
        # (random buckets: nothing in the archive matches the new batches, as for fresh news)
        from newswatch.stories import DEFAULT_SETTINGS as ST

        con.execute(f"""
            INSERT INTO story_signatures
            SELECT article_id, story_id, published_at, published_at::DATE, 400, title,
                   ('\\x01\\x05\\x80\\x00' || repeat('\\xAB', {4 + 4 * ST.num_perm}))::BLOB
            FROM articles
        """)
        con.execute(f"""
            INSERT INTO story_bands
            SELECT b::SMALLINT, (hash(a.article_id || b::VARCHAR) >> 1)::BIGINT, a.article_id, a.story_id,
                   a.published_at::DATE
            FROM articles a, range({ST.bands}) t(b)
        """)
    if {"article_anchors", "story_derivations", "attributions"} <= tables:
        # provenance of a current store: anchors of every flagged article, one derivation
        # row per article (each its own first report), an attribution per flagged article;
        # without them every batch would backfill 200 anchors and 500 derivations of the
        # synthetic archive, a one-off cost of an upgraded store, not a cost of its size
        con.execute("""
            INSERT INTO article_anchors
            SELECT article_id, ['13 million usd', '2014', 'rfa'] FROM flags
        """)
        con.execute("""
            INSERT INTO story_derivations
            SELECT story_id, article_id, NULL, NULL, true, 1.0 FROM articles
        """)
        con.execute("""
            INSERT INTO attributions
            SELECT article_id, 'north_korea', 'text', 0, 11, 'officials said', 40, 54, NULL,
                   'anonymous', 'said', 'North Korea reportedly helped build the tunnels.'
            FROM flags
        """)
    con.execute("COMMIT")
    con.execute("CHECKPOINT")
    con.close()
    log(
        f"  archive: {rows:,} synthetic articles written in {time.perf_counter() - t:.1f} s "
        f"({path.stat().st_size / 1e6:.0f} MB)"
    )


def bench_archive(
    records: list, rows: int, work: Path, log, repeat: int = 7, fts_big: bool = False
) -> dict:
    from newswatch.flagging.matcher import Matcher
    from newswatch.store import Store

    matcher = Matcher.from_path(ROOT / "config" / "watchlist.yaml")
    hot = (
        "North Korea's KOMID sold tunnelling technology to Hezbollah's Jihad al-Binaa for "
        "$13 million, and Hamas fighters trained on it, officials said. "
    )
    base = [r for r in records if r.text] or records

    def batch(tag: str, k: int) -> list:
        out = []
        for j in range(200):
            r = base[j % len(base)]
            url = f"https://bench.example.org/{tag}/{k}/{j}.html"
            text = (hot + (r.text or "")) if j % 2 == 0 else (r.text or "")
            flag = matcher.match(text, title=r.title, language=r.language)
            out.append(
                dataclasses.replace(
                    r,
                    article_id=hashlib.sha256(url.encode()).hexdigest()[:16],
                    url=url,
                    canonical_url=url,
                    text=text,
                    flag=flag,
                    published_at=None,
                    fetched_at=datetime(2026, 1, 1, 0, 30),
                )
            )
        return out

    result = {}
    for label, n in (("empty", 0), ("archive", rows)):
        path = work / f"archive-{label}.duckdb"
        for p in (path, Path(str(path) + ".wal")):
            p.unlink(missing_ok=True)
        if n:
            _archive_db(path, n, log)
        else:
            Store(path).migrate()
        store = Store(path)
        # dedup lookup: 200 URLs, half of them stored (from the archive when there is one)
        if n:
            stored = [
                f"https://news{i % 500}.example.com/2025/{i}.html" for i in range(0, n, n // 100)
            ][:100]
        else:
            seed = batch("seed", 0)[:100]
            store.articles.write_batch(seed, run_id="bench")
            stored = [r.canonical_url for r in seed]
        lookups = stored + [
            f"https://nowhere.example.net/{i}.html" for i in range(200 - len(stored))
        ]
        store.articles.known_urls(lookups)
        lk = []
        for _ in range(repeat):
            t = time.perf_counter()
            found = store.articles.known_urls(lookups)
            lk.append(time.perf_counter() - t)
        assert len(found) == len(stored), (len(found), len(stored))
        wr, flagged = [], 0
        batches = [batch(label, k) for k in range(repeat + 1)]
        store.articles.write_batch(batches[0], run_id="bench", watchlist_version="bench")  # warm
        for k in range(1, repeat + 1):
            t = time.perf_counter()
            stats = store.articles.write_batch(
                batches[k], run_id="bench", watchlist_version="bench"
            )
            wr.append(time.perf_counter() - t)
            flagged = stats.articles_flagged
            assert stats.articles_new == 200, stats
        result[label] = {
            "lookup_ms": 1000 * statistics.median(lk) / 200,
            "write_ms": 1000 * statistics.median(wr) / 200,
            "flagged_per_batch": flagged,
        }
        if hasattr(store, "rebuild_search_index") and (n <= 200_000 or fts_big):
            # what a pass that stored articles does at its end (pipeline.fulltext_index)
            with store.reader() as con:
                result[label]["count"] = con.execute("SELECT count(*) FROM articles").fetchone()[0]
            t = time.perf_counter()
            store.search.rebuild()
            result[label]["fts_s"] = time.perf_counter() - t
        log(
            f"  {label} ({n:,} articles): known_urls {result[label]['lookup_ms']:.3f} ms/URL, "
            f"write_batch {result[label]['write_ms']:.3f} ms/article ({flagged}/200 flagged), "
            f"full-text index rebuild {result[label].get('fts_s', float('nan')):.1f} s"
        )
        for p in (path, Path(str(path) + ".wal")):
            p.unlink(missing_ok=True)
    result["rows"] = rows
    return result


def probe_servers(site: Site, pages: list[Page], seconds: float, log) -> dict:
    """Requests/s that each server sustains for corpus pages (httpx, 32 in flight)."""
    import httpx

    out = {}
    for kind in ("asyncio", "localsite"):
        with make_server(kind, site):

            async def go():
                done = 0
                deadline = time.perf_counter() + seconds
                async with httpx.AsyncClient(limits=httpx.Limits(max_connections=32)) as c:

                    async def worker(w):
                        nonlocal done
                        k = w
                        while time.perf_counter() < deadline:
                            r = await c.get(site.url(f"/a/{k}/{k % len(pages)}.html"))
                            assert r.status_code == 200
                            done += 1
                            k += 32

                    t = time.perf_counter()
                    await asyncio.gather(*(worker(w) for w in range(32)))
                    return done / (time.perf_counter() - t)

            cpu0 = time.process_time()
            rate = asyncio.run(go())
            out[kind] = rate
            log(
                f"  server probe {kind}: {rate:.0f} pages/s (client and server in one process, "
                f"{time.process_time() - cpu0:.1f} s CPU)"
            )
    return out


# -- the report ----------------------------------------------------------------------------------
def ok(good: bool) -> str:
    return "yes" if good else "**no**"


def _f1(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def report(
    args,
    env: dict,
    floor: dict,
    pp: dict,
    pipes: list[dict],
    idle: dict | None,
    archive: dict | None,
    matcher: dict | None,
    probe: dict | None,
    variants: list[dict] | None = None,
) -> str:
    L = []
    L.append(f"Command: `uv run python bench/bench_pipeline.py {' '.join(args.argv)}`".rstrip())
    L.append("")
    L.append(
        f"Machine: {env['cpus']} cores, Python {env['python']}, trafilatura {env['trafilatura']}, "
        f"duckdb {env['duckdb']}; load average at start {env['load_start']}, at end "
        f"{env['load_end']}; {env['date']}. Medians of {args.repeat} run(s). "
        f"Pass started by: {args.runner}."
    )
    L.append("")
    L.append("| measure | value | target | met |")
    L.append("|---|---:|---:|:---:|")
    L.append(
        f"| floor: `trafilatura.extract` defaults, one process, {env['pages']} pages: pages/s; "
        f"mean F1 | {floor['rate']:.1f}; {_f1(floor['f1'])} | | |"
    )
    L.append(
        f"| newswatch `process_page` (extract + canonical + language + flag + signature), "
        f"one process: pages/s; mean F1 | {pp['rate']:.1f}; {_f1(pp['f1'])} | | |"
    )
    L.append(
        "| … of which (CPU per page) | "
        + "; ".join(f"{k} {v:.2f} ms" for k, v in pp["stages"].items())
        + f" (all of process_page: {pp['ms']:.2f} ms) | | |"
    )
    top = max((x["scale"] for x in pipes), default=0)
    for p in pipes:
        tag = f"N = {env['pages']} × {p['scale']} = {p['n']:,}"
        at_top = p["scale"] == top
        L.append(
            f"| pass {tag}: articles/s | {p['rate']:.1f} | "
            + (
                f"≥ {TARGETS['articles_per_s']:.0f} | "
                f"{ok(p['rate'] >= TARGETS['articles_per_s'])} |"
                if at_top
                else " | |"
            )
        )
        L.append(
            f"| pass {tag}: wall / CPU of the tree ({p['cpu'] / p['wall']:.2f} cores) | "
            f"{p['wall']:.1f} s / {p['cpu']:.1f} s | | |"
        )
        L.append(
            f"| pass {tag}: CPU per article, whole tree (main process; this process, i.e. the "
            f"local server) | {1000 * p['cpu'] / p['n']:.1f} ms ({1000 * p['main_cpu'] / p['n']:.1f}; "
            f"{1000 * p['bench_cpu'] / p['n']:.1f}) | | |"
        )
        L.append(
            f"| pass {tag}: ratio wall / floor time for N (floor measured before each run: "
            f"{p['floor_rate']:.1f} pages/s) | {p['ratio']:.2f} | ≤ {TARGETS['ratio']} | "
            f"{ok(p['ratio'] <= TARGETS['ratio'])} |"
        )
        L.append(
            f"| pass {tag}: mean F1 of the stored text | {_f1(p['f1'])} | "
            f"≥ {TARGETS['f1']} | {ok(p['f1'] is not None and p['f1'] >= TARGETS['f1'])} |"
        )
        L.append(
            f"| pass {tag}: peak memory, sum of RSS over the tree (main process; PSS) | "
            f"{p['rss']:.0f} MB ({p['main_rss']:.0f} MB; {p['pss']:.0f} MB) | "
            f"< {TARGETS['mem_mb']:.0f} MB | {ok(p['max_rss'] < TARGETS['mem_mb'])} |"
        )
    if len(pipes) >= 2:
        lo, hi = pipes[0], pipes[-1]
        g = hi["rss"] / lo["rss"]
        L.append(
            f"| peak memory ×{hi['scale']} / ×{lo['scale']} (RSS) | {g:.2f} | "
            f"≤ {TARGETS['mem_growth']} | {ok(g <= TARGETS['mem_growth'])} |"
        )
    if idle:
        L.append(
            f"| idle pass, {idle['feeds']} feeds, all 304 ({idle['n304']} answered 304): wall / CPU | "
            f"{idle['wall']:.2f} s / {idle['cpu']:.2f} s | | |"
        )
        L.append(
            f"| process start: `newswatch --help` (import of cli + pipeline alone: {idle['import']:.2f} s) | "
            f"{idle['start']:.2f} s | | |"
        )
        L.append(
            f"| idle pass beyond process start | {idle['beyond']:.2f} s | ≤ {TARGETS['idle_beyond_start_s']:.0f} s | "
            f"{ok(idle['beyond'] <= TARGETS['idle_beyond_start_s'])} |"
        )
    if archive:
        e, a = archive["empty"], archive["archive"]
        for key, what in (
            ("lookup_ms", "dedup lookup `known_urls` (200 URLs), per URL"),
            ("write_ms", "store `write_batch` (200 articles, ~half flagged), per article"),
        ):
            g = a[key] / e[key]
            L.append(
                f"| {what}: empty → {archive['rows']:,} articles | {e[key]:.3f} → {a[key]:.3f} ms "
                f"(×{g:.2f}) | ≤ ×{TARGETS['archive_growth']} | {ok(g <= TARGETS['archive_growth'])} |"
            )
    if archive and "fts_s" in archive["empty"] and "fts_s" not in archive["archive"]:
        L.append(
            f"| full-text index rebuild at the end of a pass (`pipeline.fulltext_index`), "
            f"{archive['empty']['count']:,} articles (at {archive['rows']:,}: `--fts-big`) | "
            f"{archive['empty']['fts_s']:.2f} s | | |"
        )
    if archive and "fts_s" in archive["archive"]:
        e, a = archive["empty"], archive["archive"]
        L.append(
            f"| full-text index rebuild at the end of a pass (`pipeline.fulltext_index`): "
            f"{e['count']:,} → {a['count']:,} articles | {e['fts_s']:.2f} → {a['fts_s']:.1f} s | | |"
        )
    if matcher:
        L.append(
            f"| flagging (`Matcher.match`) per article (independent of the archive) | "
            f"{matcher['ms_per_article']:.2f} ms ({matcher['mb_per_s']:.1f} MB/s) | | |"
        )
    if probe:
        L.append(
            f"| local server alone, corpus pages/s (asyncio server / LocalSite) | "
            f"{probe['asyncio']:.0f} / {probe['localsite']:.0f} | | |"
        )
    if variants:
        L.append("")
        L.append(f"Extraction settings, one process, the {env['pages']} pages (same run):")
        L.append("")
        L.append("| extractor | pages/s | mean F1 |")
        L.append("|---|---:|---:|")
        for v in variants:
            L.append(f"| {v['name']} | {v['rate']:.1f} | {_f1(v['f1'])} |")
    L.append("")
    L.append(f"Python bytecode for the `newswatch` processes: {env['bytecode']}.")
    L.append("")
    L.append(
        f"Server: {args.server}. Feeds of {ITEMS_PER_FEED} items; each copy of a page carries a "
        'unique paragraph. Config: `fetch.unthrottled_hosts: ["127.0.0.1"]`, '
        "`fetch.allow_private_addresses: true`, other settings default (`pipeline.workers: 0`). "
        "CPU is user+sys of the pass's process and all its descendants; RSS is sampled every "
        "100 ms from /proc (PSS every 2 s). F1: whitespace-token F1 against `ground-truth.json`, each copy's own "
        "paragraph taken out of the stored text first."
    )
    for p in pipes:
        L.append("")
        L.append(
            f"Runs at ×{p['scale']}: "
            + "; ".join(
                f"{r['wall']:.1f} s (ratio {r['ratio']:.2f}, floor {r['floor_rate']:.1f} pages/s), "
                f"{r['cpu']:.1f} s CPU, {r['rss']:.0f} MB, F1 {_f1(r['f1'])} (load {r['load']})"
                for r in p["runs"]
            )
        )
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick", action="store_true", help="scale 1, one run, 100,000-article archive"
    )
    ap.add_argument(
        "--repeat", type=int, default=None, help="runs per measurement (default 3; 1 with --quick)"
    )
    ap.add_argument(
        "--scales", default=None, help="copies of the corpus, comma-separated (default 5,20)"
    )
    ap.add_argument(
        "--archive-rows", type=int, default=None, help="synthetic articles (default 1,000,000)"
    )
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pipeline.md")
    ap.add_argument("--server", choices=["asyncio", "localsite"], default="asyncio")
    ap.add_argument(
        "--runner",
        choices=["cli", "flow"],
        default="cli",
        help="start each pass with `newswatch run` (cli) or `newswatch run --prefect` (flow)",
    )
    ap.add_argument(
        "--probe-servers", action="store_true", help="also measure the servers' own throughput"
    )
    ap.add_argument(
        "--prefect-server",
        action="store_true",
        help="with --runner flow: start one Prefect server first (outside the measured tree), "
        "as a deployment has, instead of Prefect's ephemeral mode in every pass",
    )
    ap.add_argument(
        "--skip",
        default="",
        help="parts to skip, comma-separated: variants,pipeline,idle,archive",
    )
    ap.add_argument(
        "--wrap",
        default="",
        help="command prefix for `newswatch run`, e.g. a profiler: "
        "'py-spy record --subprocesses -f raw -o prof.txt --' ({n} = a counter)",
    )
    ap.add_argument(
        "--fts-big",
        action="store_true",
        help="also time the full-text index rebuild on archives over 200,000 articles (minutes)",
    )
    ap.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run newswatch with the environment as it is (see 'Bytecode' in main)",
    )
    ap.add_argument(
        "--without",
        default="",
        help="parts of the pass made no-ops, comma-separated: attribution,provenance "
        "(their cost is the difference with a run without this option)",
    )
    ap.add_argument(
        "--src",
        type=Path,
        default=None,
        help="import newswatch from this folder (a copy of src/ with a change to measure)",
    )
    ap.add_argument(
        "--work", type=Path, default=None, help="scratch folder (default: a temporary one)"
    )
    args = ap.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    args.repeat = args.repeat or (1 if args.quick else 3)
    scales = [int(s) for s in (args.scales or ("1" if args.quick else "5,20")).split(",") if s]
    rows = args.archive_rows or (100_000 if args.quick else 1_000_000)
    skip = set(filter(None, args.skip.split(",")))
    WRAP[:] = args.wrap.split()
    RUNNER[0] = args.runner

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if not (args.corpus / "manifest.jsonl").exists():
        print(
            f"SKIPPED: the corpus is absent ({args.corpus}/manifest.jsonl not found); "
            "pass --corpus DIR or check out ../shared/corpora/articles-aeb"
        )
        return 0
    if not NEWSWATCH.exists():
        print(f"SKIPPED: {NEWSWATCH} not found; run through `uv run`")
        return 0

    import duckdb
    import trafilatura

    _become_subreaper()
    # Bytecode: uv installs without .pyc files, and where PYTHONDONTWRITEBYTECODE is set (as
    # on this project's machines) every process compiles every module it imports from source,
    # at every start. A deployment has bytecode (the Dockerfile sets UV_COMPILE_BYTECODE=1).
    # By default the benchmark keeps compiled bytecode in bench/results/pycache
    # (PYTHONPYCACHEPREFIX: nothing is written into src/ or .venv/) and warms it up first;
    # --no-bytecode-cache measures the cold case.
    CHILD_ENV["PYTHONUNBUFFERED"] = "1"
    env_note = "cold: every process compiles from source (no .pyc, PYTHONDONTWRITEBYTECODE)"
    if not args.no_bytecode_cache:
        CHILD_ENV.pop("PYTHONDONTWRITEBYTECODE", None)
        CHILD_ENV["PYTHONPYCACHEPREFIX"] = str(args.out.parent.resolve() / "pycache")
        cache = Path(CHILD_ENV["PYTHONPYCACHEPREFIX"])
        env_note = (
            f"bytecode cached in {cache.relative_to(ROOT) if cache.is_relative_to(ROOT) else cache}"
        )
    elif "PYTHONDONTWRITEBYTECODE" not in CHILD_ENV:
        env_note = "bytecode as the environment has it"
    env = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "trafilatura": trafilatura.__version__,
        "duckdb": duckdb.__version__,
        "load_start": load(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    pages = load_corpus(args.corpus)
    env["pages"] = len(pages)
    log(
        f"corpus: {len(pages)} pages, {sum(len(p.html) for p in pages) / len(pages) / 1024:.0f} KB mean; "
        f"load {env['load_start']}"
    )

    work = args.work or Path(tempfile.mkdtemp(prefix="nw-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    without = set(filter(None, args.without.split(",")))
    unknown = without - {"attribution", "provenance"}
    if unknown:
        ap.error(f"--without: unknown part(s) {', '.join(sorted(unknown))}")
    if note := set_child_paths(work, without, args.src):
        env_note += f"; {note}"
    prefect_server = None
    if args.runner == "flow":  # Prefect's home in the scratch folder
        CHILD_ENV.setdefault("PREFECT_HOME", str(work / "prefect-home"))
        CHILD_ENV.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        CHILD_ENV.setdefault("DO_NOT_TRACK", "1")
        CHILD_ENV.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        if args.prefect_server:
            prefect_server = start_prefect_server(log)
            args.runner = f"flow, Prefect server at {CHILD_ENV['PREFECT_API_URL']}"
        else:
            args.runner = "flow, Prefect's ephemeral mode (its temporary server is in the tree)"
    try:
        log("floor: trafilatura.extract, one process")
        floor = bench_floor(pages, max(args.repeat, 2))
        log(
            f"  {floor['rate']:.1f} pages/s (runs: {', '.join(f'{r:.1f}' for r in floor['rates'])})"
        )
        log(f"  F1 {floor['f1'] or float('nan'):.3f}")
        variants = None
        if "variants" not in skip:
            log("extraction settings, one process")
            variants = bench_variants(pages, max(args.repeat, 2), log)
        pp, records = bench_process_page(pages)
        log(
            f"  newswatch process_page, one process: {pp['rate']:.1f} pages/s, "
            f"F1 {pp['f1'] or float('nan'):.3f}"
        )
        matcher = bench_matcher(records)

        site = Site(pages)
        with make_server(args.server, site):
            # warm-up (untimed): writes the bytecode cache for the main process, the
            # forkserver and the workers
            d = work / "warmup"
            write_config(
                d / "config",
                build_feeds(site, "warmup", [(99_999, i) for i in range(4)], pages),
                d / "bench.duckdb",
            )
            t = time.perf_counter()
            newswatch_run(d / "config")
            log(f"warm-up pass: {time.perf_counter() - t:.1f} s ({env_note})")
            shutil.rmtree(d, ignore_errors=True)
        env["bytecode"] = env_note
        probe = probe_servers(site, pages, 5.0, log) if args.probe_servers else None
        pipes, idle = [], None
        with make_server(args.server, site):
            if "pipeline" not in skip:
                for s in scales:
                    log(f"pipeline ×{s} ({len(pages) * s} pages), server {args.server}")
                    pipes.append(
                        bench_pipeline(site, pages, s, args.repeat, work, floor["rate"], log)
                    )
            if "idle" not in skip:
                log(f"idle pass: {IDLE_FEEDS} feeds")
                idle = bench_idle(site, pages, args.repeat, work, log)
        archive = None
        if "archive" not in skip:
            log(f"archive: {rows:,} articles")
            archive = bench_archive(records, rows, work, log, fts_big=args.fts_big)
        env["load_end"] = load()
        table = report(args, env, floor, pp, pipes, idle, archive, matcher, probe, variants)
    finally:
        if prefect_server is not None:
            prefect_server.terminate()
            prefect_server.wait(30)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    log(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
