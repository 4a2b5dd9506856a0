"""The search page and live search (static/clerk-search.js) on Magento 2's markup, verbatim.

One stack for the module: a catalogue of jackets with brands, colours and prices (and an
anorak whose name, brand and category are markup), categories and pages, and the plugin's
two contents (`search-page`, `live-search`), all seeded through the API. Each test opens
e2e/fixtures/plugins/magento2_search.html (Block\\Result's span, facets.phtml, livesearch.phtml)
and checks what the shopper sees (results, facets with counts computed here from the
catalogue, the address, load more, the categories and pages above the results, live
search's sections and keys) and what is sent (the filter, facets, offsets, pages' type,
clicks with the content's api and labels, nothing identifying in null mode).
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import Page

from .harness import FIXTURES, Recorder, Stack, http_json, wait_for

HOSTILE_NAME = '<img src=x onerror="window.hacked=1"> Anorak'
HOSTILE_BRAND = "<b>Evil</b>"
HOSTILE_CATEGORY = '<img src=x onerror="window.hacked=2"> Anoraks'
HOSTILE_PAGE = '<img src=x onerror="window.hacked=3"> Anorak care'

# id, name, brand, colour, price: every jacket in category 10 ("Jackets")
JACKETS = [
    ("j1", "Alpine Jacket", "Acme", "red", 45.0),
    ("j2", "Storm Jacket", "Acme", "blue", 60.0),
    ("j3", "Trail Jacket", "Acme", "black", 80.0),
    ("j4", "City Jacket", "Acme", "blue", 120.0),
    ("j5", "Fjord Jacket", "Borealis", "red", 55.0),
    ("j6", "Glacier Jacket", "Borealis", "black", 95.0),
    ("j7", "Tundra Jacket", "Borealis", "blue", 30.0),
    ("j8", "Breeze Jacket", "Cirrus", "red", 65.0),
    ("j9", "Cloud Jacket", "Cirrus", "black", 150.0),
    ("j10", "Summit Jacket", "Cirrus", "blue", 70.0),
]
LIMIT = 4  # the search-page content's page size

DESIGN = (
    '<p class="result-count">{{ count }} results for {{ query }}</p>'
    '<ul class="results">{% for product in products %}'
    '<li class="result" data-clerk-product-id="{{ product.id }}">'
    '<a href="{{ product.url }}">{{ product.name }}</a> '
    '<span class="brand">{{ product.brand }}</span> '
    '<span class="price">{{ product.price | money }}</span></li>{% endfor %}</ul>'
)
LIVE_DESIGN = (
    '<div class="live-products">{% for product in products %}'
    '<a class="live-product" href="{{ product.url }}" data-clerk-product-id="{{ product.id }}">'
    "{{ product.name }}</a>{% endfor %}</div>"
)
CONTENTS = [
    {
        "id": "search-page",
        "name": "Search page",
        "api": "search/search",
        "limit": LIMIT,
        "labels": ["Search page"],
        "arguments": {},
        "design": DESIGN,
    },
    {
        "id": "live-search",
        "name": "Live search",
        "api": "search/predictive",
        "limit": 3,
        "labels": ["Live search"],
        "arguments": {},
        "design": LIVE_DESIGN,
    },
]
# A search-page design of its own that renders the categories itself.
PAGE_LIQUID_SECTIONS = {
    **CONTENTS[0],
    "id": "search-page-own-categories",
    "design": '<ul class="own">{% for c in categories %}<li class="own-category">{{ c.name }}'
    "</li>{% endfor %}</ul>" + DESIGN,
}
# A live-search design of its own that renders the suggestions itself.
LIQUID_SECTIONS = {
    **CONTENTS[1],
    "id": "live-search-own-suggestions",
    "design": '<ul class="own">{% for s in suggestions %}<li class="own-suggestion">{{ s }}</li>'
    "{% endfor %}</ul>" + LIVE_DESIGN,
}
CATEGORIES = [
    {"id": "10", "name": "Jackets", "url": "/fixture/c/jackets"},
    {"id": "20", "name": "Kitchen", "url": "/fixture/c/kitchen"},
    {"id": "30", "name": HOSTILE_CATEGORY, "url": "/fixture/c/anoraks"},
]
PAGES = [
    {
        "id": "care",
        "type": "cms page",
        "url": "/fixture/pages/care",
        "title": "Jacket care guide",
        "text": "<p>Wash your jacket cold.</p>",
    },
    {
        "id": "year",
        "type": "blog",
        "url": "/fixture/pages/year",
        "title": "Jackets of the year",
        "text": "Our favourites.",
    },
    {
        "id": "anorak-care",
        "type": "cms page",
        "url": "/fixture/pages/anorak-care",
        "title": HOSTILE_PAGE,
        "text": "Reproof it <b>yearly</b>.",
    },
]
STUB = "<!doctype html><title>elsewhere</title><h1>Elsewhere</h1>"


def catalogue() -> list[dict[str, Any]]:
    jackets = [
        {"id": i, "name": n, "brand": b, "colour": c, "price": p, "categories": ["10"]}
        for i, n, b, c, p in JACKETS
    ]
    others = [
        {"id": "m1", "name": "Enamel Mug", "brand": "Acme", "price": 12.0, "categories": ["20"]},
        {"id": "m2", "name": "Teapot", "brand": "Cirrus", "price": 35.0, "categories": ["20"]},
        {"id": "a1", "name": HOSTILE_NAME, "brand": HOSTILE_BRAND, "colour": "green"}
        | {"price": 99.0, "categories": ["30"]},
    ]
    return [{**p, "url": f"/fixture/p/{p['id']}"} for p in [*jackets, *others]]


class SearchStack(Stack):
    def seed_catalogue(self) -> None:
        keys = {"key": self.public_key, "private_key": self.private_key}
        http_json(f"{self.collector_url}/v2/products", {**keys, "products": catalogue()})
        http_json(f"{self.collector_url}/v2/categories", {**keys, "categories": CATEGORIES})
        http_json(f"{self.collector_url}/v2/pages", {**keys, "pages": PAGES})
        http_json(
            f"{self.collector_url}/v2/contents",
            {**keys, "contents": [*CONTENTS, LIQUID_SECTIONS, PAGE_LIQUID_SECTIONS]},
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchStack]:
    stack = SearchStack(Path(tmp_path_factory.mktemp("search")))
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture
def recorder(page: Page, stack: SearchStack) -> Recorder:
    return Recorder(page, stack.collector_url)


def open_search(
    page: Page,
    stack: Stack,
    address: str = "",
    visitor_null: bool = False,
    categories: str = "",
    pages: str = "",
    pages_type: str = "all",
) -> None:
    """The Magento 2 page at its address plus `address` (?q=...), data-query filled in from
    q as Magento does, and the search settings' categories, pages and pages' type (unset by
    default: ''); other shop addresses answer a stub page."""
    name = "plugins/magento2_search.html"
    url = f"{stack.shop_url}/fixture/{name}"
    query = dict(parse_qsl(urlsplit(address).query)).get("q", "")
    source = (
        (FIXTURES / name)
        .read_text()
        .replace("{{COLLECTOR}}", stack.collector_url)
        .replace("{{KEY}}", stack.public_key)
        .replace("{{QUERY}}", html.escape(query))
        .replace("{{SEARCH_CATEGORIES}}", categories)
        .replace("{{SEARCH_PAGES}}", pages)
        .replace("{{SEARCH_PAGES_TYPE}}", pages_type)
    )
    page.context.grant_permissions(["local-network-access"], origin=stack.shop_url)
    page.route(
        f"{stack.shop_url}/**", lambda route: route.fulfill(body=STUB, content_type="text/html")
    )
    page.route(
        lambda u: u.split("?")[0] == url,
        lambda route: route.fulfill(body=source, content_type="text/html"),
    )
    if visitor_null:  # the shop's consent tool said no before clerk.js arrived
        page.add_init_script("window.__clerk_q = [['config', {visitor: null}]];")
    page.goto(url + address)
    wait_for(lambda: page.evaluate("window.Clerk.loaded === true"), what="clerk.js", page=page)


def shown(page: Page) -> list[str]:
    return page.eval_on_selector_all(
        "#clerk-search-results [data-clerk-product-id]",
        "els => els.map(e => e.getAttribute('data-clerk-product-id'))",
    )


def count_text(page: Page) -> str:
    return page.inner_text("#clerk-search-results .result-count")


def facet(page: Page, title: str) -> dict[str, int | None]:
    """A facet's options as shown: label -> count (None: shown without a count)."""
    options = page.eval_on_selector_all(
        "#clerk-search-filters fieldset",
        """(sets, title) => {
            const set = sets.find(s => s.querySelector('legend').textContent === title);
            return set ? [...set.querySelectorAll('label')].map(l => [
                l.querySelector('.clerk-facet-name').textContent,
                (l.querySelector('.clerk-facet-count') || {}).textContent || null,
                l.querySelector('input').value, l.querySelector('input').checked]) : null;
        }""",
        title,
    )
    assert options is not None, f"no facet {title}"
    return {
        name: None if count is None else int(count.strip(" ()")) for name, count, _, _ in options
    }


