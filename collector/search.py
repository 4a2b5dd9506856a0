"""Search endpoints: search/search (a results page) and search/predictive (a box
that answers as the shopper types).

Both answer the shared product list shape (in-stock products only, the render
recorded) with `count` = all matches, and record the query in `searches`
(zero-result queries too, as hits = 0) without making the answer wait.

Prefix matching is predictive's alone: there every word also finds the words it
begins ("jack" finds "jacket"). A full search is a submitted query and means the
words as typed ("tea" finds tea, not teal or teapots); it still forgives one typo
in a word of five or more letters ("jaket" finds "jacket"). Ranking, typos and what is
cached (predictive answers, counts, corrections: never past a change to the catalogue)
are described in storage/search/.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any

from . import lists
from .api import Call
from .errors import invalid
from .fields import LIST_FIELDS
from .services import Services
from .storage import searches
from .storage.search import (
    popularity_changes,
    popularity_refreshed_at,
    save_popularity,
    search_products,
)
from .validation import REQUIRED, Fields, integer, text
from .widgets import answer_products

# Sales and views used for ranking are recounted at most this often per store
# (by the collector's clock); a store's first search waits for its first count.
POPULARITY_MAX_AGE_MS = 5 * 60 * 1000

PREDICTIVE_FIELDS: Fields = {"query": (text(200), REQUIRED), **LIST_FIELDS}
SEARCH_FIELDS: Fields = {**PREDICTIVE_FIELDS, "offset": (integer(0, 10_000), 0)}


@dataclass
class _Popularity:
    refreshed: dict[int, int] = field(default_factory=dict)
    locks: dict[int, asyncio.Lock] = field(default_factory=dict)


_popularity: weakref.WeakKeyDictionary[Services, _Popularity] = weakref.WeakKeyDictionary()


async def keep_popularity_fresh(services: Services, store_id: int) -> None:
    """Recount a store's sales and views when older than POPULARITY_MAX_AGE_MS.

    The counting is a read (no lock held); only the changed figures are written, in
    the group commit. The time of the last count is in the database, so processes
    share it; while one request recounts, others go on with the figures they have.
    """
    state = _popularity.setdefault(services, _Popularity())
    now = services.now_ms()
    seen = state.refreshed.get(store_id)
    if seen is not None and now - seen < POPULARITY_MAX_AGE_MS:
        return
    lock = state.locks.setdefault(store_id, asyncio.Lock())
    if lock.locked() and seen is not None:
        return
    async with lock:
        storage = services.storage
        at = await storage.read(popularity_refreshed_at, store_id=store_id)
        if at is None or now - at >= POPULARITY_MAX_AGE_MS:
            changes = await storage.read(popularity_changes, store_id=store_id)
            await storage.write(save_popularity, store_id=store_id, changes=changes, now=now)
            at = now
        state.refreshed[store_id] = at


def _query(call: Call) -> str:
    query: str = call.data["query"].strip()
    if not query:
        raise invalid("query", "must not be empty")
    return query


async def _search(call: Call, api: str, *, prefix: bool, offset: int) -> dict[str, Any]:
    query = _query(call)
    await keep_popularity_fresh(call.services, call.store.id)
    ids, total = await call.services.storage.read(
        search_products,
        store_id=call.store.id,
        query=query,
        prefix=prefix,
        limit=call.data["limit"],
        offset=offset,
        exclude=call.data["exclude"],
    )
    answer = await answer_products(call, api, ids, count=total)
    if call.preview:
        return answer
    visitor = await call.visitor()
    logged = searches.search(
        store_id=call.store.id,
        ts=call.services.now_ms(),
        api=api,
        query=query,
        hits=total,
        visitor_mode=visitor.mode,
        visitor_id=visitor.id,
        session=visitor.session,
    )
    call.services.storage.insert_soon(logged)
    return answer


async def search(call: Call) -> dict[str, Any]:
    return await _search(call, "search/search", prefix=False, offset=call.data["offset"])


async def predictive(call: Call) -> dict[str, Any]:
    return await _search(call, "search/predictive", prefix=True, offset=0)


routes = [
    lists.register("search/search", SEARCH_FIELDS, search),
    lists.register("search/predictive", PREDICTIVE_FIELDS, predictive),
]
