"""The catalogue API (private key): GET lists, POST upserts many, DELETE removes ids;
Clerk's product/add and product/remove are the same upsert and delete."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from . import caps, lists
from .api import COMMON, COUNT, Call, Target, answer, by_method, dispatch, endpoint
from .fields import product
from .services import Services
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


COUNT_ANSWER = answer(count=COUNT)
UPSERT_FIELDS = {"products": (list_of(product, caps.CATALOGUE_BATCH_MAX), REQUIRED)}
DELETE_FIELDS = {"products": (list_of(product_id, caps.CATALOGUE_BATCH_MAX), REQUIRED)}

_by_method = {
    "GET": endpoint(
        {
            "limit": (integer(1, 1000), 100),
            "offset": (integer(0, 10**9), 0),
            "ids": (list_of(product_id, 1000), None),
        },
        list_products,
        private=True,
        answer=lists.LIST_ANSWER,
    ),
    "POST": endpoint(UPSERT_FIELDS, upsert_products, private=True, answer=COUNT_ANSWER),
    "DELETE": endpoint(DELETE_FIELDS, delete_products, private=True, answer=COUNT_ANSWER),
}


def _one_product(adding: bool) -> Any:
    """product/add and product/remove as Clerk's Magento 1 plugin sends them: one product's
    fields (add) or its `id` (remove) beside the keys, with no `products` list. Taken as
    a list of that one product; with `products` the call is the products API's own."""
    if adding:
        target = Target(UPSERT_FIELDS, upsert_products)
    else:
        target = Target(DELETE_FIELDS, delete_products)

    async def resolve(
        services: Services, raw: dict[str, Any], from_query: bool
    ) -> tuple[dict[str, Any], Target]:
        if "products" in raw or "id" not in raw:
            return raw, target
        common = {k: v for k, v in raw.items() if k in COMMON}
        rest = {k: v for k, v in raw.items() if k not in COMMON}
        return {**common, "products": [rest if adding else raw["id"]]}, target

    if adding:
        summary = "Upsert products: a `products` list, or one product's fields beside the keys."
    else:
        summary = "Delete products: a `products` list of ids, or one product's `id`."
    fields = {"products": (target.fields["products"][0], None)}
    return dispatch(resolve, private=True, fields=fields, summary=summary, answer=COUNT_ANSWER)


upsert = _one_product(adding=True)
remove = _one_product(adding=False)

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
