"""Replays of the calls Clerk's official plugins make from the shop's SERVER, built as the
plugins build them (PHP's http_build_query, json_encode posted by curl without a
Content-Type, wp_json_encode with one), and what the collector stores for them.

- Magento 1: product/add with one product beside the keys, product/remove with its id.
- Magento 2: product/add as a form-encoded POST (older releases) or JSON posted with curl's
  default form Content-Type (newer); product/remove and log/returned as GETs with the keys
  in the query string; log/basket/set from the server with the public key and the
  customer's email.
- WooCommerce: product/add as JSON; product/remove as a GET with the keys in the query
  string; log/basket/set from the server like Magento's.
- PrestaShop: POST /v2/products as JSON posted without a Content-Type; DELETE
  /v2/products with the keys in the query string.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_plus

import pytest

from collector import forms
from collector.errors import ApiError

from .factories import StoreKeys, count, rows
from .test_attribution import Shop

FORM = {"content-type": "application/x-www-form-urlencoded"}
# What a browser sends with clerk.js's calls (a same-origin page; a real one sends Origin).
BROWSER = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}


def http_build_query(data: Any, prefix: str = "") -> str:
    """PHP's http_build_query: nested arrays in brackets, true/false as 1/0, null left out,
    brackets percent-encoded, spaces as +."""
    pairs: list[tuple[str, str]] = []

    def walk(value: Any, name: str) -> None:
        if isinstance(value, dict | list):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                walk(item, f"{name}[{key}]" if name else str(key))
        elif value is None:
            return
        elif isinstance(value, bool):
            pairs.append((name, "1" if value else "0"))
        else:
            pairs.append((name, str(value)))

    walk(data, prefix)
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs)


def keys(store: StoreKeys) -> dict[str, str]:
    return {"key": store.public_key, "private_key": store.private_key}


def catalogue(client, store: StoreKeys) -> dict[str, dict[str, Any]]:
    answer = client.request("GET", "/v2/products", json=keys(store))
    assert answer.status_code == 200, answer.text
    return {p["id"]: p for p in answer.json()["product_data"]}


DESCRIPTION = "Warm and light.\r\nMachine washable.\n\n\tMade in Portugal."


def magento_product(id: int) -> dict[str, Any]:
    """The shape Magento 2's product adapter gives Api::addProduct."""
    return {
        "id": id,
        "name": "Wool Jumper",
        "description": DESCRIPTION,
        "price": 49.5,
        "list_price": 59.0,
        "image": "https://shop.example/media/jumper.jpg",
        "url": "https://shop.example/wool-jumper.html",
        "categories": [12, 15],
        "brand": "Nordwool",
        "sku": "WJ-1",
        "on_sale": True,
        "stock": 7,
        "created_at": 1700000000,
        "sizes": ["S", "M", "L"],
        "age": None,  # null: http_build_query leaves it out
    }


# ---------------------------------------------------------------- form-encoded bodies


def test_magento_form_encoded_product_add_is_stored_as_json_would_be(client, store):
    body = http_build_query({**keys(store), "products": [magento_product(123)]})
    assert "products%5B0%5D%5Bcategories%5D%5B1%5D=15" in body
    answer = client.post("/v2/product/add", content=body, headers=FORM)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ok", "count": 1}
    stored = catalogue(client, store)["123"]
    assert stored["name"] == "Wool Jumper"
    assert stored["description"] == DESCRIPTION  # line breaks and tabs kept as sent
    assert stored["price"] == 49.5 and stored["list_price"] == 59.0
    assert stored["categories"] == ["12", "15"]
    assert stored["stock"] == 7 and stored["created_at"] == 1700000000
    # Custom attributes come as the strings a form holds (true is "1").
    assert stored["sku"] == "WJ-1" and stored["on_sale"] == "1"
    assert stored["sizes"] == ["S", "M", "L"]
    assert "age" not in stored


def test_magento_json_posted_with_curls_default_form_content_type(client, store):
    # Newer releases json_encode the body and set no Content-Type: curl then declares
    # application/x-www-form-urlencoded.
    body = json.dumps({**keys(store), "products": [magento_product(124)]})
    answer = client.post("/v2/product/add", content=body, headers=FORM)
    assert answer.status_code == 200, answer.text
    stored = catalogue(client, store)["124"]
    assert stored["on_sale"] is True and stored["categories"] == ["12", "15"]


