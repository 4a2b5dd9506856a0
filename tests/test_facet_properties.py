"""Property test of facets: over random small catalogues, filters and facet choices, the
counts search_page gives (counted over the store's columns, loaded from product_values)
are those of a plain Python count over the products (filters.values_of and
filters.evaluate), and so are `count`, the page and its order (`orderby`).

Derandomized and bounded, as tests/test_filter_properties.py."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector import fields, filters
from collector.filters import Expr
from collector.services import Services
from collector.storage.catalogue import list_products, upsert_products
from collector.storage.schema import VALUE_INDEXED
from collector.storage.search import Narrowing, Order, search_page
from collector.storage.search.facets import UNIT_ATTRIBUTES, buckets, shaped_range

from .factories import make_store
from .test_filter_properties import PROPERTIES, catalogues, exprs

FACETS = ["brand", "price", "categories", "stock", "colour", "size", "flag", "tags", "rating"]


def _in_stock(item: dict[str, Any]) -> bool:
    return item.get("stock") is None or item["stock"] > 0


def expected_facets(
    listed: list[dict[str, Any]], expr: Expr | None, names: list[str], multiselect: list[str]
) -> dict[str, list[dict[str, Any]]]:
    values = {p["id"]: filters.values_of(p) for p in listed}
    answer: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        held = [v for vs in values.values() for v in vs.get(name, [])]
        numeric = bool(held) and name not in UNIT_ATTRIBUTES
        numeric = numeric and all(v.number is not None for v in held)
        own = filters.without(expr, name) if expr is not None and name in multiselect else expr
        matched = [
            values[p["id"]]
            for p in listed
            if _in_stock(p) and (own is None or filters.evaluate(own, values[p["id"]]))
        ]
        if numeric:
            numbers = [v.number for vs in matched for v in vs.get(name, []) if v.number is not None]
            facet = []
            if numbers:
                for low, high in buckets(min(numbers), max(numbers)):
                    n = sum(
                        any(float(low) <= v.number <= float(high) for v in vs.get(name, []))  # type: ignore[operator]
                        for vs in matched
                    )
                    if n:
                        facet.append(shaped_range(low, high, n))
            answer[name] = facet
            continue
        counted = Counter(v.text for vs in matched for v in vs.get(name, []))
        units = sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))[:50]
        answer[name] = [{"type": "unit", "name": t, "value": t, "count": n} for t, n in units]
    return answer


ORDERS = [*FACETS, "name", "id", "nobody"]


def expected_order(
    listed: list[dict[str, Any]], matched: list[str], order: Order | None
) -> list[str]:
    """Relevance ("lamp" is in every name: by id), then by the attribute's first value,
    numbers (by number, then text) before texts, those without it after."""
    ids = sorted(matched)
    if order is None:
        return ids
    first = {p["id"]: filters.values_of(p).get(order.attribute, [None])[0] for p in listed}
    numbers = [i for i in ids if first[i] is not None and first[i].number is not None]
    texts = [i for i in ids if first[i] is not None and first[i].number is None]
    numbers.sort(
        key=lambda i: (first[i].number, first[i].text[:VALUE_INDEXED]), reverse=order.descending
    )
    texts.sort(key=lambda i: first[i].text[:VALUE_INDEXED], reverse=order.descending)
    return numbers + texts + [i for i in ids if first[i] is None]


@settings(PROPERTIES, max_examples=60)
@given(
    catalogue=catalogues,
    expr=st.one_of(st.none(), exprs),
    names=st.lists(st.sampled_from(FACETS), min_size=1, max_size=4, unique=True),
    data=st.data(),
)
def test_facet_counts_are_a_python_count_of_the_filtered_matches(
    services: Services,
    catalogue: tuple[dict[str, Any], ...],
    expr: Expr | None,
    names: list[str],
    data: st.DataObject,
):
    store = make_store(services, "Shop")  # a store of its own for each example
    items = [
        fields.product("products", {**item, "name": f"Lamp {item['id']}"}, False)
        for item in catalogue
    ]
    services.storage.run(upsert_products, store_id=store.id, items=items, now=0)
    listed, _ = services.storage.run(list_products, store_id=store.id, limit=100, offset=0)
    multiselect = data.draw(st.lists(st.sampled_from(names), unique=True))
    order = data.draw(
        st.one_of(st.none(), st.builds(Order, st.sampled_from(ORDERS), st.booleans()))
    )
    if expr is not None:
        expr = filters.parse(filters.canonical(expr))  # as a call would give it
    narrowing = Narrowing(expr, order, tuple(names), tuple(multiselect))
    found = services.storage.run(
        search_page, store_id=store.id, query="lamp", prefix=False, limit=100, narrowing=narrowing
    )
    shown = "" if expr is None else filters.canonical(expr)
    matched = [
        p["id"]
        for p in listed
        if _in_stock(p) and (expr is None or filters.evaluate(expr, filters.values_of(p)))
    ]
    assert found.ids == expected_order(listed, matched, order), shown
    assert found.count == len(matched), shown
    assert found.facets == expected_facets(listed, expr, names, multiselect), shown
