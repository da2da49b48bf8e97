"""Helpers shared by the views: the data-twin format of a URL, CSRF checks, the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

from newswatch.web.context import Workbench
from newswatch.web.security import CSRF_COOKIE, CSRF_FIELD, csrf_valid, same_origin

__all__ = ["check_csrf", "fmt_of", "utcnow", "workbench"]


def workbench(request: Request) -> Workbench:
    wb: Workbench = request.app.state.wb
    return wb


def fmt_of(request: Request) -> str:
    """``html``, or the twin's format from the path's suffix (``json``, ``csv``, ``jsonl``)."""
    path = request.url.path
    for ext in ("jsonl", "json", "csv"):
        if path.endswith("." + ext):
            return ext
    return "html"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def check_csrf(request: Request, form: FormData) -> None:
    """403 unless the form's token matches the browser's cookie and the request did not
    come from another site."""
    wb = workbench(request)
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}
    token = form.get(CSRF_FIELD)
    ok = csrf_valid(
        wb.secret, request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None
    )
    if not ok or not same_origin(headers, headers.get("host")):
        raise HTTPException(
            403, "The form's security token is missing or stale: reload the page and try again."
        )


def int_param(request: Request, key: str, default: int, lo: int, hi: int) -> int:
    try:
        v = int(request.query_params.get(key, default))
    except (TypeError, ValueError):
        return default
    return max(lo, min(hi, v))


def user_of(request: Request) -> str:
    name: Any = request.scope.get("user_name") or workbench(request).user
    return str(name)
