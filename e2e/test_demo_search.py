"""The demo shop's search in Chromium: its search page (Clerk's Magento 2 markup, facets for
brand, price, category and colour) and its header's live search, against the real collector
holding the demo's catalogue, categories, pages and contents, seeded through the
private-key API as `clerk-collector demo` seeds them. No answer is faked.

One stack for the module: every test only reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Response

from demo_shop.contents import contents as demo_contents
from demo_shop.info import store_categories, store_pages

from .harness import Stack, http_json, wait_for

# 27 products over several categories, brands, colours and prices: two pages of 24.
QUERY = "cotton"


class DemoSearchStack(Stack):
    def seed_catalogue(self) -> None:
        super().seed_catalogue()
        key = {"key": self.public_key, "private_key": self.private_key}
        url = self.collector_url
        http_json(f"{url}/v2/categories", {**key, "categories": store_categories(self.shop_url)})
        http_json(f"{url}/v2/pages", {**key, "pages": store_pages(self.shop_url)})
        http_json(f"{url}/v2/contents", {**key, "contents": demo_contents()})

    def search(self, **args: Any) -> dict[str, Any]:
        """What search/search answers (no visitor), for comparing with what the page shows."""
        body = {"key": self.public_key, "visitor": None, **args}
        answer: dict[str, Any] = http_json(f"{self.collector_url}/v2/search/search", body)
        return answer


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSearchStack]:
    stack = DemoSearchStack(Path(tmp_path_factory.mktemp("demo-search")))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def searches(page: Page) -> list[dict[str, Any]]:
    """The search page's calls (its `search-page` content, answered by search/search) and
    their answers, in order, as they arrive."""
    found: list[dict[str, Any]] = []

    def keep(response: Response) -> None:
        if not response.url.endswith("/v2/content") or not response.ok:
            return
        args = response.request.post_data_json
        if args.get("content") == "search-page":
            found.append({"args": args, "answer": response.json()})

    page.on("response", keep)
    return found


def card_ids(page: Page) -> list[str]:
    return page.eval_on_selector_all(
        "#clerk-search-results [data-clerk-product-id]",
        "els => els.map(e => e.getAttribute('data-clerk-product-id'))",
    )


def facets_shown(page: Page) -> dict[str, list[tuple[str, str]]]:
    """The facets in the sidebar: title -> [(value's name, its count as shown)]."""
    shown: dict[str, list[list[str]]] = page.eval_on_selector_all(
        "#clerk-search-filters .clerk-facet",
        """sets => Object.fromEntries(sets.map(set => [
            set.querySelector('legend').textContent.trim(),
            Array.from(set.querySelectorAll('.clerk-facet-value')).map(value => [
                value.querySelector('.clerk-facet-name').textContent.trim(),
                (value.querySelector('.clerk-facet-count') || {textContent: ''}).textContent.trim(),
            ]),
        ]))""",
    )
    return {title: [(name, count) for name, count in values] for title, values in shown.items()}


def open_search(page: Page, stack: DemoSearchStack, query: str = QUERY) -> list[dict[str, Any]]:
    answers = searches(page)
    page.goto(f"{stack.shop_url}/search?q={query}")
    wait_for(lambda: answers and card_ids(page), what="the search results", page=page)
    wait_for(lambda: "Colour" in facets_shown(page), what="the facets", page=page)
    return answers


def test_the_search_page_shows_results_and_four_facets_with_counts(
    page: Page, stack: DemoSearchStack
):
    answers = open_search(page, stack)
    first = answers[0]
    args, answer = first["args"], first["answer"]
    assert args["query"] == QUERY and args["facets"] == ["brand", "price", "categories", "colour"]
    assert card_ids(page) == [str(pid) for pid in answer["result"]]
    assert page.inner_text("#search-count") == f"{answer['count']} products"
    titles = {"brand": "Brand", "price": "Price", "categories": "Category", "colour": "Colour"}
    shown = facets_shown(page)
    assert list(shown) == list(titles.values())
    for attribute, title in titles.items():
        values = answer["facets"][attribute]
        assert len(values) >= 2, attribute  # something to choose between
        assert shown[title] == [(v["name"], f"({v['count']})") for v in values], attribute
    assert page.is_hidden("#clerk-search-no-results")


def test_matching_categories_and_pages_show_above_the_results(page: Page, stack: DemoSearchStack):
    open_search(page, stack, "jacket")
    wait_for(lambda: page.is_visible(".clerk-search-pages"), what="the pages", page=page)
    links = page.eval_on_selector_all(
        ".clerk-search-sections a", "els => els.map(e => [e.textContent, e.href])"
    )
    assert [stack.shop_url + "/category/jackets"] == [
        href for name, href in links if name == "Jackets & Coats"
    ]
    assert ["Size guide", stack.shop_url + "/size-guide"] in links
    assert len(links) <= 3 + 3  # data-search-categories='3', data-search-pages='3'
    # above the results, in the main column
    assert (
        page.evaluate("document.querySelector('.clerk-search-sections').nextElementSibling.id")
        == "clerk-search-results"
    )


def test_choosing_a_colour_narrows_the_results(page: Page, stack: DemoSearchStack):
    answers = open_search(page, stack)
    colours = answers[0]["answer"]["facets"]["colour"]
    chosen = colours[1]  # not the most common: the narrowing shows
    before = answers[0]["answer"]["count"]
    page.locator("#clerk-search-filters").get_by_text(chosen["name"], exact=True).first.click()

    wait_for(lambda: len(answers) >= 2, what="the narrowed search", page=page)
    narrowed = answers[-1]
    assert "colour" in narrowed["args"]["filter"] and chosen["value"] in narrowed["args"]["filter"]
    assert narrowed["answer"]["count"] == chosen["count"] < before
    wait_for(
        lambda: card_ids(page) == [str(pid) for pid in narrowed["answer"]["result"]],
        what="the narrowed results",
        page=page,
    )
    shown = page.eval_on_selector_all(
        "#clerk-search-results .card-colour", "els => els.map(e => e.textContent.trim())"
    )
    assert shown and set(shown) == {chosen["name"]}
    assert page.inner_text("#search-count") == f"{chosen['count']} products"
    assert page.text_content(".filters-toggle") == "Filters (1)"  # shown on a phone
    # The choice is in the address, so the page can be shared and reloaded as it is.
    assert parse_qs(urlsplit(page.url).query)["facet.colour"] == [chosen["value"]]
    # The other colours stay listed (multiselect), with their counts for the query alone;
    # the chosen one is checked.
    assert facets_shown(page)["Colour"] == [(c["name"], f"({c['count']})") for c in colours]
    checked = page.locator("#clerk-search-filters input:checked")
    assert checked.count() == 1 and checked.get_attribute("value") == chosen["value"]


def test_load_more_adds_the_next_page_to_the_results(page: Page, stack: DemoSearchStack):
    answers = open_search(page, stack)
    first = answers[0]["answer"]
    assert len(first["result"]) == 24 < first["count"]
    page.click("#clerk-search-results + .clerk-load-more")
    wait_for(lambda: len(answers) >= 2, what="the next page", page=page)
    assert answers[-1]["args"]["offset"] == 24
    everything = stack.search(query=QUERY, limit=100)["result"]
    wait_for(
        lambda: card_ids(page) == [str(pid) for pid in everything],
        what="all the results",
        page=page,
    )
    assert page.is_hidden(".clerk-load-more")


def test_a_query_without_results_says_so(page: Page, stack: DemoSearchStack):
    answers = searches(page)
    page.goto(f"{stack.shop_url}/search?q=zzzqqq")
    wait_for(lambda: answers, what="the search", page=page)
    wait_for(lambda: page.is_visible("#clerk-search-no-results"), what="no results", page=page)
    assert card_ids(page) == []


def test_the_live_search_shows_suggestions_categories_pages_and_products(
    page: Page, stack: DemoSearchStack
):
    page.goto(f"{stack.shop_url}/")
    page.fill("#search-input", "jack")
    box = "#header-search .live-search"
    wait_for(
        lambda: page.is_visible(f"{box} .live-search-pages"),
        what="the live search's sections",
        page=page,
    )

    def texts(selector: str) -> list[str]:
        return [t.strip() for t in page.locator(f"{box} {selector}").all_inner_texts()]

    assert "jacket" in texts(".live-search-term")
    assert texts(".live-search-categories a") == ["Jackets & Coats"]
    assert "Size guide" in texts(".live-search-pages a")
    assert len(texts(".suggestion")) >= 3
    category = page.locator(f"{box} .live-search-categories a").first
    assert category.get_attribute("href") == f"{stack.shop_url}/category/jackets"