def test_form_encoded_private_key_in_the_body_works_and_a_wrong_one_is_403(client, services, store):
    body = http_build_query({**keys(store), "products": ["1"]})
    assert client.post("/v2/product/remove", content=body, headers=FORM).status_code == 200
    wrong = http_build_query({"key": store.public_key, "private_key": "nope", "products": ["1"]})
    answer = client.post("/v2/product/remove", content=wrong, headers=FORM)
    assert answer.status_code == 403 and answer.json()["type"] == "wrong_private_key"


def test_bracket_notation_in_a_query_string_gives_lists_and_objects(client, services, store):
    # A browser-side sale sent as a GET with PHP's notation (public key only).
    query = http_build_query(
        {
            "key": store.public_key,
            "visitor": "v1",
            "sale": 1001,
            "products": [{"id": 1, "quantity": "2", "price": "24.5"}, {"id": 2, "price": 5}],
        }
    )
    answer = client.get(f"/v2/log/sale?{query}")
    assert answer.status_code == 200, answer.text
    [order] = rows(services, "orders")
    assert order["id"] == "1001" and order["visitor_id"] == "v1" and order["total"] == 54.0
    lines = [(r["product_id"], r["quantity"], r["price"]) for r in rows(services, "order_lines")]
    assert sorted(lines) == [("1", 2, 24.5), ("2", 1, 5.0)]
    # products[]=... appends, as PHP does
    query = f"key={store.public_key}&visitor=v1&products[]=7&products[]=8"
    answer = client.get(f"/v2/recommendations/complementary?{query}")
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("products[999999999]=1", "products[999999999]: index 999999999 is larger than"),
        ("products" + "[a]" * 7 + "=1", "is nested 7 deep; the limit is 6"),
        ("products=1&products[0]=2", "products: is sent both as a value and as a list"),
        ("products[0][id]=1&products[0]=2", "products[0]: is sent both as a value"),
        ("products]=1", "products]: is not a name or bracket notation"),
        ("=1", "a field without a name"),
        ("products[0]=%FF", "not UTF-8"),
    ],
)
def test_malformed_or_oversized_forms_are_a_400_naming_the_problem(
    client, services, store, body, named
):
    full = http_build_query(keys(store)) + "&" + body
    answer = client.post("/v2/product/remove", content=full, headers=FORM)
    assert answer.status_code == 400, answer.text
    assert answer.json()["type"] == "invalid_form" and named in answer.json()["message"]
    answer = client.get(f"/v2/log/product?key={store.public_key}&{body}")
    assert answer.status_code == 400 and named in answer.json()["message"]
    assert count(services, "events") == 0


def test_too_many_fields_is_a_400_before_anything_is_built():
    with pytest.raises(ApiError) as refused:
        forms.parse("&".join(["p[]=1"] * (forms.FIELDS_MAX + 1)))
    assert "more than" in refused.value.message


def test_a_sparse_list_is_built_from_the_indices_sent_not_up_to_the_largest():
    assert forms.parse("p[100000]=b&p[3]=a") == {"p": ["a", "b"]}
    assert forms.parse("p[1]=b&p[x]=a") == {"p": {"1": "b", "x": "a"}}
    assert forms.parse("p[2]=a&p[]=b") == {"p": ["a", "b"]}


def test_multipart_bodies_are_refused_with_a_clear_message(client, services, store):
    answer = client.post("/v2/product/add", data=keys(store), files={"f": ("a.txt", b"x")})
    assert answer.status_code == 415
    assert "multipart/form-data" in answer.json()["message"]
    assert "application/x-www-form-urlencoded" in answer.json()["message"]


# ---------------------------------------------------------------- the private key in a query


@pytest.mark.parametrize(
    ("method", "path", "args"),
    [
        ("GET", "/v2/product/remove", {"products": ["123"]}),  # Magento 2, WooCommerce
        ("DELETE", "/v2/products", {"products": ["123"]}),  # PrestaShop
        ("GET", "/v2/log/returned", {"product": "123", "order": "1001", "quantity": 1}),
    ],
)
def test_the_plugins_query_string_calls_are_refused_with_what_to_do(
    client, services, store, method, path, args
):
    client.post("/v2/products", json={**keys(store), "products": [magento_product(123)]})
    query = http_build_query({**keys(store), **args})
    answer = client.request(method, f"{path}?{query}")
    assert answer.status_code == 400
    message = answer.json()["message"]
    assert message.startswith("private_key: is never accepted in a query string")
    assert "POST" in message and "application/x-www-form-urlencoded" in message
    assert count(services, "products") == 1 and count(services, "order_returns") == 0
    # The same arguments in a form-encoded POST body: done.
    answer = client.post(
        path.replace("/v2/products", "/v2/product/remove"), content=query, headers=FORM
    )
    assert answer.status_code == 200, answer.text
    if "returned" in path:
        [row] = rows(services, "order_returns")
        assert (row["order_id"], row["product_id"], row["quantity"]) == ("1001", "123", 1)
    else:
        assert count(services, "products") == 0


