"""clerk.js renders widgets and the predictive search box from the real collector's answers.

The fixture page (e2e/fixtures/rendering.html) is served on the shop's origin; the collector
holds a small hand-built catalogue with a known bestseller order (sales and a view sent
through its tracking API), a product whose name is markup and one whose custom link is
`javascript:`. No answer is faked: requests are at most held back, then sent on unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route

from .harness import Recorder, Stack, http_json, open_fixture, stored, wait_for

HOSTILE = "<img src=x onerror=alert(1)> Mug"
PRODUCT_PAGE = "<!doctype html><title>product</title><h1>A product</h1>"


def catalogue(shop_url: str) -> list[dict[str, Any]]:
    return [
        {
            "id": "1",
            "name": "Blue Mug",
            "url": "/fixture/p/1",
            "image": f"{shop_url}/fixture/img/1.png",
            "price": 9.5,
            "brand": "Acme",
            "promo_url": "https://example.com/offer",
        },
        {"id": "2", "name": HOSTILE, "url": "/fixture/p/2", "price": 12, "brand": "<b>Bold</b>"},
        {
            "id": "3",
            "name": "Red Mug",
            "url": "/fixture/p/3",
            "image": "/fixture/img/3.png",
            "price": 7.25,
            "promo_url": "javascript:alert(1)",
        },
        {
            "id": "4",
            "name": "Teapot",
            "url": "/fixture/p/4",
            "price": 30,
            "promo_url": "data:text/html,<script>alert(1)</script>",
        },
        {"id": "5", "name": "Mug tree", "url": "/fixture/p/5", "price": 15},
        {"id": "6", "name": "Kettle", "url": "/fixture/p/6", "price": 45},
    ]


UNITS_SOLD = {"1": 5, "2": 4, "3": 3, "4": 2}  # popular: 1, 2, 3, 4, then 5 (a view), 6


class RenderingStack(Stack):
    """The stack, with this module's catalogue and history instead of the demo's."""

    def seed_catalogue(self) -> None:
        api, key = f"{self.collector_url}/v2", {"key": self.public_key, "visitor": None}
        http_json(
            f"{api}/products",
            {**key, "private_key": self.private_key, "products": catalogue(self.shop_url)},
        )
        lines = [{"id": i, "quantity": q, "price": 1.0} for i, q in UNITS_SOLD.items()]
        http_json(f"{api}/log/sale", {**key, "sale": "SEED-1", "products": lines})
        http_json(f"{api}/log/product", {**key, "product": "5"})


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = RenderingStack(tmp_path)
    try:
        yield stack.start()
    finally:
        stack.stop()


def open_page(page: Page, stack: Stack, query: str = "") -> None:
    """The rendering fixture with its three load-time widgets rendered."""
    page.route(
        f"{stack.shop_url}/fixture/p/*",
        lambda route: route.fulfill(body=PRODUCT_PAGE, content_type="text/html"),
    )
    open_fixture(page, stack, query, name="rendering.html")
    wait_for(lambda: len(rendered(page)) >= 3, what="the widgets to render", page=page)


def rendered(page: Page, element_id: str | None = None) -> list[list[Any]]:
    events: list[list[Any]] = page.evaluate("window.rendered")
    return [e for e in events if element_id in (None, e[0])]


def products(page: Page, widget: str) -> list[dict[str, Any]]:
    """What each rendered product root shows: its id, position and the template's fields."""
    return page.eval_on_selector_all(
        f"{widget} [data-clerk-product-id]",
        """roots => roots.map(r => {
            const q = s => r.matches(s) ? r : r.querySelector(s);
            const attr = (s, a) => q(s) && q(s).getAttribute(a);
            return {id: r.dataset.clerkProductId, n: r.dataset.clerkN,
                name: q('.name, a').textContent.trim(), href: attr('a', 'href'),
                src: attr('img', 'src'), price: q('.price')?.textContent,
                raw_price: q('.raw-price')?.textContent, brand: q('.brand')?.textContent,
                promo: attr('.promo', 'href')};
        })""",
    )


