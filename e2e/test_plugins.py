"""Clerk's official plugins' markup, replayed verbatim against the real collector.

Each fixture page under e2e/fixtures/plugins is what one plugin puts on a storefront
(Magento 2, WooCommerce, PrestaShop, Shopware 6; read from their public repositories),
with only the script's address changed to the collector's. The collector holds a small
catalogue with a known history and the demo's contents (demo_shop/contents.py, with their
designs), seeded through the private-key contents API. Each test checks what the shopper
sees (the products each content's api answers, no product in two excluding contents,
catalogue text as text) and what the collector stored (views from `Clerk('context')` in
the visitor mode, clicks with the content's labels, a sale with the revenue the shop sent).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from demo_shop.contents import contents as demo_contents

from .harness import Recorder, Stack, http_json, open_fixture, stored, wait_for

HEX = "0190a3f1c2d34e5f8a9b0c1d2e3f4a5b"  # a Shopware product id
HEX_TWIN = "0190a3f1c2d34e5f8a9b0c1d2e3f4a6c"
HOSTILE = "<img src=x onerror=alert(1)> Mug"
PRODUCT_PAGE = "<!doctype html><title>product</title><h1>A product</h1>"


def catalogue() -> list[dict[str, Any]]:
    """Jackets in category 15 (101-106), mugs in 16 (201-205, one named with markup),
    two Shopware products with hex ids in 17."""
    jackets = [
        {"id": str(101 + i), "name": f"Jacket {101 + i}", "price": 100.0 + 10 * i} for i in range(6)
    ]
    mugs = [{"id": str(201 + i), "name": f"Mug {201 + i}", "price": 10.0 + i} for i in range(4)]
    products = [
        *({**p, "categories": ["15"]} for p in jackets),
        *({**p, "categories": ["16"]} for p in mugs),
        {"id": "205", "name": HOSTILE, "price": 12.0, "categories": ["16"]},
        {"id": HEX, "name": "Bergjacke", "price": 149.0, "categories": ["17"]},
        {"id": HEX_TWIN, "name": "Bergweste", "price": 139.0, "categories": ["17"]},
    ]
    return [
        {**p, "url": f"/fixture/p/{p['id']}", "image": f"/fixture/img/{p['id']}.png"}
        for p in products
    ]


# Orders, so that products are bought together (complementary) and sold (popular,
# trending): 101 with other jackets and with mugs; the hostile mug sells best (5 units).
HISTORY = [
    ["101", "102", "103", "201"],
    ["101", "102", "202"],
    ["101", "104", "203"],
    ["205", "201"],
    [HEX, HEX_TWIN],
]
# A content of this test only: a design with a config.formatters function as a filter.
WITH_TAX = {
    "id": "fixture-with-tax",
    "name": "Prices with tax",
    "api": "recommendations/popular",
    "limit": 2,
    "labels": ["Prices with tax"],
    "arguments": {},
    "design": (
        "{% for product in products %}<p class='taxed' data-clerk-product-id='{{ product.id }}'>"
        "{{ product.price | add_tax | money }}</p>{% endfor %}"
    ),
}


class PluginStack(Stack):
    """The stack, with this module's catalogue, history and contents."""

    def seed_catalogue(self) -> None:
        key = {"key": self.public_key, "private_key": self.private_key}
        http_json(f"{self.collector_url}/v2/products", {**key, "products": catalogue()})
        for n, ids in enumerate(HISTORY):
            lines = [{"id": pid, "quantity": 5 if pid == "205" else 1, "price": 1.0} for pid in ids]
            sale = {"key": self.public_key, "visitor": None, "sale": f"SEED-{n}"}
            http_json(f"{self.collector_url}/v2/log/sale", {**sale, "products": lines})
        http_json(
            f"{self.collector_url}/v2/contents", {**key, "contents": [*demo_contents(), WITH_TAX]}
        )
        wait_for(lambda: len(self.query("SELECT id FROM orders")) == len(HISTORY), what="history")

    def ids(self, api: str, **args: Any) -> list[str]:
        """What the content's api answers for these arguments (no visitor)."""
        body = {"key": self.public_key, "visitor": None, **args}
        return [str(pid) for pid in http_json(f"{self.collector_url}/v2/{api}", body)["result"]]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[PluginStack]:
    stack = PluginStack(tmp_path)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def shown(page: Page, selector: str) -> list[str]:
    return page.eval_on_selector_all(
        f"{selector} [data-clerk-product-id]",
        "els => els.map(e => e.getAttribute('data-clerk-product-id'))",
    )


