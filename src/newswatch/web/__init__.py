"""The analyst's workbench: ``newswatch web``, a server-rendered site over the store.

    create_app(config_dir, db, …)   the ASGI app (Starlette, Jinja2 with autoescaping)
    serve_web(config_dir, db, host, port, …)   run it (blocking, Ctrl-C safe)

Works without JavaScript; every view is a URL with its filters in the query string and a
``.json`` / ``.csv`` twin of every list; charts are inline SVG drawn on the server. The top
of the house: nothing else in newswatch imports it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve_web"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    from newswatch.web.app import create_app as _create_app

    return _create_app(*args, **kwargs)


def serve_web(*args: Any, **kwargs: Any) -> None:
    from newswatch.web.server import serve_web as _serve_web

    _serve_web(*args, **kwargs)