def shop(stack: Stack, path: str) -> str:
    return f"{stack.shop_url}{path}"


# --- widgets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("visitor", ["auto", "persistent", "null"])
def test_a_template_widget_renders_the_bestsellers_in_order_in_every_visitor_mode(
    page: Page, stack: Stack, recorder: Recorder, visitor: str
):
    open_page(page, stack, f"?visitor={visitor}")
    wait_for(lambda: rendered(page, "best"), what="#best", page=page)

    assert products(page, "#best") == [
        {
            "id": "1",
            "n": "1",
            "name": "Blue Mug",
            "href": shop(stack, "/fixture/p/1"),
            "src": shop(stack, "/fixture/img/1.png"),
            "price": "9.50",
            "raw_price": "9.5",
            "brand": "Acme",
            "promo": "https://example.com/offer",
        },
        {
            "id": "2",
            "n": "2",
            "name": HOSTILE,
            "href": shop(stack, "/fixture/p/2"),
            "src": None,  # no image: the template's <img> keeps no src
            "price": "12.00",
            "raw_price": "12",
            "brand": "<b>Bold</b>",
            "promo": None,
        },
        {
            "id": "3",
            "n": "3",
            "name": "Red Mug",
            "href": shop(stack, "/fixture/p/3"),
            "src": shop(stack, "/fixture/img/3.png"),  # relative URLs are resolved
            "price": "7.25",
            "raw_price": "7.25",
            "brand": "",
            "promo": None,  # javascript: dropped, and the template's own href="#promo" too
        },
        {
            "id": "4",
            "n": "4",
            "name": "Teapot",
            "href": shop(stack, "/fixture/p/4"),
            "src": None,
            "price": "30.00",
            "raw_price": "30",
            "brand": "",
            "promo": None,  # data: dropped
        },
    ]
    [call] = [p for _, p in recorder.calls() if p.get("labels") == ["Bestsellers"]]
    assert {k: call.get(k) for k in ("limit", "exclude", "query")} == {
        "limit": 4,
        "exclude": None,  # only the attributes present are sent
        "query": None,
    }
    if visitor == "null":  # the widget renders, and the call identifies no one
        assert call["visitor"] is None and "session" not in call
    else:
        cookie = {c["name"]: c["value"] for c in page.context.cookies()}.get("clerk_visitor")
        assert call["visitor"] == ("auto" if visitor == "auto" else cookie)


def test_markup_in_a_product_name_shows_as_text_and_runs_nothing(page: Page, stack: Stack):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_page(page, stack)

    for widget in ("#best", "#plain"):
        [hostile] = [p for p in products(page, widget) if p["id"] == "2"]
        assert hostile["name"] == HOSTILE
    assert page.inner_text("#best [data-clerk-product-id='2'] .brand") == "<b>Bold</b>"
    # The only images are the template's own (one per card), none from the name.
    assert page.eval_on_selector_all("img", "imgs => imgs.map(i => i.className)") == ["image"] * 4
    assert page.locator("b").count() == 0
    assert dialogs == []


def test_without_a_template_a_plain_list_of_linked_names_renders(page: Page, stack: Stack):
    open_page(page, stack)

    items = page.eval_on_selector_all(
        "#plain > ul > li",
        """lis => lis.map(li => [li.dataset.clerkProductId, li.dataset.clerkN,
            li.children.length, li.firstElementChild.tagName,
            li.firstElementChild.getAttribute('href'), li.firstElementChild.textContent])""",
    )
    assert items == [  # data-exclude='["1"]': the bestsellers after the first
        ["2", "1", 1, "A", shop(stack, "/fixture/p/2"), HOSTILE],
        ["3", "2", 1, "A", shop(stack, "/fixture/p/3"), "Red Mug"],
        ["4", "3", 1, "A", shop(stack, "/fixture/p/4"), "Teapot"],
    ]


