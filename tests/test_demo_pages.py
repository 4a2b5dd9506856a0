"""The demo shop's pages embed Clerk contents as Clerk's plugins do: `@id` spans with the
page's arguments, `Clerk('context')` for views, the powerstep popup once after an add to
cart; the home page keeps the data-api + <template> form (the header's live search is a
content on every page)."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from demo_shop.app import create_app
from demo_shop.contents import by_id
from demo_shop.settings import Settings


@pytest.fixture
def shop() -> TestClient:
    return TestClient(create_app(Settings(public_key="pk_x", catalogue_size=40)))


def contents_on(html: str) -> list[str]:
    return re.findall(r"data-template=['\"]@([\w-]+)['\"]", html)


def test_every_content_a_page_embeds_is_one_the_demo_seeds(shop: TestClient):
    seeded = by_id()
    for path in ("/", "/product/7", "/category/gifts", "/cart", "/search?q=mug"):
        assert set(contents_on(shop.get(path).text)) <= set(seeded), path


def test_the_product_page_logs_its_view_through_the_context(shop: TestClient):
    html = shop.get("/product/7").text
    assert 'data-api="log/product"' not in html
    assert """Clerk('context', {product: "7", category: null, page: null});""" in html
    assert contents_on(html) == [
        "live-search",  # the header's, on every page
        "product-page-alternatives",
        "product-page-others-also-bought",
        "exit-intent",
    ]
    assert (
        """<span class="clerk clerk_1" data-template="@product-page-others-also-bought" """
        """data-products='["7"]' data-product='7' data-exclude-from='.clerk_0'></span>"""
    ) in html


def test_the_category_page_excludes_its_popular_from_trending(shop: TestClient):
    html = shop.get("/category/gifts").text
    assert contents_on(html)[1:3] == ["category-page-popular", "category-page-trending"]
    assert "data-category='Gifts' data-exclude-from='.clerk_0'" in html
    assert """Clerk('context', {product: null, category: "Gifts", page: null});""" in html


def test_the_home_page_keeps_the_template_form(shop: TestClient):
    html = shop.get("/").text
    assert html.count('data-template="#clerk-card"') == 3
    assert contents_on(html) == ["live-search", "exit-intent"]


def test_the_powerstep_shows_once_right_after_an_add_to_cart(shop: TestClient):
    assert "clerk_powerstep" not in shop.get("/cart").text
    added = shop.post("/cart/add", data={"product_id": "7", "quantity": "2"})
    assert added.url.path == "/cart"
    html = added.text
    assert "Clerk('ui', 'popup', '#clerk_powerstep', 'show');" in html
    assert 'data-template="@power-step-others-also-bought" data-products="[7]"' in html
    assert "data-template='@cart-others-also-bought' data-products='[\"7\"]'" in html
    # The cookie forgot it: a reload shows the cart without the popup.
    again = shop.get("/cart").text
    assert "clerk_powerstep" not in again and "@cart-others-also-bought" in again


def test_an_empty_cart_shows_the_demos_own_content(shop: TestClient):
    assert contents_on(shop.get("/cart").text) == [
        "live-search",
        "empty-cart-popular",
        "exit-intent",
    ]
