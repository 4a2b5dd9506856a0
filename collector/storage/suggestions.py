"""search/suggestions: completions of a query from the store's catalogue words and from
its popular queries.

Two sources, both held in memory per process and store, so that a keystroke costs one
small read (the versions below) and a few binary searches:

- the catalogue's words: search_vocabulary (the indexed words of 4 to 40 characters,
  with how many products hold each), loaded again when the store's catalogue version
  changes (search_catalogue);
- popular queries: `search_phrases`, a roll-up of the log of searches recounted at most
  every few minutes (collector/suggestions.py asks for it; `popular_phrases` reads,
  `save_phrases` writes), loaded again when it was recounted.

What may become a popular query (the privacy rule: no shopper's typed email, name or
address ever reaches another shopper): a full search (search/search, never a
predictive prefix) that found products, made by at least MIN_SHOPPERS distinct shoppers
in the last PHRASE_DAYS days (a shopper: a visitor id; a call without one counts by its
session id; calls with neither, in null mode, never count), of at most PHRASE_WORDS
words, each of 4 or more characters in the catalogue's vocabulary now (a word of 1 to 3
characters matched as typed when it was searched, as a search finds products only when
every word matches and forgives no typo in so short a word). It is kept as its folded
words ("T-Shirt  Größe" -> "t shirt grosse"), never as typed.

How a query is completed (`suggest`), typo tolerant and accent-folded as product search:
the query's folded words; each earlier word not in the vocabulary is replaced by its
best one-edit correction when it has one (words of 5+ letters without digits, as
product search); the last word is a prefix (unless the query ends in a space: then the
next word is wanted, from popular queries only). If no catalogue word or popular query
begins with the last word, its one-edit variants that some do begin with are tried
instead. Ranked: popular queries first (more shoppers first), then catalogue words
completing the last word (more products first), each "earlier words + completion";
duplicates dropped.
"""

from __future__ import annotations

import bisect
import heapq
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, delete, distinct, func, literal, select

from .caches import Cache, cache_for
from .engine import upsert
from .folding import words
from .schema import (
    VOCABULARY_MAX,
    search_catalogue,
    search_phrases,
    search_phrases_refreshed,
    search_vocabulary,
    searches,
)
from .search.typos import TYPO_MIN, _has_digit, edits

MIN_SHOPPERS = 3
PHRASE_DAYS = 90
PHRASE_WORDS = 6
PHRASES_MAX = 5_000  # per store, the most searched
SHORT_WORD = 3  # words this short are not in the vocabulary (see the docstring)
MAX_QUERY_WORDS = 10
VOCABULARY_LOAD_MAX = 300_000  # per store, the most common words
# A store's words are loaded again after a change to its catalogue, but not more often
# than this: any change (a stock level) makes a new version, and loading 60,000 words
# takes 0.1 to 0.3 s. So a new product's words are suggested up to this late.
VOCABULARY_KEEP_SECONDS = 60.0
TOP_CACHE = 5_000  # completions remembered per store's loaded vocabulary
LIMIT_MAX = 20
DAY_MS = 86_400_000

# Loaded vocabularies and phrases, per database engine: at most this many words in all.
CACHE_WORDS = 1_000_000


def _cache(engine: Engine) -> Cache:
    return cache_for(engine, "suggestions", entries=64, seconds=None, weight=CACHE_WORDS)


# ---------------------------------------------------------------- the roll-up


def phrases_refreshed_at(conn: Connection, *, store_id: int) -> int | None:
    r = search_phrases_refreshed
    found = conn.execute(select(r.c.refreshed_at).where(r.c.store_id == store_id)).scalar()
    return None if found is None else int(found)