def test_a_bracketed_private_key_in_a_query_string_is_refused_too(client, store):
    answer = client.get(f"/v2/log/product?key={store.public_key}&product=1&private_key[0]=x")
    assert answer.status_code == 400 and "private_key" in answer.json()["message"]


# ---------------------------------------------------------------- JSON from the other plugins


def test_woocommerce_json_product_add(client, store):
    product = {
        "id": 55,
        "name": "Mug",
        "description": "Holds tea.\nAnd coffee.",
        "price": 12.5,
        "list_price": 12.5,
        "image": "https://shop.example/mug.jpg",
        "url": "https://shop.example/product/mug/",
        "categories": [3],
        "sku": "",
        "on_sale": False,
        "stock": 10,
        "managing_stock": True,
        "backorders": "no",
        "stock_status": "instock",
        "created_at": 1700000000,
    }
    body = {**keys(store), "products": [product]}
    answer = client.post(
        "/v2/product/add",
        content=json.dumps(body),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert answer.status_code == 200, answer.text
    stored = catalogue(client, store)["55"]
    assert stored["description"] == "Holds tea.\nAnd coffee."
    assert stored["managing_stock"] is True and stored["stock_status"] == "instock"


def test_prestashop_json_products_posted_without_a_content_type(client, store):
    product = {
        "id": 8,
        "name": "Framed poster",
        "description": "A poster.\n\nFramed in oak.",
        "description_long": "Long text.\r\nOver lines.",
        "url": "https://shop.example/8-poster.html",
        "categories": [2, 9],
        "category_names": ["Home", "Art"],
        "sku": "P-8",
        "brand": "",
        "in_stock": True,
        "qty": 40,
        "price": 29.0,
        "list_price": 35.0,
        "on_sale": True,
        "image": "https://shop.example/8-home_default/poster.jpg",
        "variants": ["31", "32"],
        "variant_prices": [29.0, 31.5],
        "variant_stocks": [10, 30],
    }
    # curl with CURLOPT_POSTFIELDS set to a string declares it form-encoded.
    body = json.dumps({**keys(store), "products": [product]})
    answer = client.post("/v2/products", content=body, headers=FORM)
    assert answer.status_code == 200, answer.text
    stored = catalogue(client, store)["8"]
    assert stored["description_long"] == "Long text.\r\nOver lines."
    assert stored["variant_prices"] == [29.0, 31.5] and stored["variant_stocks"] == [10, 30]
    assert stored["categories"] == ["2", "9"] and stored["in_stock"] is True


# ---------------------------------------------------------------- text with line breaks


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("description", "one\ntwo\r\n\tthree", True),
        ("description", "bell\x07", False),
        ("name", "two\nlines", False),
        ("id", "a\tb", False),
        ("brand", "x\ny", False),
        ("colour_note", "free\ntext", True),  # a custom attribute
        ("colour_note", "nul\x00", False),
    ],
)
def test_line_breaks_are_taken_in_free_text_only(client, services, store, field, value, ok):
    item = {**magento_product(1), field: value}
    answer = client.post("/v2/products", json={**keys(store), "products": [item]})
    assert (answer.status_code == 200) is ok, answer.text
    if not ok:
        assert answer.json()["message"].startswith(f"products[0].{field}: ")
        assert count(services, "products") == 0


def test_labels_keep_refusing_control_characters(client, store):
    body = {"key": store.public_key, "labels": ["Home\nPage"]}
    answer = client.post("/v2/recommendations/popular", json=body)
    assert answer.status_code == 400 and answer.json()["message"].startswith("labels[0]: ")


# ---------------------------------------------------------------- calls with no shopper


def server_sale(client, store: StoreKeys, sale: str, email: str, **more: Any):
    body = {
        **keys(store),
        "sale": sale,
        "products": [{"id": "p1", "quantity": 1, "price": 10.0}],
        "email": email,
        "customer": f"c-{sale}",
        **more,
    }
    return client.post("/v2/log/sale", json=body)


def test_private_key_sales_derive_no_visitor_and_keep_email_and_customer(client, services, store):
    for sale, email in (("o1", "a@example.com"), ("o2", "b@example.com")):
        assert server_sale(client, store, sale, email).status_code == 200
    orders = {o["id"]: o for o in rows(services, "orders")}
    # Not one cookieless visitor of the shop server's address for every customer.
    assert [o["visitor_id"] for o in orders.values()] == [None, None]
    assert {o["visitor_mode"] for o in orders.values()} == {"server"}
    assert (orders["o1"]["email"], orders["o1"]["customer"]) == ("a@example.com", "c-o1")
    assert (orders["o2"]["email"], orders["o2"]["customer"]) == ("b@example.com", "c-o2")
    assert count(services, "email_links") == 0


