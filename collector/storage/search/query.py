"""search_products: one query's page of matches and their count, through the caches
kept per process (predictive answers, counts, typo corrections, what a plan learnt)
under the store's catalogue version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from ... import filters
from ...filters import Expr
from ..caches import Cache, cache_for
from ..folding import words
from ..schema import search_catalogue, search_popularity
from ..sitedata import category_names
from . import facets as facet_counts
from . import narrowed
from .columns import Columns, columns_for
from .matchset import match_set
from .paging import Term, _page, _Ranking
from .ranking_postgres import _PostgresRanking
from .ranking_sqlite import _SqliteRanking
from .typos import TYPO_MIN, _has_digit, corrections

PREFIX_MIN = 2
MAX_QUERY_WORDS = 10
MAX_TYPO_WORDS = 4  # words per query that get typo variants (each costs ~70 x length lookups)

# ---------------------------------------------------------------- caches
#
# Per process and database: predictive answers, the counts of full searches' matches,
# typo corrections, facet counts and what a query's plan learnt (how many documents
# match each tier or level), each under the store's catalogue version
# (search_catalogue, read with every query), so an entry is never used after a product
# was added, changed or deleted, in this process or another; predictive answers also
# under the time of the last popularity recount. Entries also expire after
# CACHE_SECONDS, and the least recently used go when there are CACHE_ENTRIES, or more
# than CACHE_IDS product ids in all the answers (about 70 bytes each: 200,000 are about
# 14 MB). The store's columns
# and the queries' match sets, which a call with a filter, an order or facets reads,
# have caches of their own (columns.py, matchset.py).
#
# No key holds an `exclude` list: every shopper's box sends its own, and a key with the
# list made one entry per list (1,500 calls with 60 KB lists: +135 MB). A predictive
# answer is kept without exclusions, as deep as the page and the list could need
# (limit + len(exclude): at most that many of its ids can be excluded), rounded up to
# one of PREDICTIVE_DEPTHS so that calls differing a little share an entry (a deeper one
# serves a shallower call); the excluded ids are dropped from it per call. A full search
# applies its list in SQL (its pages are not cached). Counts are of all matches; the
# excluded ones among them (those an answer did not read) are counted per call.

CACHE_SECONDS = 60.0
CACHE_ENTRIES = 4096
CACHE_IDS = 200_000
PREDICTIVE_DEPTHS = (10, 50, 200, 600)  # 600: limit (100) + exclude (500) at most


def _cache(engine: Engine) -> Cache:
    return cache_for(
        engine, "search", entries=CACHE_ENTRIES, seconds=CACHE_SECONDS, weight=CACHE_IDS
    )


def _depth(need: int) -> int:
    """The depth of a cached predictive answer for a call that needs `need` ids."""
    return next((d for d in PREDICTIVE_DEPTHS if d >= need), -(-need // 500) * 500)


@dataclass(frozen=True)
class _State:
    version: int  # of the store's catalogue (0 before its first product)
    documents: int
    popularity: int  # when sales and views were last recounted (0: never)


# PostgreSQL, for the rest of the transaction. Short queries on a busy server: parallel
# workers only slow them down. Plans are made for the words at hand: a plan made for any
# words (a prepared statement's generic plan) cannot tell a walk's query from a join's.
# The search tables are read often enough to be in memory, where a lookup by key is
# cheap: at the default random_page_cost (4), 1,400 matches are joined to their
# documents by hashing all 100,000 of them (28 ms) rather than looked up (10 ms).
_PG_SETTINGS = {
    "max_parallel_workers_per_gather": "0",
    "plan_cache_mode": "force_custom_plan",
    "random_page_cost": "1.1",
}


def _state(conn: Connection, store_id: int) -> _State:
    """The store's versions and documents (and, on PostgreSQL, the settings above)."""
    c, p = search_catalogue, search_popularity
    settings = []
    if conn.dialect.name == "postgresql":
        settings = [func.set_config(k, v, True) for k, v in _PG_SETTINGS.items()]
    row = conn.execute(
        select(
            select(c.c.version).where(c.c.store_id == store_id).scalar_subquery(),
            select(c.c.documents).where(c.c.store_id == store_id).scalar_subquery(),
            select(p.c.refreshed_at).where(p.c.store_id == store_id).scalar_subquery(),
            *settings,
        )
    ).one()
    return _State(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))


