"""The demo store's Clerk contents (demo_shop/contents.py): every id Clerk's plugins embed,
each answered by a list endpoint the collector has, each design valid Liquid that renders
the shop's products as the shop's own cards, catalogue text as text."""

from __future__ import annotations

import re

import pytest

from collector import liquid, recommendations, search
from collector.contents import check_contents
from demo_shop.catalogue import HOSTILE_NAME, HOSTILE_PRODUCT_ID, generate_catalogue
from demo_shop.contents import contents

PLUGIN_IDS = {
    "product-page-alternatives",
    "product-page-others-also-bought",
    "category-page-popular",
    "category-page-trending",
    "cart-others-also-bought",
    "power-step-others-also-bought",
    "exit-intent",
    "search-page",
    "live-search",
}
LIST_ENDPOINTS = {
    route.path.removeprefix("/v2/") for route in [*recommendations.routes, *search.routes]
}
PRODUCTS = generate_catalogue("http://localhost:8001", 12)
CONTENTS = contents()


def render(content: dict, products: list[dict]) -> str:
    shown = {k: content[k] for k in ("id", "name", "api", "labels", "limit")}
    context = {"products": products, "content": shown, "globals": {}, "count": len(products)}
    return liquid.render(content["design"], {**context, "query": "mug"})


def test_the_demo_seeds_every_content_clerks_plugins_embed_and_its_own():
    ids = [content["id"] for content in CONTENTS]
    assert len(ids) == len(set(ids))
    assert PLUGIN_IDS <= set(ids) and set(ids) - PLUGIN_IDS  # and at least one of its own
    for content in CONTENTS:
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", content["id"])
        assert set(content) == {"id", "name", "api", "limit", "labels", "arguments", "design"}


def test_the_contents_api_takes_them_as_they_are():
    assert check_contents("contents", CONTENTS) == CONTENTS


@pytest.mark.parametrize("content", CONTENTS, ids=lambda c: c["id"])
def test_each_content_is_answered_by_a_list_endpoint_with_sensible_settings(content):
    assert content["api"] in LIST_ENDPOINTS
    assert 1 <= content["limit"] <= 100
    assert content["labels"] and all(isinstance(label, str) for label in content["labels"])
    assert content["name"]
    assert isinstance(content["arguments"], dict)


@pytest.mark.parametrize("content", CONTENTS, ids=lambda c: c["id"])
def test_each_design_parses_and_renders_the_shops_products_as_its_cards(content):
    liquid.parse(content["design"])  # raises DesignError naming the line
    shown = PRODUCTS[4:8]
    html = render(content, shown)
    # One clickable product per product, in the answer's order, linking to its page.
    assert re.findall(r'data-clerk-product-id="(\d+)"', html) == [p["id"] for p in shown]
    for product in shown:
        assert f'href="{product["url"]}"' in html and f'src="{product["image"]}"' in html
        assert f"${product['price']:,.2f}" in html
    if "card" in content["design"]:  # cards strike the list price of a product on sale
        on_sale = next(p for p in PRODUCTS if p["list_price"] > p["price"])
        assert f"${on_sale['list_price']:,.2f}</s>" in render(content, [on_sale])


@pytest.mark.parametrize("content", CONTENTS, ids=lambda c: c["id"])
def test_a_hostile_product_name_renders_as_text(content):
    [hostile] = [p for p in PRODUCTS if p["id"] == HOSTILE_PRODUCT_ID]
    html = render(content, [hostile])
    assert HOSTILE_NAME not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize(
    "content", [c for c in CONTENTS if "section-head" in c["design"]], ids=lambda c: c["id"]
)
def test_a_headed_content_renders_nothing_when_it_has_no_products(content):
    assert render(content, []).strip() == ""
    assert f"<h2>{content['name']}</h2>" in render(content, PRODUCTS[:1])
