"""The workbench as an ASGI app: :func:`create_app`.

    SecurityHeaders ─▶ BasicAuth (when a password is set) ─▶ Starlette routes ─▶ views/*

One URL per view, its state in the query string, a ``.json`` and ``.csv`` twin of every
list. Handlers are plain functions (run in a thread pool by Starlette): each opens one
read-only connection for the request and closes it before the page is rendered, so a pass
that wants to write waits for at most one query.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from newswatch.errors import ConfigError, StoreError
from newswatch.web.context import Workbench
from newswatch.web.render import page
from newswatch.web.security import PASSWORD_ENV, BasicAuth, SecurityHeaders
from newswatch.web.views import articles, board, digests, ops, stories, tools, trends

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _routes() -> list[Any]:
    static = StaticFiles(directory=str(files("newswatch.web") / "static"))
    return [
        Route("/", board.board),
        Route("/board.json", board.board),
        Route("/articles", articles.article_list),
        Route("/articles.json", articles.article_list),
        Route("/articles.csv", articles.article_list),
        Route("/articles/{article_id}", articles.article_page),
        Route("/articles/{article_id}/verdicts", articles.post_verdict, methods=["POST"]),
        Route("/stories/{story_id}", stories.story_page),
        Route("/trends", trends.trends_page),
        Route("/trends.json", trends.trends_page),
        Route("/trends.csv", trends.trends_page),
        Route("/sources", ops.sources_page),
        Route("/sources.json", ops.sources_page),
        Route("/sources.csv", ops.sources_page),
        Route("/sources/{name:path}", ops.source_page),
        Route("/runs", ops.runs_page),
        Route("/runs.json", ops.runs_page),
        Route("/runs.csv", ops.runs_page),
        Route("/problems", ops.problems_page),
        Route("/problems.json", ops.problems_page),
        Route("/problems.csv", ops.problems_page),
        Route("/bench", tools.bench_page, methods=["GET", "POST"]),
        Route("/digests", digests.digests_page),
        Route("/digests.json", digests.digests_page),
        Route("/digests/{name}", digests.digest_page),
        Route("/digests/{name}/preview", digests.digest_preview),
        Route("/digests/{name}/chart.png", digests.digest_chart),
        Route("/verdicts", articles.verdicts_page),
        Route("/verdicts.json", articles.verdicts_page),
        Route("/verdicts.csv", articles.verdicts_page),
        Route("/verdicts.jsonl", articles.verdicts_page),
        Route("/help", tools.help_page),
        Mount("/static", app=static, name="static"),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.endswith((".json", ".csv", ".jsonl")):
        return Response(f"{exc.detail}\n", status_code=exc.status_code, media_type="text/plain")
    return page(
        request,
        "error.html",
        {"status": exc.status_code, "message": exc.detail},
        status=exc.status_code,
    )


async def _store_error(request: Request, exc: Exception) -> Response:
    # the database is missing, or stayed locked by a pass for longer than a request waits
    msg = str(exc)
    if request.url.path.endswith((".json", ".csv", ".jsonl")):
        return Response(msg + "\n", status_code=503, media_type="text/plain")
    return page(
        request,
        "error.html",
        {"status": 503, "message": msg, "retry": True},
        status=503,
        headers={"retry-after": "5"},
    )


async def _config_error(request: Request, exc: Exception) -> Response:
    return page(request, "error.html", {"status": 500, "message": str(exc)}, status=500)


def create_app(
    config_dir: str | Path | None = None,
    db: str | None = None,
    *,
    password: str | None = None,
    user: str | None = None,
    workbench: Workbench | None = None,
    queue_file: str | Path | None = None,
) -> Any:
    """The workbench for the configuration in ``config_dir`` and the database ``db``
    (default: the configuration's). ``password`` (default ``$NEWSWATCH_WEB_PASSWORD``)
    turns on HTTP basic auth; ``user`` is the analyst's name without one."""
    import os

    if password is None:
        password = os.environ.get(PASSWORD_ENV) or None
    if workbench is None:
        kw: dict[str, Any] = {"password": password}
        if user:
            kw["user"] = user
        if queue_file:
            kw["queue_file"] = Path(queue_file)
        workbench = Workbench.load(config_dir, db, **kw)
    wb = workbench

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # bring an older database up to date (the verdicts table), without failing to start
        # when a pass holds it: readers cope with a database that lacks the table
        try:
            wb.store.ensure_current()
        except StoreError as e:
            log.warning("could not migrate %s now: %s", wb.target, e)
        wb.start()
        try:
            yield
        finally:
            wb.stop()

    app = Starlette(
        routes=_routes(),
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(BasicAuth, password=wb.password, user=wb.user),
        ],
        exception_handlers={
            HTTPException: _http_error,
            StoreError: _store_error,
            ConfigError: _config_error,
        },
        lifespan=lifespan,
    )
    app.state.wb = wb
    return app