def popular_phrases(conn: Connection, *, store_id: int, now: int) -> list[tuple[str, int]]:
    """The store's popular queries now (see the docstring), most shoppers first."""
    s = searches
    shopper = func.coalesce(s.c.visitor_id, literal("s:") + s.c.session)
    shoppers = func.count(distinct(shopper))
    rows = conn.execute(
        select(s.c.normalised, shoppers)
        .where(
            s.c.store_id == store_id,
            s.c.ts >= now - PHRASE_DAYS * DAY_MS,
            s.c.api == "search/search",
            s.c.hits > 0,
            shopper.is_not(None),
        )
        .group_by(s.c.normalised)
        .having(shoppers >= MIN_SHOPPERS)
    ).all()
    # Forms that fold to the same words ("T-shirt", "t shirt") are one phrase with the
    # shoppers of its most searched form: never more than were counted together.
    counted: dict[tuple[str, ...], int] = {}
    for normalised, n in rows:
        folded = tuple(words(normalised))
        if folded and len(folded) <= PHRASE_WORDS:
            counted[folded] = max(counted.get(folded, 0), int(n))
    known = _in_vocabulary(conn, store_id, {w for p in counted for w in p if len(w) > SHORT_WORD})
    kept = [
        (" ".join(p), n)
        for p, n in counted.items()
        if all(len(w) <= SHORT_WORD or w in known for w in p) and len(" ".join(p)) <= 200
    ]
    kept.sort(key=lambda item: (-item[1], item[0]))
    return kept[:PHRASES_MAX]


def _in_vocabulary(conn: Connection, store_id: int, wanted: set[str]) -> set[str]:
    v, found, listed = search_vocabulary, set(), sorted(wanted)
    for start in range(0, len(listed), 500):
        chunk = listed[start : start + 500]
        found |= set(
            conn.scalars(select(v.c.word).where(v.c.store_id == store_id, v.c.word.in_(chunk)))
        )
    return found


def save_phrases(
    conn: Connection, *, store_id: int, phrases: Sequence[tuple[str, int]], now: int
) -> None:
    """Replace the store's popular queries; note when they were counted."""
    conn.execute(delete(search_phrases).where(search_phrases.c.store_id == store_id))
    if phrases:
        conn.execute(
            search_phrases.insert(),
            [{"store_id": store_id, "phrase": p, "shoppers": n} for p, n in phrases],
        )
    r = search_phrases_refreshed
    statement = upsert(conn, r).values(store_id=store_id, refreshed_at=now)
    conn.execute(
        statement.on_conflict_do_update(index_elements=["store_id"], set_={"refreshed_at": now})
    )


# ---------------------------------------------------------------- in memory


@dataclass
class _Sorted:
    """Strings in order with a weight each (products, shoppers), and the best few that
    begin with a prefix, remembered (at most TOP_CACHE prefixes)."""

    keys: list[str]
    weights: list[int]
    top: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[tuple[str, int]]) -> _Sorted:
        ordered = sorted(rows)
        return cls([k for k, _ in ordered], [w for _, w in ordered])

    def span(self, prefix: str) -> tuple[int, int]:
        start = bisect.bisect_left(self.keys, prefix)
        return start, bisect.bisect_left(self.keys, prefix + "\U0010ffff", start)

    def has_prefix(self, prefix: str) -> bool:
        start, end = self.span(prefix)
        return end > start

    def best(self, prefix: str) -> tuple[tuple[str, int], ...]:
        """The LIMIT_MAX heaviest keys that begin with prefix, with their weights."""
        hit = self.top.get(prefix)
        if hit is None:
            start, end = self.span(prefix)
            found = heapq.nsmallest(
                LIMIT_MAX, range(start, end), key=lambda i: (-self.weights[i], self.keys[i])
            )
            hit = tuple((self.keys[i], self.weights[i]) for i in found)
            if len(self.top) >= TOP_CACHE:
                self.top.clear()
            self.top[prefix] = hit
        return hit


@dataclass
class _Words(_Sorted):
    counts: dict[str, int] = field(default_factory=dict)


def _loaded(cache: Cache, key: tuple[Any, ...], version: int, load: Any, keep: float = 0.0) -> Any:
    """The store's copy of `key` at this version: one copy per store (a new version
    replaces the old one), weighed by its rows; a copy younger than `keep` seconds is
    used past a new version."""
    hit = cache.get(key)
    if hit is not None and (hit[0] == version or time.monotonic() - hit[2] < keep):
        return hit[1]
    found = load()
    cache.put(key, (version, found, time.monotonic()), weight=len(found.keys) + 1)
    return found


