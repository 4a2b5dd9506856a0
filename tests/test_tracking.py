"""The tracking endpoints (log/*, privacy/forget) against a real store on both backends."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.testclient import TestClient

from .factories import StoreKeys, all_text, count, rows

UA = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"


def post(client: TestClient, endpoint: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(
        f"/v2/{endpoint}",
        content=json.dumps(body),
        headers={"content-type": "text/plain;charset=UTF-8", "user-agent": UA, **headers},
    )


def test_log_product_by_post_with_text_plain(client, services, store: StoreKeys):
    answer = post(
        client,
        "log/product",
        {"key": store.public_key, "product": "42", "visitor": "auto", "session": "s1"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ok"}
    [event] = rows(services, "events")
    assert event["kind"] == "view" and event["product_id"] == "42"
    assert event["visitor_mode"] == "auto" and event["visitor_id"].startswith("c-")
    assert event["session"] == "s1"


def test_log_product_by_get_with_query_parameters(client, services, store):
    answer = client.get(
        "/v2/log/product", params={"key": store.public_key, "product": 7, "visitor": "v-123"}
    )
    assert answer.json() == {"status": "ok"}
    [event] = rows(services, "events")
    assert (event["product_id"], event["visitor_id"], event["visitor_mode"]) == (
        "7",
        "v-123",
        "persistent",
    )


def test_numeric_product_ids_are_stored_as_strings(client, services, store):
    post(client, "log/product", {"key": store.public_key, "product": 12})
    assert rows(services, "events")[0]["product_id"] == "12"


def test_log_click_keeps_widget_api_labels_and_position(client, services, store):
    body = {
        "key": store.public_key,
        "visitor": "abc",
        "product": "9",
        "api": "recommendations/popular",
        "labels": ["Bestsellers"],
        "n": 3,
    }
    assert post(client, "log/click", body).status_code == 200
    [event] = rows(services, "events")
    assert event["kind"] == "click" and event["api"] == "recommendations/popular"
    assert json.loads(event["labels"]) == ["Bestsellers"] and event["position"] == 3


def test_log_click_labels_as_json_in_a_query_string(client, services, store):
    answer = client.get(
        "/v2/log/click",
        params={"key": store.public_key, "product": "1", "labels": '["Home"]', "n": "0"},
    )
    assert answer.status_code == 200, answer.text
    assert json.loads(rows(services, "events")[0]["labels"]) == ["Home"]


def test_log_sale_is_idempotent_per_sale_id(client, services, store):
    body = {
        "key": store.public_key,
        "visitor": "buyer1",
        "sale": "O-1",
        "email": "A@Shop.Example",
        "products": [{"id": "1", "quantity": 2, "price": 9.5}, "2"],
    }
    first, second = post(client, "log/sale", body), post(client, "log/sale", body)
    assert first.json() == {"status": "ok", "recorded": True}
    assert second.json() == {"status": "ok", "recorded": False}
    [order] = rows(services, "orders")
    assert order["total"] == 19.0 and order["email"] == "a@shop.example"
    lines = sorted(
        (r["product_id"], r["quantity"], r["price"]) for r in rows(services, "order_lines")
    )
    assert lines == [("1", 2, 9.5), ("2", 1, 0.0)]
    [link] = rows(services, "email_links")
    assert (link["email"], link["visitor_id"]) == ("a@shop.example", "buyer1")


def test_null_mode_stores_no_visitor_email_or_customer(client, services, store):
    body = {
        "key": store.public_key,
        "visitor": None,
        "session": "s9",
        "sale": "O-2",
        "email": "x@y.example",
        "customer": "C-7",
        "products": ["1"],
    }
    assert post(client, "log/sale", body).status_code == 200
    assert (
        post(
            client, "log/product", {"key": store.public_key, "visitor": None, "product": "1"}
        ).status_code
        == 200
    )
    answer = post(
        client, "log/email", {"key": store.public_key, "visitor": None, "email": "x@y.example"}
    )
    assert answer.json() == {"status": "ok", "recorded": False}
    [order] = rows(services, "orders")
    assert order["visitor_id"] is None and order["session"] is None
    assert order["email"] is None and order["customer"] is None and order["visitor_mode"] == "none"
    [event] = rows(services, "events")
    assert event["visitor_id"] is None and event["session"] is None
    assert count(services, "email_links") == 0
    assert "x@y.example" not in all_text(services) and "C-7" not in all_text(services)


def test_visitor_null_in_a_query_string_means_no_visitor(client, services, store):
    client.get(
        "/v2/log/product", params={"key": store.public_key, "product": "1", "visitor": "null"}
    )
    assert rows(services, "events")[0]["visitor_id"] is None


def test_auto_mode_never_stores_ip_or_user_agent(client, services, store):
    post(
        client,
        "log/product",
        {"key": store.public_key, "product": "1"},
        **{"x-forwarded-for": "203.0.113.77"},
    )
    dump = all_text(services)
    assert "203.0.113.77" not in dump and "TestBrowser" not in dump and "testclient" not in dump


def test_log_email_links_the_visitor_and_many_ids_share_one_email(client, services, store):
    for visitor in ("phone", "laptop"):
        answer = post(
            client,
            "log/email",
            {"key": store.public_key, "visitor": visitor, "email": "kim@example.com"},
        )
        assert answer.json() == {"status": "ok", "recorded": True}
    links = sorted(r["visitor_id"] for r in rows(services, "email_links"))
    assert links == ["laptop", "phone"]


def test_basket_set_add_remove(client, services, store):
    base = {"key": store.public_key, "visitor": "cart1"}
    assert post(client, "log/basket/set", {**base, "products": ["1", "2"]}).json()["basket"] == [
        "1",
        "2",
    ]
    assert post(client, "log/basket/add", {**base, "product": "3"}).json()["basket"] == [
        "1",
        "2",
        "3",
    ]
    assert post(client, "log/basket/remove", {**base, "product": "1"}).json()["basket"] == [
        "2",
        "3",
    ]
    assert [e["kind"] for e in rows(services, "events")] == ["basket"] * 3


def test_consent_given_mid_visit_carries_the_cookieless_history_over(client, services, store):
    post(client, "log/product", {"key": store.public_key, "visitor": "auto", "product": "1"})
    post(client, "log/email", {"key": store.public_key, "visitor": "auto", "email": "a@b.example"})
    answer = post(
        client, "log/visitor", {"key": store.public_key, "visitor": "cookie1", "previous": "auto"}
    )
    assert answer.json() == {"status": "ok", "merged": 1}
    post(client, "log/product", {"key": store.public_key, "visitor": "cookie1", "product": "2"})
    assert {e["visitor_id"] for e in rows(services, "events")} == {"cookie1"}
    assert [r["visitor_id"] for r in rows(services, "email_links")] == ["cookie1"]


def test_merge_needs_a_real_new_id(client, store):
    answer = post(
        client, "log/visitor", {"key": store.public_key, "visitor": "auto", "previous": "auto"}
    )
    assert answer.status_code == 400 and "visitor" in answer.json()["message"]


def test_forget_own_visitor_erases_history_and_anonymises_orders(client, services, store):
    base = {"key": store.public_key, "visitor": "me1"}
    post(client, "log/product", {**base, "product": "1"})
    post(client, "log/sale", {**base, "sale": "S1", "email": "me@x.example", "products": ["1"]})
    post(client, "log/product", {"key": store.public_key, "visitor": "other", "product": "1"})
    answer = post(client, "privacy/forget", base)
    assert answer.json()["forgotten"]["events"] == 1
    assert [e["visitor_id"] for e in rows(services, "events")] == ["other"]
    [order] = rows(services, "orders")
    assert order["visitor_id"] is None and order["email"] is None and order["total"] == 0.0
    assert count(services, "email_links") == 0


def test_forget_by_email_needs_the_private_key(client, services, store):
    post(client, "log/email", {"key": store.public_key, "visitor": "v1", "email": "e@x.example"})
    refused = post(
        client, "privacy/forget", {"key": store.public_key, "visitor": None, "email": "e@x.example"}
    )
    assert refused.status_code == 403
    assert count(services, "email_links") == 1
    answer = post(
        client,
        "privacy/forget",
        {
            "key": store.public_key,
            "visitor": None,
            "private_key": store.private_key,
            "email": "e@x.example",
        },
    )
    assert answer.json()["forgotten"]["links"] == 1
    assert count(services, "email_links") == 0


def test_store_origins_are_enforced_when_configured(client, services):
    from .factories import make_store

    shop = make_store(services, origins=["https://shop.example"])
    body = {"key": shop.public_key, "product": "1"}
    assert post(client, "log/product", body, origin="https://shop.example").status_code == 200
    refused = post(client, "log/product", body, origin="https://evil.example")
    assert refused.status_code == 403 and refused.json()["type"] == "origin_not_allowed"
    assert count(services, "events") == 1


def test_gpc_header_downgrades_an_id_to_cookieless(client, services, store):
    post(
        client,
        "log/product",
        {"key": store.public_key, "visitor": "cookie9", "product": "1"},
        **{"sec-gpc": "1"},
    )
    post(
        client,
        "log/product",
        {"key": store.public_key, "visitor": "cookie9", "product": "2", "respect_gpc": False},
        **{"sec-gpc": "1"},
    )
    modes = [(e["visitor_mode"], e["visitor_id"] == "cookie9") for e in rows(services, "events")]
    assert modes == [("auto", False), ("persistent", True)]


def test_forget_erases_the_visitors_searches_too(client, services, store):
    base = {"key": store.public_key, "visitor": "me2"}
    post(client, "search/search", {**base, "query": "mug"})
    post(client, "search/search", {"key": store.public_key, "visitor": "other", "query": "cup"})
    deadline = time.monotonic() + 5  # searches are logged without the answer waiting
    while count(services, "searches") < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    answer = post(client, "privacy/forget", base)
    assert answer.json()["forgotten"]["searches"] == 1
    assert [r["visitor_id"] for r in rows(services, "searches")] == ["other"]