def _corrections(
    conn: Connection, cache: Cache, store_id: int, version: int, typed: Sequence[str]
) -> dict[str, list[str]]:
    """corrections(), through the cache."""
    found: dict[str, list[str]] = {}
    missing: list[str] = []
    for word in typed:
        hit = cache.get(("corrections", store_id, version, word))
        if hit is None:
            missing.append(word)
        else:
            found[word] = list(hit)
    if missing:
        fixes = corrections(conn, store_id=store_id, typed=missing)
        for word in missing:
            found[word] = fixes.get(word, [])
            cache.put(("corrections", store_id, version, word), tuple(found[word]))
    return found


# ---------------------------------------------------------------- search


def search_products(
    conn: Connection,
    *,
    store_id: int,
    query: str,
    prefix: bool,
    limit: int,
    offset: int = 0,
    exclude: Sequence[str] = (),
) -> tuple[list[str], int]:
    """Product ids of one page of matches, best first, and the number of all matches
    (both without the excluded products).

    With `prefix` (predictive search) every word of two or more characters also
    matches the words it begins; without it (full search) words match whole words
    only. Either way long words forgive one typo. Predictive answers are cached (see
    the caches above): a shopper's box asks the same prefixes as the last shopper's.
    """
    typed = list(dict.fromkeys(words(query)))[:MAX_QUERY_WORDS]
    if not typed:
        return [], 0
    state = _state(conn, store_id)
    cache = _cache(conn.engine)
    excluded = sorted(set(exclude))
    asked = (store_id, state.version, tuple(typed), prefix)
    plan = _Plan(conn, cache, state, asked)
    try:
        if prefix:
            return _predictive(plan, limit, offset, excluded)
        ids, total = _page(plan.ranking(excluded), limit, offset)
        if total is None:
            total = plan.count() - (plan.ranking().count_among(excluded) if excluded else 0)
        return ids, total
    finally:
        plan.save()


@dataclass(frozen=True)
class Narrowing:
    """What a call adds to its query: a filter, an order, facets (see narrowed.py and
    facets.py)."""

    filter: Expr | None = None
    order: narrowed.Order | None = None
    facets: tuple[str, ...] = ()
    multiselect: tuple[str, ...] = ()


@dataclass
class Answer:
    ids: list[str]
    count: int
    facets: dict[str, list[dict[str, Any]]] | None = None


def search_page(
    conn: Connection,
    *,
    store_id: int,
    query: str,
    prefix: bool,
    limit: int,
    offset: int = 0,
    exclude: Sequence[str] = (),
    narrowing: Narrowing = Narrowing(),
) -> Answer:
    """search_products with a filter, an order and facets. Without any of them it is
    search_products (and its caches). With any, the page is cut from the
    query's match set (matchset.py), narrowed and ordered in memory over the store's
    columns (narrowed.py, columns.py; never from a cache of unfiltered answers); facets
    are counted over all the narrowed matches (the excluded products too) and cached per
    catalogue version, query, filter (its canonical text) and facets."""
    if narrowing.filter is None and narrowing.order is None and not narrowing.facets:
        ids, total = search_products(
            conn,
            store_id=store_id,
            query=query,
            prefix=prefix,
            limit=limit,
            offset=offset,
            exclude=exclude,
        )
        return Answer(ids, total)
    typed = list(dict.fromkeys(words(query)))[:MAX_QUERY_WORDS]
    if not typed:
        return Answer([], 0, _empty(narrowing) if narrowing.facets else None)
    state = _state(conn, store_id)
    cache = _cache(conn.engine)
    plan = _Plan(conn, cache, state, (store_id, state.version, tuple(typed), prefix))
    found = _Narrowed(plan)
    try:
        # Facets read the whole match set: the page is cut from it too (the same order
        # as search_products' tiers), not read again.
        matches = narrowed.ordered(conn, found.columns(), found(narrowing.filter), narrowing.order)
        answer = Answer(*narrowed.page(found.columns(), matches, limit, offset, exclude))
        if narrowing.facets:
            answer.facets = _facets(plan, narrowing, found)
        return answer
    finally:
        plan.save()


