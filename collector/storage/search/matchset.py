"""A query's match set: the positions (columns.py) of all its matches in stock, in
ranking order, read in one statement (paging._Ranking.ranked_ids) and cached, so that
a filter, an order and facets are worked out in memory (narrowed.py, facets.py).

Cached per process in the "matches" cache under the store, its catalogue version, the
time of the last popularity recount (the order follows sales and views), the query's
words and whether it is predictive (which, with the version, fix its typo corrections:
the terms the match set was read with), and the serial of the Columns whose positions
it holds. The entries weigh their positions (4 bytes each) and hold at most MATCH_IDS
of them in all; they also expire after CACHE_SECONDS, as the search caches do.
"""

from __future__ import annotations

from array import array
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
        position = columns.position
        ids = plan.ranking().ranked_ids()
        found = array("i", [p for p in map(position.get, ids) if p is not None])
        return found, len(found) + 1

    found: array[int] = _cache(plan.conn.engine).once(key, read)
    return found