def renders(page: Page, selector: str, expected: list[str]) -> list[str]:
    """The ids the element shows once they are `expected` (or the assertion says what it
    shows instead)."""
    assert expected, f"{selector}: the history gives its api nothing to show"
    try:
        wait_for(lambda: shown(page, selector) == expected, what=f"{selector}", page=page)
    except AssertionError:
        assert shown(page, selector) == expected
    return expected


def open_plugin_page(page: Page, stack: Stack, name: str, query: str = "") -> None:
    page.route(
        f"{stack.shop_url}/fixture/p/*",
        lambda route: route.fulfill(body=PRODUCT_PAGE, content_type="text/html"),
    )
    page.route(f"{stack.shop_url}/fixture/img/*", lambda route: route.fulfill(status=404))
    open_fixture(page, stack, query, name=f"plugins/{name}")


def test_magento2_product_page_two_contents_and_exclude_from(
    page: Page, stack: PluginStack, recorder: Recorder
):
    alternatives = stack.ids("recommendations/substituting", products=["101"], limit=4)
    together = stack.ids("recommendations/complementary", products=["101"], limit=4)
    assert set(alternatives) & set(together), "the two contents would overlap unexcluded"
    others = stack.ids(
        "recommendations/complementary", products=["101"], limit=4, exclude=alternatives
    )

    open_plugin_page(page, stack, "magento2_product.html")

    renders(page, ".clerk_0", alternatives)
    renders(page, ".clerk_1", others)
    assert not set(shown(page, ".clerk_0")) & set(shown(page, ".clerk_1"))
    # The demo's design: headed by the content's name, the shop's cards.
    assert page.inner_text(".clerk_0 h2") == "Similar products"
    assert page.locator(".clerk_1 article.card").count() == len(others)
    # The view comes from Clerk('context', {product: 101, ...}).
    [view] = stored(page, stack, "SELECT * FROM events WHERE kind = 'view'", count=1)
    assert view["product_id"] == "101" and view["visitor_mode"] == "auto"

    # A click in a content is logged with the content's api and labels.
    page.click(f".clerk_1 [data-clerk-product-id='{others[0]}'] a")
    [click] = recorder.wait_for_call("log/click")
    assert click["product"] == others[0]
    assert click["labels"] == ["Product page", "Others also bought"]
    [row] = stored(page, stack, "SELECT * FROM events WHERE kind = 'click'", count=1)
    assert row["api"] == "recommendations/complementary" and row["product_id"] == others[0]
    assert json.loads(row["labels"]) == ["Product page", "Others also bought"]


def test_woocommerce_category_page_with_its_escaped_exclude_from(page: Page, stack: PluginStack):
    popular = stack.ids("recommendations/category/popular", category="15", limit=4)
    trending = stack.ids("recommendations/trending", limit=4, exclude=popular)
    assert set(popular) & set(stack.ids("recommendations/trending", limit=4))

    open_plugin_page(page, stack, "woocommerce_category.html")

    renders(page, ".clerk_0", popular)
    renders(page, ".clerk_1", trending)
    assert not set(shown(page, ".clerk_0")) & set(shown(page, ".clerk_1"))
    assert all(pid.startswith("10") for pid in popular)  # category 15's jackets only


def test_prestashop_sale_with_string_quantities_and_a_discount_line(
    page: Page, stack: PluginStack, recorder: Recorder
):
    open_plugin_page(page, stack, "prestashop_sale.html")
    [payload] = recorder.wait_for_call("log/sale")
    assert payload["products"][0]["quantity"] == "2"  # sent as the shop wrote it
    [order] = stored(page, stack, "SELECT * FROM orders WHERE id = 'PS-1001'", count=1)
    assert order["total"] == pytest.approx(2 * 24.5 - 5)  # the revenue the shop sent
    lines = stack.query(
        "SELECT product_id, quantity, price FROM order_lines WHERE order_id = 'PS-1001'"
        " ORDER BY line"
    )
    assert lines == [
        {"product_id": "201", "quantity": 2, "price": 24.5},
        {"product_id": "202", "quantity": 1, "price": -5.0},
    ]


