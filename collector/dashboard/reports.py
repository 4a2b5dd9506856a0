"""One builder per report page: run the analytics queries off the event loop, shape tables.

Each builder gets the request, the store and the date range (None for pages that
have none) and whether a CSV is wanted (then the charts are skipped and the
tables hold everything, not one screenful).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from ..ranges import DAY_MS, DateRange
from ..services import Services
from ..storage import reports
from ..storage.stores import Store
from . import tables
from .auth import services_of
from .charts import Series, bar_chart
from .tables import Report, Table

SCREEN_ROWS = 100
CSV_ROWS = 10_000
CUSTOMERS_PER_PAGE = 50
MAX_QUERY = 254

Builder = Callable[[Request, Store, DateRange | None, bool], Awaitable[Report]]


def _window_ms(services: Services) -> int:
    return services.settings.attribution_window_days * DAY_MS


async def overview(request: Request, store: Store, dates: DateRange | None, as_csv: bool) -> Report:
    assert dates is not None
    services = services_of(request)
    data = await services.storage.read_replica(
        reports.overview,
        store_id=store.id,
        start_ms=dates.start_ms,
        end_ms=dates.end_ms,
        window_ms=_window_ms(services),
    )
    window_days = services.settings.attribution_window_days
    report = Report(extra={"kpis": data, "window_days": window_days})
    summary = {k: v for k, v in data.items() if k not in ("by_source", "daily")}
    report.add(Table("summary", "Summary", tables.SUMMARY, [summary]))
    sources = [{"source": source, **values} for source, values in data["by_source"].items()]
    report.add(Table("sources", "Through Clerk, by source", tables.SOURCES, sources))
    groups = [
        {
            "visits": "Used Clerk",
            "count": data["clerk_visits"],
            "conversion": data["conversion_clerk"],
            "aov": data["aov_clerk"],
        },
        {
            "visits": "Did not use Clerk",
            "count": data["visits"] - data["clerk_visits"],
            "conversion": data["conversion_other"],
            "aov": data["aov_other"],
        },
    ]
    report.add(
        Table(
            "visits", "Visits that used Clerk and visits that did not", tables.VISIT_GROUPS, groups
        )
    )
    daily = report.add(Table("daily", "Day by day", tables.DAILY, data["daily"]))
    if not as_csv:
        days = [row["date"] for row in daily.rows]
        report.extra["revenue_chart"] = bar_chart(
            "Revenue per day, and the revenue of orders Clerk impacted",
            days,
            daily.rows,
            [
                Series("revenue", "Revenue", "total"),
                Series("impacted_revenue", "Impacted revenue", "part"),
            ],
        )
        report.extra["orders_chart"] = bar_chart(
            "Orders per day, and the orders Clerk impacted",
            days,
            daily.rows,
            [
                Series("orders", "Orders", "total"),
                Series("impacted_orders", "Impacted orders", "part"),
            ],
            value_format="{:,.0f}",
        )
    return report


async def widgets(request: Request, store: Store, dates: DateRange | None, as_csv: bool) -> Report:
    assert dates is not None
    services = services_of(request)
    rows = await services.storage.read_replica(
        reports.widgets,
        store_id=store.id,
        start_ms=dates.start_ms,
        end_ms=dates.end_ms,
        window_ms=_window_ms(services),
    )
    report = Report()
    report.add(Table("widgets", "Widgets", tables.WIDGETS, rows))
    return report


async def products(request: Request, store: Store, dates: DateRange | None, as_csv: bool) -> Report:
    assert dates is not None
    services = services_of(request)
    rows = await services.storage.read_replica(
        reports.products,
        store_id=store.id,
        start_ms=dates.start_ms,
        end_ms=dates.end_ms,
        window_ms=_window_ms(services),
        limit=CSV_ROWS if as_csv else SCREEN_ROWS,
    )
    report = Report()
    note = "" if as_csv else f"The {SCREEN_ROWS} products with the most revenue; the CSV has more."
    report.add(Table("products", "Products", tables.PRODUCTS, rows, note=note))
    return report


async def searches(request: Request, store: Store, dates: DateRange | None, as_csv: bool) -> Report:
    assert dates is not None
    data = await services_of(request).storage.read_replica(
        reports.searches,
        store_id=store.id,
        start_ms=dates.start_ms,
        end_ms=dates.end_ms,
        limit=CSV_ROWS if as_csv else SCREEN_ROWS,
    )
    report = Report()
    report.add(Table("top", "Top searches", tables.TOP_SEARCHES, data["top"]))
    report.add(Table("zero", "Searches without results", tables.ZERO_SEARCHES, data["zero"]))
    return report


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return min(int(raw), 100_000) if raw.isdigit() and int(raw) >= 1 else 1


async def customers(
    request: Request, store: Store, dates: DateRange | None, as_csv: bool
) -> Report:
    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    number = 1 if as_csv else _page_number(request)
    limit = CSV_ROWS if as_csv else CUSTOMERS_PER_PAGE
    rows = await services_of(request).storage.read(
        reports.customers,
        store_id=store.id,
        query=query or None,
        limit=limit + 1,
        offset=(number - 1) * limit,
    )
    report = Report(extra={"q": query, "number": number, "more": len(rows) > limit})
    empty = "No customer matches this search." if query else "No customers yet."
    report.add(Table("customers", "Customers", tables.CUSTOMERS, rows[:limit], empty=empty))
    return report


async def visitor(request: Request, store: Store, dates: DateRange | None, as_csv: bool) -> Report:
    visitor_id = request.query_params.get("id", "").strip()[:64]
    rows = []
    if visitor_id:
        rows = await services_of(request).storage.read(
            reports.visitor_log,
            store_id=store.id,
            visitor_id=visitor_id,
            limit=CSV_ROWS if as_csv else 500,
        )
    report = Report(extra={"visitor_id": visitor_id})
    empty = "No events of this visitor are stored." if visitor_id else "No visitor chosen."
    report.add(Table("events", "Events, newest first", tables.VISITOR_LOG, rows, empty=empty))
    return report


async def privacy(request: Request, store: Store, dates: DateRange | None, as_csv: bool) -> Report:
    assert dates is not None
    services = services_of(request)
    data = await services.storage.read_replica(
        reports.privacy, store_id=store.id, start_ms=dates.start_ms, end_ms=dates.end_ms
    )
    settings = services.settings
    period_ms = settings.salt_rotation_days * DAY_MS
    salts = [
        {
            "period": salt["period"],
            "valid_from": salt["expires_at"] - period_ms,
            "expires_at": salt["expires_at"],
        }
        for salt in data["salts"]
    ]
    now = services.now_ms()
    report = Report(
        extra={
            "oldest_event": data["oldest_event"],
            "rotation_days": settings.salt_rotation_days,
            "retention_days": settings.retention_days,
            "retention_cutoff": now - settings.retention_days * DAY_MS,
            "attribution_days": settings.attribution_window_days,
        }
    )
    report.add(
        Table("events", "Events by visitor mode", tables.EVENTS_BY_MODE, data["events_by_mode"])
    )
    report.add(
        Table("orders", "Orders by visitor mode", tables.ORDERS_BY_MODE, data["orders_by_mode"])
    )
    report.add(
        Table(
            "salts",
            "Cookieless salts that exist now",
            tables.SALTS,
            salts,
            empty="No salt exists now (none is made until a cookieless visitor comes).",
        )
    )
    return report
