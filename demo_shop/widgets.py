"""The Clerk widgets on the demo shop's pages, in one place.

The templates render each widget's markup from these (every page's context has this
module as `widgets`), `clerk-collector simulate` makes the calls that markup makes
(collector/simulate/visits.py), and `clerk-collector demo` seeds the Clerk contents
(demo_shop/contents.py) from them, so a widget changed here changes the pages, the
contents and the simulated traffic alike.

A widget is what clerk.js sends for it, `api`, `labels` and `limit` (in that order, the
shape simulate's walk unpacks; the dashboard groups renders and clicks by api and labels),
the heading the page shows above it, and the id of the Clerk content it is seeded as.

Most pages embed their widgets as Clerk's plugins do, a `<span class="clerk"
data-template="@content-id">` that the collector's content answers (api, limit, labels and
design from the content): the header's live search and the search page with its facets
too. The home page (and the search page's bestsellers) keep the `data-api` + `<template>`
form, so the demo shows both.
"""

from __future__ import annotations

from typing import NamedTuple


class Widget(NamedTuple):
    api: str
    labels: tuple[str, ...]
    limit: int
    # The heading above it: empty where the page shows none (the header's suggestions,
    # the search results) or writes its own.
    title: str = ""
    # The id of the Clerk content with these settings (demo_shop/contents.py): the
    # `@id` a plugin-style page embeds. Empty: a widget of the data-api form only.
    content: str = ""


# base.html: the live search in the header of every page, the `live-search` content (its
# products; the span asks for search suggestions, categories and pages beside them).
HEADER_SEARCH = Widget("search/predictive", ("Header search",), 6, "", "live-search")

# home.html, in the order of the page: the data-api + <template> form.
HOME = (
    Widget(
        "recommendations/visitor/history", ("Home", "You previously saw"), 8, "You previously saw"
    ),
    Widget(
        "recommendations/visitor/complementary",
        ("Home", "Our recommendations for you"),
        8,
        "Our recommendations for you",
    ),
    Widget("recommendations/popular", ("Home", "Bestsellers"), 8, "Bestsellers"),
)

# category.html (with the category), as Clerk's plugins embed a category page's contents:
# the second excludes what the first shows (data-exclude-from).
CATEGORY_POPULAR = Widget(
    "recommendations/category/popular",
    ("Category page", "Popular"),
    4,
    "Popular in this category",
    "category-page-popular",
)
# The collector has no category/trending ranking: trending across the shop (the category
# the span sends is an argument trending does not take, so it is ignored).
CATEGORY_TRENDING = Widget(
    "recommendations/trending",
    ("Category page", "Trending"),
    4,
    "Trending right now",
    "category-page-trending",
)

# product.html (with the product), in the order of the page.
PRODUCT_ALTERNATIVES = Widget(
    "recommendations/substituting",
    ("Product page", "Alternatives"),
    4,
    "Similar products",
    "product-page-alternatives",
)
PRODUCT_OTHERS_BOUGHT = Widget(
    "recommendations/complementary",
    ("Product page", "Others also bought"),
    4,
    "Others also bought",
    "product-page-others-also-bought",
)

# cart.html: with the cart's products; the "powerstep" popup after an add to cart, with
# the product just added; an empty cart's own.
CART_OTHERS_BOUGHT = Widget(
    "recommendations/complementary",
    ("Cart", "Others also bought"),
    4,
    "Goes well with your cart",
    "cart-others-also-bought",
)
POWERSTEP = Widget(
    "recommendations/complementary",
    ("Powerstep", "Others also bought"),
    4,
    "Others also bought",
    "power-step-others-also-bought",
)
EMPTY_CART = Widget(
    "recommendations/popular", ("Cart", "Popular"), 4, "Popular right now", "empty-cart-popular"
)

# base.html: rendered when the pointer leaves through the top of the window.
EXIT_INTENT = Widget(
    "recommendations/visitor/complementary",
    ("Exit intent",),
    4,
    "Before you go: picked for you",
    "exit-intent",
)

# search.html: the results of the query (the `search-page` content, with facets), and
# bestsellers below them (data-api form).
SEARCH_RESULTS = Widget("search/search", ("Search page",), 24, "", "search-page")


class Facets(NamedTuple):
    attributes: tuple[str, ...]
    titles: dict[str, str]
    # Facets whose other values stay listed, with their counts, once one is chosen.
    multiselect: tuple[str, ...]


# The search page's facets (data-facets-attributes, -titles, -multiselect-attributes), in
# the order of the sidebar.
SEARCH_FACETS = Facets(
    ("brand", "price", "categories", "colour"),
    {"brand": "Brand", "price": "Price", "categories": "Category", "colour": "Colour"},
    ("brand", "colour", "categories"),
)


class SearchSections(NamedTuple):
    """data-search-categories, -pages and -pages-type: how many of the shop's categories and
    information pages (demo_shop/info.py) that match the query show above the results."""

    categories: int
    pages: int
    pages_type: str


SEARCH_SECTIONS = SearchSections(3, 3, "all")
SEARCH_BESTSELLERS = Widget(
    "recommendations/popular", ("Search page", "Bestsellers"), 4, "Bestsellers"
)
