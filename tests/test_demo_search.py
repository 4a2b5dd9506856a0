"""The demo shop's search: the search page and the header's box in Clerk's Magento 2 plugin
markup (facets for brand, price, category and colour; live search with suggestions,
categories and pages), a catalogue whose every product has a colour, and the store's
categories and pages seeded as `/v2/categories` and `/v2/pages` take them."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from html import unescape

import pytest
from starlette.testclient import TestClient

from collector import caps, liquid
from collector.demo import seed
from collector.services import Services
from collector.sitedata import KINDS
from collector.storage import contents, sitedata
from collector.storage.site_search import search_items
from collector.storage.stores import store_by_public_key
from demo_shop import contents as contents_module
from demo_shop.app import create_app
from demo_shop.catalogue import CATEGORIES, generate_catalogue
from demo_shop.contents import by_id
from demo_shop.info import INFO_PAGES, store_categories, store_pages
from demo_shop.settings import Settings

SHOP = "http://localhost:8001"
CATALOGUE = generate_catalogue(SHOP)


@pytest.fixture
def shop() -> TestClient:
    return TestClient(create_app(Settings(public_key="pk_x", shop_url=SHOP, catalogue_size=40)))


def span(html: str, template: str) -> dict[str, str]:
    """The attributes of the Clerk span with this data-template."""
    found = re.search(rf"<span ([^>]*data-template=\"@{template}\"[^>]*)>", html)
    assert found, template
    pairs = re.findall(r"([\w-]+)=(?:\"([^\"]*)\"|'([^']*)')", found[1])
    return {name: unescape(double or single) for name, double, single in pairs}


# --- the catalogue --------------------------------------------------------------------------


def test_every_product_has_a_colour_and_the_facets_have_something_to_show():
    colours = Counter(p["colour"] for p in CATALOGUE)
    assert all(isinstance(p["colour"], str) and p["colour"] for p in CATALOGUE)
    # Several colours, none of them most of the catalogue, each on a handful of products.
    assert len(colours) >= 8 and max(colours.values()) < len(CATALOGUE) / 4
    assert min(colours.values()) >= 5
    assert len({p["brand"] for p in CATALOGUE}) >= 8
    assert len({c for p in CATALOGUE for c in p["categories"]}) == len(CATEGORIES)
    prices = sorted(p["price"] for p in CATALOGUE)
    assert prices[0] < 20 and prices[-1] > 300  # a price facet of several buckets


def test_a_shade_in_the_name_is_filed_under_its_colour():
    shaded = [p for p in CATALOGUE if p["name"].endswith(", Navy")]
    assert shaded and {p["colour"] for p in shaded} == {"Blue"}


def test_colours_left_the_rest_of_the_catalogue_as_it_was():
    # Product 7 (markup in its name) and the prefix rule still hold.
    assert generate_catalogue(SHOP, 20) == CATALOGUE[:20]
    assert CATALOGUE[6]["categories"][0] == "Camp Kitchen"


# --- the store's categories and pages -------------------------------------------------------


@pytest.mark.parametrize("plural", ["categories", "pages"])
def test_the_categories_and_pages_are_what_the_api_takes(plural: str):
    items = store_categories(SHOP) if plural == "categories" else store_pages(SHOP)
    _, parse_item = KINDS[plural]
    assert [parse_item(f"{plural}[{n}]", item, False) for n, item in enumerate(items)] == items


def test_every_category_id_is_the_name_its_products_carry_and_links_to_its_page(
    shop: TestClient,
):
    categories = store_categories(SHOP)
    carried = {c for p in CATALOGUE for c in p["categories"]}
    assert {c["id"] for c in categories} == carried
    ids = {c["id"] for c in categories}
    for category in categories:
        assert category["name"] == category["id"] and category["description"]
        assert set(category["subcategories"]) <= ids
        assert category["url"].startswith(f"{SHOP}/category/")
        assert shop.get(category["url"].removeprefix(SHOP)).status_code == 200


def test_every_page_is_a_real_page_of_the_shop(shop: TestClient):
    pages = store_pages(SHOP)
    assert {p["id"] for p in pages} >= {"shipping", "returns", "privacy", "about", "contact"}
    assert "size-guide" in {p["id"] for p in pages}
    for page in pages:
        answer = shop.get(page["url"].removeprefix(SHOP))
        assert answer.status_code == 200
        assert f"<h1>{page['title'].replace('&', '&amp;')}</h1>" in answer.text
    footer = shop.get("/").text
    for page in INFO_PAGES:
        assert f'href="/{page.slug}"' in footer
    assert shop.get("/no-such-page").status_code == 404


def test_the_demo_seeds_its_categories_and_pages_for_live_search(services: Services):
    key = seed(services.storage, shop_url=SHOP)
    store = services.storage.run(store_by_public_key, public_key=key)
    assert store is not None
    for plural, wanted in (("categories", store_categories(SHOP)), ("pages", store_pages(SHOP))):
        kind, _ = KINDS[plural]
        stored, total = services.storage.run(
            sitedata.list_items, kind=kind, store_id=store.id, limit=100, offset=0
        )
        assert total == len(wanted) and total <= caps.SITE_ITEMS_MAX
        assert {i["id"]: i for i in stored} == {i["id"]: i for i in wanted}
    # What a shopper typing "jack" in the header finds beside the products.
    kind, _ = KINDS["categories"]
    found, _ = services.storage.run(
        search_items, kind=kind, store_id=store.id, query="jack", limit=5, offset=0
    )
    assert [c["name"] for c in found] == ["Jackets & Coats"]
    kind, _ = KINDS["pages"]
    found, _ = services.storage.run(
        search_items, kind=kind, store_id=store.id, query="return", limit=3, offset=0
    )
    assert found[0]["title"] == "Returns & refunds"
    # A second start changes nothing.
    assert seed(services.storage, shop_url=SHOP) == key


# --- the pages' markup ----------------------------------------------------------------------


def test_the_search_page_has_the_magento_2_plugins_markup_with_four_facets(shop: TestClient):
    html = shop.get("/search?q=wool jacket").text
    attrs = span(html, "search-page")
    assert attrs["id"] == "clerk-search" and attrs["class"] == "clerk"
    assert attrs["data-query"] == "wool jacket"
    assert attrs["data-target"] == "#clerk-search-results" and attrs["data-offset"] == "0"
    assert attrs["data-facets-target"] == "#clerk-search-filters"
    assert json.loads(attrs["data-facets-attributes"]) == ["brand", "price", "categories", "colour"]
    titles = json.loads(attrs["data-facets-titles"])
    assert titles == {
        "brand": "Brand",
        "price": "Price",
        "categories": "Category",
        "colour": "Colour",
    }
    multiselect = json.loads(attrs["data-facets-multiselect-attributes"])
    assert multiselect == ["brand", "colour", "categories"]
    assert '<div id="clerk-search-results"' in html and '<div id="clerk-search-filters"' in html
    assert '<div id="clerk-search-no-results"' in html
    assert "Clerk('on', 'response', '#clerk-search'," in html


def test_a_query_with_quotes_stays_inside_its_attribute(shop: TestClient):
    html = shop.get("/search", params={"q": """it's "x" <b>"""}).text
    assert span(html, "search-page")["data-query"] == """it's "x" <b>"""
    assert "<b>" not in html


