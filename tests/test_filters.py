"""Clerk's filter language (collector/filters.py) and its SQL (storage/attributes.py) on
both engines: every operator, precedence, quotes, lists, booleans, numbers, custom
attributes, errors with positions, the filter on recommendation endpoints, migration 16."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient

from collector import fields, filters
from collector.filters import And, Compare, Contains, FilterError, In, Or
from collector.services import Services
from collector.storage import attributes
from collector.storage.catalogue import list_products, upsert_products
from collector.storage.schema import products

from .factories import StoreKeys, make_store, product, rows
from .test_migrations import defined_indexes, indexes

CATALOGUE = [
    product(
        1,
        name="Red Mug",
        price=12.5,
        brand="Acme",
        categories=[12, 14],
        stock=3,
        colour="red",
        size=["S", "M"],
        organic=True,
        rating=4.5,
        code="007",
    ),
    product(
        2,
        name="Blue Mug",
        price=8.0,
        list_price=10.0,
        brand="Acme",
        categories=[12],
        stock=0,
        colour="blue",
        size=["M", "L"],
        organic=False,
        rating=3,
    ),
    product(
        3,
        name="Lamp",
        price=99.0,
        brand="Lumen",
        categories=["14", "Lighting"],
        colour="Red",
        size=[],
        tags=["it's", 'say "hi"', "back\\slash"],
        lines="one\ttwo\nthree",
        rating=-1.25,
    ),
    product(
        4,
        name="Gift card",
        price=25.0,
        categories=[],
        note="x" * 300,
        weight=None,
        memo=["y" * 200, "y" * 201],
    ),
]
ALL = {"1", "2", "3", "4"}


def valid(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Products as the products API hands them to the catalogue (categories as text)."""
    return [fields.product("products", item, False) for item in items]


@pytest.fixture
def shop(services: Services, store: StoreKeys) -> StoreKeys:
    services.storage.run(upsert_products, store_id=store.id, items=valid(CATALOGUE), now=0)
    return store


def found(services: Services, store: StoreKeys, source: str) -> set[str]:
    """The ids the SQL selects; checked against the Python evaluation too."""
    expr = filters.parse(source)
    in_sql = services.storage.run(attributes.matching_ids, store_id=store.id, expr=expr)
    assert services.storage.run(checked_ids, store_id=store.id, expr=expr) == in_sql, source
    listed, _ = services.storage.run(list_products, store_id=store.id, limit=100, offset=0)
    in_python = {p["id"] for p in listed if filters.evaluate(expr, filters.values_of(p))}
    assert in_sql == in_python, source
    return in_sql


def checked_ids(conn: Any, *, store_id: int, expr: filters.Expr) -> set[str]:
    """The ids attributes.condition keeps of the store's products (per row, not a set)."""
    where = [products.c.store_id == store_id, attributes.condition(expr, store_id, products.c.id)]
    return set(conn.scalars(select(products.c.id).where(*where)).all())