def ranges(page: Page) -> list[tuple[float, float, int]]:
    """The price facet's ranges as (min, max, count)."""
    values = page.eval_on_selector_all(
        "#clerk-search-filters input[name='range.price']",
        "els => els.map(e => [e.value, e.closest('label').querySelector('.clerk-facet-count')"
        " .textContent])",
    )
    out = []
    for value, count in values:
        low, high = value.split("..")
        out.append((float(low), float(high), int(count.strip(" ()"))))
    return out


def jackets(brands: set[str] | None = None, price: tuple[float, float] | None = None) -> list[str]:
    return [
        i
        for i, _, b, _, p in JACKETS
        if (brands is None or b in brands) and (price is None or price[0] <= p <= price[1])
    ]


def settled(page: Page, expected_count: int) -> None:
    wait_for(
        lambda: count_text(page).startswith(f"{expected_count} results"),
        what=f"{expected_count} results",
        page=page,
    )


def test_the_magento_markup_renders_results_and_facets_with_counts(
    page: Page, stack: SearchStack, recorder: Recorder
):
    open_search(page, stack, "?q=jacket")
    settled(page, len(JACKETS))
    assert count_text(page) == "10 results for jacket"
    assert len(shown(page)) == LIMIT
    [call] = recorder.wait_for_call("content")
    assert call["content"] == "search-page" and call["query"] == "jacket"
    assert call["facets"] == ["brand", "price", "colour", "categories"]
    assert call["facets_multiselect"] == ["brand", "price"]
    assert call["offset"] == 0 and "filter" not in call
    # Facets in data-facets-attributes' order, titled from data-facets-titles.
    legends = page.eval_on_selector_all(
        "#clerk-search-filters legend", "ls => ls.map(l => l.textContent)"
    )
    assert legends == ["Brand", "Price", "Colour", "Categories"]
    assert facet(page, "Brand") == {"Acme": 4, "Borealis": 3, "Cirrus": 3}
    assert facet(page, "Colour") == {"blue": 4, "black": 3, "red": 3}
    assert facet(page, "Categories") == {"Jackets": 10}
    assert sum(count for _, _, count in ranges(page)) == 10
    for low, high, count in ranges(page):
        assert count == len(jackets(price=(low, high)))
    # Accessible: each facet a fieldset with a legend, each value a labelled checkbox.
    assert page.locator("#clerk-search-filters fieldset > legend").count() == 4
    assert page.get_by_role("checkbox", name="Borealis (3)").count() == 1
    assert page.is_hidden("#clerk-search-no-results")
    # data-search-categories='' and data-search-pages='' (unset in the admin): none asked
    assert not {"search/categories", "search/pages"} & set(recorder.endpoints())
    assert page.locator(".clerk-search-sections li").count() == 0


