"""Property tests of the filter language: over random catalogues and random filters, the
SQL (storage/attributes.matching and .condition, on SQLite and PostgreSQL) and the
search's in-memory columns (storage/search/columns.py and narrowed.narrow, loaded from
product_values on either engine) select exactly the products that the Python evaluation
(filters.evaluate) keeps; canonical
text parses back to the same filter; any text either parses or fails with a FilterError.

Derandomized (the same examples on every run, as CI needs) and bounded: a few seconds
per engine."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector import fields, filters
from collector.filters import And, Compare, Contains, Expr, In, Or
from collector.services import Services
from collector.storage import attributes
from collector.storage.catalogue import list_products, upsert_products
from collector.storage.search import narrowed, query
from collector.storage.search.columns import columns_for

from .factories import make_store, product
from .test_filters import checked_ids

PROPERTIES = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Few values, so that filters and catalogues meet often: texts that look like numbers
# and booleans, case and substrings, one past what the index holds.
TEXTS = [
    "a",
    "b",
    "ab",
    "A",
    "12",
    "1.5",
    "-0",
    "true",
    "",
    "it's",
    'q"',
    "x" * 199,
    "x" * 200,
    "x" * 201,
]
NUMBERS = [-1.0, 0.0, 1.0, 1.5, 2.0, 12.0, 1e20]
scalars = st.one_of(
    st.sampled_from(TEXTS),
    st.sampled_from(NUMBERS),
    st.sampled_from([0, 1, 2, 12]),
    st.booleans(),
)
CUSTOM = ["colour", "size", "flag", "tags", "rating"]
ALL_NAMES = [*CUSTOM, "brand", "price", "categories", "stock", "id", "nobody"]
literals = st.one_of(st.sampled_from(TEXTS), st.sampled_from(NUMBERS), st.booleans())


@st.composite
def products(draw: st.DrawFn, n: int) -> dict[str, Any]:
    item = product(
        n,
        price=draw(st.sampled_from([0.0, 1.0, 1.5, 2.0, 12.0])),
        categories=draw(st.lists(st.sampled_from(["1", "2", "12", "a"]), max_size=3)),
    )
    if draw(st.booleans()):
        item["brand"] = draw(st.sampled_from(TEXTS[:8]))
    if draw(st.booleans()):
        item["stock"] = draw(st.sampled_from([-1, 0, 1, 12]))
    for name in CUSTOM:
        if draw(st.booleans()):
            item[name] = draw(st.one_of(scalars, st.none(), st.lists(scalars, max_size=3)))
    return item


catalogues = st.integers(0, 8).flatmap(lambda n: st.tuples(*(products(i) for i in range(1, n + 1))))

names = st.sampled_from([*ALL_NAMES, "price", "rating", "size"])  # more numbers
comparisons = st.one_of(
    st.builds(Compare, names, st.sampled_from(["=", "!="]), literals),
    st.builds(Compare, names, st.sampled_from(filters.ORDERING), st.sampled_from(NUMBERS)),
    st.builds(In, names, st.lists(literals, max_size=4).map(tuple), st.booleans()),
    st.builds(Contains, names, st.one_of(st.sampled_from(["", "a", "b", "2", "'"]), literals)),
)


def _group(kind: type[And] | type[Or]) -> Any:
    def build(parts: list[Expr]) -> Expr:
        flat: list[Expr] = []
        for part in parts:
            flat += part.parts if isinstance(part, kind) else [part]
        return kind(tuple(flat))

    return build


exprs: st.SearchStrategy[Expr] = st.recursive(
    comparisons,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(_group(And)),
        st.lists(inner, min_size=2, max_size=3).map(_group(Or)),
    ),
    max_leaves=8,
)


@PROPERTIES
@given(catalogue=catalogues, cases=st.lists(exprs, min_size=1, max_size=6))
def test_sql_selects_what_the_python_evaluation_keeps(
    services: Services, catalogue: tuple[dict[str, Any], ...], cases: list[Expr]
):
    store = make_store(services, "Shop")  # a store of its own for each example
    items = [fields.product("products", item, False) for item in catalogue]
    services.storage.run(upsert_products, store_id=store.id, items=items, now=0)
    listed, _ = services.storage.run(list_products, store_id=store.id, limit=100, offset=0)
    for expr in cases:
        expr = filters.parse(filters.canonical(expr))  # as a call would give it
        in_sql = services.storage.run(attributes.matching_ids, store_id=store.id, expr=expr)
        per_row = services.storage.run(checked_ids, store_id=store.id, expr=expr)
        in_columns = services.storage.run(column_ids, store_id=store.id, expr=expr)
        expected = {p["id"] for p in listed if filters.evaluate(expr, filters.values_of(p))}
        assert in_sql == expected, filters.canonical(expr)
        assert per_row == expected, filters.canonical(expr)
        assert in_columns == expected, filters.canonical(expr)


def column_ids(conn: Any, *, store_id: int, expr: Expr) -> set[str]:
    """The ids narrowed.narrow keeps of all the store's products, over its columns."""
    version = query._state(conn, store_id).version
    columns = columns_for(conn, store_id, version)
    every = list(range(len(columns.ids)))
    return {columns.ids[p] for p in narrowed.narrow(conn, columns, every, expr)}


@settings(derandomize=True, database=None, max_examples=300)
@given(exprs)
def test_canonical_text_parses_back_to_the_same_filter(expr: Expr):
    text = filters.canonical(expr)
    again = filters.parse(text)
    assert filters.canonical(again) == text
    assert filters.attributes_of(again) == filters.attributes_of(expr)


PIECES = [
    "a",
    "b.c",
    "=",
    "!=",
    ">",
    ">=",
    "<=",
    "<",
    " ",
    "(",
    ")",
    "[",
    "]",
    ",",
    "'x'",
    '"y\\"',
    "\\",
    "1",
    "-2.5e3",
    "and",
    "OR",
    "not",
    "in",
    "contains",
    "true",
    "é",
    "\t",
]


@settings(derandomize=True, database=None, max_examples=500)
@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
def test_any_text_parses_or_says_where_it_does_not(source: str):
    try:
        expr = filters.parse(source)
    except filters.FilterError as exc:
        assert 0 <= exc.position <= len(source)
        assert str(exc).startswith(f"at position {exc.position}: expected ")
    else:
        assert filters.parse(filters.canonical(expr)) is not None