CASES = [
    # equality on text, numbers, booleans
    ('brand = "Acme"', {"1", "2"}),
    ("brand = 'Lumen'", {"3"}),
    ('brand = "acme"', set()),  # case-sensitive
    ("price = 12.5", {"1"}),
    ("price = 8", {"2"}),  # 8.0 stored, 8 asked
    ("rating = -1.25", {"3"}),
    ("organic = true", {"1"}),
    ("organic = FALSE", {"2"}),
    ("id = 3", {"3"}),
    ('id = "3"', {"3"}),
    ('code = "007"', {"1"}),
    ("code = 7", {"1"}),  # a decimal string has a number
    # inequality: only products that have the attribute
    ('brand != "Acme"', {"3"}),
    ("organic != true", {"2"}),
    ('size != "M"', set()),  # 1 and 2 hold M; 3 has no size (an empty list)
    ('size != "L"', {"1"}),
    # orderings: numbers only
    ("price > 12.5", {"3", "4"}),
    ("price >= 12.5", {"1", "3", "4"}),
    ("price < 12.5", {"2"}),
    ("price <= 12.5", {"1", "2"}),
    ("list_price > 0", {"2"}),
    ("rating > -2", {"1", "2", "3"}),
    ("stock > 0", {"1"}),
    ("stock <= 0", {"2"}),
    ("price > 1e1", {"1", "3", "4"}),
    # lists: categories given as integers or strings
    ("categories = 12", {"1", "2"}),
    ('categories = "12"', {"1", "2"}),
    ("categories in [14]", {"1", "3"}),
    ('categories in [12, "Lighting"]', {"1", "2", "3"}),
    ("categories not in [12]", {"3"}),  # 4 has no categories: satisfies nothing
    ("categories in []", set()),
    ("categories not in []", {"1", "2", "3"}),
    ('size in ["S", "L"]', {"1", "2"}),
    ('size not in ["S"]', {"2"}),
    # contains: case-sensitive substring of the text; a number is equality
    ('name contains "Mug"', {"1", "2"}),
    ('name contains "mug"', set()),
    ('colour contains "ed"', {"1", "3"}),
    ('name contains "%"', set()),  # no wildcards
    ('name contains "_"', set()),
    ("categories contains 14", {"1", "3"}),
    ('tags contains "\'"', {"3"}),
    ('note contains "xxx"', {"4"}),
    ('name contains ""', ALL),
    # quotes and escapes
    ("tags = 'it\\'s'", {"3"}),
    ('tags = "it\'s"', {"3"}),
    ('tags = "say \\"hi\\""', {"3"}),
    ("tags = 'say \"hi\"'", {"3"}),
    ('tags = "back\\\\slash"', {"3"}),
    ('tags = "\\u0073ay \\"hi\\""', {"3"}),
    ('lines = "one\\ttwo\\nthree"', {"3"}),
    ("lines = 'one\\u0009two\\u000athree'", {"3"}),
    # long text: past what the index holds, matched whole
    (f'note = "{"x" * 300}"', {"4"}),
    (f'note = "{"x" * 299}"', set()),
    (f'note = "{"x" * 200}"', set()),
    (f'note in ["{"x" * 300}", "y"]', {"4"}),
    (f'memo = "{"y" * 200}"', {"4"}),  # exactly what the index holds
    (f'memo = "{"y" * 201}"', {"4"}),
    (f'memo = "{"y" * 199}"', set()),
    (f'memo in ["{"y" * 199}", "{"y" * 202}"]', set()),
    (f'memo in ["{"y" * 199}", "{"y" * 200}"]', {"4"}),
    (f'memo not in ["{"y" * 200}"]', set()),
    (f'memo contains "{"y" * 201}"', {"4"}),
    # precedence and parentheses
    ('brand = "Acme" and price > 10 or brand = "Lumen"', {"1", "3"}),
    ('brand = "Lumen" or brand = "Acme" and price > 10', {"1", "3"}),
    ('brand = "Acme" and (price > 10 or colour = "blue")', {"1", "2"}),
    ('(brand = "Acme" or brand = "Lumen") and stock > 0', {"1"}),
    ('((colour = "red")) AND organic = true Or price = 25', {"1", "4"}),
    ('not_there = 1 or brand = "Lumen"', {"3"}),
    ('brand != "Acme" and colour != "Red"', set()),
    # attributes no product has (and null values) match nothing, != and not in included
    ("missing = 1", set()),
    ("missing != 1", set()),
    ("missing not in [1]", set()),
    ("weight = 0", set()),
    ("description contains 'Mug'", set()),  # not filterable
    ("Brand = 'Acme'", set()),  # names are case-sensitive
]


def test_each_filter_selects_the_products_it_means(services: Services, shop: StoreKeys):
    """The table above, on one catalogue per engine (one database, not one per case)."""
    wrong = {}
    for source, expected in CASES:
        got = found(services, shop, source)
        if got != expected:
            wrong[source[:80]] = (sorted(got), sorted(expected))
    assert wrong == {}