def test_the_search_page_without_a_query_asks_for_one(shop: TestClient):
    html = shop.get("/search").text
    assert "@search-page" not in html and "Type what you are looking for" in html


def test_the_header_box_is_clerks_live_search_on_every_page(shop: TestClient):
    for path in ("/", "/product/7", "/category/gifts", "/cart", "/search?q=mug", "/returns"):
        attrs = span(shop.get(path).text, "live-search")
        assert attrs == {
            "class": "clerk",
            "data-template": "@live-search",
            "data-instant-search": "#search-input",
            "data-instant-search-suggestions": "5",
            "data-instant-search-categories": "5",
            "data-instant-search-pages": "3",
            "data-instant-search-positioning": "below",
        }, path


# --- the designs ----------------------------------------------------------------------------


def test_the_live_search_design_shows_each_section_it_has_something_for():
    design = by_id()["live-search"]["design"]
    context = {
        "products": CATALOGUE[:2],
        "suggestions": ["jacket", "jackets"],
        "categories": store_categories(SHOP)[:1],
        "pages": store_pages(SHOP)[:1],
        "query": "jack & co",
        "globals": {"currency_symbol": "$"},
        "content": {},
    }
    html = liquid.render(design, context)
    assert 'href="/search?q=jacket">jacket</a>' in html
    assert f'href="{SHOP}/category/jackets">Jackets &amp; Coats</a>' in html
    assert f'href="{SHOP}/shipping">Shipping &amp; delivery</a>' in html
    assert html.count("data-clerk-product-id") == 2
    assert 'href="/search?q=jack+%26+co"' in html
    # Nothing but products: no empty headings.
    bare = liquid.render(design, {**context, "suggestions": [], "categories": [], "pages": []})
    assert "Suggestions" not in bare and "Categories" not in bare and "Help" not in bare
    assert "Products" in bare


def test_the_search_page_design_shows_each_products_colour():
    design = by_id()["search-page"]["design"]
    html = liquid.render(design, {"products": CATALOGUE[:3], "globals": {}, "content": {}})
    for product in CATALOGUE[:3]:
        assert f'data-colour="{product["colour"]}"></i>{product["colour"]}' in html


def test_a_store_with_an_earlier_demos_design_gets_the_new_one_and_an_owners_is_kept(
    services: Services, monkeypatch: pytest.MonkeyPatch
):
    key = seed(services.storage, shop_url=SHOP)
    store = services.storage.run(store_by_public_key, public_key=key)
    assert store is not None
    wanted = by_id()
    earlier = "{% for product in products %}{{ product.name }}{% endfor %}"
    monkeypatch.setitem(
        contents_module.EARLIER_DESIGNS,
        "live-search",
        {hashlib.sha256(earlier.encode()).hexdigest()},
    )
    owners = "{% for product in products %}<b>{{ product.name }}</b>{% endfor %}"
    stale = [
        {**wanted["live-search"], "design": earlier, "limit": 4},
        {**wanted["search-page"], "design": owners},
    ]
    services.storage.run(contents.upsert, store_id=store.id, contents=stale, now=1)

    seed(services.storage, shop_url=SHOP)
    live = services.storage.run(contents.get, store_id=store.id, content_id="live-search")
    page = services.storage.run(contents.get, store_id=store.id, content_id="search-page")
    assert live is not None and page is not None
    assert live["design"] == wanted["live-search"]["design"] and live["limit"] == 4
    assert page["design"] == owners