def _vocabulary(conn: Connection, cache: Cache, store_id: int, version: int) -> _Words:
    def load() -> _Words:
        v = search_vocabulary
        mine = v.c.store_id == store_id
        query = select(v.c.word, v.c.products).where(mine)
        held = conn.execute(select(func.count()).select_from(v).where(mine)).scalar_one()
        if held > VOCABULARY_LOAD_MAX:
            query = query.order_by(v.c.products.desc(), v.c.word).limit(VOCABULARY_LOAD_MAX)
        ordered = sorted((str(w), int(n)) for w, n in conn.execute(query))
        return _Words([k for k, _ in ordered], [n for _, n in ordered], counts=dict(ordered))

    key = ("vocabulary", store_id)
    words_: _Words = _loaded(cache, key, version, load, keep=VOCABULARY_KEEP_SECONDS)
    return words_


def _phrases(conn: Connection, cache: Cache, store_id: int, refreshed: int) -> _Sorted:
    def load() -> _Sorted:
        p = search_phrases
        rows = conn.execute(select(p.c.phrase, p.c.shoppers).where(p.c.store_id == store_id))
        return _Sorted.of((str(k), int(n)) for k, n in rows)

    phrases: _Sorted = _loaded(cache, ("phrases", store_id), refreshed, load)
    return phrases


def _versions(conn: Connection, store_id: int) -> tuple[int, int]:
    """The store's catalogue version and when its popular queries were counted."""
    c, r = search_catalogue, search_phrases_refreshed
    row = conn.execute(
        select(
            select(c.c.version).where(c.c.store_id == store_id).scalar_subquery(),
            select(r.c.refreshed_at).where(r.c.store_id == store_id).scalar_subquery(),
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


# ---------------------------------------------------------------- suggest


def _fixed(word: str, vocabulary: _Words) -> str:
    """An earlier word as typed, or its most common one-edit correction when it is not a
    catalogue word (words of TYPO_MIN+ letters without digits, as product search)."""
    if word in vocabulary.counts or not TYPO_MIN <= len(word) < VOCABULARY_MAX or _has_digit(word):
        return word
    options = [e for e in edits(word) if e in vocabulary.counts]
    return min(options, key=lambda e: (-vocabulary.counts[e], e)) if options else word


def _variants(last: str, vocabulary: _Words, phrases: _Sorted, head: str) -> list[str]:
    """One-edit variants of a last word (no shorter than it) that begin some catalogue
    word or popular query, for a last word that nothing begins with."""
    if not TYPO_MIN <= len(last) < VOCABULARY_MAX or _has_digit(last):
        return []
    return [
        v
        for v in sorted(edits(last))
        if len(v) >= len(last) and (vocabulary.has_prefix(v) or phrases.has_prefix(head + v))
    ]


def _ranked(found: Iterable[tuple[str, int]]) -> list[str]:
    return [text for text, _ in sorted(set(found), key=lambda item: (-item[1], item[0]))]


def suggest(conn: Connection, *, store_id: int, query: str, limit: int) -> list[str]:
    """At most `limit` completions of the query, best first (see the docstring)."""
    typed = words(query)[:MAX_QUERY_WORDS]
    if not typed:
        return []
    version, refreshed = _versions(conn, store_id)
    cache = _cache(conn.engine)
    vocabulary = _vocabulary(conn, cache, store_id, version)
    phrases = _phrases(conn, cache, store_id, refreshed)
    complete = query[-1:].isspace()  # the next word is wanted
    head = "".join(_fixed(w, vocabulary) + " " for w in (typed if complete else typed[:-1]))
    if complete:
        return _ranked(phrases.best(head))[:limit]
    last = typed[-1]
    lasts = [last]
    if not vocabulary.has_prefix(last) and not phrases.has_prefix(head + last):
        lasts = _variants(last, vocabulary, phrases, head) or lasts
    popular = _ranked(p for alt in lasts for p in phrases.best(head + alt))
    completed = _ranked((head + w, n) for alt in lasts for w, n in vocabulary.best(alt))
    return list(dict.fromkeys(popular + completed))[:limit]