def search_sections(page: Page) -> dict[str, list[tuple[str, str | None]]]:
    """The search page's sections above the results: title -> [(text, href)]."""
    found = page.eval_on_selector_all(
        ".clerk-search-sections:not([hidden]) .clerk-search-section",
        """els => els.map(e => [e.querySelector('.clerk-search-title').textContent,
            [...e.querySelectorAll('li')].map(li => [li.textContent,
                (li.querySelector('a') || {href: null}).href])])""",
    )
    return {title: [tuple(item) for item in items] for title, items in found}


def test_categories_and_pages_show_above_the_results_asked_once_per_query(
    page: Page, stack: SearchStack, recorder: Recorder
):
    open_search(page, stack, "?q=jacket", categories="5", pages="5")
    settled(page, 10)
    wait_for(lambda: search_sections(page), what="categories and pages", page=page)
    assert search_sections(page) == {
        "Categories": [("Jackets", f"{stack.shop_url}/fixture/c/jackets")],
        "Pages": [
            ("Jacket care guide", f"{stack.shop_url}/fixture/pages/care"),
            ("Jackets of the year", f"{stack.shop_url}/fixture/pages/year"),
        ],
    }
    # above the results, each list labelled by its title
    assert (
        page.evaluate("document.querySelector('.clerk-search-sections').nextElementSibling.id")
        == "clerk-search-results"
    )
    assert page.get_by_role("list", name="Pages").count() == 1
    sent = {endpoint: payload for endpoint, payload in recorder.calls()}
    assert sent["search/categories"] == {**sent["search/categories"], "query": "jacket", "limit": 5}
    assert sent["search/pages"]["limit"] == 5 and "type" not in sent["search/pages"]  # 'all'
    # facet choices, load more, back: the same query, not asked again; the sections stay
    page.get_by_role("checkbox", name="Acme (4)").check()
    settled(page, 4)
    page.go_back()
    settled(page, 10)
    page.get_by_role("button", name="Load more").click()
    wait_for(lambda: len(shown(page)) == 8, page=page)
    assert recorder.endpoints().count("search/categories") == 1
    assert recorder.endpoints().count("search/pages") == 1
    assert page.locator(".clerk-search-sections").count() == 1
    assert len(search_sections(page)["Pages"]) == 2


