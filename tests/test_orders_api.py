"""The orders API (private key): upsert (the importer's code), list, delete; the shop's
own record replaces a browser's; each store its own; on both backends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from collector.cli import main
from collector.storage import reports, rollups

from .factories import START, StoreKeys, count, make_store, rows

T = int(START)  # Unix seconds


def call(client, method: str, store: StoreKeys, kind: str = "orders", **body: Any):
    keys = {"key": store.public_key, "private_key": store.private_key}
    return client.request(method, f"/v2/{kind}", json={**keys, **body})


def sale(client, store: StoreKeys, visitor: str | None, sale_id: str, **more: Any):
    """log/sale as clerk.js sends it from a page (public key only)."""
    body = {"key": store.public_key, "visitor": visitor, "sale": sale_id, **more}
    answer = client.post("/v2/log/sale", content=json.dumps(body))
    assert answer.status_code == 200, answer.text
    return answer.json()


# As WooCommerce's order feed builds them: integer ids, a customer id, its class name.
WOO = [
    {
        "id": 1001,
        "products": [
            {"id": 12, "quantity": 2, "price": 9.5},
            {"id": 13, "quantity": 1, "price": 4},
        ],
        "time": T,
        "email": "Ann@Shop.example",
        "customer": 7,
        "class": "WC_Order",
    },
    # As PrestaShop's: string ids and quantities, a discount line.
    {
        "id": "1002",
        "products": [{"id": "12", "quantity": "3", "price": 9.5}, {"id": "0", "price": -2.5}],
        "time": T + 60,
    },
]


def test_orders_are_posted_listed_and_deleted(client, services, store):
    answer = call(client, "POST", store, orders=WOO)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "status": "ok",
        "count": 2,
        "new": 2,
        "replaced": 0,
        "unchanged": 0,
        "warnings": ["orders[0].class: unknown argument, ignored"],
    }
    listed = call(client, "GET", store).json()
    assert listed["status"] == "ok" and listed["count"] == 2
    assert listed["result"] == ["1002", "1001"]  # newest first
    assert listed["orders"] == [
        {
            "id": "1002",
            "time": T + 60,
            "products": [
                {"id": "12", "quantity": 3, "price": 9.5},
                {"id": "0", "quantity": 1, "price": -2.5},
            ],
            "total": 26.0,
            "returned": 0.0,
            "source": "server",
        },
        {
            "id": "1001",
            "time": T,
            "products": [
                {"id": "12", "quantity": 2, "price": 9.5},
                {"id": "13", "quantity": 1, "price": 4.0},
            ],
            "customer": "7",
            "total": 23.0,
            "returned": 0.0,
            "source": "server",
        },
    ]
    # stored with its email (for attribution), which the listing never shows
    assert {r["id"]: r["email"] for r in rows(services, "orders")}["1001"] == "ann@shop.example"
    assert "ann@shop.example" not in json.dumps(listed)
    page = call(client, "GET", store, limit=1, offset=1).json()
    assert page["result"] == ["1001"] and page["count"] == 2
    assert call(client, "GET", store, ids=[1001, "nope"]).json()["result"] == ["1001"]

    answer = call(client, "DELETE", store, orders=[1001, "nope"])
    assert answer.json() == {"status": "ok", "count": 1}
    assert call(client, "GET", store).json()["result"] == ["1002"]
    assert {r["order_id"] for r in rows(services, "order_lines")} == {"1002"}
    assert count(services, "co_purchases") == 2  # 12 and 0, of order 1002 alone
    assert call(client, "DELETE", store, ids=["1002"]).json()["count"] == 1
    assert count(services, "orders") == count(services, "co_purchases") == 0


def test_an_order_posted_twice_counts_once(client, services, store):
    call(client, "POST", store, orders=WOO)
    changed = [{**WOO[1], "products": [{"id": "99", "quantity": 1, "price": 1}]}]
    answer = call(client, "POST", store, orders=changed).json()
    assert (answer["new"], answer["replaced"], answer["unchanged"]) == (0, 0, 1)
    assert count(services, "orders") == 2 and count(services, "order_lines") == 4


def test_a_posted_order_replaces_the_one_a_browser_logged(client, services, store):
    # Anyone can log a sale from a page; the shop's own record is the one kept.
    sale(client, store, "shopper", "1002", products=[{"id": "66", "quantity": 9, "price": 99}])
    answer = call(client, "POST", store, orders=WOO).json()
    assert (answer["new"], answer["replaced"]) == (1, 1)
    listed = {o["id"]: o for o in call(client, "GET", store).json()["orders"]}
    assert listed["1002"]["source"] == "server" and listed["1002"]["total"] == 26.0
    assert [line["id"] for line in listed["1002"]["products"]] == ["12", "0"]
    assert count(services, "orders") == 2
    # and a browser can never replace the shop's order again
    assert sale(client, store, "shopper", "1002", products=["66"]) == {
        "status": "ok",
        "recorded": False,
    }


@pytest.mark.parametrize(
    "orders, field",
    [
        ([WOO[0], {**WOO[1], "time": T * 1000}], "orders[1].time"),
        (
            [WOO[0], {**WOO[1], "products": [{"id": "1", "quantity": 0}]}],
            "orders[1].products[0].quantity",
        ),
        ([WOO[0], {**WOO[1], "email": "nobody"}], "orders[1].email"),
        ([WOO[0], {"id": "3", "time": T}], "orders[1].products"),
        ([WOO[0], "1003"], "orders[1]"),
        ({"id": 1}, "orders"),
    ],
)
def test_a_bad_order_is_a_400_naming_it_and_nothing_is_stored(
    client, services, store, orders, field
):
    answer = call(client, "POST", store, orders=orders)
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"].startswith(field + ":"), answer.json()
    assert count(services, "orders") == count(services, "order_lines") == 0


def test_orders_need_the_private_key_and_each_store_has_its_own(client, services, store):
    other = make_store(services, "Other shop")
    call(client, "POST", store, orders=WOO)
    for method in ("GET", "POST", "DELETE"):
        body = {"key": store.public_key, "orders": WOO if method == "POST" else ["1001"]}
        answer = client.request(method, "/v2/orders", json=body)
        assert answer.status_code == 403 and answer.json()["type"] == "private_key_required"
    wrong = {"key": other.public_key, "private_key": store.private_key}
    assert client.get("/v2/orders", params={"key": other.public_key}).status_code == 403
    assert client.request("GET", "/v2/orders", json=wrong).status_code == 403
    assert call(client, "GET", other).json() == {
        "status": "ok",
        "result": [],
        "orders": [],
        "count": 0,
    }
    assert call(client, "DELETE", other, orders=["1001", "1002"]).json()["count"] == 0
    assert call(client, "GET", store).json()["count"] == 2


def test_a_delete_names_its_ids_once(client, store):
    for body in ({}, {"orders": ["1"], "ids": ["1"]}):
        answer = call(client, "DELETE", store, **body)
        assert answer.status_code == 400
        assert answer.json()["message"].startswith("orders: the ids to delete")


def test_the_importer_and_the_api_store_the_same_rows(
    client, services, store, tmp_path, monkeypatch, database_url
):
    other = make_store(services, "Imported shop")
    feed = [{k: v for k, v in order.items() if k != "class"} for order in WOO]
    path = tmp_path / "orders.ndjson"
    path.write_text("".join(json.dumps(order) + "\n" for order in feed))
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["import", "orders", str(path), "--store", other.public_key]) == 0
    assert call(client, "POST", store, orders=feed).status_code == 200

    def stored(table: str, store_id: int) -> list[dict[str, Any]]:
        found = [r for r in rows(services, table) if r["store_id"] == store_id]
        return sorted(({k: v for k, v in r.items() if k != "store_id"} for r in found), key=repr)

    for table in ("orders", "order_lines", "co_purchases"):
        assert stored(table, store.id) == stored(table, other.id) != [], table
    assert (
        call(client, "GET", store).json()["orders"] == call(client, "GET", other).json()["orders"]
    )


def test_deleting_an_order_takes_it_out_of_a_day_already_rolled_up(client, services, store, clock):
    sale(client, store, "ann", "o1", products=[{"id": "1", "quantity": 1, "price": 30}])
    sale(client, store, "bob", "o2", products=[{"id": "1", "quantity": 1, "price": 20}])
    clock.advance(3 * 86_400)
    rollups.roll_up(services.storage, store_id=store.id, now_ms=int(clock() * 1000))
    day = rollups.day_of(int(START * 1000))
    stored = [r for r in rows(services, "rollup_visits") if r["day"] == day]
    assert (stored[0]["orders_other"], stored[0]["revenue_other"]) == (2, 50.0)
    assert call(client, "DELETE", store, orders=["o1"]).json()["count"] == 1
    stored = [r for r in rows(services, "rollup_visits") if r["day"] == day]
    assert (stored[0]["orders_other"], stored[0]["revenue_other"]) == (1, 20.0)
    view = services.storage.run(
        reports.overview,
        store_id=store.id,
        start_ms=int(START * 1000) - 86_400_000,
        end_ms=int(clock() * 1000),
        window_ms=30 * 86_400_000,
    )
    assert (view["orders"], view["revenue"]) == (1, 20.0)
