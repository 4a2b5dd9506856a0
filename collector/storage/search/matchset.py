"""A query's match set: the positions (columns.py) of all its matches in stock, in ranking
order, so that a filter, an order and facets are worked out in memory (narrowed.py,
facets.py). Read in one statement of the full-text index alone (each matching document
by rank tier: paging._Ranking.tier_docs, no row object made per match), then ranked in
memory: by tier, then by the store's ranking order (Columns.ranking: sales, views, id,
read once per popularity recount: each in-stock document's place), which leaves out the
out-of-stock products and other stores' documents; each tier is mapped and sorted by
C-level calls (map, sorted), not a Python loop per match. So no row of search_documents
is read per match.

Cached per process in the "matches" cache under the store, its catalogue version, the
time of the last popularity recount (the order follows sales and views), the query's
words and whether it is predictive (which, with the version, fix its typo corrections:
the terms the match set was read with), and the serial of the Columns whose positions it
holds. The documents of each rank tier are also kept per query (without the version:
"tiers"), so that after a catalogue change the query's tiers are those of the version
before, less the changed products, plus those of them that match now (the full-text
index asked about the changed documents alone, `tier_docs(among)`), when the store's
columns were updated from that version and the query's terms are the same. The entries
weigh their positions or documents (4 or 8 bytes each) and hold at most MATCH_IDS of
them in all; they
also expire after CACHE_SECONDS, as the search caches do.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Sequence
from itertools import filterfalse, repeat
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
    """The query's matching documents per rank tier: read from the full-text index, or,
    when this query's were read at the version the columns were updated from, with the
    same terms (typo corrections), those less the changed products' documents plus the
    changed products that match now (the index asked about them alone)."""
    cache, ranking = _cache(plan.conn.engine), plan.ranking()
    store_id, version, typed, prefix = plan.asked
    key, terms = ("tiers", store_id, typed, prefix), tuple(plan.terms)
    held = cache.get(key)
    if (
        held is not None
        and columns.updated_from is not None
        and held[0] == columns.updated_from
        and held[1] == terms
    ):
        gone = columns.changed_docs
        now = ranking.tier_docs(columns.rechecked) if columns.rechecked else []
        tiers: list[Sequence[int]] = [
            [*filterfalse(gone.__contains__, before), *(now[t] if now else ())]
            for t, before in enumerate(held[2])
        ]
    else:
        tiers = ranking.tier_docs()
    kept = [array("q", docs) for docs in tiers]
    cache.put(key, (version, terms, kept), weight=1 + sum(map(len, kept)))
    return tiers
