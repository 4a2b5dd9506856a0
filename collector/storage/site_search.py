"""search/categories and search/pages: a query matched over a store's categories (name,
description) or pages (title, text), from the folded words storage/sitedata.py stores
beside them (`*_terms`).

Each store's items of a kind are held per process as a small inverted index (word ->
the items whose name, or whose text, holds it), built from the `*_terms` columns and
built again when the store's version of that kind changes (site_versions, bumped by
every upsert or delete in the same transaction). So a call costs one small read (the
version), set operations in memory, and one read of the page of items it answers. What
one store may put in memory is bounded: every name, and of each text at most
TEXT_WORDS distinct words, fewer when the store has many items (TEXT_POSTINGS in all:
with 100,000 pages, the first 50 words of each), the first ones in the text.

How an item matches: every query word (folded as product search folds, accents away)
is in its name or its text; the last word also matches the words it begins (as
predictive search: the query is typed in a live search box) when it has two or more
characters; a word of 5+ letters without digits also matches the item's words one edit
away (a typo). Ranked, best first: matches without a typo before those that need one;
then every word in the name, before words found in the text; then the last word whole
before only as a prefix; then shorter names; then by name and id.

Pages may be kept to one `type` ("cms page", "blog": the search page's and live search's
`data-*-pages-type`): compared without case (plugins write "CMS Page" and "cms page"),
before ranking, so a page of the answer holds `limit` pages of that type when there are.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from . import sitedata
from .caches import Cache, cache_for
from .folding import words
from .schema import VOCABULARY_MAX
from .search.typos import TYPO_MIN, _has_digit, edits
from .sitedata import Kind

TEXT_WORDS = 1_000
TEXT_POSTINGS = 5_000_000
PREFIX_MIN = 2
MAX_QUERY_WORDS = 10
ANSWERS = 2_000
ANSWER_ITEMS = 1_000
CACHE_POSTINGS = 10_000_000  # per database engine, all stores' indexes together


def _cache(engine: Engine) -> Cache:
    return cache_for(engine, "site_search", entries=128, seconds=None, weight=CACHE_POSTINGS)


@dataclass
class _Index:
    ids: list[str]
    names: list[tuple[str, ...]]
    in_name: dict[str, set[int]]
    in_text: dict[str, set[int]]
    vocabulary: list[str]  # every word, in order (for prefixes)
    postings: int
    of_kind: dict[str, set[int]] = field(default_factory=dict)  # casefolded type -> items
    # Ranked matches of queries asked (a live search box's prefixes repeat from one
    # shopper to the next), by (type kept, query words): at most ANSWERS of them, each of
    # at most ANSWER_ITEMS.
    answers: dict[tuple[str, tuple[str, ...]], list[int]] = field(default_factory=dict)

    def _beginning(self, prefix: str) -> list[str]:
        start = bisect.bisect_left(self.vocabulary, prefix)
        return self.vocabulary[
            start : bisect.bisect_left(self.vocabulary, prefix + "\U0010ffff", start)
        ]

    def matches(self, word: str, *, prefix: bool, typo: bool) -> tuple[set[int], set[int]]:
        """The items holding `word` (or a word it begins; or, with typo, one edit away)
        in their name, and in their name or text."""
        found = self._beginning(word) if prefix else [word]
        if typo:
            variants = edits(word)
            found = [e for e in variants if e in self.in_name or e in self.in_text]
            if prefix:  # "jakcet" begins "jackets" one edit away
                for e in sorted(v for v in variants if len(v) >= len(word)):
                    found += self._beginning(e)
        name: set[int] = set()
        anywhere: set[int] = set()
        for w in found:
            name |= self.in_name.get(w, set())
            anywhere |= self.in_text.get(w, set())
        return name, anywhere | name


def _build(conn: Connection, kind: Kind, store_id: int) -> _Index:
    table = kind.table
    name_column, text_column = (table.c[column] for column in kind.terms)
    mine = table.c.store_id == store_id
    items = int(conn.execute(select(func.count()).select_from(table).where(mine)).scalar_one())
    per_item = max(10, min(TEXT_WORDS, TEXT_POSTINGS // max(items, 1)))
    # Folded words average under 8 characters with their space: read no more of a text
    # than its first per_item words can take.
    head = func.substr(text_column, 1, per_item * 12)
    index = _Index([], [], {}, {}, [], 0)
    columns = [table.c.id, name_column, head]
    if kind.kind_column:
        columns.append(table.c[kind.kind_column])
    rows = conn.execute(select(*columns).where(mine).order_by(table.c.id))
    for n, (item_id, name_terms, text_terms, *item_kind) in enumerate(rows):
        name = tuple(name_terms.split())
        index.ids.append(str(item_id))
        index.names.append(name)
        for value in item_kind:
            index.of_kind.setdefault((value or "").casefold(), set()).add(n)
        for w in set(name):
            index.in_name.setdefault(w, set()).add(n)
        text = list(dict.fromkeys(text_terms.split()))[:per_item]
        for w in text:
            index.in_text.setdefault(w, set()).add(n)
        index.postings += len(name) + len(text)
    index.vocabulary = sorted(index.in_name.keys() | index.in_text.keys())
    return index


def _index(conn: Connection, kind: Kind, store_id: int) -> _Index:
    version = sitedata.version(conn, kind, store_id=store_id)
    cache = _cache(conn.engine)
    key = (kind.name, store_id)
    hit = cache.get(key)
    if hit is not None and hit[0] == version:
        found: _Index = hit[1]
        return found
    index = _build(conn, kind, store_id)
    cache.put(key, (version, index), weight=index.postings + len(index.ids) + 1)
    return index


def _rank(
    index: _Index, typed: Sequence[str], need: int, kept: set[int] | None = None
) -> tuple[list[int], int]:
    """The matching items (of those `kept`, when given), best first (see the docstring):
    all of them when there are at most ANSWER_ITEMS, else the first `need`; and how many
    there are."""
    last = len(typed) - 1
    tiers: list[tuple[set[int], set[int]]] = []  # per word: (in name, anywhere) exact
    fuzzy: list[tuple[set[int], set[int]]] = []  # the same with typos
    whole_last: set[int] = set()
    for i, word in enumerate(typed):
        prefix = i == last and len(word) >= PREFIX_MIN
        exact = index.matches(word, prefix=prefix, typo=False)
        tiers.append(exact)
        if TYPO_MIN <= len(word) < VOCABULARY_MAX and not _has_digit(word):
            typo = index.matches(word, prefix=prefix, typo=True)
            fuzzy.append((exact[0] | typo[0], exact[1] | typo[1]))
        else:
            fuzzy.append(exact)
        if i == last:
            whole = index.matches(word, prefix=False, typo=False)
            whole_last = whole[1]

    def every(sets: list[set[int]]) -> set[int]:
        smallest = min(sets, key=len)
        return {n for n in smallest if all(n in s for s in sets)}

    name_exact = every([t[0] for t in tiers])
    any_exact = every([t[1] for t in tiers])
    name_fuzzy = every([f[0] for f in fuzzy])
    any_fuzzy = every([f[1] for f in fuzzy])

    def key(n: int) -> tuple[Any, ...]:
        typo = n not in any_exact
        in_name = n in (name_fuzzy if typo else name_exact)
        return (typo, not in_name, n not in whole_last, len(index.names[n]), index.names[n], n)

    found = any_exact | any_fuzzy
    if kept is not None:
        found &= kept
    if len(found) <= ANSWER_ITEMS:
        return sorted(found, key=key), len(found)
    return heapq.nsmallest(need, found, key=key), len(found)


def search_items(
    conn: Connection,
    kind: Kind,
    *,
    store_id: int,
    query: str,
    limit: int,
    offset: int,
    of_kind: str = "",
) -> tuple[list[dict[str, Any]], int]:
    """One page of the store's items of this kind that match the query, best first, and
    the number of all matches. `of_kind` (pages: a type; any case) keeps the items whose
    kind_column holds it; "" keeps all."""
    typed = list(dict.fromkeys(words(query)))[:MAX_QUERY_WORDS]
    if not typed:
        return [], 0
    index = _index(conn, kind, store_id)
    if not index.ids:
        return [], 0
    wanted = of_kind.casefold() if kind.kind_column else ""
    kept = index.of_kind.get(wanted, set()) if wanted else None
    key = (wanted, tuple(typed))
    ranked = index.answers.get(key)
    total = len(ranked or ())
    if ranked is None:
        ranked, total = _rank(index, typed, offset + limit, kept)
        if len(ranked) == total:
            if len(index.answers) >= ANSWERS:
                index.answers.clear()
            index.answers[key] = ranked
    page = [index.ids[n] for n in ranked[offset : offset + limit]]
    if not page:
        return [], total
    by_id = sitedata.items_by_id(conn, kind, store_id=store_id, ids=page)
    return [by_id[i] for i in page if i in by_id], total
