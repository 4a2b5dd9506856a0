"""Warming: a store's columns and words read before a shopper's search has to.

A process's first search of a store with a filter, an order or facets reads the store's
products, their ranking order, its words and each column the call names: 2 to 3 s at
100,000 products (docs/benchmarks.md, "uncached"), paid by that shopper. The ranking
order is read again after each popularity recount, and everything after a catalogue
change too large to carry over (an import). The housekeeping (collector/housekeeping.py)
calls `warm_searches` every minute: for the stores searched in the last WARM_SECONDS, most
searched first (at most WARM_STORES), it reads what is missing at the store's current
version and recount, and the columns of WARM_ATTRIBUTES (the facets Clerk's plugins
show by default; other attributes load on first use, as before). What is already held
costs one small read. A store not held yet is warmed only while the columns' cache is
under half its bound, so warming never pushes out what calls are using.

Each process warms its own: the columns are per process (and per engine: searches read
the primary, and so does warming).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, select

from ..schema import searches, stores
from .columns import COLUMNS_BYTES, columns_for
from .columns import _cache as _columns_cache
from .query import _state

WARM_ATTRIBUTES = ("price", "brand", "categories")
WARM_SECONDS = 86_400  # searched this recently
WARM_STORES = 8
COUNTED = 1_000  # searches counted per store at most (the order of the busiest)


def stores_to_warm(conn: Connection, *, now_ms: int) -> list[int]:
    """The stores searched in the last WARM_SECONDS, most searched first (each store's
    searches counted up to COUNTED: an index range of ix_searches_store_ts)."""
    since = now_ms - WARM_SECONDS * 1000
    counts: list[tuple[int, int]] = []
    for store_id in conn.scalars(select(stores.c.id).order_by(stores.c.id)):
        recent = (
            select(searches.c.id)
            .where(searches.c.store_id == store_id, searches.c.ts >= since)
            .limit(COUNTED)
            .subquery()
        )
        count = conn.scalar(select(func.count()).select_from(recent)) or 0
        if count:
            counts.append((-count, store_id))
    return [store_id for _, store_id in sorted(counts)[:WARM_STORES]]


def has_room(engine: Engine, store_id: int) -> bool:
    """Whether warming this store may add to the columns' cache: it holds the store
    already, or holds less than half its bound."""
    cache = _columns_cache(engine)
    held = any(isinstance(key, tuple) and key[0] == store_id for key in cache.keys())
    return held or cache.weight < COLUMNS_BYTES // 2


def warm(conn: Connection, *, store_id: int) -> bool:
    """Read what the store's searches with facets read first, at its current catalogue
    version and recount. False when it has no catalogue or no room (see has_room)."""
    if not has_room(conn.engine, store_id):
        return False
    state = _state(conn, store_id)
    if not state.version:
        return False
    columns = columns_for(conn, store_id, state.version)
    columns.ranking(conn, state.popularity)
    columns.word_index(conn).fresh_words(conn, store_id)
    for attribute in WARM_ATTRIBUTES:
        columns.column(conn, attribute)
    return True