def test_an_empty_answer_leaves_the_widget_empty_and_marked(page: Page, stack: Stack):
    open_page(page, stack)
    wait_for(lambda: rendered(page, "nothing"), what="#nothing", page=page)
    assert page.inner_html("#nothing") == ""
    assert page.get_attribute("#nothing", "data-clerk-empty") == ""
    assert page.get_attribute("#best", "data-clerk-empty") is None


def test_the_rendered_handler_gets_the_element_and_the_answer(page: Page, stack: Stack):
    open_page(page, stack)
    by_id = {e[0]: e[1:] for e in rendered(page)}
    assert by_id == {
        "best": [["1", "2", "3", "4"], "Blue Mug"],
        "plain": [["2", "3", "4"], HOSTILE],
        "nothing": [[], None],
    }


def test_a_widget_added_later_renders_once(page: Page, stack: Stack, recorder: Recorder):
    open_page(page, stack)
    page.evaluate("""() => document.body.insertAdjacentHTML('beforeend',
        '<div id="late" class="clerk" data-api="recommendations/popular" data-limit="2"'
        + ' data-labels=\\'["Late"]\\' data-template="#card"></div>')""")
    wait_for(lambda: rendered(page, "late"), what="the late widget", page=page)
    assert [p["id"] for p in products(page, "#late")] == ["1", "2"]

    # Its own rendering is a DOM change too: the observer must not render it again.
    page.evaluate("document.body.append(document.createElement('p'))")
    page.evaluate("Clerk('call', 'log/product', {product: '6'})")
    recorder.wait_for_call("log/product", count=2)
    late = [p for e, p in recorder.calls() if p.get("labels") == ["Late"]]
    assert len(late) == 1 and len(rendered(page, "late")) == 1


def test_content_re_renders_widgets_and_does_not_log_views_again(
    page: Page, stack: Stack, recorder: Recorder
):
    open_page(page, stack)
    recorder.wait_for_call("log/product")
    page.evaluate("document.querySelector('#best').dataset.limit = '2'; Clerk('content', '#best')")
    wait_for(lambda: len(rendered(page, "best")) == 2, what="#best again", page=page)
    assert [p["id"] for p in products(page, "#best")] == ["1", "2"]  # replaced, not appended

    page.evaluate("Clerk('content')")  # every .clerk element: widgets render, logs do not
    wait_for(lambda: len(rendered(page, "plain")) == 2, what="#plain again", page=page)
    wait_for(lambda: len(rendered(page, "best")) == 3, what="#best a third time", page=page)
    assert recorder.endpoints().count("log/product") == 1
    stored(page, stack, "SELECT * FROM events WHERE kind = 'view' AND session IS NOT NULL", count=1)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (
            "#best [data-clerk-product-id='3'] .name",
            ("3", "recommendations/popular", "Bestsellers", 3),
        ),
        ("#plain li:nth-child(2) a", ("3", "recommendations/popular", "Plain", 2)),
    ],
)
def test_a_click_on_a_rendered_product_is_logged_with_its_widget_and_position(
    page: Page, stack: Stack, recorder: Recorder, selector: str, expected: tuple[Any, ...]
):
    open_page(page, stack)
    product, api, label, n = expected
    page.click(selector)
    page.wait_for_url(shop(stack, f"/fixture/p/{product}"))

    [click] = recorder.wait_for_call("log/click")
    assert {k: click[k] for k in ("product", "api", "labels", "n")} == {
        "product": product,
        "api": api,
        "labels": [label],
        "n": n,
    }
    [row] = stored(
        page,
        stack,
        "SELECT product_id, api, labels, position FROM events WHERE kind = 'click'",
        count=1,
    )
    assert row == {"product_id": product, "api": api, "labels": json.dumps([label]), "position": n}


# --- predictive search ------------------------------------------------------------------------


def suggestions(page: Page) -> list[str]:
    return page.eval_on_selector_all(
        "#suggest [data-clerk-product-id]", "hits => hits.map(h => h.textContent)"
    )


def is_hidden(page: Page) -> bool:
    return bool(page.evaluate("document.querySelector('#suggest').hidden"))