def test_another_store_s_products_never_match(services: Services, shop: StoreKeys):
    other = make_store(services, "Other shop")
    services.storage.run(upsert_products, store_id=other.id, items=valid(CATALOGUE[:1]), now=0)
    assert found(services, other, 'brand = "Acme"') == {"1"}
    assert found(services, shop, 'brand = "Acme"') == {"1", "2"}


def test_values_follow_the_catalogue_updates_and_deletes(services: Services, shop: StoreKeys):
    changed = {**CATALOGUE[0], "colour": "green", "size": ["XL"]}
    del changed["organic"]
    services.storage.run(upsert_products, store_id=shop.id, items=valid([changed]), now=1)
    assert found(services, shop, 'colour = "green"') == {"1"}
    assert found(services, shop, 'colour = "red"') == set()
    assert found(services, shop, "organic = true") == set()
    assert found(services, shop, 'size = "XL"') == {"1"}
    from collector.storage.catalogue import delete_products

    services.storage.run(delete_products, store_id=shop.id, ids=["1", "3"])
    assert found(services, shop, 'categories in [12, 14, "Lighting"]') == {"2"}
    assert {r["product_id"] for r in rows(services, "product_values")} == {"2", "4"}


def test_parse_builds_the_tree_with_and_binding_tighter():
    expr = filters.parse("a = 1 or b in ['x', 2] and not_ != true or c contains 'y'")
    assert expr == Or(
        (
            Compare("a", "=", 1.0),
            And((In("b", ("x", 2.0)), Compare("not_", "!=", True))),
            Contains("c", "y"),
        )
    )
    assert filters.parse("a NOT IN [ ]") == In("a", (), negated=True)
    assert filters.parse("x.y >= -0.5") == Compare("x.y", ">=", -0.5)


@pytest.mark.parametrize(
    "source",
    [
        'brand = "Acme" and (price > 10 or colour = "blue")',
        "a = 'it\\'s' OR b IN [1, 2.50, true, \"\\n\"] and c not in []",
        "(a = 1 or b = 2) and (c = 3 or d contains 'x')",
    ],
)
def test_canonical_text_parses_back_to_the_same_filter(source: str):
    expr = filters.parse(source)
    again = filters.parse(filters.canonical(expr))
    assert again == expr and filters.canonical(again) == filters.canonical(expr)


def test_canonical_is_the_same_for_the_same_filter_written_differently():
    one = filters.parse("brand='Acme'   AND(price>10.0 OR price<2)")
    other = filters.parse('brand = "Acme" and (price > 10 or price < 2)')
    assert filters.canonical(one) == filters.canonical(other)
    assert filters.canonical(one) == 'brand = "Acme" and (price > 10 or price < 2)'


def test_without_leaves_out_a_facet_s_own_selection():
    expr = filters.parse('brand in ["A", "B"] and price > 5 and (brand = "C" or colour = "x")')
    rest = filters.without(expr, "brand")
    assert rest is not None
    assert filters.canonical(rest) == 'price > 5 and (brand = "C" or colour = "x")'
    assert filters.without(filters.parse('brand = "A"'), "brand") is None
    assert filters.without(filters.parse('brand = "A"'), "price") == Compare("brand", "=", "A")
    assert filters.attributes_of(expr) == {"brand", "price", "colour"}


def test_values_of_follows_the_model():
    values = filters.values_of(
        {"id": "7", "price": 12.0, "flag": True, "tags": ["a", "a", "12.50", None], "none": []}
    )
    assert values == {
        "id": [filters.Value("7", 7.0)],
        "price": [filters.Value("12", 12.0)],
        "flag": [filters.Value("true", None)],
        "tags": [filters.Value("a", None), filters.Value("12.50", 12.5)],
    }


