"""Live search's other sections: search/suggestions (completions of the query),
search/categories and search/pages (the store's categories and pages that match it).

    search/suggestions {query, limit (1-20, default 5)}
        -> {"result": ["jacket", "jacket men", ...]}
    search/categories {query, limit (1-100, default 5), offset}
        -> {"result": [ids], "categories": [{id, name, url, ...}], "count": n}
    search/pages {query, limit (1-100, default 5), offset}
        -> {"result": [ids], "pages": [{id, type, url, title, text, ...}], "count": n}

The store's public key, as search/search. Not personal (their answers are the same for
every shopper: served to any origin of a store without a list), and not logged as
searches: a shopper's box calls them on every keystroke, beside search/predictive, which
records the query. What they match and how they rank: storage/suggestions.py and
storage/site_search.py. The popular queries suggestions draw on are recounted from the
log of searches at most every PHRASES_MAX_AGE_MS per store (by the collector's clock).
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import Route

from .api import Call, endpoint
from .errors import invalid
from .services import Services
from .storage import sitedata
from .storage.site_search import search_items
from .storage.suggestions import (
    LIMIT_MAX,
    phrases_refreshed_at,
    popular_phrases,
    save_phrases,
    suggest,
)
from .validation import REQUIRED, Fields, integer, text

PHRASES_MAX_AGE_MS = 10 * 60 * 1000

SUGGESTION_FIELDS: Fields = {
    "query": (text(200), REQUIRED),
    "limit": (integer(1, LIMIT_MAX), 5),
}
SITE_FIELDS: Fields = {
    "query": (text(200), REQUIRED),
    "limit": (integer(1, 100), 5),
    "offset": (integer(0, 10_000), 0),
}


@dataclass
class _Refreshes:
    refreshed: dict[int, int] = field(default_factory=dict)
    locks: dict[int, asyncio.Lock] = field(default_factory=dict)


_refreshes: weakref.WeakKeyDictionary[Services, _Refreshes] = weakref.WeakKeyDictionary()


async def keep_phrases_fresh(services: Services, store_id: int) -> None:
    """Recount a store's popular queries when older than PHRASES_MAX_AGE_MS.

    The time of the last count is in the database, so processes share it; the count is
    a read, its result one write in the group commit. While one request recounts, the
    others go on with the popular queries they have (a store's first call waits).
    """
    state = _refreshes.setdefault(services, _Refreshes())
    now = services.now_ms()
    seen = state.refreshed.get(store_id)
    if seen is not None and now - seen < PHRASES_MAX_AGE_MS:
        return
    lock = state.locks.setdefault(store_id, asyncio.Lock())
    if lock.locked() and seen is not None:
        return
    async with lock:
        storage = services.storage
        at = await storage.read(phrases_refreshed_at, store_id=store_id)
        if at is None or now - at >= PHRASES_MAX_AGE_MS:
            phrases = await storage.read(popular_phrases, store_id=store_id, now=now)
            await storage.write(save_phrases, store_id=store_id, phrases=phrases, now=now)
            at = now
        state.refreshed[store_id] = at


def _query(call: Call) -> str:
    query: str = call.data["query"]
    if not query.strip():
        raise invalid("query", "must not be empty")
    return query


async def suggestions(call: Call) -> dict[str, Any]:
    query = _query(call)
    await keep_phrases_fresh(call.services, call.store.id)
    found = await call.services.storage.read(
        suggest, store_id=call.store.id, query=query, limit=call.data["limit"]
    )
    return {"result": found}


def _site_search(plural: str) -> Any:
    kind = {"categories": sitedata.CATEGORIES, "pages": sitedata.PAGES}[plural]

    async def handler(call: Call) -> dict[str, Any]:
        items, total = await call.services.storage.read(
            search_items,
            kind=kind,
            store_id=call.store.id,
            query=_query(call),
            limit=call.data["limit"],
            offset=call.data["offset"],
        )
        return {"result": [item["id"] for item in items], plural: items, "count": total}

    return handler


routes = [
    Route(
        "/v2/search/suggestions",
        endpoint(SUGGESTION_FIELDS, suggestions),
        methods=["GET", "POST"],
    ),
    *(
        Route(
            f"/v2/search/{plural}",
            endpoint(SITE_FIELDS, _site_search(plural)),
            methods=["GET", "POST"],
        )
        for plural in ("categories", "pages")
    ),
]
