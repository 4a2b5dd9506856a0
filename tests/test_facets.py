"""Search with a filter, facets, an order and chosen attributes (search/search and
search/predictive), on a small hand-written catalogue whose answers are counted by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

from collector.services import Services
from collector.storage.caches import clear_all
from collector.storage.search import columns
from collector.storage.search.facets import buckets, range_name

from .factories import StoreKeys, rows
from .test_search import Shop, wait_for


def item(pid: str, name: str, price: float, **fields: Any) -> dict[str, Any]:
    return {"id": pid, "name": name, "url": f"/p/{pid}", "price": price, **fields}


# "jacket" matches 1-5 (7 is out of stock, 6 is no jacket).
CATALOGUE = [
    item("1", "Rain Jacket", 20, brand="Acme", categories=["10"], colour="red", created_at=5),
    item("2", "Wool Jacket", 55, brand="Acme", categories=["10", "20"], colour="blue"),
    item("3", "Down Jacket", 130, brand="Borealis", categories=["20"], colour="red", created_at=9),
    item("4", "Light Jacket", 75, brand="Borealis", categories=["10"], created_at=1),
    item("5", "Jacket Liner", 12.5, brand="Cirrus", categories=["30"], colour="green"),
    item("6", "Rain Boots", 40, brand="Acme", categories=["10"], colour="red"),
    item("7", "Old Jacket", 60, brand="Acme", categories=["10"], colour="red", stock=0),
]
CATEGORIES = [
    {"id": "10", "name": "Coats", "url": "/c/10"},
    {"id": "20", "name": "Winter", "url": "/c/20"},
]


@pytest.fixture
def shop(client: TestClient, store: StoreKeys) -> Shop:
    found = Shop(client, store)
    found.catalogue(*CATALOGUE)
    answer = client.post(
        "/v2/categories",
        json={"key": store.public_key, "private_key": store.private_key, "categories": CATEGORIES},
    )
    assert answer.status_code == 200, answer.text
    return found


def units(facet: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    assert all(v["type"] == "unit" for v in facet)
    return [(v["name"], v["value"], v["count"]) for v in facet]


def ranges(facet: list[dict[str, Any]]) -> list[tuple[str, float, float, int]]:
    assert all(v["type"] == "range" for v in facet)
    return [(v["name"], v["min"], v["max"], v["count"]) for v in facet]


ALL_PRICES = [
    ("0 - 19", 0, 19.99, 1),  # 12.5
    ("20 - 39", 20, 39.99, 1),  # 20
    ("40 - 59", 40, 59.99, 1),  # 55
    ("60 - 79", 60, 79.99, 1),  # 75
    ("120 - 139", 120, 139.99, 1),  # 130; 80-119 are empty, left out
]


def test_facets_count_every_match_of_the_query_in_clerks_shape(shop: Shop):
    names = ["brand", "price", "categories", "colour", "nobody"]
    answer = shop.search("jacket", facets=names, limit=1)  # the page is one product...
    assert answer["count"] == 5 and len(answer["result"]) == 1
    facets = answer["facets"]  # ...the facets count all five
    assert list(facets) == names
    assert units(facets["brand"]) == [
        ("Acme", "Acme", 2),
        ("Borealis", "Borealis", 2),
        ("Cirrus", "Cirrus", 1),
    ]
    assert ranges(facets["price"]) == ALL_PRICES
    # categories: named from the categories data where there is one, by count then name
    assert units(facets["categories"]) == [("Coats", "10", 3), ("Winter", "20", 2), ("30", "30", 1)]
    assert units(facets["colour"]) == [
        ("red", "red", 2),
        ("blue", "blue", 1),
        ("green", "green", 1),
    ]
    assert facets["nobody"] == []
    assert "facets" not in shop.search("jacket")  # none asked, none given


def test_one_stores_columns_stay_within_their_bound_and_answers_stay_right(
    shop: Shop, services: Services, monkeypatch: pytest.MonkeyPatch
):
    args: dict[str, Any] = {
        "facets": ["brand", "price", "categories", "colour"],
        "filter": 'colour != "green" and created_at >= 0',
        "orderby": "name",
    }
    unbounded = shop.search("jacket", **args)
    clear_all()
    monkeypatch.setattr(columns, "COLUMNS_BYTES", 1)  # room for the newest column only
    assert shop.search("jacket", **args) == unbounded
    cached = columns._cache(services.storage.engine)
    [held] = [cached.get(key) for key in cached.keys()]
    assert len(held.columns) == 1  # the column read last


def test_predictive_takes_filter_and_facets_too(shop: Shop):
    answer = shop.search("jack", api="predictive", filter='colour = "red"', facets=["brand"])
    assert sorted(answer["result"]) == ["1", "3"] and answer["count"] == 2
    assert units(answer["facets"]["brand"]) == [("Acme", "Acme", 1), ("Borealis", "Borealis", 1)]


def test_a_filter_narrows_the_results_and_the_count(shop: Shop):
    answer = shop.search("jacket", filter="price >= 50")
    assert sorted(answer["result"]) == ["2", "3", "4"] and answer["count"] == 3
    paged = shop.search("jacket", filter="price >= 50", limit=2, offset=2)
    assert len(paged["result"]) == 1 and paged["count"] == 3
    assert shop.search("jacket", filter='brand = "Nobody"')["count"] == 0
    assert shop.search("jacket", filter="price >= 50", exclude=["3"])["count"] == 2


def test_filter_facets_and_query_together(shop: Shop):
    answer = shop.search(
        "jacket",
        filter='categories in [10] and colour != "green"',
        facets=["brand", "price", "colour"],
    )
    assert sorted(answer["result"]) == ["1", "2"] and answer["count"] == 2  # 4: no colour
    facets = answer["facets"]
    assert units(facets["brand"]) == [("Acme", "Acme", 2)]
    assert units(facets["colour"]) == [("blue", "blue", 1), ("red", "red", 1)]
    # the span is 20 to 55: buckets of 10 (not the whole catalogue's 20)
    assert ranges(facets["price"]) == [("20 - 29", 20, 29.99, 1), ("50 - 59", 50, 59.99, 1)]


def test_a_multiselect_facet_keeps_the_other_values_of_its_choice(shop: Shop):
    chosen = '(brand in ["Acme"]) and (price >= 0 and price <= 59.99)'
    both = ["brand", "price"]
    plain = shop.search("jacket", filter=chosen, facets=both)
    assert sorted(plain["result"]) == ["1", "2"]
    assert units(plain["facets"]["brand"]) == [("Acme", "Acme", 2)]  # narrowed by itself
    multi = shop.search("jacket", filter=chosen, facets=both, facets_multiselect=["brand"])
    assert multi["result"] == plain["result"] and multi["count"] == 2
    # brand counted with the price part only: 12.5, 20, 55 -> Acme 2, Cirrus 1
    assert units(multi["facets"]["brand"]) == [("Acme", "Acme", 2), ("Cirrus", "Cirrus", 1)]
    # price (not multiselect) counted with the whole filter
    assert ranges(multi["facets"]["price"]) == [
        ("20 - 29", 20, 29.99, 1),
        ("50 - 59", 50, 59.99, 1),
    ]
    both_multi = shop.search("jacket", filter=chosen, facets=both, facets_multiselect=both)
    assert ranges(both_multi["facets"]["price"]) == [
        ("20 - 29", 20, 29.99, 1),
        ("50 - 59", 50, 59.99, 1),
    ]
    several = "((price >= 0 and price <= 19.99) or (price >= 120 and price <= 139.99))"
    answer = shop.search("jacket", filter=several, facets=["price"], facets_multiselect=["price"])
    assert sorted(answer["result"]) == ["3", "5"]
    assert ranges(answer["facets"]["price"]) == ALL_PRICES


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"orderby": "price"}, ["5", "1", "2", "4", "3"]),
        ({"orderby": "price", "order": "desc"}, ["3", "4", "2", "1", "5"]),
        ({"orderby": "price", "order": "DESC"}, ["3", "4", "2", "1", "5"]),
        # products without the attribute after, in relevance order (name matches: by id)
        ({"orderby": "created_at"}, ["4", "1", "3", "2", "5"]),
        ({"orderby": "created_at", "order": "desc"}, ["3", "1", "4", "2", "5"]),
        ({"orderby": "colour"}, ["2", "5", "1", "3", "4"]),
        ({"orderby": "name", "order": "desc"}, ["2", "1", "4", "5", "3"]),
        ({"orderby": "nobody"}, ["1", "2", "3", "4", "5"]),  # relevance
        ({"orderby": "price", "filter": "price > 15"}, ["1", "2", "4", "3"]),
    ],
)
def test_orderby_orders_the_matches_by_an_attribute(shop: Shop, args, expected):
    assert shop.find("jacket", **args) == expected


def test_relevance_order_without_orderby(shop: Shop):
    # every name holds "jacket": one tier, then sales, views (none), then id
    assert shop.find("jacket") == ["1", "2", "3", "4", "5"]


def test_attributes_cut_product_data_to_the_fields_asked(shop: Shop, client, store):
    answer = shop.search("jacket", attributes=["name", "price", "nobody"], limit=2)
    assert answer["product_data"] == [
        {"id": "1", "name": "Rain Jacket", "price": 20.0},
        {"id": "2", "name": "Wool Jacket", "price": 55.0},
    ]
    # every list endpoint takes it
    popular = client.post(
        "/v2/recommendations/popular",
        json={"key": store.public_key, "attributes": ["brand"], "limit": 1},
    )
    assert popular.status_code == 200, popular.text
    assert all(set(p) <= {"id", "brand"} for p in popular.json()["product_data"])


def test_no_cache_answers_a_filtered_call_with_unfiltered_data(shop: Shop):
    for api in ("search", "predictive"):
        query = "jacket" if api == "search" else "jack"
        plain = shop.search(query, api=api, facets=["brand"])
        assert plain["count"] == 5 and len(plain["facets"]["brand"]) == 3
        narrowed = shop.search(query, api=api, facets=["brand"], filter='brand = "Cirrus"')
        assert narrowed["result"] == ["5"] and narrowed["count"] == 1
        assert units(narrowed["facets"]["brand"]) == [("Cirrus", "Cirrus", 1)]
        again = shop.search(query, api=api, facets=["brand"])
        assert again["count"] == 5 and again["facets"] == plain["facets"]
        # the same filter written otherwise: the same answer (keyed by its canonical text)
        other = shop.search(query, api=api, facets=["brand"], filter="brand='Cirrus'")
        assert other["facets"] == narrowed["facets"]


def test_facets_follow_changes_to_the_catalogue(shop: Shop):
    assert units(shop.search("jacket", facets=["colour"])["facets"]["colour"])[0] == (
        "red",
        "red",
        2,
    )
    shop.catalogue(item("8", "Red Jacket", 99, colour="red"))
    answer = shop.search("jacket", facets=["colour", "price"])
    assert units(answer["facets"]["colour"])[0] == ("red", "red", 3)
    assert sum(b["count"] for b in answer["facets"]["price"]) == 6


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"facets": "brand"}, "facets"),
        ({"facets": ["Brand"]}, "facets[0]"),
        ({"facets": [f"a{i}" for i in range(21)]}, "facets"),
        ({"facets": ["brand"], "facets_multiselect": ["price"]}, "facets_multiselect[0]"),
        ({"orderby": "price desc"}, "orderby"),
        ({"orderby": 5}, "orderby"),
        ({"orderby": "price", "order": "up"}, "order"),
        ({"attributes": ["name", "bad name"]}, "attributes[1]"),
        ({"attributes": "name"}, "attributes"),
        ({"filter": "price >"}, "filter"),
    ],
)
def test_a_bad_argument_is_a_400_naming_it_and_nothing_is_recorded(
    shop: Shop, client, services, args, field
):
    for api in ("search", "predictive"):
        body = {"key": shop.store.public_key, "query": "jacket", **args}
        answer = client.post(f"/v2/search/{api}", json=body)
        assert answer.status_code == 400, answer.text
        assert answer.json()["message"].startswith(f"{field}:")
    shop.search("lamp")  # a good query after them: once it is stored, nothing else was
    assert [r["query"] for r in wait_for(services, "searches", 1)] == ["lamp"]
    assert len([r for r in rows(services, "events") if r["kind"] == "render"]) <= 1


def test_a_search_page_content_passes_the_arguments_and_ands_the_filters(shop: Shop, client, store):
    saved = {
        "id": "search-page",
        "api": "search/search",
        "limit": 3,
        "arguments": {"filter": 'brand != "Cirrus"', "facets": ["brand", "price"]},
    }
    body = {"key": store.public_key, "private_key": store.private_key, "contents": [saved]}
    assert client.post("/v2/contents", json=body).status_code == 200

    def content(**args: Any) -> dict[str, Any]:
        body = {"key": store.public_key, "content": "search-page", "query": "jacket", **args}
        answer = client.post("/v2/content", json=body)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    answer = content()
    assert answer["count"] == 4 and len(answer["result"]) == 3
    assert units(answer["facets"]["brand"]) == [("Acme", "Acme", 2), ("Borealis", "Borealis", 2)]
    # the call's filter narrows the content's: both hold
    narrowed = content(filter="price >= 50", facets=["brand"], facets_multiselect=["brand"])
    assert sorted(narrowed["result"]) == ["2", "3", "4"] and narrowed["count"] == 3
    assert units(narrowed["facets"]["brand"]) == [("Borealis", "Borealis", 2), ("Acme", "Acme", 1)]
    assert content(filter='brand = "Cirrus"')["count"] == 0  # not widened to Cirrus
    ordered = content(orderby="price", order="desc", attributes=["price"], offset=1)
    assert ordered["product_data"] == [
        {"id": "4", "price": 75.0},
        {"id": "2", "price": 55.0},
        {"id": "1", "price": 20.0},
    ]
    bad = client.post(
        "/v2/content",
        json={
            "key": store.public_key,
            "content": "search-page",
            "query": "jacket",
            "filter": "x =",
        },
    )
    assert bad.status_code == 400 and bad.json()["message"].startswith("filter:")


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (
            12.5,
            130,
            [
                (0, 19.99),
                (20, 39.99),
                (40, 59.99),
                (60, 79.99),
                (80, 99.99),
                (100, 119.99),
                (120, 139.99),
            ],
        ),
        (20, 55, [(20, 29.99), (30, 39.99), (40, 49.99), (50, 59.99)]),
        (
            0,
            1000,
            [
                (0, 199.99),
                (200, 399.99),
                (400, 599.99),
                (600, 799.99),
                (800, 999.99),
                (1000, 1199.99),
            ],
        ),
        (
            10,
            25,
            [
                (10, 12.49),
                (12.5, 14.99),
                (15, 17.49),
                (17.5, 19.99),
                (20, 22.49),
                (22.5, 24.99),
                (25, 27.49),
            ],
        ),
        (50, 50, [(50, 59.99)]),  # one value: one bucket around it
        (0, 0, [(0, 0.198)]),
        (0.1, 0.9, [(0, 0.198), (0.2, 0.398), (0.4, 0.598), (0.6, 0.798), (0.8, 0.998)]),
        (
            -30,
            30,
            [
                (-30, -20.01),
                (-20, -10.01),
                (-10, -0.01),
                (0, 9.99),
                (10, 19.99),
                (20, 29.99),
                (30, 39.99),
            ],
        ),
    ],
)
def test_range_buckets_have_round_edges_and_hold_the_span(low, high, expected):
    found = [(float(a), float(b)) for a, b in buckets(low, high)]
    assert found == [(float(a), float(b)) for a, b in expected]
    assert found[0][0] <= low and found[-1][1] >= high
    assert 1 <= len(found) <= 9


def test_range_names_drop_the_cents_of_whole_buckets():
    assert range_name(Decimal(50), Decimal("74.99")) == "50 - 74"
    assert range_name(Decimal("0.5"), Decimal("0.995")) == "0.5 - 0.995"