BAD = [
    ("brand = ", 8, "a value"),
    ('price > "x"', 8, "a number after >"),
    ("price > true", 8, "a number after >"),
    ("(a = 1", 6, "')'"),
    ("a = 1 b = 2", 6, "'and', 'or' or the end"),
    ("a in [1,]", 8, "a value"),
    ("a in [1 2]", 8, "',' or ']'"),
    ("a in 1", 5, "'['"),
    ("a not [1]", 6, "'in'"),
    ('"x" = 1', 0, "an attribute name"),
    ("a = 'open", 9, "' to close the string"),
    ("a = 'bad \\q'", 9, "an escape"),
    ("a = 'nul \\u0000'", 9, "a character other than a control"),
    ("a = 'nul \x00'", 9, "a character other than a control"),
    ("a = 'half \\ud800'", 10, "a character other than a control"),
    ("a = 'bell \\b'", 10, "an escape"),
    ("a = \x00", 4, "an attribute, operator"),
    ("a == 1", 3, "a value"),
    ("a = 1 and", 9, "an attribute name"),
    ("a = 1 or or b = 2", 9, "an attribute name"),
    ("a ~ 1", 2, "an attribute, operator"),
    ("a = 1e999", 4, "a finite number"),
    ("a = 1and b = 2", 5, "a space or an operator"),
    ("a", 1, "an operator"),
    ("()", 1, "an attribute name"),
    ("(" * 17 + "a = 1" + ")" * 17, 16, "at most 16 nested parentheses"),
    (" or ".join(["a = 1"] * 65), 64 * 9, "at most 64 comparisons"),
    ("a in [" + ",".join(["1"] * 201) + "]", 6 + 200 * 2, "at most 200 values"),
]


@pytest.mark.parametrize("source,position,expected", BAD, ids=[b[0][:40] for b in BAD])
def test_a_filter_that_does_not_parse_says_where_and_what_was_expected(
    source: str, position: int, expected: str
):
    with pytest.raises(FilterError) as caught:
        filters.parse(source)
    assert caught.value.position == position
    assert caught.value.expected.startswith(expected)
    assert str(caught.value).startswith(f"at position {position}: expected {expected}")


def post(client: TestClient, store: StoreKeys, api: str, **args: Any) -> Any:
    return client.post(f"/v2/{api}", json={"key": store.public_key, **args})


LISTS = [
    ("recommendations/popular", {}),
    ("recommendations/trending", {}),
    ("recommendations/new", {}),
    ("recommendations/complementary", {"products": ["1"]}),
    ("recommendations/substituting", {"products": ["1"]}),
    ("recommendations/category/popular", {"category": "12"}),
    ("recommendations/visitor/history", {"visitor": "v1"}),
    ("recommendations/visitor/complementary", {"visitor": "v1"}),
    ("search/search", {"query": "mug"}),
    ("search/predictive", {"query": "mug"}),
]


def test_every_list_endpoint_answers_400_naming_filter_and_stores_nothing(
    services: Services, client: TestClient, shop: StoreKeys
):
    wrong = {}
    for api, args in LISTS:
        for source, position, expected in BAD[:6]:
            answer = post(client, shop, api, filter=source, **args)
            message = answer.json()["message"] if answer.status_code == 400 else answer.text
            start = f"filter: does not parse at position {position}: expected {expected}"
            if not message.startswith(start):
                wrong[f"{api} {source}"] = message
    assert wrong == {}
    assert rows(services, "events") == [] and rows(services, "searches") == []


def test_filter_must_be_a_string_of_bounded_length(client: TestClient, shop: StoreKeys):
    for bad, problem in [
        (5, "must be a filter (a string), not"),
        (["a = 1"], "must be a filter (a string), not"),
        ("a = 1 " * 400, "is 2400 characters long; the limit is 2000"),
        ('a = "\\u0000"', "does not parse at position 5: expected a character other"),
    ]:
        answer = post(client, shop, "recommendations/popular", filter=bad)
        assert answer.status_code == 400
        assert answer.json()["message"].startswith(f"filter: {problem}")
    for empty in ("", "   ", None):
        answer = post(client, shop, "recommendations/new", filter=empty)
        assert answer.status_code == 200 and answer.json()["result"] == ["1", "3", "4"]


def shop_history(client: TestClient, store: StoreKeys) -> None:
    for pid in ("1", "3", "4", "3"):
        answer = post(client, store, "log/product", visitor="v1", product=pid)
        assert answer.status_code == 200
    answer = post(client, store, "log/sale", visitor="v2", sale="S1", products=["1", "3", "4"])
    assert answer.status_code == 200


