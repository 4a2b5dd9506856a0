"""Product search: the index, its vocabulary, popularity figures and ranking.

What is indexed: each product's name, its labels (brand and categories) and its
description, as three fields of `search_texts`, with a narrow row per product in
`search_documents` (store, stock, popularity: what ranking reads for every match).
`index_products` and `unindex_products` keep both in step with the catalogue
(catalogue.py calls them in the same transaction). Text is folded in Python, once,
the same way for products and queries (`fold`, `words`): lower case, accents and
common ligatures removed (Café -> cafe, Straße -> strasse, Ærø -> aero), cut into
words of letters and digits. SQLite indexes the folded fields with FTS5
(`search_fts`, external content, kept in step by triggers); PostgreSQL with two
stored tsvector columns (simple config, through an immutable wrapper of unaccent)
and a GIN index. So both engines see the same words, and the vocabulary holds
exactly the indexed words.

How matches rank (`search_products`), best first:
1. exact before typo: products matching every query word as typed come before
   those that need a one-edit correction of a long word;
2. field: every word in the name, then every word in name + brand/categories,
   then anywhere (the description included);
3. popularity: units sold, then product views (`sales` and `views`, refreshed
   from order_lines and events by `popularity_changes` + `save_popularity`);
4. product id, so that paging is stable.
A page is read one rank tier at a time until it is full, and the number of all matches
is counted apart (exactly); see paging.py. Predictive answers, counts
and typo corrections are cached per process until the store's catalogue changes (see
query.py).

Typos: each query word of 5 to 39 letters has its edit-1 variants (insertion,
deletion, substitution, transposition) generated in Python and looked up in the
store's vocabulary (`search_vocabulary`: the indexed words of 4 to 40 characters,
with the number of products holding each) in one indexed query; the variants
found are OR-ed with the word as typed. Words with a digit are codes (sizes,
models, SKUs: "iphone15", "brand17") and must match as typed: "brand17" is not a
typo of "brand18".

Prefixes (predictive search only) start at two characters: a single letter would
match most of a catalogue and tell the shopper nothing.

The modules: `index` (documents, texts, vocabulary, catalogue versions), `typos`
(edits and the vocabulary lookup), `paging` (rank tiers and reading one page),
`ranking_sqlite` and `ranking_postgres` (each engine's SQL), `query` (search_products,
search_page and their caches), `columns` (the store's product_values in memory, per
catalogue version), `words` (the store's words in memory: a query's rank tiers for
the match set), `matchset` (a query's matches in ranking order, cached), `narrowed`
(matches narrowed by a filter and ordered by an attribute, in memory), `facets` (facet
counts over the narrowed matches), `popularity` (sales and views), `migration`
(migrations 2 and 5).
Text folding is storage/folding.py and the log of searches storage/searches.py (both
outside this package, so that recording and erasing searches do not import it); the
tables are in storage/schema.py.
"""

from __future__ import annotations

# What the search endpoints (collector/search.py) and the benchmarks use.
from ..schema import searches
from ..searches import search_row
from .narrowed import Order
from .popularity import popularity_changes, popularity_refreshed_at, save_popularity
from .query import Answer, Narrowing, search_page, search_products

__all__ = [
    "Answer",
    "Narrowing",
    "Order",
    "search_page",
    "popularity_changes",
    "popularity_refreshed_at",
    "save_popularity",
    "search_products",
    "search_row",
    "searches",
]