def test_predictive_search_asks_once_after_typing_stops_and_hides_when_cleared(
    page: Page, stack: Stack, recorder: Recorder
):
    open_page(page, stack)
    assert is_hidden(page)
    page.locator("#q").press_sequentially("teap", delay=20)
    wait_for(lambda: suggestions(page) == ["Teapot"], what="Teapot suggested", page=page)
    assert not is_hidden(page)

    [ask] = [p for e, p in recorder.calls() if e == "search/predictive"]  # debounced: one call
    assert {k: ask[k] for k in ("query", "limit", "labels")} == {
        "query": "teap",
        "limit": 6,
        "labels": ["Search"],
    }
    assert page.get_attribute("#suggest a", "href") == shop(stack, "/fixture/p/4")

    page.fill("#q", "")
    assert is_hidden(page)
    page.fill("#q", "t")  # one character asks nothing
    assert is_hidden(page)
    assert recorder.endpoints().count("search/predictive") == 1


def test_predictive_search_is_keyboard_navigable_and_enter_follows_the_tracked_link(
    page: Page, stack: Stack, recorder: Recorder
):
    open_page(page, stack)
    page.fill("#q", "mug")
    wait_for(lambda: len(suggestions(page)) >= 3, what="mugs suggested", page=page)
    hits = page.eval_on_selector_all(
        "#suggest a", "hits => hits.map(h => [h.dataset.clerkProductId, h.href])"
    )
    assert HOSTILE in suggestions(page)

    def active() -> list[int]:
        return page.eval_on_selector_all(
            "#suggest a",
            """hits => hits.flatMap((h, i) => h.getAttribute('aria-selected') === 'true'
                && h.classList.contains('clerk-active')
                && document.querySelector('#q').getAttribute('aria-activedescendant') === h.id
                ? [i] : [])""",
        )

    assert active() == []
    for key, expected in [("ArrowDown", 0), ("ArrowDown", 1), ("ArrowDown", 2), ("ArrowUp", 1)]:
        page.press("#q", key)
        assert active() == [expected], key
    page.press("#q", "Escape")
    assert is_hidden(page)
    page.press("#q", "ArrowDown")  # reopens, moving on
    assert not is_hidden(page) and active() == [2]

    product, href = hits[2]
    page.press("#q", "Enter")
    page.wait_for_url(href)
    [click] = recorder.wait_for_call("log/click")
    assert {k: click[k] for k in ("product", "api", "labels", "n")} == {
        "product": product,
        "api": "search/predictive",
        "labels": ["Search"],
        "n": 3,
    }
    [row] = stored(page, stack, "SELECT * FROM events WHERE kind = 'click'", count=1)
    assert (row["product_id"], row["api"], row["position"]) == (product, "search/predictive", 3)


def test_a_late_answer_for_an_old_query_does_not_overwrite_a_newer_one(
    page: Page, stack: Stack, recorder: Recorder
):
    held: list[Route] = []

    def hold_the_first(route: Route) -> None:
        if json.loads(route.request.post_data or "{}").get("query") == "tea":
            held.append(route)  # sent on, unchanged, once the newer query has rendered
        else:
            route.continue_()

    page.route(f"{stack.collector_url}/v2/search/predictive", hold_the_first)
    open_page(page, stack)
    page.fill("#q", "tea")
    wait_for(lambda: held, what="the first query to be sent", page=page)
    page.fill("#q", "mug")
    wait_for(lambda: rendered(page, "suggest"), what="the newer query to render", page=page)
    newer = suggestions(page)
    assert "Teapot" not in newer and "Red Mug" in newer

    held[0].continue_()

    def answers() -> list[Any]:
        return [r for r in page.evaluate("window.responses") if r[0] == "search/predictive"]

    wait_for(lambda: len(answers()) == 2, what="the old answer to arrive", page=page)
    assert answers()[1][1] == ["4"]  # the old query's answer came: Teapot
    assert suggestions(page) == newer and len(rendered(page, "suggest")) == 1