RECOMMENDED = [
    ("recommendations/popular", {}, 'brand = "Lumen"', ["3"]),
    ("recommendations/popular", {}, "price < 50", ["1", "4"]),
    ("recommendations/popular", {}, "categories in [14]", ["3", "1"]),
    ("recommendations/new", {}, "categories = 12", ["1"]),
    ("recommendations/trending", {}, "price > 20", ["3", "4"]),
    ("recommendations/complementary", {"products": ["1"]}, "price > 20", ["3", "4"]),
    ("recommendations/complementary", {"products": ["1"]}, "missing = 1", []),
    ("recommendations/category/popular", {"category": "14"}, 'colour = "Red"', ["3"]),
    ("recommendations/visitor/history", {"visitor": "v1"}, "price < 50", ["4", "1"]),
    ("recommendations/visitor/history", {"visitor": "v1"}, "price > 500", []),
]
# With two products alike in price to product 1 (substitutes).
ALIKE = [
    product(5, price=14.0, categories=[14], colour="red"),
    product(6, price=12.0, categories=[14, 12], colour="blue"),
]
RECOMMENDED_ALIKE = [
    ("recommendations/substituting", {"products": ["1"]}, "colour = 'red'", ["5"]),
    ("recommendations/substituting", {"products": ["1"]}, "categories = 14", ["6", "5"]),
    ("recommendations/visitor/complementary", {"visitor": "v3"}, "colour = 'red'", ["5"]),
    ("recommendations/visitor/complementary", {"visitor": "v3"}, "missing != 1", []),
]


@pytest.mark.parametrize("alike", [False, True])
def test_recommendations_answer_only_products_the_filter_keeps(
    services: Services, client: TestClient, shop: StoreKeys, alike: bool
):
    if alike:
        services.storage.run(upsert_products, store_id=shop.id, items=valid(ALIKE), now=0)
        post(client, shop, "log/product", visitor="v3", product="1")  # substitutes: 5, 6
    shop_history(client, shop)
    wrong = {}
    for api, args, source, expected in RECOMMENDED_ALIKE if alike else RECOMMENDED:
        unfiltered = post(client, shop, api, **args)
        assert unfiltered.status_code == 200
        answer = post(client, shop, api, filter=source, **args)
        assert answer.status_code == 200, answer.text
        # the answer without the filter, less what the filter leaves out
        kept = [pid for pid in unfiltered.json()["result"] if pid in expected]
        if answer.json()["result"] != expected or kept != expected[: len(kept)]:
            wrong[f"{api} {source}"] = (answer.json()["result"], unfiltered.json()["result"])
    assert wrong == {}


def test_a_filter_reads_deeper_into_a_long_ranking(
    services: Services, client: TestClient, store: StoreKeys
):
    items = [
        product(n, created_at=n, colour="rare" if n % 97 == 0 else "plain") for n in range(400)
    ]
    services.storage.run(upsert_products, store_id=store.id, items=valid(items), now=0)
    for n in range(400):
        post(client, store, "log/product", visitor=f"v{n}", product=str(n))
    answer = post(client, store, "recommendations/popular", limit=3, filter='colour = "rare"')
    assert answer.status_code == 200
    assert answer.json()["result"] == ["0", "194", "291"]  # ties by id (as text)
    answer = post(client, store, "recommendations/new", limit=5, filter='colour = "rare"')
    assert answer.json()["result"] == ["388", "291", "194", "97", "0"]


