"""The report pages: one endpoint per report (HTML, or CSV of one of its tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from .. import ranges
from ..storage.stores import Store
from . import reports
from .auth import Admin, Endpoint, Halt, current_admin, page, services_of
from .export import csv_response, to_csv
from .reports import Builder
from .tables import Table
from .templating import PAGES, error, render, url

STYLESHEET = (Path(__file__).parent / "static" / "dashboard.css").read_bytes()


def not_found(request: Request, admin: Admin | None = None) -> Response:
    """The same answer for a store that does not exist and one that is not this admin's."""
    return error(request, 404, "Not found", "There is no such page or store here.", admin=admin)


def store_of(request: Request, admin: Admin) -> Store:
    store = admin.store(request.path_params["store_id"])
    if store is None:
        raise Halt(not_found(request, admin))
    return store


def wants_csv(request: Request) -> bool:
    return request.url.path.endswith(".csv") or request.query_params.get("format") == "csv"


def _pick(request: Request, tables: dict[str, Table]) -> Table:
    name = request.query_params.get("table")
    table = tables.get(name) if name else next(iter(tables.values()))
    if table is None:
        raise Halt(PlainTextResponse(f"no table {name!r} on this page", status_code=404))
    return table


def report_page(name: str, template: str, build: Builder, *, dated: bool = True) -> Endpoint:
    """An endpoint that shows a report, or with ?format=csv (or .csv) exports one table."""

    async def endpoint(request: Request) -> Response:
        admin = await current_admin(request)
        store = store_of(request, admin)
        now = services_of(request).now_ms()
        dates, problem = None, ""
        if dated:
            try:
                dates = ranges.parse(request.query_params, now_ms=now)
            except ranges.RangeError as exc:
                problem = str(exc)
        as_csv = wants_csv(request)
        if problem and as_csv:
            return PlainTextResponse(problem, status_code=400)
        context: dict[str, Any] = {
            "admin": admin,
            "store": store,
            "page": name,
            "dated": dated,
            "dates": dates,
            "problem": problem,
            "raw_from": request.query_params.get("from", ""),
            "raw_to": request.query_params.get("to", ""),
            "presets": ranges.presets(now),
            "report": None,
        }
        if problem:
            return render(request, template, context, status=400)
        report = await build(request, store, dates, as_csv)
        if as_csv:
            table = _pick(request, report.tables)
            body = to_csv(table.rows, [c.key for c in table.columns], table.kinds)
            period = list(dates.query().values()) if dates else []
            return csv_response(body, [store.name, name, table.name, *period])

        def csv_link(table: str) -> str:
            query = {**request.query_params, "table": table}
            query.pop("format", None)
            query.pop("page", None)
            return url(request, f"{name}_csv", query, store_id=store.id)

        context.update(report=report, csv_link=csv_link)
        return render(request, template, context)

    endpoint.__name__ = name
    return page(endpoint)


overview = report_page("overview", "overview.html", reports.overview)
widgets = report_page("widgets", "widgets.html", reports.widgets)
products = report_page("products", "products.html", reports.products)
searches = report_page("searches", "searches.html", reports.searches)
customers = report_page("customers", "customers.html", reports.customers, dated=False)
visitor = report_page("visitor", "visitor.html", reports.visitor, dated=False)
privacy = report_page("privacy", "privacy.html", reports.privacy)


@page
async def home(request: Request) -> Response:
    admin = await current_admin(request)
    if admin.stores:
        target = url(request, "overview", store_id=admin.stores[0].id)
    else:
        target = url(request, "stores")
    return RedirectResponse(target, status_code=303)


@page
async def switch(request: Request) -> Response:
    """The header's store picker (a GET form): the same page and range, another store."""
    admin = await current_admin(request)
    raw = request.query_params.get("store", "")
    store = admin.store(int(raw)) if raw.isdigit() else None
    if store is None:
        return not_found(request, admin)
    name = request.query_params.get("page", "overview")
    if name not in {p for p, _, _ in PAGES}:
        name = "overview"
    keep = {k: request.query_params.get(k) for k in ("from", "to")}
    return RedirectResponse(url(request, name, keep, store_id=store.id), status_code=303)


async def stylesheet(request: Request) -> Response:
    return Response(
        STYLESHEET, media_type="text/css", headers={"cache-control": "public, max-age=3600"}
    )


async def unknown(request: Request) -> Response:
    """Anything under /dashboard that matches no route."""
    return not_found(request)