def test_pages_type_keeps_that_type_and_0_shows_none(
    page: Page, stack: SearchStack, recorder: Recorder
):
    open_search(page, stack, "?q=jacket", categories="0", pages="1", pages_type="cms page")
    settled(page, 10)
    wait_for(lambda: search_sections(page), what="the pages", page=page)
    assert search_sections(page) == {
        "Pages": [("Jacket care guide", f"{stack.shop_url}/fixture/pages/care")]
    }
    [sent] = recorder.wait_for_call("search/pages")
    assert sent["type"] == "cms page" and sent["limit"] == 1
    assert "search/categories" not in recorder.endpoints()
    # nothing found: the sections are hidden, the results still render
    open_search(page, stack, "?q=teapot", categories="5", pages="5")
    settled(page, 1)
    recorder.wait_for_call("search/pages", 2)
    assert page.is_hidden(".clerk-search-sections") and search_sections(page) == {}


def test_a_search_page_design_that_names_categories_renders_them_itself(
    page: Page, stack: SearchStack
):
    open_search(page, stack, categories="5", pages="5")
    page.evaluate("""() => {
        const span = document.querySelector('#clerk-search');
        span.setAttribute('data-template', '@search-page-own-categories');
        span.setAttribute('data-query', 'jacket');
        Clerk('content', '#clerk-search');
    }""")
    settled(page, 10)
    wait_for(lambda: search_sections(page), what="the pages", page=page)
    assert page.inner_text("#clerk-search-results .own-category") == "Jackets"
    assert list(search_sections(page)) == ["Pages"]  # the categories not twice


