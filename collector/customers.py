"""The customers API (private key), and the one way a customer is checked and written:
`/v2/customers` and `clerk-collector import customers` both use `customer` and
`write_customers`.

- `POST /v2/customers {customers: [{id, name, email, ...attributes}]}` upserts.
- `GET /v2/customers {limit, offset, ids}` lists them by id, as they were sent.
- `DELETE /v2/customers {customers | ids}` deletes them.

A customer is Clerk's: `id` (string or integer), `name` and `email` (optional; an
empty email is none), any other attribute as a product's custom attributes
(Magento sends group_id, subscribed, unsub_url; PrestaShop firstname, lastname,
gender). What a customer does: a sale that names it and carries no email is given its
email, and so are its orders already there (storage/customers.py). Customers are
personal data: only the private key reads them, and privacy/forget deletes them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from starlette.routing import Route

from . import caps
from .api import COUNT, IDS, RECORDS, Call, answer, by_method, endpoint
from .fields import with_attributes
from .orders import LIST_FIELDS, named_ids
from .storage import customers as stored
from .validation import REQUIRED, Fields, described, email, list_of, product_id, schema_of, text


@described({"anyOf": [{"type": "null"}, {"const": ""}, schema_of(email)]})
def optional_email(name: str, value: Any, from_query: bool) -> str | None:
    """An email address; "" or null is none (plugins send customers without one)."""
    if value is None or value == "":
        return None
    clean: str = email(name, value, from_query)
    return clean


CUSTOMER_FIELDS: Fields = {
    "id": (product_id, REQUIRED),
    "name": (text(1000), None),
    "email": (optional_email, None),
}
customer = with_attributes(CUSTOMER_FIELDS, "id")


def clean_customer(value: Any) -> dict[str, Any]:
    """One record of a customers import (named `record` in messages)."""
    found: dict[str, Any] = customer("record", value, False)
    return found


def write_customers(
    conn: Connection, *, store_id: int, items: list[dict[str, Any]], now: int
) -> tuple[int, int]:
    """Upsert customers; (how many were written, 0): the importer's write shape."""
    return stored.upsert_customers(conn, store_id=store_id, items=items, now=now), 0


async def list_customers(call: Call) -> dict[str, Any]:
    data = call.data
    items, total = await call.services.storage.read(
        stored.list_customers,
        store_id=call.store.id,
        limit=data["limit"],
        offset=data["offset"],
        ids=data["ids"],
    )
    return {"result": [item["id"] for item in items], "customers": items, "count": total}


async def post_customers(call: Call) -> dict[str, Any]:
    count, _ = await call.services.storage.write(
        write_customers,
        store_id=call.store.id,
        items=call.data["customers"],
        now=call.services.now_ms(),
    )
    return {"count": count}


async def delete_customers(call: Call) -> dict[str, Any]:
    count = await call.services.storage.write(
        stored.delete_customers, store_id=call.store.id, ids=named_ids(call, "customers")
    )
    return {"count": count}


_ids = list_of(product_id, caps.CATALOGUE_BATCH_MAX)

routes = [
    Route(
        "/v2/customers",
        by_method(
            {
                "GET": endpoint(
                    LIST_FIELDS,
                    list_customers,
                    private=True,
                    answer=answer(result=IDS, customers=RECORDS, count=COUNT),
                ),
                "POST": endpoint(
                    {"customers": (list_of(customer, caps.CATALOGUE_BATCH_MAX), REQUIRED)},
                    post_customers,
                    private=True,
                    answer=answer(count=COUNT),
                ),
                "DELETE": endpoint(
                    {"customers": (_ids, None), "ids": (_ids, None)},
                    delete_customers,
                    private=True,
                    answer=answer(count=COUNT),
                ),
            }
        ),
        methods=["GET", "POST", "DELETE"],
    )
]