class _Narrowed:
    """A call's narrowed matches: the store's columns and the query's match set, read
    when first needed, and the matches narrowed by each filter asked (once each)."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self._columns: Columns | None = None
        self._found: dict[str, list[int]] = {}

    def columns(self) -> Columns:
        if self._columns is None:
            plan = self.plan
            self._columns = columns_for(plan.conn, plan.store_id, plan.state.version)
        return self._columns

    def __call__(self, expr: Expr | None) -> list[int]:
        key = "" if expr is None else filters.canonical(expr)
        found = self._found.get(key)
        if found is None:
            if "" not in self._found:
                self._found[""] = list(match_set(self.plan, self.columns()))
            found = self._found[""]
            if expr is not None:
                found = self._found[key] = narrowed.narrow(
                    self.plan.conn, self.columns(), found, expr
                )
        return found


def _empty(narrowing: Narrowing) -> dict[str, list[dict[str, Any]]]:
    return {name: [] for name in narrowing.facets}


def _facets(plan: _Plan, narrowing: Narrowing, found: _Narrowed) -> dict[str, list[dict[str, Any]]]:
    expr = narrowing.filter
    key = (
        "facets",
        *plan.asked,
        "" if expr is None else filters.canonical(expr),
        narrowing.facets,
        narrowing.multiselect,
    )
    counts = plan.cache.get(key)
    if counts is None:
        counts = facet_counts.count_facets(
            plan.conn, found.columns(), found, expr, narrowing.facets, narrowing.multiselect
        )
        plan.cache.put(key, counts, weight=1 + sum(len(rows) for _, rows in counts.values()))
    names: dict[str, str] = {}
    if "categories" in counts:
        ids = [value for value, _ in counts["categories"][1]]
        names = category_names(plan.conn, store_id=plan.store_id, ids=ids) if ids else {}
    return facet_counts.shaped(counts, names)


def _predictive(plan: _Plan, limit: int, offset: int, excluded: list[str]) -> tuple[list[str], int]:
    """A page of the query's answer as cached (without exclusions: see the caches), with
    the excluded products taken out of the page and of the count."""
    need = offset + limit + len(excluded)
    stem = ("answer", *plan.asked, plan.state.popularity)
    deeper = (plan.cache.get((*stem, d)) for d in PREDICTIVE_DEPTHS if d >= need)
    hit = next((found for found in deeper if found is not None), None)
    if hit is None:
        depth = _depth(need)
        found, total = _page(plan.ranking(), depth, 0)
        hit = (tuple(found), plan.count() if total is None else total)
        plan.cache.put((*stem, depth), hit, weight=len(found) + 1)
    read, matches = hit
    skip = set(excluded)
    ids = [pid for pid in read if pid not in skip]
    total = matches - (len(read) - len(ids))
    if excluded and len(read) < matches:  # not every match was read: count the others
        seen = set(read)
        unread = [pid for pid in excluded if pid not in seen]
        total -= plan.ranking().count_among(unread) if unread else 0
    return ids[offset : offset + limit], total


class _Plan:
    """What one query's rankings share: its terms (the typo corrections through the
    cache), what they learn of the catalogue (kept in the cache by `save`) and the count
    of all its matches (through the cache)."""

    def __init__(
        self, conn: Connection, cache: Cache, state: _State, asked: tuple[Any, ...]
    ) -> None:
        self.conn, self.cache, self.state, self.asked = conn, cache, state, asked
        self.store_id, _, self.typed, self.prefix = asked
        self._terms: list[Term] | None = None
        self._known_key = ("known", self.store_id, state.version, self.typed, self.prefix)
        self.known: dict[Any, Any] = dict(cache.get(self._known_key) or {})
        self._learnt = len(self.known)

    @property
    def terms(self) -> list[Term]:
        """The query's words, each with its typo corrections (through the cache)."""
        if self._terms is None:
            long_words = [w for w in self.typed if len(w) >= TYPO_MIN and not _has_digit(w)]
            version, typos = self.state.version, long_words[:MAX_TYPO_WORDS]
            fixes = _corrections(self.conn, self.cache, self.store_id, version, typos)
            self._terms = [
                Term(w, self.prefix and len(w) >= PREFIX_MIN, tuple(fixes.get(w, ())))
                for w in self.typed
            ]
        return self._terms

    def ranking(self, exclude: list[str] | None = None) -> _Ranking:
        kind = _SqliteRanking if self.conn.dialect.name == "sqlite" else _PostgresRanking
        ranking = kind(self.conn, self.store_id, self.state.documents, exclude or [], self.terms)
        ranking.known = self.known
        return ranking

    def count(self) -> int:
        """All matches in stock, the excluded too."""
        total = self.cache.get(("count", *self.asked))
        if total is None:
            total = self.ranking().count()
            self.cache.put(("count", *self.asked), total)
        return int(total)

    def save(self) -> None:
        if len(self.known) != self._learnt:
            self.cache.put(self._known_key, self.known)
