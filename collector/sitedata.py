"""Categories and content pages (private key), as Clerk's API takes them.

`/v2/categories` and `/v2/pages`: GET lists (limit, offset, ids), POST upserts many,
DELETE removes ids (given as `categories` / `pages`, as `DELETE products` takes
`products`, or as `ids`). A category is {id, name, url, subcategories, image,
description, ...custom attributes}; a page {id, type, url, title, text, image, ...}.
Ids are strings or integers (kept as strings). Stored ready for search
(storage/sitedata.py); what a store may hold is capped (caps.SITE_ITEMS_MAX).
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from . import caps
from .api import COUNT, IDS, RECORDS, Call, answer, by_method, endpoint
from .errors import invalid
from .fields import link, with_attributes
from .orders import named_ids
from .storage import sitedata
from .validation import REQUIRED, Fields, integer, list_of, product_id, prose, text

# Ids of categories and pages: strings or integers, as product ids.
item_id = product_id


CATEGORY_FIELDS: Fields = {
    "id": (item_id, REQUIRED),
    "name": (text(1000), REQUIRED),
    "url": (link(2000), REQUIRED),
    "subcategories": (list_of(item_id, caps.SUBCATEGORIES_MAX), []),
    "image": (link(2000), None),
    "description": (prose(20_000), ""),
}
PAGE_FIELDS: Fields = {
    "id": (item_id, REQUIRED),
    "type": (text(64), REQUIRED),
    "url": (link(2000), REQUIRED),
    "title": (text(1000), REQUIRED),
    "text": (prose(caps.PAGE_TEXT_MAX), REQUIRED),
    "image": (link(2000), None),
}

KINDS = {
    "categories": (sitedata.CATEGORIES, with_attributes(CATEGORY_FIELDS, "id, name and url")),
    "pages": (sitedata.PAGES, with_attributes(PAGE_FIELDS, "id, type, url, title and text")),
}


def _handlers(plural: str) -> dict[str, Any]:
    kind, parse_item = KINDS[plural]

    async def list_items(call: Call) -> dict[str, Any]:
        data = call.data
        items, total = await call.services.storage.read(
            sitedata.list_items,
            kind=kind,
            store_id=call.store.id,
            limit=data["limit"],
            offset=data["offset"],
            ids=data["ids"],
        )
        return {"result": [item["id"] for item in items], plural: items, "count": total}

    async def upsert_items(call: Call) -> dict[str, Any]:
        try:
            count = await call.services.storage.write(
                sitedata.upsert_items,
                kind=kind,
                store_id=call.store.id,
                items=call.data[plural],
                now=call.services.now_ms(),
                max_items=caps.SITE_ITEMS_MAX,
            )
        except sitedata.TooMany as exc:
            raise invalid(plural, str(exc)) from None
        return {"count": count}

    async def delete_items(call: Call) -> dict[str, Any]:
        # An empty list is a list: `named or ids` took {categories: []} for None (a 500).
        ids = named_ids(call, plural)
        count = await call.services.storage.write(
            sitedata.delete_items, kind=kind, store_id=call.store.id, ids=ids
        )
        return {"count": count}

    ids_field = list_of(item_id, caps.CATALOGUE_BATCH_MAX)
    return {
        "GET": endpoint(
            {
                "limit": (integer(1, 1000), 100),
                "offset": (integer(0, 10**9), 0),
                "ids": (list_of(item_id, 1000), None),
            },
            list_items,
            private=True,
            answer=answer(result=IDS, **{plural: RECORDS}, count=COUNT),
        ),
        "POST": endpoint(
            {plural: (list_of(parse_item, caps.CATALOGUE_BATCH_MAX), REQUIRED)},
            upsert_items,
            private=True,
            answer=answer(count=COUNT),
        ),
        "DELETE": endpoint(
            {plural: (ids_field, None), "ids": (ids_field, None)},
            delete_items,
            private=True,
            answer=answer(count=COUNT),
        ),
    }


def _route(plural: str) -> Route:
    return Route(f"/v2/{plural}", by_method(_handlers(plural)), methods=["GET", "POST", "DELETE"])


routes = [_route("categories"), _route("pages")]