@pytest.mark.parametrize("mode", ["auto", "persistent", "null"])
def test_shopware_context_with_hex_ids_stores_the_view_in_the_visitor_mode(
    page: Page, stack: PluginStack, recorder: Recorder, mode: str
):
    alternatives = stack.ids("recommendations/substituting", products=[HEX], limit=4)
    open_plugin_page(page, stack, "shopware_product.html", f"?visitor={mode}")

    renders(page, ".clerk", alternatives)
    assert alternatives == [HEX_TWIN]
    [view] = stored(page, stack, "SELECT * FROM events WHERE kind = 'view'", count=1)
    assert view["product_id"] == HEX
    if mode == "null":
        assert view["visitor_mode"] == "none"
        assert view["visitor_id"] is None and view["session"] is None
        for endpoint, sent in recorder.calls():
            assert sent["visitor"] is None and not {"session", "email"} & set(sent), endpoint
        assert stack.query("SELECT * FROM salts") == []
    else:
        assert view["visitor_mode"] == mode and view["visitor_id"] and view["session"]
    dump = stack.database_text()
    assert "127.0.0.1" not in dump and "E2E-Marker" not in dump


def test_magento2_cart_content_and_the_powerstep_popup(page: Page, stack: PluginStack):
    cart = stack.ids("recommendations/complementary", products=["101", "201"], limit=4)
    powerstep = stack.ids("recommendations/complementary", products=["101"], limit=4)

    baskets: list[Any] = []
    page.on("response", lambda r: "/v2/log/basket/" in r.url and baskets.append(r))
    open_plugin_page(page, stack, "magento2_cart.html")

    renders(page, "span[data-template='@cart-others-also-bought']", cart)
    renders(page, "#clerk_Xq3vR8sLk2", powerstep)
    # data-exclude-from="#clerk_Xq3vR8sLk2:limit(4),": none of the first's first four.
    alternatives = stack.ids(
        "recommendations/substituting", products=["101"], limit=4, exclude=powerstep[:4]
    )
    assert set(stack.ids("recommendations/substituting", products=["101"], limit=4)) & set(
        powerstep
    ), "nothing for the exclusion to do"
    renders(page, "#clerk_Pd7wN4tHz9", alternatives)
    assert page.is_visible("#clerk_powerstep")  # Clerk('ui', 'popup', '.clerk-popup', 'show')
    # Clerk('cart', 'set', [101, 201]), then Clerk('basket', 'add', '101'): the basket
    # the collector keeps is those two.
    wait_for(lambda: len(baskets) == 2, what="both basket calls answered", page=page)
    assert sorted(map(str, baskets[-1].json()["basket"])) == ["101", "201"]


def test_exit_intent_renders_when_the_pointer_leaves_through_the_top(
    page: Page, stack: PluginStack, recorder: Recorder
):
    open_plugin_page(page, stack, "exit_intent.html")
    page.wait_for_timeout(300)
    assert "content" not in recorder.endpoints()  # nothing before the shopper leaves
    page.mouse.move(400, 300)
    page.mouse.move(400, 5)
    page.mouse.move(400, -20)
    page.evaluate(
        "document.documentElement.dispatchEvent(new MouseEvent('mouseout',"
        " {bubbles: true, clientX: 400, clientY: -20, relatedTarget: null}))"
    )
    # A shopper who has shown no interest yet: the content's fallback, bestsellers.
    expected = stack.ids("recommendations/popular", limit=4)
    renders(page, "span[data-exit-intent]", expected)
    assert page.inner_text("span[data-exit-intent] h2") == "Before you go: picked for you"


def test_inline_liquid_x_template_and_a_formatter_filter_with_text_only_names(
    page: Page, stack: PluginStack
):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    popular = stack.ids("recommendations/popular", limit=3)
    assert popular[0] == "205"  # the hostile name sells best

    open_plugin_page(page, stack, "templates.html")

    renders(page, "#inline", popular)
    assert page.inner_text("#inline .inline-item >> nth=0") == f"{HOSTILE}: 12.00"
    renders(page, "#x-form", popular)
    assert page.inner_text("#x-form li >> nth=0") == f"1. {HOSTILE}"
    renders(page, "#formatted", popular[:2])
    assert page.inner_text("#formatted .taxed >> nth=0") == "15.00"  # 12.00 with 25 % tax
    # Markup in a product name stays text: no element made from it, no script ran.
    assert page.locator("#inline img, #x-form img, #formatted img").count() == 0
    assert dialogs == []
