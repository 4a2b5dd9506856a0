"""The Clerk widgets on the demo shop's pages, in one place.

The templates render each widget's markup from these (every page's context has this
module as `widgets`), and `clerk-collector simulate` makes the calls that markup makes
(collector/simulate/visits.py), so a widget changed here changes the pages and the
simulated traffic alike.

A widget is what clerk.js sends for it, `api`, `labels` and `limit` (in that order, the
shape simulate's walk unpacks; the dashboard groups renders and clicks by api and labels),
and the heading the page shows above it.
"""

from __future__ import annotations

from typing import NamedTuple


class Widget(NamedTuple):
    api: str
    labels: tuple[str, ...]
    limit: int
    # The heading above it: empty where the page shows none (the header's suggestions,
    # the search results) or writes its own (the category's, which names the category).
    title: str = ""


# base.html: the predictive search box in the header of every page.
HEADER_SEARCH = Widget("search/predictive", ("Header search",), 6)

# home.html, in the order of the page.
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

# category.html (with the category), headed "Bestsellers in <category>".
CATEGORY_BESTSELLERS = Widget("recommendations/category/popular", ("Category", "Bestsellers"), 4)

# product.html (with the product).
BOUGHT_TOGETHER = Widget(
    "recommendations/complementary", ("Product page", "Bought together"), 4, "Bought together"
)
SIMILAR = Widget("recommendations/substituting", ("Product page", "Similar"), 4, "Similar products")

# search.html: the results of the query, and bestsellers below them.
SEARCH_RESULTS = Widget("search/search", ("Search page",), 24)
SEARCH_BESTSELLERS = Widget(
    "recommendations/popular", ("Search page", "Bestsellers"), 4, "Bestsellers"
)
