"""Recommendation endpoints: what to show each shopper, from the store's own history.

| endpoint                         | ranking                                                   |
|----------------------------------|-----------------------------------------------------------|
| recommendations/popular          | units sold, then views, over 30 days; newest fill the rest|
| recommendations/trending         | rise of interest: last 24 h against the 7 days before      |
| recommendations/new              | newest by created_at                                      |
| recommendations/complementary    | bought together (orders), then viewed together (visitors)  |
| recommendations/substituting     | shared categories, viewed together, closest price          |
| recommendations/category/popular | popular within one category                               |
| recommendations/visitor/history  | the visitor's viewed products, newest first               |
| recommendations/visitor/complementary | complements, then substitutes, of what the |
|                                  | visitor viewed, clicked and bought; never what they bought |

Interest is views plus three times units sold. Products that are deleted or out
of stock are never recommended (checked on every request, after any cache); nor are
those the call's `filter` (collector/filters.py) leaves out, checked at the same place,
so that no cache is keyed by a filter.
Store-wide rankings, and the complements and substitutes of each set of seeds, are
cached per process for RECOMMENDATION_CACHE_SECONDS (they are derived data: any
process can recompute them); an expired one is still served while one recomputation
runs in the background.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from itertools import islice
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection
from starlette.routing import Route

from . import caps, lists
from .api import Call
from .errors import ApiError
from .rankings import RankingCache
from .storage import recommendations
from .storage.recommendations import Counts
from .validation import REQUIRED, Fields, described, list_of, product_id, text_or_id
from .widgets import answer_products

DAY_MS = 86_400_000
POPULAR_DAYS = 30
PERSONAL_DAYS = 90
FALLBACKS = ("popular", "trending", "new")


def rank(counts: Iterable[tuple[str, tuple[float, ...]]]) -> list[str]:
    """Ids by their keys, highest first, ties by id."""
    by_id = sorted(counts, key=itemgetter(0))
    return [pid for pid, _ in sorted(by_id, key=itemgetter(1), reverse=True)]  # stable


async def _popular_ranking(call: Call) -> list[str]:
    storage, store_id = call.services.storage, call.store.id
    since = call.services.now_ms() - POPULAR_DAYS * DAY_MS
    sold = await storage.read_replica(recommendations.sales, store_id=store_id, since=since)
    seen = await storage.read_replica(recommendations.views, store_id=store_id, since=since)
    return rank((pid, (sold.get(pid, 0), seen.get(pid, 0))) for pid in sold.keys() | seen.keys())


async def popular_ranking(call: Call) -> list[str]:
    cache: RankingCache = call.services.rankings
    return await cache.get((call.store.id, "popular"), lambda: _popular_ranking(call))


async def _trending_ranking(call: Call) -> list[str]:
    storage, store_id, now = call.services.storage, call.store.id, call.services.now_ms()

    async def interest(since: int, until: int) -> Counts:
        sold = await storage.read_replica(
            recommendations.sales, store_id=store_id, since=since, until=until
        )
        seen = await storage.read_replica(
            recommendations.views, store_id=store_id, since=since, until=until
        )
        return {pid: seen.get(pid, 0) + 3 * sold.get(pid, 0) for pid in sold.keys() | seen.keys()}

    recent = await interest(now - DAY_MS, now + 1)
    before = await interest(now - 8 * DAY_MS, now - DAY_MS)
    rising = {pid: (n - before.get(pid, 0) / 7, n) for pid, n in recent.items()}
    return rank((pid, key) for pid, key in rising.items() if key[0] > 0)


# The most ids of a ranking one check of stock and filter reads (see `take`).
CHUNK_MAX = 2000


async def take(call: Call, ranked: Iterable[str], *, skip: Iterable[str] = ()) -> list[str]:
    """The first `limit` ranked ids that are not excluded, are in stock and satisfy the
    call's filter (if any).

    Ids are taken from `ranked` as they are needed, in chunks of 4 x `limit`: a
    cached ranking holds every product of the store. With a filter, each chunk is twice
    the one before (up to CHUNK_MAX), so that a filter few products satisfy walks a long
    ranking in a few reads rather than hundreds."""
    limit, unwanted = call.data["limit"], set(call.data["exclude"]) | set(skip)
    expr = call.data.get("filter")
    chosen: list[str] = []
    candidates = (pid for pid in ranked if pid not in unwanted)
    size = limit * 4
    while len(chosen) < limit and (chunk := list(islice(candidates, size))):
        ok = await call.services.storage.read(
            recommendations.available_ids, store_id=call.store.id, ids=chunk, filter=expr
        )
        chosen.extend(pid for pid in chunk if pid in ok)
        if expr is not None:
            size = min(size * 2, CHUNK_MAX)
    return chosen[:limit]


async def fill_with_newest(call: Call, chosen: list[str]) -> list[str]:
    missing = call.data["limit"] - len(chosen)
    if missing <= 0:
        return chosen
    newest = await call.services.storage.read(
        recommendations.newest,
        store_id=call.store.id,
        limit=call.data["limit"],
        exclude=[*call.data["exclude"], *chosen],
        filter=call.data.get("filter"),
    )
    return chosen + newest[:missing]


async def popular(call: Call) -> list[str]:
    return await fill_with_newest(call, await take(call, await popular_ranking(call)))


async def trending(call: Call) -> list[str]:
    cache: RankingCache = call.services.rankings
    ranked = await cache.get((call.store.id, "trending"), lambda: _trending_ranking(call))
    return await take(call, ranked)


async def new(call: Call) -> list[str]:
    ids: list[str] = await call.services.storage.read(
        recommendations.newest,
        store_id=call.store.id,
        limit=call.data["limit"],
        exclude=call.data["exclude"],
        filter=call.data.get("filter"),
    )
    return ids


async def _category_ranking(call: Call, category: str) -> list[str]:
    """Popular within the category, then the category's other products by id."""
    members = set(
        await call.services.storage.read_replica(
            recommendations.category_members, store_id=call.store.id, category=category
        )
    )
    ranked = [pid for pid in await popular_ranking(call) if pid in members]
    return ranked + sorted(members - set(ranked), key=lambda pid: (len(pid), pid))


