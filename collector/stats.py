"""stats/*: the dashboard's numbers as JSON for BI tools and scripts (private key).

Each takes `from` and `to` (YYYY-MM-DD, UTC days, both included; default the
last 30 days) and answers the rows of the matching dashboard table, from the
same queries (collector/storage/reports.py).
"""

from __future__ import annotations

import datetime
from typing import Any

from starlette.routing import Route

from . import ranges
from .api import RECORDS, Call, answer, endpoint
from .errors import invalid
from .storage import reports, rollups
from .validation import Fields, date, integer, text

RANGE: Fields = {"from": (date, None), "to": (date, None)}


def _range(call: Call) -> dict[str, int]:
    """The dashboard's range rules (ranges.py): both days included, default the last 30."""
    last = call.data["to"] or ranges.today(call.services.now_ms())
    first = call.data["from"] or last - datetime.timedelta(days=ranges.DEFAULT_DAYS - 1)
    if first > last:
        raise invalid("from", f"{first} is after to ({last})")
    if (last - first).days + 1 > ranges.MAX_DAYS:
        raise invalid("from", f"the range is longer than {ranges.MAX_DAYS} days")
    span = ranges.DateRange(first, last)
    return {"store_id": call.store.id, "start_ms": span.start_ms, "end_ms": span.end_ms}


def _window(call: Call) -> int:
    return call.services.settings.attribution_window_days * rollups.DAY_MS


async def overview(call: Call) -> dict[str, Any]:
    return await call.services.storage.read_replica(
        reports.overview, **_range(call), window_ms=_window(call)
    )


async def widgets(call: Call) -> dict[str, Any]:
    rows = await call.services.storage.read_replica(
        reports.widgets, **_range(call), window_ms=_window(call)
    )
    return {"rows": rows}


async def products(call: Call) -> dict[str, Any]:
    rows = await call.services.storage.read_replica(
        reports.products, **_range(call), window_ms=_window(call), limit=call.data["limit"]
    )
    return {"rows": rows}


async def searches(call: Call) -> dict[str, Any]:
    return await call.services.storage.read_replica(
        reports.searches, **_range(call), limit=call.data["limit"]
    )


async def customers(call: Call) -> dict[str, Any]:
    rows = await call.services.storage.read(
        reports.customers,
        store_id=call.store.id,
        query=call.data["query"],
        limit=call.data["limit"],
        offset=call.data["offset"],
    )
    return {"rows": rows}


ROWS = answer(rows=RECORDS)
LIMIT: Fields = {"limit": (integer(1, 10_000), 100)}

routes = [
    Route(
        f"/v2/stats/{name}",
        endpoint(
            fields,
            handler,
            private=True,
            answer=ROWS if handler in (widgets, products, customers) else None,
        ),
        methods=["GET", "POST"],
    )
    for name, fields, handler in (
        ("overview", RANGE, overview),
        ("widgets", RANGE, widgets),
        ("products", {**RANGE, **LIMIT}, products),
        ("searches", {**RANGE, **LIMIT}, searches),
        (
            "customers",
            {**LIMIT, "query": (text(254), None), "offset": (integer(0, 10_000_000), 0)},
            customers,
        ),
    )
]