def test_two_brands_and_a_price_range_narrow_results_and_counts_and_back_restores(
    page: Page, stack: SearchStack, recorder: Recorder
):
    open_search(page, stack, "?q=jacket")
    settled(page, 10)
    page.get_by_role("checkbox", name="Acme (4)").check()
    settled(page, 4)
    page.get_by_role("checkbox", name="Borealis (3)").check()
    chosen = {"Acme", "Borealis"}
    settled(page, len(jackets(chosen)))
    # brand is multiselect: its other values keep their counts; the others count the choice.
    assert facet(page, "Brand") == {"Acme": 4, "Borealis": 3, "Cirrus": 3}
    assert facet(page, "Colour") == {"blue": 3, "black": 2, "red": 2}
    for low, high, count in ranges(page):
        assert count == len(jackets(chosen, (low, high)))
    assert page.is_checked("input[name='facet.brand'][value='Acme']")
    assert urlsplit(page.url).query == "q=jacket&facet.brand=Acme&facet.brand=Borealis"

    # The range with most of the chosen brands' jackets, but not all of them.
    low, high, count = max((r for r in ranges(page) if r[2] < 7), key=lambda r: r[2])
    assert count >= 2
    page.check(f"input[name='range.price'][value='{low:g}..{high:g}']")
    expected = jackets(chosen, (low, high))
    settled(page, len(expected))
    call = recorder.calls()[-1][1]
    assert call["filter"] == (
        f'(brand in ["Acme","Borealis"]) and (price >= {low:g} and price <= {high:g})'
    )
    if len(expected) <= LIMIT:
        assert sorted(shown(page)) == sorted(expected)
    else:
        assert len(shown(page)) == LIMIT and set(shown(page)) <= set(expected)
    brands = facet(page, "Brand")
    for brand in ("Acme", "Borealis", "Cirrus"):
        assert brands.get(brand, 0) == len(jackets({brand}, (low, high)))
    colours = {c for i, _, _, c, _ in JACKETS if i in expected}
    assert set(facet(page, "Colour")) == colours
    assert facet(page, "Categories") == {"Jackets": len(expected)}
    assert f"range.price={low:g}..{high:g}" in page.url

    # Back: the two brands, the range unchosen, results and counts as they were.
    page.go_back()
    settled(page, 7)
    assert not page.is_checked(f"input[name='range.price'][value='{low:g}..{high:g}']")
    assert facet(page, "Colour") == {"blue": 3, "black": 2, "red": 2}
    page.go_back()
    settled(page, 4)
    page.go_back()
    settled(page, 10)
    assert page.locator("#clerk-search-filters input:checked").count() == 0
    # Forward again, and a fresh load of that address, give the chosen state.
    page.go_forward()
    settled(page, 4)
    open_search(page, stack, "?q=jacket&facet.brand=Borealis&facet.brand=Acme")
    settled(page, 7)


def test_load_more_appends_the_next_page_until_all_are_shown(
    page: Page, stack: SearchStack, recorder: Recorder
):
    open_search(page, stack, "?q=jacket")
    settled(page, 10)
    first = shown(page)
    more = page.get_by_role("button", name="Load more")
    more.click()
    wait_for(lambda: len(shown(page)) == 8, what="8 shown", page=page)
    assert shown(page)[:4] == first
    assert recorder.calls()[-1][1]["offset"] == LIMIT
    # keyboard users go on from the first new product
    assert page.evaluate("document.activeElement.closest('[data-clerk-n]').dataset.clerkN") == "5"
    more.click()
    wait_for(lambda: len(shown(page)) == 10, what="10 shown", page=page)
    assert recorder.calls()[-1][1]["offset"] == 2 * LIMIT
    assert sorted(shown(page)) == sorted(jackets())
    assert more.is_hidden()
    positions = page.eval_on_selector_all(
        "#clerk-search-results [data-clerk-n]", "els => els.map(e => e.dataset.clerkN)"
    )
    assert positions == [str(n) for n in range(1, 11)]
    # A click on an appended result is a search click, with the content's api and labels.
    page.click("#clerk-search-results [data-clerk-n='9'] a")
    [click] = recorder.wait_for_call("log/click")
    assert click["api"] == "search/search" and click["labels"] == ["Search page"]
    assert click["n"] == 9


def test_no_results_go_through_the_response_hook(page: Page, stack: SearchStack):
    open_search(page, stack, "?q=zzyzx")
    wait_for(lambda: page.inner_text("#hook-message"), what="the response hook", page=page)
    assert page.inner_text("#hook-message") == "Nothing found for zzyzx"
    assert page.is_visible("#clerk-search-no-results")  # the plugin's own after-render
    assert shown(page) == []
    assert page.get_by_role("button", name="Load more").is_hidden()