def test_a_content_takes_a_filter_in_its_arguments(client: TestClient, shop: StoreKeys):
    keys = {"key": shop.public_key, "private_key": shop.private_key}
    content = {
        "id": "lamps",
        "api": "recommendations/new",
        "arguments": {"filter": "brand='Lumen'  OR colour = 'blue'"},
    }
    answer = client.post("/v2/contents", json={**keys, "contents": [content]})
    assert answer.status_code == 200, answer.text
    listed = client.request("GET", "/v2/contents", json=keys).json()
    stored = [c for c in listed["contents"] if c["id"] == "lamps"][0]
    assert stored["arguments"] == {"filter": 'brand = "Lumen" or colour = "blue"'}
    answer = post(client, shop, "content", content="lamps")
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == ["3"]  # 2 is out of stock
    answer = post(client, shop, "content", content="lamps", filter="price > 1000")
    assert answer.json()["result"] == []
    bad = {**content, "arguments": {"filter": "brand = "}}
    answer = client.post("/v2/contents", json={**keys, "contents": [bad]})
    assert answer.status_code == 400
    assert "arguments.filter: does not parse at position 8" in answer.json()["message"]


def test_upgrading_from_15_keeps_products_filterable(services: Services, shop: StoreKeys):
    written = sorted(rows(services, "product_values"), key=str)
    assert len(written) > 20
    engine = services.storage.engine
    with engine.begin() as conn:  # back to version 15: no product_values
        conn.execute(text("DROP TABLE product_values"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 16"))
    assert services.storage.migrate() == [16]
    assert indexes(engine, "product_values") == defined_indexes("product_values")
    assert sorted(rows(services, "product_values"), key=str) == written
    assert found(services, shop, 'categories in [14] and colour = "Red"') == {"3"}
    assert services.storage.migrate() == []


def test_the_largest_filters_allowed_run_on_both_engines(services: Services, shop: StoreKeys):
    """As deep as the parser lets a filter nest (alternating and/or, with != at the
    bottom) and as many comparisons as it takes: SQLite's parser stack holds them."""
    deep = 'colour != "blue"'
    for level in range(filters.DEPTH_MAX):
        deep = f"(price > {level} {'and' if level % 2 else 'or'} {deep})"
    assert found(services, shop, deep) == {"3", "4"}  # 1 fails the outermost price > 15
    wide = " or ".join(f"rating != {n}" for n in range(filters.COMPARISONS_MAX))
    assert found(services, shop, wide) == {"1", "2", "3"}
    pairs = filters.COMPARISONS_MAX // 2
    mixed = " and ".join(f"(code != {n} or size not in ['S', 'M'])" for n in range(pairs))
    assert found(services, shop, mixed) == set()
    longest = "categories in [" + ", ".join(["14"] * filters.LIST_MAX) + "]"
    assert found(services, shop, longest) == {"1", "3"}


def test_an_unchanged_product_is_not_rewritten_and_a_changed_value_is_a_new_version(
    services: Services, shop: StoreKeys
):
    from collector.storage.schema import search_catalogue

    def version() -> int:
        with services.storage.engine.connect() as conn:
            query = search_catalogue.select().where(search_catalogue.c.store_id == shop.id)
            return int(conn.execute(query).one().version)

    same = valid(CATALOGUE)
    before = version()
    changed = services.storage.run(attributes.write_values, store_id=shop.id, items=same)
    assert changed == []
    services.storage.run(upsert_products, store_id=shop.id, items=same, now=1)
    assert version() == before
    recoloured = valid([{**CATALOGUE[2], "colour": "Green"}])
    services.storage.run(upsert_products, store_id=shop.id, items=recoloured, now=2)
    assert version() == before + 1  # only a custom attribute changed: cached answers go
    assert found(services, shop, 'colour = "Green"') == {"3"}


def test_condition_applies_within_a_query_over_product_values_itself(
    services: Services, shop: StoreKeys
):
    """As facets count values: product_values read by the outer query and by the filter."""
    from sqlalchemy import func

    from collector.storage.schema import product_values as pv

    expr = filters.parse('brand = "Acme" and colour != "blue"')
    query = (
        select(pv.c.value, func.count())
        .where(
            pv.c.store_id == shop.id,
            pv.c.attribute == "size",
            attributes.condition(expr, shop.id, pv.c.product_id),
        )
        .group_by(pv.c.value)
        .order_by(pv.c.value)
    )
    with services.storage.engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(query)] == [("M", 1), ("S", 1)]