async def category_popular(call: Call) -> list[str]:
    category = call.data["category"]
    cache: RankingCache = call.services.rankings
    key = (call.store.id, "category", category)
    return await take(call, await cache.get(key, lambda: _category_ranking(call, category)))


# How deep the complements of a set of seeds are read: one of these steps, so that calls
# that differ in `limit` or in the length of `exclude` share a few cached lists (and
# each costs one bounded computation) rather than one per value.
SEED_DEPTHS = (50, 200, 1000)
# Seeds a call starts from, at most (the first given): each costs its own index reads.
MAX_SEEDS = 20


def _depth(call: Call) -> int:
    """How many of each co-purchase and co-view list are read: enough for `take` to
    fill the answer past the excluded and the out-of-stock (4 x limit + the excluded:
    at most 4 x 100 + 500 + 10 = 910), rounded up to a step of SEED_DEPTHS. With a
    filter, the deepest step: the filter may leave few of them (and the cache is keyed
    by the step, never by the filter's text)."""
    limit: int = call.data["limit"]
    if call.data.get("filter") is not None:
        return SEED_DEPTHS[-1]
    wanted = 4 * limit + len(call.data["exclude"]) + 10
    return next((d for d in SEED_DEPTHS if d >= wanted), -(-wanted // 1000) * 1000)


async def _complements(call: Call, seeds: list[str]) -> list[str]:
    """Bought together with the seeds, then viewed together (see `_together`)."""
    depth = _depth(call)

    async def compute(seeds: list[str], since: int) -> list[str]:
        bought, viewed = await call.services.storage.read_replica(
            _together, store_id=call.store.id, seeds=seeds, since=since, top=depth
        )
        return [
            *rank((pid, (n, viewed.get(pid, 0))) for pid, n in bought.items()),
            *rank((pid, (n,)) for pid, n in viewed.items() if pid not in bought),
        ]

    return await _by_seeds(call, ("complements", depth), seeds, compute)


async def _by_seeds(
    call: Call,
    kind: tuple[Any, ...],
    seeds: list[str],
    compute: Callable[[list[str], int], Awaitable[list[str]]],
) -> list[str]:
    """A ranking of the seeds' products (the first MAX_SEEDS), kept per set of seeds like
    the store-wide rankings (served stale while one recomputes)."""
    seeds = sorted(list(dict.fromkeys(seeds))[:MAX_SEEDS])
    since = call.services.now_ms() - POPULAR_DAYS * DAY_MS
    cache: RankingCache = call.services.seed_rankings
    return await cache.get((call.store.id, *kind, tuple(seeds)), lambda: compute(seeds, since))


def _together(
    conn: Connection, *, store_id: int, seeds: list[str], since: int, top: int
) -> tuple[Counts, Counts]:
    """The `top` products most bought together with the seeds, and the `top` most viewed
    together with them (and how often those bought together were), on one connection."""
    bought = recommendations.bought_together(conn, store_id=store_id, seeds=seeds, top=top)
    viewed = recommendations.viewed_together(
        conn, store_id=store_id, seeds=seeds, since=since, top=top, also=list(bought)
    )
    return bought, viewed


async def _substitutes(call: Call, seeds: list[str]) -> list[str]:
    """Similar products ranked by shared categories, viewed together, closest price."""

    async def compute(seeds: list[str], since: int) -> list[str]:
        alike, viewed = await call.services.storage.read_replica(
            _alike, store_id=call.store.id, seeds=seeds, since=since
        )
        return rank(
            (pid, (shared, viewed.get(pid, 0), -distance)) for pid, shared, distance in alike
        )

    return await _by_seeds(call, ("substitutes",), seeds, compute)


def _alike(
    conn: Connection, *, store_id: int, seeds: list[str], since: int
) -> tuple[list[tuple[str, int, float]], Counts]:
    """Similar products, and how often each was viewed together with the seeds, on one
    connection."""
    alike = recommendations.similar(conn, store_id=store_id, seeds=seeds)
    if not alike:
        return alike, {}
    among = [pid for pid, _, _ in alike]
    viewed = recommendations.viewed_together(
        conn, store_id=store_id, seeds=seeds, since=since, among=among
    )
    return alike, viewed


async def complementary(call: Call) -> list[str]:
    seeds = call.data["products"]
    return await take(call, await _complements(call, seeds), skip=seeds)


async def substituting(call: Call) -> list[str]:
    seeds = call.data["products"]
    return await take(call, await _substitutes(call, seeds), skip=seeds)


async def visitor_history(call: Call) -> list[str]:
    visitor = await call.visitor()
    if visitor.id is None:
        return []
    ids: list[str] = await call.services.storage.read(
        recommendations.history,
        store_id=call.store.id,
        visitor_id=visitor.id,
        limit=call.data["limit"],
        exclude=call.data["exclude"],
        filter=call.data.get("filter"),
    )
    return ids


async def visitor_complementary(call: Call) -> list[str]:
    visitor = await call.visitor()
    if visitor.id is None:
        return []
    since = call.services.now_ms() - PERSONAL_DAYS * DAY_MS
    found = await call.services.storage.read(
        recommendations.interests, store_id=call.store.id, visitor_id=visitor.id, since=since
    )
    bought = found["bought"]
    # Strongest signals first: bought, then clicked, then viewed (at most 20 seeds).
    seeds = list(dict.fromkeys([*bought, *found["click"], *found["view"]]))[:MAX_SEEDS]
    if not seeds:
        return []
    chosen = await take(call, await _complements(call, seeds), skip=bought)
    if len(chosen) < call.data["limit"]:  # substitutes of the strongest few fill the rest
        more = await _substitutes(call, seeds[:3])
        chosen += await take(call, more, skip=[*bought, *chosen])
    return chosen[: call.data["limit"]]


def _with_fallback(choose: Callable[[Call], Any]) -> Callable[[Call], Any]:
    """A personal list, or, when it is empty and the call asks, a non-personal one."""

    async def run(call: Call) -> list[str]:
        chosen: list[str] = await choose(call)
        fallback = call.data.get("fallback")
        if not chosen and fallback:
            chosen = await {"popular": popular, "trending": trending, "new": new}[fallback](call)
        return chosen

    return run


@described({"enum": list(FALLBACKS)})
def fallback_field(name: str, value: Any, from_query: bool) -> str:
    if value not in FALLBACKS:
        raise ApiError(400, "invalid_field", f"{name}: must be one of {', '.join(FALLBACKS)}")
    return str(value)


def _route(
    api: str,
    choose: Callable[[Call], Any],
    fields: Fields | None = None,
    *,
    personal: bool = False,
) -> Route:
    async def handler(call: Call) -> dict[str, Any]:
        return await answer_products(call, api, await choose(call))

    return lists.register(api, fields or {}, handler, personal=personal)


SEEDS: Fields = {"products": (list_of(product_id, caps.SEED_PRODUCTS_MAX), REQUIRED)}
PERSONAL: Fields = {"fallback": (fallback_field, None)}

routes = [
    _route("recommendations/popular", popular),
    _route("recommendations/trending", trending),
    _route("recommendations/new", new),
    _route("recommendations/complementary", complementary, SEEDS),
    _route("recommendations/substituting", substituting, SEEDS),
    _route(
        "recommendations/category/popular",
        category_popular,
        {"category": (text_or_id(200), REQUIRED)},
    ),
    _route(
        "recommendations/visitor/history",
        _with_fallback(visitor_history),
        PERSONAL,
        personal=True,
    ),
    _route(
        "recommendations/visitor/complementary",
        _with_fallback(visitor_complementary),
        PERSONAL,
        personal=True,
    ),
]