def live_items(page: Page) -> list[str]:
    return page.eval_on_selector_all(
        "span[data-instant-search] :is([data-clerk-product-id], [role=option])",
        "els => els.map(e => e.textContent.trim())",
    )


def active(page: Page) -> str | None:
    return page.evaluate(
        """() => {
            const id = document.querySelector('#search').getAttribute('aria-activedescendant');
            const item = id && document.getElementById(id);
            return item && item.getAttribute('aria-selected') === 'true'
                ? item.textContent.trim() : null;
        }"""
    )


def test_live_search_shows_suggestions_categories_and_pages_and_the_keys_reach_them(
    page: Page, stack: SearchStack, recorder: Recorder
):
    open_search(page, stack)
    page.fill("#search", "jac")
    box = "span[data-instant-search]"
    wait_for(lambda: page.locator(f"{box} .clerk-live-pages li").count() == 2, page=page)
    assert page.locator(f"{box} .live-product").count() == 3
    suggestions = page.eval_on_selector_all(
        f"{box} .clerk-live-suggestions li", "els => els.map(e => e.textContent)"
    )
    assert suggestions[0] == "jacket"
    assert page.eval_on_selector_all(
        f"{box} .clerk-live-categories a", "els => els.map(e => e.getAttribute('href'))"
    ) == [f"{stack.shop_url}/fixture/c/jackets"]
    assert set(
        page.eval_on_selector_all(
            f"{box} .clerk-live-pages a", "els => els.map(e => e.textContent)"
        )
    ) == {"Jacket care guide", "Jackets of the year"}
    titles = page.eval_on_selector_all(
        f"{box} .clerk-live-title", "els => els.map(e => e.textContent)"
    )
    assert titles == ["Suggestions", "Categories", "Pages"]
    assert page.get_by_role("listbox", name="Categories").count() == 1
    sent = {endpoint: payload for endpoint, payload in recorder.calls()}
    assert sent["search/suggestions"]["limit"] == 5 and sent["search/suggestions"]["query"] == "jac"
    assert sent["search/categories"]["query"] == "jac" and sent["search/pages"]["limit"] == 5
    assert (
        page.evaluate(f"getComputedStyle(document.querySelector('{box}')).position") == "absolute"
    )

    # The arrows go through products, suggestions, categories and pages, and wrap.
    items = live_items(page)
    assert len(items) == 3 + len(suggestions) + 1 + 2
    page.press("#search", "ArrowUp")
    assert active(page) == items[-1]
    for item in items:
        page.press("#search", "ArrowDown")
        assert active(page) == item
    # Escape hides the box.
    page.press("#search", "Escape")
    assert page.is_hidden(box)

    # A suggestion chosen with the keys fills the input and searches it.
    for _ in range(4):
        page.press("#search", "ArrowDown")
    assert active(page) == "jacket"
    # The items shown for 'jac' are marked, so that the wait below sees the answer for
    # 'jacket' (the box keeps showing the old answer until the new one is rendered).
    items = f"{box} :is([data-clerk-product-id], [role=option])"
    page.eval_on_selector_all(items, "els => els.forEach(e => e.dataset.old = '1')")
    page.press("#search", "Enter")
    assert page.input_value("#search") == "jacket"
    wait_for(
        lambda: [p for e, p in recorder.calls() if e == "content" and p["query"] == "jacket"],
        what="a live search for the suggestion",
        page=page,
    )
    wait_for(
        lambda: (
            page.is_visible(box)
            and page.locator(f"{box} [data-old]").count() == 0
            and len(live_items(page)) > 3
        ),
        what="the live search answer for 'jacket'",
        page=page,
    )

    # Enter on a category follows its link.
    items = live_items(page)
    for _ in range(items.index("Jackets") + 1):
        page.press("#search", "ArrowDown")
    with page.expect_navigation():
        page.press("#search", "Enter")
    assert page.url == f"{stack.shop_url}/fixture/c/jackets"


def test_a_live_search_product_click_is_a_predictive_search_click(
    page: Page, stack: SearchStack, recorder: Recorder
):
    open_search(page, stack)
    page.fill("#search", "jac")
    wait_for(lambda: page.locator(".live-product").count() == 3, page=page)
    product = page.get_attribute(".live-product >> nth=1", "data-clerk-product-id")
    page.click(".live-product >> nth=1")
    [click] = recorder.wait_for_call("log/click")
    assert click == {**click, "product": product, "api": "search/predictive", "n": 2}
    assert click["labels"] == ["Live search"]


