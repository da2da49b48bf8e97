"""The bundled demo news web: six fictional outlets, their feeds and about thirty articles.

The files live in ``site/`` beside this module (package data, so this works from a wheel).
``site/site.yaml`` is the manifest: the outlets with their feeds, and every article (by URL
path, such as ``/al-manara/article/2026/11/05/48213.html``) with the actors and allegations
newswatch should find in it. It is ground truth for tests and is not served.

Links in the files are written against the placeholder ``{{BASE}}``; :func:`demo_site`
replaces it with the server's real ``http://127.0.0.1:PORT``, which is known as soon as the
:class:`~newswatch.demo.localsite.LocalSite` is constructed (it binds in its constructor).

    site = demo_site()
    with site:
        sources = demo_sources(site)   # feed list for a sources.yaml
        ...
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import yaml

from newswatch.demo.localsite import LocalSite

__all__ = [
    "BASE_PLACEHOLDER",
    "FEED_CONTENT_TYPES",
    "demo_manifest",
    "demo_site",
    "demo_sources",
    "site_files",
]

BASE_PLACEHOLDER = "{{BASE}}"
MANIFEST_NAME = "site.yaml"

# feed format in the manifest -> Content-Type the server sends
FEED_CONTENT_TYPES = {
    "rss2": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "rdf": "application/rdf+xml; charset=utf-8",
}

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".rdf": "application/rdf+xml; charset=utf-8",
}


def _site_root() -> Traversable:
    return files(__name__) / "site"


def site_files() -> dict[str, bytes]:
    """Every served file of the demo site as ``{"/url/path": raw bytes}`` (placeholders kept)."""
    out: dict[str, bytes] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name.startswith((".", "_")):
                continue  # __pycache__, editor droppings
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.is_file():
                path = f"{prefix}{child.name}"
                if path != "/" + MANIFEST_NAME:
                    out[path] = child.read_bytes()

    walk(_site_root(), "/")
    return out


@lru_cache(maxsize=1)
def _manifest() -> dict[str, Any]:
    text = (_site_root() / MANIFEST_NAME).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def demo_manifest() -> dict[str, Any]:
    """The parsed ``site.yaml``: ``{"outlets": [...], "articles": [...]}`` (a fresh copy)."""
    data = _manifest()
    return {
        "outlets": [dict(o) for o in data["outlets"]],
        "articles": [dict(a) for a in data["articles"]],
    }


def _content_type(path: str, feeds: dict[str, str]) -> str:
    if path in feeds:
        return feeds[path]
    suffix = path[path.rfind(".") :] if "." in path.rsplit("/", 1)[-1] else ""
    return _CONTENT_TYPES.get(suffix, "application/octet-stream")


def demo_site(*, host: str = "127.0.0.1", port: int = 0) -> LocalSite:
    """A LocalSite (bound, not started) serving the demo news web at its own base URL.

    Every file is a route; ``{{BASE}}`` in text files is replaced by ``site.base_url``. A
    folder's ``index.html`` is also served at the folder's path (``/``, ``/al-manara/``).
    Feeds get the Content-Type of their format (RSS 2.0, Atom, RSS 1.0/RDF).
    """
    site = LocalSite(host=host, port=port)
    base = site.base_url.encode("ascii")
    feeds = {o["feed"]: FEED_CONTENT_TYPES[o["format"]] for o in _manifest()["outlets"]}
    for path, raw in site_files().items():
        body = raw.replace(BASE_PLACEHOLDER.encode("ascii"), base)
        ctype = _content_type(path, feeds)
        site.add(path, body, content_type=ctype)
        if path.endswith("/index.html"):
            site.add(path[: -len("index.html")], body, content_type=ctype)
    return site


def demo_sources(site: LocalSite) -> list[dict[str, Any]]:
    """One source per outlet feed, as entries for a ``sources.yaml`` pointing at ``site``."""
    return [
        {
            "name": o.get("name_latin") or o["name"],
            "url": site.url(o["feed"]),
            "language": o["language"],
            "tags": ["demo", *o.get("tags", [])],
        }
        for o in _manifest()["outlets"]
    ]
