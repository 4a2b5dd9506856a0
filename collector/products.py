"""The catalogue API (private key): GET lists, POST upserts many, DELETE removes ids;
Clerk's product/add and product/remove are the same upsert and delete."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from . import caps
from .api import Call, by_method, endpoint
from .fields import product
from .storage import catalogue
from .validation import REQUIRED, integer, list_of, product_id


async def list_products(call: Call) -> dict[str, Any]:
    data = call.data
    items, total = await call.services.storage.read(
        catalogue.list_products,
        store_id=call.store.id,
        limit=data["limit"],
        offset=data["offset"],
        ids=data["ids"],
    )
    return {"result": [p["id"] for p in items], "product_data": items, "count": total}


async def upsert_products(call: Call) -> dict[str, Any]:
    count = await call.services.storage.write(
        catalogue.upsert_products,
        store_id=call.store.id,
        items=call.data["products"],
        now=call.services.now_ms(),
    )
    return {"count": count}


async def delete_products(call: Call) -> dict[str, Any]:
    count = await call.services.storage.write(
        catalogue.delete_products, store_id=call.store.id, ids=call.data["products"]
    )
    return {"count": count}


_by_method = {
    "GET": endpoint(
        {
            "limit": (integer(1, 1000), 100),
            "offset": (integer(0, 10**9), 0),
            "ids": (list_of(product_id, 1000), None),
        },
        list_products,
        private=True,
    ),
    "POST": endpoint(
        {"products": (list_of(product, caps.CATALOGUE_BATCH_MAX), REQUIRED)},
        upsert_products,
        private=True,
    ),
    "DELETE": endpoint(
        {"products": (list_of(product_id, caps.CATALOGUE_BATCH_MAX), REQUIRED)},
        delete_products,
        private=True,
    ),
}


upsert = _by_method["POST"]
remove = _by_method["DELETE"]

routes = [
    Route("/v2/products", by_method(_by_method), methods=["GET", "POST", "DELETE"]),
    # Clerk's older names, as its plugins call them (a GET carrying a JSON body, or a
    # POST): the same endpoints, so the same checks and answers. A GET that changes the
    # catalogue answers no HEAD.
    Route(
        "/v2/product/add",
        by_method({"GET": upsert, "POST": upsert}, head=False),
        methods=["GET", "POST"],
    ),
    Route(
        "/v2/product/remove",
        by_method({"GET": remove, "POST": remove, "DELETE": remove}, head=False),
        methods=["GET", "POST", "DELETE"],
    ),
]
