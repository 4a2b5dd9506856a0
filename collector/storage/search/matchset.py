"""A query's match set: the positions (columns.py) of all its matches in stock, in ranking
order, so that a filter, an order and facets are worked out in memory (narrowed.py,
facets.py). Each matching document comes by rank tier from the store's words in memory
(words.py: Columns.word_index, no statement; those changed since it was read read again by
key, once per version), then is ranked in memory: by tier, then by the store's ranking order
(Columns.ranking: sales, views, id, read once per popularity recount: each in-stock
document's place), which leaves out the out-of-stock products and other stores'
documents; each tier is mapped and sorted by C-level calls (map, sorted), not a Python
loop per match. So no row of search_documents is read per match.

Cached per process in the "matches" cache under the store, its catalogue version, the
time of the last popularity recount (the order follows sales and views), the query's
words and whether it is predictive (which, with the version, fix its typo corrections:
the terms the match set was read with), and the serial of the Columns whose positions it
holds. The entries weigh their positions (4 bytes each) and hold at most MATCH_IDS of
them in all; they also expire after CACHE_SECONDS, as the search caches do.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Sequence
from itertools import repeat
from typing import Any

from sqlalchemy import Engine

from ..caches import Cache, cache_for
from .columns import Columns

MATCH_SETS = 1024
MATCH_IDS = 2_000_000  # positions in all the match sets kept, 4 bytes each (8 MB)
CACHE_SECONDS = 60.0


def _cache(engine: Engine) -> Cache:
    return cache_for(engine, "matches", entries=MATCH_SETS, seconds=CACHE_SECONDS, weight=MATCH_IDS)


def match_set(plan: Any, columns: Columns) -> array[int]:
    """The positions of the query's matches in stock, best first (plan: query._Plan)."""
    key = ("matches", *plan.asked, plan.state.popularity, columns.serial)

    def read() -> tuple[array[int], int]:
        order, place = columns.ranking(plan.conn, plan.state.popularity)
        end = len(order)  # the place of another store's or an out-of-stock document
        found = array("i")
        for docs in _tier_docs(plan, columns):
            places = sorted(map(place.get, docs, repeat(end)))
            found.extend(map(order.__getitem__, places[: bisect_left(places, end)]))
        return found, len(found) + 1

    found: array[int] = _cache(plan.conn.engine).once(key, read)
    return found


def _tier_docs(plan: Any, columns: Columns) -> list[Sequence[int]]:
    """The query's matching documents per rank tier, from the store's words in memory."""
    return columns.word_index(plan.conn).tiers(plan.conn, plan.store_id, plan.terms)
