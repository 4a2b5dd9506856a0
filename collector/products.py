"""The catalogue API (private key): GET lists, POST upserts many, DELETE removes ids."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import caps
from .api import Call, endpoint
from .errors import invalid
from .storage import catalogue
from .validation import REQUIRED, Parser, integer, list_of, number, product_id, text, validate

ATTRIBUTE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


def link(max_len: int) -> Parser:
    """An http(s) or site-relative URL: never javascript: or data:."""

    def parse(name: str, value: Any, from_query: bool) -> str:
        url: str = text(max_len)(name, value, from_query)
        if not url.startswith(("http://", "https://", "/")) or url.startswith("//"):
            raise invalid(name, "must be an http(s) URL or a path starting with /")
        return url

    return parse


PRODUCT_FIELDS = {
    "id": (product_id, REQUIRED),
    "name": (text(1000), REQUIRED),
    "url": (link(2000), REQUIRED),
    "price": (number(0, caps.PRICE_MAX), REQUIRED),
    "list_price": (number(0, caps.PRICE_MAX), None),
    "description": (text(20_000), ""),
    "image": (link(2000), None),
    "brand": (text(200), None),
    "categories": (list_of(text(200), 50), []),
    "stock": (integer(-1_000_000, 1_000_000_000), None),
    "created_at": (integer(0, 10_000_000_000), None),
}


def _attribute(name: str, value: Any) -> Any:
    if isinstance(value, list):
        return list_of(text(1000), 100)(name, value, False)
    if isinstance(value, str):
        return text(1000)(name, value, False)
    if isinstance(value, bool | int | float) or value is None:
        return value
    raise invalid(name, "custom attributes must be strings, numbers, booleans or lists of strings")


def product(name: str, value: Any, from_query: bool) -> dict[str, Any]:
    """A product: the known fields checked by type, custom attributes kept as they are."""
    if not isinstance(value, dict):
        raise invalid(name, "must be an object with at least id, name, url and price")
    known = {k: v for k, v in value.items() if k in PRODUCT_FIELDS}
    clean = validate(known, PRODUCT_FIELDS, prefix=f"{name}.")
    for key, attr in value.items():
        if key in PRODUCT_FIELDS:
            continue
        if not ATTRIBUTE_NAME.match(key):
            raise invalid(f"{name}.{key}", "attribute names are a-z, 0-9 and _ (64 at most)")
        clean[key] = _attribute(f"{name}.{key}", attr)
    return {k: v for k, v in clean.items() if v is not None}


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


async def products_endpoint(request: Request) -> Response:
    # Starlette routes HEAD wherever GET goes: it answers as GET does, without the body.
    method = "GET" if request.method == "HEAD" else request.method
    response: Response = await _by_method[method](request)
    return response


routes = [Route("/v2/products", products_endpoint, methods=["GET", "POST", "DELETE"])]
