"""Live search's other sections: search/suggestions (completions of the query),
search/categories and search/pages (the store's categories and pages that match it).

    search/suggestions {query, limit (1-20, default 5)}
        -> {"result": ["jacket", "jacket men", ...]}
    search/categories {query, limit (1-100, default 5), offset}
        -> {"result": [ids], "categories": [{id, name, url, ...}], "count": n}
    search/pages {query, limit (1-100, default 5), offset, type}
        -> {"result": [ids], "pages": [{id, type, url, title, text, ...}], "count": n}
        (type: keep pages of that type, any case; "" or "all": every page)

The store's public key, as search/search. Not personal (their answers are the same for
every shopper: served to any origin of a store without a list), and not logged as
searches: a shopper's box calls them on every keystroke, beside search/predictive, which
records the query. What they match and how they rank: storage/suggestions.py and
storage/site_search.py. The popular queries suggestions draw on are recounted from the
log of searches at most every PHRASES_MAX_AGE_MS per store (by the collector's clock).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import Route

from .api import COUNT, IDS, RECORDS, Call, answer, endpoint
from .errors import invalid
from .logs import describe
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

log = logging.getLogger(__name__)

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
PAGE_FIELDS: Fields = {**SITE_FIELDS, "type": (text(64), "")}


@dataclass
class _Refreshes:
    refreshed: dict[int, int] = field(default_factory=dict)  # store -> counted at
    running: dict[int, asyncio.Task[None]] = field(default_factory=dict)


_refreshes: weakref.WeakKeyDictionary[Services, _Refreshes] = weakref.WeakKeyDictionary()


async def keep_phrases_fresh(services: Services, store_id: int) -> None:
    """Recount a store's popular queries when older than PHRASES_MAX_AGE_MS.

    Stale while recounting: the count (a read of up to 90 days of the log: about a
    second for 300,000 searches) runs in the background, and calls go on with the
    popular queries they have; only a process's first call for a store waits, and then
    mostly for reading when another process last counted (in the database, so that
    processes share the count). The result is one write in the group commit.
    """
    state = _refreshes.setdefault(services, _Refreshes())
    now = services.now_ms()
    seen = state.refreshed.get(store_id)
    if seen is not None and now - seen < PHRASES_MAX_AGE_MS:
        return
    loop = asyncio.get_running_loop()
    task = state.running.get(store_id)
    if task is None or task.done() or task.get_loop() is not loop:
        task = loop.create_task(_recount(services, state, store_id, now))
        state.running[store_id] = task
        task.add_done_callback(_report)
    if seen is None:
        # A call that goes away must not cancel the count for the others.
        await asyncio.shield(task)


async def _recount(services: Services, state: _Refreshes, store_id: int, now: int) -> None:
    try:
        storage = services.storage
        at = await storage.read(phrases_refreshed_at, store_id=store_id)
        if at is None or now - at >= PHRASES_MAX_AGE_MS:
            phrases = await storage.read(popular_phrases, store_id=store_id, now=now)
            await storage.write(save_phrases, store_id=store_id, phrases=phrases, now=now)
            at = now
        state.refreshed[store_id] = at
    finally:
        if state.running.get(store_id) is asyncio.current_task():
            del state.running[store_id]


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (failure := task.exception()) is not None:
        log.warning("recounting popular queries failed: %s", describe(failure))


async def wait(services: Services) -> None:
    """Until the counts under way in this event loop are done (at shutdown: one still
    running holds a connection of the storage about to be closed)."""
    state = _refreshes.get(services)
    loop = asyncio.get_running_loop()
    running = [t for t in (state.running.values() if state else ()) if t.get_loop() is loop]
    if running:
        await asyncio.gather(*running, return_exceptions=True)


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
        of_kind = call.data.get("type", "").strip()
        items, total = await call.services.storage.read(
            search_items,
            kind=kind,
            store_id=call.store.id,
            query=_query(call),
            limit=call.data["limit"],
            offset=call.data["offset"],
            of_kind="" if of_kind.casefold() == "all" else of_kind,
        )
        return {"result": [item["id"] for item in items], plural: items, "count": total}

    return handler


routes = [
    Route(
        "/v2/search/suggestions",
        endpoint(SUGGESTION_FIELDS, suggestions, answer=answer(result=IDS)),
        methods=["GET", "POST"],
    ),
    *(
        Route(
            f"/v2/search/{plural}",
            endpoint(
                fields,
                _site_search(plural),
                answer=answer(result=IDS, **{plural: RECORDS}, count=COUNT),
            ),
            methods=["GET", "POST"],
        )
        for plural, fields in (("categories", SITE_FIELDS), ("pages", PAGE_FIELDS))
    ),
]