def test_a_design_that_names_suggestions_renders_them_itself(page: Page, stack: SearchStack):
    open_search(page, stack)
    page.evaluate("""() => {
        const box = document.querySelector('span[data-instant-search]');
        box.setAttribute('data-template', '@live-search-own-suggestions');
        Clerk('content', 'span[data-instant-search]');
    }""")
    page.fill("#search", "jac")
    box = "span[data-instant-search]"
    wait_for(lambda: page.locator(f"{box} .clerk-live-pages li").count() == 2, page=page)
    assert page.inner_text(f"{box} .own-suggestion >> nth=0") == "jacket"
    assert page.locator(f"{box} .clerk-live-suggestions").count() == 0  # not twice
    assert page.locator(f"{box} .clerk-live-categories li").count() == 1


def test_null_mode_sends_nothing_identifying_from_search_or_live_search(
    page: Page, stack: SearchStack, recorder: Recorder
):
    open_search(page, stack, "?q=jacket", visitor_null=True, categories="3", pages="3")
    settled(page, 10)
    wait_for(lambda: search_sections(page), what="categories and pages", page=page)
    sent = {endpoint: payload for endpoint, payload in recorder.calls()}
    assert sent["search/categories"]["limit"] == 3 and sent["search/pages"]["limit"] == 3
    page.get_by_role("checkbox", name="Cirrus (3)").check()
    settled(page, 3)
    page.get_by_role("checkbox", name="Cirrus (3)").uncheck()
    settled(page, 10)
    page.get_by_role("button", name="Load more").click()
    wait_for(lambda: len(shown(page)) == 8, page=page)
    page.fill("#search", "jac")
    wait_for(lambda: page.locator(".clerk-live-pages li").count() == 2, page=page)
    page.click("#clerk-search-results [data-clerk-n='2'] a")
    recorder.wait_for_call("log/click")
    endpoints = set(recorder.endpoints())
    assert {"content", "search/suggestions", "search/categories", "search/pages"} <= endpoints
    for endpoint, sent in recorder.calls():
        assert sent["visitor"] is None, endpoint
        assert not {"session", "email", "customer"} & set(sent), endpoint
    assert page.context.cookies() == []


def test_hostile_catalogue_text_renders_as_text(page: Page, stack: SearchStack):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_search(page, stack, "?q=anorak", categories="5", pages="5")
    settled(page, 1)
    assert page.inner_text("#clerk-search-results .result a") == HOSTILE_NAME
    wait_for(lambda: search_sections(page), what="categories and pages", page=page)
    assert search_sections(page) == {
        "Categories": [(HOSTILE_CATEGORY, f"{stack.shop_url}/fixture/c/anoraks")],
        "Pages": [(HOSTILE_PAGE, f"{stack.shop_url}/fixture/pages/anorak-care")],
    }
    assert facet(page, "Brand") == {HOSTILE_BRAND: 1}
    assert facet(page, "Categories") == {HOSTILE_CATEGORY: 1}
    page.fill("#search", "anor")
    wait_for(lambda: page.locator(".clerk-live-categories a").count() == 1, page=page)
    assert page.inner_text(".clerk-live-categories a") == HOSTILE_CATEGORY
    assert page.inner_text(".live-product") == HOSTILE_NAME
    assert page.locator("img, b").count() == 0
    assert page.evaluate("window.hacked") is None and dialogs == []
    page.mouse.click(1, 1)  # a click elsewhere closes the live search box
    assert page.is_hidden("span[data-instant-search]")
    # the chosen value goes into the filter as a string, and back into the address
    page.get_by_role("checkbox", name=f"{HOSTILE_BRAND} (1)").check()
    wait_for(lambda: "facet.brand=" in page.url, page=page)
    settled(page, 1)
    assert page.evaluate("location.search").endswith("facet.brand=%3Cb%3EEvil%3C%2Fb%3E")
