"""Pages and their data twins: Jinja2 (autoescaping on), CSV and JSON.

Every value is escaped by the template engine, never by hand. Filters: ``dt`` (UTC time),
``day``, ``label`` (an entity id's display name from the watchlist), ``clean`` (bidi
overrides and control characters shown as U+FFFD), ``link`` (an http(s) URL or None),
``num``. ``qs(params, key=value, …)`` builds the query string of a view with some filters
changed (``None`` removes one), so every state of a view is a link.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse

from newswatch.web.security import CSRF_COOKIE, clean_text, csrf_token, new_cookie_value, safe_url

__all__ = ["csv_response", "env", "json_response", "page", "qs", "to_jsonable"]

_TEMPLATES = files("newswatch.web") / "templates"


def _dt(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime(fmt)
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _day(value: Any) -> str:
    return _dt(value, "%d %b %Y")


@jinja2.pass_context
def _label(ctx: Any, entity_id: Any) -> str:
    labels = ctx.get("labels") or {}
    eid = str(entity_id)
    return labels.get(eid) or eid.replace("_", " ").title()


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if digits:
        return f"{float(value):,.{digits}f}"
    return f"{int(value):,}"


def qs(params: Mapping[str, Any] | Iterable[tuple[str, Any]], **changes: Any) -> str:
    """``?a=1&b=2`` from ``params`` with ``changes`` applied (a list repeats a key; None or
    an empty value drops it). Keys with a trailing underscore lose it (``from_``)."""
    items = list(params.items()) if isinstance(params, Mapping) else list(params)
    out: dict[str, list[str]] = {}
    for k, v in items:
        if isinstance(v, list | tuple):
            out.setdefault(k, []).extend(str(x) for x in v)
        elif v is not None and v != "":
            out.setdefault(k, []).append(str(v))
    for k, v in changes.items():
        k = k.rstrip("_")
        if v is None or v == "" or v == []:
            out.pop(k, None)
        elif isinstance(v, list | tuple):
            out[k] = [str(x) for x in v]
        else:
            out[k] = [str(v)]
    pairs = [(k, x) for k, vs in out.items() for x in vs if x != ""]
    return "?" + urlencode(pairs) if pairs else "?"


def without(pairs: Iterable[tuple[str, Any]], key: str, value: Any = None) -> list:
    """The (key, value) pairs without ``key`` (only its ``value``, when given)."""
    return [(k, v) for k, v in pairs if not (k == key and (value is None or v == value))]


def plus(pairs: Iterable[tuple[str, Any]], key: str, value: Any, *, single: bool = False) -> list:
    """The pairs with (key, value) added (``single``: replacing every other value of key)."""
    kept = without(pairs, key) if single else [p for p in pairs if p != (key, value)]
    return [*kept, (key, value)]


def _make_env() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(_load)
    e = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    e.filters.update(dt=_dt, day=_day, label=_label, clean=clean_text, link=safe_url, num=_num)
    e.globals.update(qs=qs, without=without, plus=plus)
    return e


def _load(name: str) -> str | None:
    node = _TEMPLATES
    for part in name.split("/"):
        if part in ("", ".", ".."):
            return None
        node = node / part
    try:
        return node.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


env = _make_env()


def render(template: str, **ctx: Any) -> str:
    return env.get_template(template).render(**ctx)


def render_markup(template: str, **ctx: Any) -> Markup:
    return Markup(render(template, **ctx))


def page(
    request: Request,
    template: str,
    ctx: dict[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """An HTML page with the things every page needs (user, CSRF token, labels)."""
    wb = request.app.state.wb
    cookie = request.cookies.get(CSRF_COOKIE)
    fresh = not cookie or len(cookie) > 64
    if fresh:
        cookie = new_cookie_value()
    assert cookie is not None
    full = {
        "request": request,
        "user": request.scope.get("user_name", wb.user),
        "csrf": csrf_token(wb.secret, cookie),
        "labels": ctx.pop("labels", None) or wb.labels(),
        "nav": ctx.pop("nav", ""),
        "data_links": ctx.pop("data_links", None),
        **ctx,
    }
    body = render(template, **full)
    response = HTMLResponse(body, status_code=status, headers=dict(headers or {}))
    if fresh:
        response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict", path="/")
    return response


# -- data twins ----------------------------------------------------------------------------
def to_jsonable(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bytes):
        return None
    if isinstance(v, dict):
        return {k: to_jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [to_jsonable(x) for x in v]
    return v


def json_response(data: Any, *, status: int = 200) -> Response:
    body = json.dumps(to_jsonable(data), ensure_ascii=False, indent=1)
    return Response(body, status_code=status, media_type="application/json; charset=utf-8")


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list | tuple):
        v = ";".join(str(x) for x in v)
    elif isinstance(v, datetime | date):
        return v.isoformat()
    elif isinstance(v, float):
        return repr(round(v, 4))
    s = str(v)
    # a spreadsheet must not run a headline as a formula
    return "'" + s if s.startswith(_FORMULA) and not _is_number(s) else s


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def csv_lines(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns)
    yield buf.getvalue()
    for r in rows:
        buf.seek(0)
        buf.truncate()
        w.writerow([_cell(r.get(c)) for c in columns])
        yield buf.getvalue()


def csv_response(
    columns: Sequence[str], rows: Iterable[Mapping[str, Any]], filename: str
) -> StreamingResponse:
    return StreamingResponse(
        csv_lines(columns, rows),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )
