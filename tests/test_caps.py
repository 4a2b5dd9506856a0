"""Size caps (collector/caps.py): the value at a cap is taken, one past it is a 400 naming
the field, and nothing of the refused call is stored; the import refuses the same."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from collector import caps, importer
from collector.storage.schema import metadata

from .factories import StoreKeys, count, product

Body = Callable[[int], dict[str, Any]]


def labels(n: int) -> list[str]:
    return [f"Label {i}" for i in range(n)]


def label_of(length: int) -> list[str]:
    return ["Home", "é" * length]


def ids(n: int) -> list[str]:
    return [str(i) for i in range(n)]


def lines(n: int) -> list[dict[str, Any]]:
    return [{"id": str(i), "quantity": 1, "price": 1.0} for i in range(n)]


def line(**fields: Any) -> list[dict[str, Any]]:
    return [{"id": "1", "quantity": 1, "price": 1.0, **fields}]


CLICK = {"product": "1", "api": "recommendations/popular"}
SALE = {"sale": "S1"}

# (endpoint, field named in the error, the cap, the body with the capped value set to n,
#  the message past the cap)
CASES: list[tuple[str, str, int, Body, str]] = [
    (
        "log/click",
        "labels",
        caps.LABELS_MAX,
        lambda n: {**CLICK, "labels": labels(n)},
        "labels: has {past} items; the limit is {cap}",
    ),
    (
        "log/click",
        "labels[1]",
        caps.LABEL_LENGTH_MAX,
        lambda n: {**CLICK, "labels": label_of(n)},
        "labels[1]: is {past} characters long; the limit is {cap}",
    ),
    (
        "log/click",
        "api",
        caps.API_LENGTH_MAX,
        lambda n: {**CLICK, "api": "a" * n},
        "api: is {past} characters long; the limit is {cap}",
    ),
    (
        "recommendations/popular",
        "labels",
        caps.LABELS_MAX,
        lambda n: {"labels": labels(n)},
        "labels: has {past} items; the limit is {cap}",
    ),
    (
        "search/predictive",
        "labels[1]",
        caps.LABEL_LENGTH_MAX,
        lambda n: {"query": "mug", "labels": label_of(n)},
        "labels[1]: is {past} characters long; the limit is {cap}",
    ),
    (
        "recommendations/popular",
        "exclude",
        caps.EXCLUDE_MAX,
        lambda n: {"exclude": ids(n)},
        "exclude: has {past} items; the limit is {cap}",
    ),
    (
        "search/search",
        "exclude",
        caps.EXCLUDE_MAX,
        lambda n: {"query": "mug", "exclude": ids(n)},
        "exclude: has {past} items; the limit is {cap}",
    ),
    (
        "recommendations/complementary",
        "products",
        caps.SEED_PRODUCTS_MAX,
        lambda n: {"products": ids(n)},
        "products: has {past} items; the limit is {cap}",
    ),
    (
        "recommendations/substituting",
        "products",
        caps.SEED_PRODUCTS_MAX,
        lambda n: {"products": ids(n)},
        "products: has {past} items; the limit is {cap}",
    ),
    (
        "log/basket/set",
        "products",
        caps.BASKET_PRODUCTS_MAX,
        lambda n: {"products": ids(n)},
        "products: has {past} items; the limit is {cap}",
    ),
    (
        "log/sale",
        "products",
        caps.SALE_LINES_MAX,
        lambda n: {**SALE, "products": lines(n)},
        "products: has {past} items; the limit is {cap}",
    ),
    (
        "log/sale",
        "products[0].quantity",
        caps.QUANTITY_MAX,
        lambda n: {**SALE, "products": line(quantity=n)},
        "products[0].quantity: must be between 1 and {cap}, not {past}",
    ),
    (
        "log/sale",
        "products[0].price",
        caps.PRICE_MAX,
        lambda n: {**SALE, "products": line(price=n)},
        # Negative prices are discount lines: a sale line's price has a floor too.
        "products[0].price: must be a number between -{cap:g} and {cap:g}",
    ),
    (
        "products",
        "products[0].price",
        caps.PRICE_MAX,
        lambda n: {"private_key": "PRIVATE", "products": [product(1, price=n)]},
        "products[0].price: must be a number between 0 and {cap:g}",
    ),
]

# What a call could store (not the store itself, nor what the collector keeps of its own).
OWN = ("stores", "schema_migrations", "app_secrets", "dashboard_sessions")
STORED = [t.name for t in metadata.sorted_tables if t.name not in OWN]


def send(client: Any, store: StoreKeys, endpoint: str, body: dict[str, Any]) -> Any:
    raw = json.dumps({"key": store.public_key, "visitor": "v1", **body})
    return client.post(
        f"/v2/{endpoint}",
        content=raw.replace("PRIVATE", store.private_key),
        headers={"content-type": "text/plain"},
    )


def stored_rows(services: Any) -> int:
    return sum(count(services, table) for table in STORED)


@pytest.mark.parametrize(
    "endpoint,field,cap,body,message", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES]
)
def test_one_past_a_cap_is_refused_naming_the_field_and_nothing_is_stored(
    client, services, store, endpoint, field, cap, body, message
):
    answer = send(client, store, endpoint, body(cap + 1))
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["type"] == "invalid_field"
    assert error["message"].startswith(f"{field}: ")
    assert error["message"] == message.format(cap=cap, past=cap + 1)
    assert stored_rows(services) == 0


@pytest.mark.parametrize(
    "endpoint,field,cap,body,message", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES]
)
def test_the_value_at_a_cap_is_taken(client, store, endpoint, field, cap, body, message):
    answer = send(client, store, endpoint, body(cap))
    assert answer.status_code == 200, answer.text


def test_the_catalogue_api_takes_at_most_a_batch_of_products(client, services, store):
    many = ["1"] * (caps.CATALOGUE_BATCH_MAX + 1)  # short, to stay under the body limit
    body = {"private_key": store.private_key, "products": many}
    answer = client.request(
        "DELETE", "/v2/products", content=json.dumps({"key": store.public_key, **body})
    )
    assert answer.status_code == 400, answer.text
    limit = f"has {caps.CATALOGUE_BATCH_MAX + 1} items; the limit is {caps.CATALOGUE_BATCH_MAX}"
    assert answer.json()["message"] == f"products: {limit}"


ORDER = {"id": "O1", "time": 1_779_930_000}


@pytest.mark.parametrize(
    "order,problem",
    [
        (
            {**ORDER, "products": lines(caps.SALE_LINES_MAX + 1)},
            f"products: has {caps.SALE_LINES_MAX + 1} items; the limit is {caps.SALE_LINES_MAX}",
        ),
        (
            {**ORDER, "products": line(quantity=caps.QUANTITY_MAX + 1)},
            f"products[0].quantity: must be between 1 and {caps.QUANTITY_MAX}",
        ),
        (
            {**ORDER, "products": line(price=caps.PRICE_MAX * 2)},
            f"products[0].price: must be a number between -{caps.PRICE_MAX:g} and "
            f"{caps.PRICE_MAX:g}",
        ),
    ],
    ids=["lines", "quantity", "price"],
)
def test_the_order_import_refuses_what_log_sale_refuses(services, store, tmp_path, order, problem):
    path = tmp_path / "orders.ndjson"
    first = {**ORDER, "id": "O0", "products": line()}
    path.write_text(json.dumps(first) + "\n" + json.dumps(order))
    with pytest.raises(importer.ImportFailed, match="record 2") as failed:
        importer.import_file(
            services.storage, kind="orders", path=str(path), store_key=store.public_key
        )
    assert problem in str(failed.value)
    assert count(services, "orders") == 0 and count(services, "order_lines") == 0
