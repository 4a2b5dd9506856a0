"""The orders API (private key), and the one way an order from a shop's server is
checked and written: `/v2/orders` and `clerk-collector import orders` both use
`order` and `write_orders`, so the two store the same rows.

- `POST /v2/orders {orders: [{id, products, time, email, customer}]}` records each
  order once by id as the shop's own record (source "server"): a new order is added,
  one a browser logged with that id (log/sale with the public key) is replaced, one
  the server already sent stays as it is (log it twice, count it once; DELETE it to
  send it again). Every order of a call is checked before any is written.
- `GET /v2/orders {limit, offset, ids}` lists them, newest first, without emails or
  visitor ids (storage/orders.py says why).
- `DELETE /v2/orders {orders | ids}` deletes orders with everything they counted.

An order is Clerk's: `id` (string or integer), `products` (ids, or {id, quantity,
price}), `time` (Unix seconds, or ISO 8601), `email` and `customer` (optional). A
sale with a customer and no email is given the customer's email (storage/customers.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from starlette.routing import Route

from . import caps
from .api import COUNT, IDS, RECORDS, Call, answer, by_method, endpoint
from .errors import ApiError, invalid
from .fields import sale_line
from .storage import orders as stored
from .storage import tracking
from .storage.attribution import attribute_orders
from .validation import (
    REQUIRED,
    described,
    email,
    integer,
    list_of,
    product_id,
    record,
    schema_of,
    text_or_id,
    type_name,
)


@described(
    {
        "anyOf": [
            {"type": "number", "minimum": 0, "maximum": 10_000_000_000},
            {"type": "string", "description": "ISO 8601"},
        ],
        "description": "Unix seconds, or an ISO 8601 date and time",
    }
)
def moment(name: str, value: Any, from_query: bool) -> int:
    """Unix seconds or an ISO 8601 date and time (UTC unless it says otherwise), as ms."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise invalid(name, "must be an ISO 8601 time, e.g. 2026-05-28T10:15:00Z") from None
        seconds = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value
    else:
        raise invalid(name, f"must be Unix seconds or an ISO 8601 string, not {type_name(value)}")
    if not 0 <= seconds <= 10_000_000_000:
        raise invalid(name, "must be between 1970 and 2286 (Unix seconds, not milliseconds)")
    return round(seconds * 1000)


ORDER_FIELDS = {
    "id": (product_id, REQUIRED),
    "products": (list_of(sale_line, caps.SALE_LINES_MAX), REQUIRED),
    "time": (moment, REQUIRED),
    "email": (email, None),
    "customer": (text_or_id(128), None),
}
_fields = record(ORDER_FIELDS)


@described(schema_of(_fields))
def order(name: str, value: Any, from_query: bool) -> dict[str, Any]:
    """An order, its lines as {id, quantity, price}. Within a /v2 call a field it does
    not know is ignored with a warning; for the importer (no warnings) it is an error."""
    if not isinstance(value, dict):
        raise invalid(name, "must be an object with id, products and time")
    clean: dict[str, Any] = _fields(name, value, from_query)
    clean["products"] = [
        line if isinstance(line, dict) else {"id": line, "quantity": 1, "price": 0.0}
        for line in clean["products"]
    ]
    return clean


def write_orders(
    conn: Connection, *, store_id: int, items: list[dict[str, Any]], now: int
) -> tuple[int, int]:
    """Record each order once (by id), attributed as one batch; return how many were new
    and how many replaced an order a browser had logged with that id (see
    tracking.record_sale)."""
    written: list[str] = []
    replaced = 0
    for item in items:
        outcome = tracking.record_sale(
            conn,
            store_id=store_id,
            ts=item["time"],
            sale_id=item["id"],
            lines=item["products"],
            visitor_mode="import",
            visitor_id=None,
            session=None,
            email=item["email"],
            customer=item["customer"],
            attribute=False,
            source="server",
        )
        if outcome is not None:
            written.append(item["id"])
            replaced += outcome == "replaced"
    attribute_orders(conn, store_id=store_id, order_ids=written)
    return len(written) - replaced, replaced


async def list_orders(call: Call) -> dict[str, Any]:
    data = call.data
    items, total = await call.services.storage.read(
        stored.list_orders,
        store_id=call.store.id,
        limit=data["limit"],
        offset=data["offset"],
        ids=data["ids"],
    )
    return {"result": [item["id"] for item in items], "orders": items, "count": total}


async def post_orders(call: Call) -> dict[str, Any]:
    items = call.data["orders"]
    new, replaced = await call.services.storage.write(
        write_orders, store_id=call.store.id, items=items, now=call.services.now_ms()
    )
    unchanged = len({item["id"] for item in items}) - new - replaced
    return {"count": len(items), "new": new, "replaced": replaced, "unchanged": unchanged}


async def delete_orders(call: Call) -> dict[str, Any]:
    count = await call.services.storage.write(
        stored.delete_orders, store_id=call.store.id, ids=named_ids(call, "orders")
    )
    return {"count": count}


def named_ids(call: Call, plural: str) -> list[str]:
    """The ids a DELETE names, in `<plural>` or in `ids` (one of them)."""
    named, ids = call.data[plural], call.data["ids"]
    if (named is None) == (ids is None):
        raise ApiError(
            400,
            "missing_field" if named is None else "invalid_field",
            f"{plural}: the ids to delete, in {plural} or in ids (one of them)",
        )
    found: list[str] = named if named is not None else ids
    return found


LIST_FIELDS = {
    "limit": (integer(1, 1000), 100),
    "offset": (integer(0, 10**9), 0),
    "ids": (list_of(product_id, 1000), None),
}
_ids = list_of(product_id, caps.CATALOGUE_BATCH_MAX)

routes = [
    Route(
        "/v2/orders",
        by_method(
            {
                "GET": endpoint(
                    LIST_FIELDS,
                    list_orders,
                    private=True,
                    answer=answer(result=IDS, orders=RECORDS, count=COUNT),
                ),
                "POST": endpoint(
                    {"orders": (list_of(order, caps.ORDERS_BATCH_MAX), REQUIRED)},
                    post_orders,
                    private=True,
                    answer=answer(count=COUNT, new=COUNT, replaced=COUNT, unchanged=COUNT),
                ),
                "DELETE": endpoint(
                    {"orders": (_ids, None), "ids": (_ids, None)},
                    delete_orders,
                    private=True,
                    answer=answer(count=COUNT),
                ),
            }
        ),
        methods=["GET", "POST", "DELETE"],
    )
]
