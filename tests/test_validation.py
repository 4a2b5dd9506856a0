"""Bad input: each gets a JSON error naming the problem, nothing is stored, serving goes on.

(Arguments an endpoint does not know are not bad input: they are ignored and named in
the answer's warnings, tests/test_tolerance.py.)"""

from __future__ import annotations

import json

import pytest

from .factories import StoreKeys, count, product

TABLES = ("events", "orders", "order_lines", "email_links", "baskets", "products")

# (endpoint, body or raw text, status, error type, words the message must contain)
CASES = [
    ("log/product", '{"key": "KEY" "product": "1"}', 400, "malformed_json", "delimiter"),
    ("log/product", '{"key": "KEY", "product": "1",}', 400, "malformed_json", "line 1"),
    ("log/product", "[1, 2]", 400, "malformed_json", "object"),
    ("log/product", '{"key": "KEY", "product": NaN}', 400, "malformed_json", "NaN"),
    ("log/product", {"product": "1"}, 400, "missing_field", "key"),
    ("log/product", {"key": "KEY"}, 400, "missing_field", "product"),
    ("log/product", {"key": "KEY", "product": ["1"]}, 400, "invalid_field", "product"),
    ("log/product", {"key": "KEY", "product": True}, 400, "invalid_field", "product"),
    ("log/product", {"key": "KEY", "product": "x" * 129}, 400, "invalid_field", "limit is 128"),
    ("log/product", {"key": "KEY", "product": "1", "visitor": 5}, 400, "invalid_field", "visitor"),
    (
        "log/product",
        {"key": "KEY", "product": "1", "visitor": "a b"},
        400,
        "invalid_field",
        "visitor",
    ),
    (
        "log/product",
        {"key": "KEY", "product": "1", "session": "x" * 65},
        400,
        "invalid_field",
        "session",
    ),
    ("log/product", {"key": "pk_nobody", "product": "1"}, 403, "unknown_key", "key"),
    ("log/click", {"key": "KEY", "product": "1", "labels": "Home"}, 400, "invalid_field", "labels"),
    ("log/click", {"key": "KEY", "product": "1", "labels": [1]}, 400, "invalid_field", "labels[0]"),
    ("log/click", {"key": "KEY", "product": "1", "n": "three"}, 400, "invalid_field", "n"),
    ("log/click", {"key": "KEY", "product": "1", "n": [3]}, 400, "invalid_field", "n"),
    ("log/click", {"key": "KEY", "product": "1", "api": "a" * 101}, 400, "invalid_field", "api"),
    ("log/sale", {"key": "KEY", "sale": "1"}, 400, "missing_field", "products"),
    (
        "log/sale",
        {"key": "KEY", "sale": "1", "products": [{"id": "1", "price": "9,5"}]},
        400,
        "invalid_field",
        "products[0].price",
    ),
    (
        "log/sale",
        {"key": "KEY", "sale": "1", "products": [{"id": "1", "quantity": 0}]},
        400,
        "invalid_field",
        "products[0].quantity",
    ),
    (
        "log/sale",
        {"key": "KEY", "sale": "1", "products": [{"id": "1", "quantity": "two"}]},
        400,
        "invalid_field",
        "products[0].quantity",
    ),
    (
        "log/sale",
        {"key": "KEY", "sale": "1", "products": ["1"], "email": "not-an-email"},
        400,
        "invalid_field",
        "email",
    ),
    ("log/email", {"key": "KEY", "email": "<script>@x.example"}, 400, "invalid_field", "email"),
    ("log/basket/set", {"key": "KEY", "products": "1,2"}, 400, "invalid_field", "products"),
    (
        "products",
        {"key": "KEY", "products": [product(1)]},
        403,
        "private_key_required",
        "private_key",
    ),
    (
        "products",
        {"key": "KEY", "private_key": "sk_wrong", "products": [product(1)]},
        403,
        "wrong_private_key",
        "private_key",
    ),
    (
        "products",
        {"key": "KEY", "private_key": "PRIVATE", "products": [product(1, price="9,5")]},
        400,
        "invalid_field",
        "products[0].price",
    ),
    (
        "products",
        {
            "key": "KEY",
            "private_key": "PRIVATE",
            "products": [product(1), {"id": "2", "name": "No url", "price": 1}],
        },
        400,
        "missing_field",
        "products[1].url",
    ),
    (
        "products",
        {
            "key": "KEY",
            "private_key": "PRIVATE",
            "products": [product(1, url="javascript:alert(1)")],
        },
        400,
        "invalid_field",
        "products[0].url",
    ),
    # Found deriving /v2/openapi.json (its schemas refuse these; the parsers took them):
    # `$` let a trailing line break through, and Python's \d takes any script's digits.
    (
        "log/product",
        {"key": "KEY", "product": "1", "visitor": "v1\n"},
        400,
        "invalid_field",
        "visitor",
    ),
    (
        "log/product",
        {"key": "KEY", "product": "1", "session": "s1\n"},
        400,
        "invalid_field",
        "session",
    ),
    (
        "log/click",
        {"key": "KEY", "product": "1", "n": "\u0663"},
        400,
        "invalid_field",
        "n: must be an integer",
    ),
    (
        "log/sale",
        {"key": "KEY", "sale": "s1", "products": [{"id": "1", "price": "\u0663.\u0665"}]},
        400,
        "invalid_field",
        "products[0].price",
    ),
    (
        "products",
        {"key": "KEY", "private_key": "PRIVATE", "products": [product(1, **{"colour\n": "red"})]},
        400,
        "invalid_field",
        "attribute names",
    ),
]


