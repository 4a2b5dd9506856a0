"""Jinja2 for the dashboard: autoescaped templates, number and time formats, `render`."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from . import csrf
from .middleware import session_of

DASH = "\u2013"

# The report pages of a store, in the header's order: (route name, title, has dates).
PAGES = [
    ("overview", "Overview", True),
    ("widgets", "Widgets", True),
    ("products", "Products", True),
    ("searches", "Searches", True),
    ("customers", "Customers", False),
    ("privacy", "Privacy", True),
    ("contents", "Contents", False),
]


def number(value: Any) -> str:
    return DASH if value is None else f"{value:,}"


def money(value: Any) -> str:
    return DASH if value is None else f"{float(value):,.2f}"


def ratio(value: Any) -> str:
    """A fraction (0.1234) as a percentage (12.3%)."""
    return DASH if value is None else f"{float(value) * 100:.1f}%"


def when(ms: Any) -> str:
    """Unix milliseconds as a UTC date and time."""
    if ms is None:
        return DASH
    moment = dt.datetime.fromtimestamp(int(ms) / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def cell(value: Any, kind: str) -> str:
    """A table cell as text, by the column's kind."""
    if value is None or value == "":
        return DASH
    if kind == "int":
        return number(value)
    if kind == "money":
        return money(value)
    if kind == "ratio":
        return ratio(value)
    if kind == "ms":
        return when(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


def url(request: Request, name: str, query: dict[str, Any] | None = None, **params: Any) -> str:
    """The path of a dashboard route (relative to the host), with a query string."""
    path = request.url_for(f"dashboard:{name}", **params).path
    pairs = {k: v for k, v in (query or {}).items() if v not in (None, "")}
    return f"{path}?{urlencode(pairs)}" if pairs else path


@jinja2.pass_context
def _url(context: Any, name: str, query: dict[str, Any] | None = None, **params: Any) -> str:
    return url(context["request"], name, query, **params)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("collector.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(number=number, money=money, ratio=ratio, when=when, cell=cell)
    env.globals["url"] = _url
    return env


templates = Jinja2Templates(env=_environment())


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    values: dict[str, Any] = {
        "admin": None,
        "store": None,
        "page": None,
        "pages": PAGES,
        "dates": None,
    }
    values.update(context or {})
    values["csrf_token"] = csrf.token(session_of(request))
    return templates.TemplateResponse(request, name, values, status_code=status, headers=headers)


def error(request: Request, status: int, title: str, message: str, **context: Any) -> Response:
    return render(
        request,
        "error.html",
        {"title": title, "message": message, **context},
        status=status,
    )
