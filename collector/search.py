"""Search endpoints: search/search (a results page) and search/predictive (a box
that answers as the shopper types).

Both answer the shared product list shape (in-stock products only, the render
recorded) with `count` = all matches (those the call's `filter` keeps), take Clerk's
`facets`, `facets_multiselect`, `orderby` and `order` (storage/search/facets.py and
narrowed.py say how they are counted and ordered), and record the query in `searches`
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
from .fields import LIST_FIELDS, attribute_name
from .services import Services
from .storage import searches
from .storage.search import (
    Narrowing,
    Order,
    popularity_changes,
    popularity_refreshed_at,
    save_popularity,
    search_page,
)
from .validation import REQUIRED, Fields, described, integer, list_of, schema_of, text
from .widgets import answer_products

# Sales and views used for ranking are recounted at most this often per store
# (by the collector's clock); a store's first search waits for its first count.
POPULARITY_MAX_AGE_MS = 5 * 60 * 1000

FACETS_MAX = 20


@described({"type": "string", "pattern": "^([aA][sS][cC]|[dD][eE][sS][cC])$"})
def order_name(name: str, value: Any, from_query: bool) -> str:
    """`asc` or `desc` (any case)."""
    chosen: str = text(10)(name, value, from_query).lower()
    if chosen not in ("asc", "desc"):
        raise invalid(name, "must be asc or desc")
    return chosen


@described({"anyOf": [{"type": "null"}, {"const": ""}, schema_of(attribute_name)]})
def orderby_name(name: str, value: Any, from_query: bool) -> str | None:
    """An attribute name, or null / empty: relevance order."""
    if value is None or value == "":
        return None
    return attribute_name(name, value, from_query)


PREDICTIVE_FIELDS: Fields = {
    "query": (text(200), REQUIRED),
    **LIST_FIELDS,
    # Clerk's facets: attribute names to count values of, over all the (filtered) matches;
    # a multiselect facet is counted without its own part of the filter.
    "facets": (list_of(attribute_name, FACETS_MAX), []),
    "facets_multiselect": (list_of(attribute_name, FACETS_MAX), []),
    # An attribute to order the matches by instead of relevance.
    "orderby": (orderby_name, None),
    "order": (order_name, "asc"),
}
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


def _narrowing(call: Call) -> Narrowing:
    facets = list(dict.fromkeys(call.data["facets"]))
    multiselect = list(dict.fromkeys(call.data["facets_multiselect"]))
    for i, name in enumerate(multiselect):
        if name not in facets:
            raise invalid(f"facets_multiselect[{i}]", f"{name} is not in facets")
    orderby = call.data["orderby"]
    order = None if orderby is None else Order(orderby, call.data["order"] == "desc")
    return Narrowing(call.data["filter"], order, tuple(facets), tuple(multiselect))


async def _search(call: Call, api: str, *, prefix: bool, offset: int) -> dict[str, Any]:
    query = _query(call)
    narrowing = _narrowing(call)
    await keep_popularity_fresh(call.services, call.store.id)
    found = await call.services.storage.read(
        search_page,
        store_id=call.store.id,
        query=query,
        prefix=prefix,
        limit=call.data["limit"],
        offset=offset,
        exclude=call.data["exclude"],
        narrowing=narrowing,
    )
    ids, total = found.ids, found.count
    answer = await answer_products(call, api, ids, count=total)
    if found.facets is not None:
        answer["facets"] = found.facets
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