def _body(body: object, store: StoreKeys) -> str:
    raw = body if isinstance(body, str) else json.dumps(body)
    return raw.replace("PRIVATE", store.private_key).replace('"KEY"', json.dumps(store.public_key))


@pytest.mark.parametrize("endpoint,body,status,kind,words", CASES)
def test_bad_input_is_refused_with_a_named_error_and_stores_nothing(
    client, services, store, endpoint, body, status, kind, words
):
    answer = client.post(
        f"/v2/{endpoint}", content=_body(body, store), headers={"content-type": "text/plain"}
    )
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert error["status"] == "error" and error["type"] == kind
    assert words in error["message"]
    assert all(count(services, table) == 0 for table in TABLES)
    # ...and the collector goes on serving everyone else.
    ok = client.post("/v2/log/product", json={"key": store.public_key, "product": "1"})
    assert ok.status_code == 200


def test_oversized_body_is_413_by_declared_length(client, services, store):
    body = json.dumps({"key": store.public_key, "product": "1", "pad": "x" * 70_000})
    answer = client.post("/v2/log/product", content=body)
    assert answer.status_code == 413 and answer.json()["type"] == "body_too_large"
    assert count(services, "events") == 0


def test_oversized_body_is_413_when_streamed_without_length(client, services, store):
    def chunks():
        yield b'{"key": "' + store.public_key.encode() + b'", "product": "1", "pad": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    answer = client.post("/v2/log/product", content=chunks())
    assert answer.status_code == 413
    assert count(services, "events") == 0


def test_get_with_bad_json_list_in_query_names_the_field(client, store):
    answer = client.get(
        "/v2/log/click", params={"key": store.public_key, "product": "1", "labels": "[oops"}
    )
    assert answer.status_code == 400 and "labels" in answer.json()["message"]


def test_unknown_endpoint_and_wrong_method_answer_json(client):
    missing = client.get("/v2/log/nothing")
    assert missing.status_code == 404 and missing.json()["type"] == "not_found"
    wrong = client.put("/v2/log/product")
    assert wrong.status_code == 405 and wrong.json()["type"] == "method_not_allowed"


def test_markup_in_text_fields_is_stored_as_plain_data_not_refused(client, services, store):
    hostile = "<img src=x onerror=alert(1)>"
    answer = client.post(
        "/v2/log/click",
        json={"key": store.public_key, "product": "1", "api": hostile, "labels": [hostile]},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")


# Far deeper than Python's recursion limit: json.loads raised RecursionError (a 500).
DEEP = 30_000
NESTED = "[" * DEEP + "]" * DEEP


@pytest.mark.parametrize(
    "body",
    [NESTED, "[" * DEEP, '{"key": "KEY", "product": "1", "labels": ' + NESTED + "}"],
    ids=["closed", "unclosed", "in a field"],
)
def test_deeply_nested_json_in_a_body_is_a_400_saying_so(client, services, store, body):
    answer = client.post(
        "/v2/log/click", content=_body(body, store), headers={"content-type": "text/plain"}
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["type"] == "malformed_json" and "nested too deeply" in error["message"]
    assert all(count(services, table) == 0 for table in TABLES)


def test_deeply_nested_json_in_a_query_string_is_a_400_naming_the_field(client, services, store):
    # 10,000 levels: still ten times the recursion limit, and within the 64 KB cap once
    # each bracket is percent-encoded.
    nested = "[" * 10_000 + "]" * 10_000
    answer = client.get(
        "/v2/log/click", params={"key": store.public_key, "product": "1", "labels": nested}
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["type"] == "invalid_field"
    assert error["message"].startswith("labels:") and "nested too deeply" in error["message"]
    assert all(count(services, table) == 0 for table in TABLES)