def test_a_private_key_call_uses_a_sent_visitor_id_as_sent(client, services, store):
    answer = server_sale(client, store, "o1", "a@example.com", visitor="shopper-7")
    assert answer.status_code == 200
    # even with Sec-GPC: that downgrade derives from the caller's address, a server's here
    server_sale(client, store, "o2", "a@example.com", visitor="shopper-8")
    client.post(
        "/v2/log/sale",
        json={**keys(store), "sale": "o3", "products": ["p1"], "visitor": "shopper-9"},
        headers={"Sec-GPC": "1"},
    )
    ids = sorted(o["visitor_id"] for o in rows(services, "orders"))
    assert ids == ["shopper-7", "shopper-8", "shopper-9"]


def test_a_private_key_sale_in_explicit_null_mode_keeps_no_email(client, services, store):
    assert server_sale(client, store, "o1", "a@example.com", visitor=None).status_code == 200
    [order] = rows(services, "orders")
    assert order["email"] is None and order["customer"] is None


def magento_server_basket(client, store: StoreKeys, email: str, *, private: bool = False):
    """CheckoutCartUpdateItemsAfterObserver / Clerk_Basket::update_basket: json_encode'd,
    posted by curl (form Content-Type) or wp_remote_request, no visitor, no Origin."""
    body: dict[str, Any] = {"key": store.public_key, "products": [123, 124], "email": email}
    if private:
        body["private_key"] = store.private_key
    return client.post("/v2/log/basket/set", content=json.dumps(body), headers=FORM)


@pytest.mark.parametrize("private", [False, True])
def test_server_baskets_with_emails_link_no_customer_to_the_server(
    client, services, store, private
):
    for email in ("a@example.com", "b@example.com"):
        answer = magento_server_basket(client, store, email, private=private)
        assert answer.status_code == 200, answer.text
        assert answer.json()["basket"] == ["123", "124"]
    assert count(services, "email_links") == 0
    events = rows(services, "events")
    assert len(events) == 2 and {e["visitor_id"] for e in events} == {None}
    assert {e["visitor_mode"] for e in events} == {"server"}


def test_a_browsers_basket_with_an_email_still_links_its_cookieless_visitor(
    client, services, store
):
    body = {"key": store.public_key, "products": ["1"], "email": "a@example.com"}
    answer = client.post("/v2/log/basket/set", json=body, headers=BROWSER)
    assert answer.status_code == 200
    [link] = rows(services, "email_links")
    assert link["visitor_id"].startswith("c-")


def test_one_customers_click_is_not_credited_to_anothers_server_sale(
    client, services, store, clock
):
    """The attribution bug: both customers' server baskets linked their emails to the shop
    server's cookieless id, so B's server-side sale (on that id too) was credited with A's
    click in a widget."""
    shop = Shop(client, store, clock)
    shop.click("browser-a", "p1", "recommendations/popular", ["Bestsellers"])
    shop.call("log/email", "browser-a", email="a@example.com")
    for email in ("a@example.com", "b@example.com"):
        assert magento_server_basket(client, store, email).status_code == 200
    assert server_sale(client, store, "o-b", "b@example.com").status_code == 200
    assert server_sale(client, store, "o-a", "a@example.com").status_code == 200
    credited = {r["order_id"] for r in rows(services, "order_attribution")}
    assert credited == {"o-a"}  # A's own sale, through A's email; never B's


# ---------------------------------------------------------------- Magento 1


def test_magento_1_sends_one_product_beside_the_keys(client, services, store):
    """Clerk_Clerk_Model_Communicator::syncProduct: the product's export data and the keys
    in one JSON object, no `products` list; a removal sends the product's `id`."""
    data = {**magento_product(77), **keys(store)}
    answer = client.post("/v2/product/add", json=data)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ok", "count": 1}
    stored = catalogue(client, store)["77"]
    assert stored["name"] == "Wool Jumper" and stored["description"] == DESCRIPTION
    answer = client.post("/v2/product/remove", json={"id": 77, **keys(store)})
    assert answer.status_code == 200 and answer.json()["count"] == 1
    assert count(services, "products") == 0
    # Without an id either, `products` stays required.
    answer = client.post("/v2/product/add", json=keys(store))
    assert answer.status_code == 400 and answer.json()["message"] == "products: is required"
