"""The customers API (private key) and import: upsert, list, delete, each store its own;
a sale that names a customer is attributed through the customer's email; forgetting an
email deletes its customers; retention; on both backends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from collector.cli import main
from collector.storage import reports
from collector.storage.retention import purge

from .factories import START, StoreKeys, all_text, count, make_store, rows

DAY = 86_400

# As Magento's customer feed builds them (string ids, group, subscription state).
MAGENTO = {
    "id": "12",
    "name": "Ann Example",
    "email": "Ann@Shop.example",
    "group_id": "1",
    "group_name": "General",
    "subscribed": "unknown",
}
# As PrestaShop's (no name; first and last name, booleans), and WooCommerce's (integers).
PRESTASHOP = {"id": "13", "firstname": "Bo", "lastname": "Beta", "email": "", "optin": False}
WOO = {"id": 14, "name": "Cy", "email": "cy@shop.example"}


def call(client, method: str, store: StoreKeys, kind: str = "customers", **body: Any):
    keys = {"key": store.public_key, "private_key": store.private_key}
    return client.request(method, f"/v2/{kind}", json={**keys, **body})


def public(client, store: StoreKeys, endpoint: str, visitor: str | None, **body: Any):
    """A call as clerk.js sends it from a page (public key only)."""
    body = {"key": store.public_key, "visitor": visitor, **body}
    answer = client.post(f"/v2/{endpoint}", content=json.dumps(body))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_customers_are_upserted_listed_and_deleted(client, services, store):
    answer = call(client, "POST", store, customers=[MAGENTO, PRESTASHOP, WOO])
    assert answer.json() == {"status": "ok", "count": 3}, answer.text
    listed = call(client, "GET", store).json()
    assert listed == {
        "status": "ok",
        "result": ["12", "13", "14"],
        "customers": [
            {**MAGENTO, "email": "ann@shop.example"},
            {"id": "13", "firstname": "Bo", "lastname": "Beta", "optin": False},
            {"id": "14", "name": "Cy", "email": "cy@shop.example"},
        ],
        "count": 3,
    }
    # an upsert replaces the customer whole, it does not duplicate it
    call(client, "POST", store, customers=[{"id": 12, "email": "ann@new.example"}])
    assert call(client, "GET", store, ids=[12]).json()["customers"] == [
        {"id": "12", "email": "ann@new.example"}
    ]
    page = call(client, "GET", store, limit=1, offset=1).json()
    assert page["result"] == ["13"] and page["count"] == 3
    assert call(client, "DELETE", store, customers=[12, "nope"]).json()["count"] == 1
    assert call(client, "DELETE", store, ids=["13"]).json()["count"] == 1
    assert call(client, "GET", store).json()["result"] == ["14"]


@pytest.mark.parametrize(
    "customers, field",
    [
        ([WOO, {**MAGENTO, "email": "not an email"}], "customers[1].email"),
        ([WOO, {"name": "No id"}], "customers[1].id"),
        ([WOO, {**MAGENTO, "Group-Name": "x"}], "customers[1].Group-Name"),
        ([WOO, {**MAGENTO, "address": {"city": "Aarhus"}}], "customers[1].address"),
        ([WOO, {**MAGENTO, "name": 12}], "customers[1].name"),
        ([WOO, "14"], "customers[1]"),
    ],
)
def test_a_bad_customer_is_a_400_naming_it_and_nothing_is_stored(
    client, services, store, customers, field
):
    answer = call(client, "POST", store, customers=customers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"].startswith(field + ":"), answer.json()
    assert count(services, "customers") == 0


def test_customers_need_the_private_key_and_each_store_has_its_own(client, services, store):
    other = make_store(services, "Other shop")
    call(client, "POST", store, customers=[MAGENTO])
    for method in ("GET", "POST", "DELETE"):
        body = {"key": store.public_key, "customers": [MAGENTO] if method == "POST" else ["12"]}
        answer = client.request(method, "/v2/customers", json=body)
        assert answer.status_code == 403 and "ann" not in answer.text.lower()
    assert call(client, "GET", other).json()["count"] == 0
    assert call(client, "DELETE", other, customers=["12"]).json()["count"] == 0
    # another store's sale naming customer 12 gets no email from this store's customer
    public(client, other, "log/sale", "v1", sale="o1", products=["1"], customer="12")
    assert [r["email"] for r in rows(services, "orders")] == [None]
    assert call(client, "GET", store).json()["result"] == ["12"]


def overview(services, store: StoreKeys) -> dict[str, Any]:
    return services.storage.run(
        reports.overview,
        store_id=store.id,
        start_ms=int(START * 1000) - DAY * 1000,
        end_ms=int(START * 1000) + 90 * DAY * 1000,
        window_ms=30 * DAY * 1000,
    )


def impacted(services, store: StoreKeys) -> tuple[int, int]:
    view = overview(services, store)
    return view["orders"], view["impacted_orders"]


def test_a_sale_with_only_a_customer_id_is_attributed_through_its_email(
    client, services, store, clock
):
    call(client, "POST", store, customers=[MAGENTO])
    # Ann clicks a recommendation on her phone and signs in there...
    public(client, store, "log/click", "phone", product="p1", api="recommendations/popular", n=1)
    public(client, store, "log/email", "phone", email="ann@shop.example")
    clock.advance(DAY)
    # ...and buys it on her laptop; the shop's server logs the sale naming only her
    # customer id (and the laptop's visitor).
    body = {
        "key": store.public_key,
        "private_key": store.private_key,
        "visitor": "laptop",
        "sale": "o1",
        "products": ["p1"],
        "customer": "12",
    }
    assert client.post("/v2/log/sale", content=json.dumps(body)).status_code == 200
    assert impacted(services, store) == (1, 1)
    order = rows(services, "orders")[0]
    assert (order["customer"], order["email"]) == ("12", "ann@shop.example")
    links = {(r["email"], r["visitor_id"]) for r in rows(services, "email_links")}
    assert links == {("ann@shop.example", "phone"), ("ann@shop.example", "laptop")}
    # A null-mode sale keeps no customer and no email, as before.
    public(client, store, "log/sale", None, sale="o2", products=["p1"], customer="12")
    anonymous = [r for r in rows(services, "orders") if r["id"] == "o2"][0]
    assert (anonymous["customer"], anonymous["email"], anonymous["visitor_id"]) == (None,) * 3


def test_a_page_naming_a_customer_id_gets_nothing_of_that_customers_email(
    client, services, store, clock
):
    # Anyone can log a sale from a page with the public key: guessing customer id 12
    # must not link the guesser's visitor to customer 12's email, before or after the
    # shop sends its customers.
    call(client, "POST", store, customers=[MAGENTO])
    public(client, store, "log/sale", "mallory", sale="m1", products=["p1"], customer="12")
    public(client, store, "log/sale", "mallory", sale="m2", products=["p1"], customer="13")
    call(client, "POST", store, customers=[{**MAGENTO, "id": 13, "email": "bo@shop.example"}])
    assert {r["email"] for r in rows(services, "orders")} == {None}
    assert rows(services, "email_links") == []


def test_a_customer_sent_after_its_orders_gives_them_its_email(client, services, store, clock):
    public(client, store, "log/click", "phone", product="p1", api="search/search", n=1)
    public(client, store, "log/email", "phone", email="ann@shop.example")
    clock.advance(DAY)
    order = {"id": "o2", "products": ["p1"], "time": int(clock()), "customer": 12}
    call(client, "POST", store, kind="orders", orders=[order])
    assert impacted(services, store) == (1, 0)
    call(client, "POST", store, customers=[MAGENTO])
    assert impacted(services, store) == (1, 1)
    assert {r["email"] for r in rows(services, "orders")} == {"ann@shop.example"}


def test_forgetting_an_email_deletes_its_customers_and_anonymises_their_orders(
    client, services, store
):
    # Customer 12's order was given the address the customer had then...
    call(client, "POST", store, customers=[{**MAGENTO, "email": "ann@old.example"}, WOO])
    order = {"id": "o1", "products": ["p1"], "time": int(START), "customer": "12"}
    call(client, "POST", store, kind="orders", orders=[order])
    assert rows(services, "orders")[0]["email"] == "ann@old.example"
    # ...then the shopper changed it, and has a second record with it.
    call(client, "POST", store, customers=[MAGENTO, {**MAGENTO, "id": "12b"}])
    answer = call(client, "POST", store, kind="privacy/forget", email="ann@shop.example")
    assert answer.json()["forgotten"]["customers"] == 2
    assert answer.json()["forgotten"]["orders"] == 1
    assert call(client, "GET", store).json()["result"] == ["14"]
    order = rows(services, "orders")[0]
    assert (order["customer"], order["email"]) == (None, None)
    dump = all_text(services).lower()
    assert "ann@" not in dump and "ann example" not in dump


def test_retention_deletes_customers_the_shop_has_not_sent_again(client, services, store, clock):
    call(client, "POST", store, customers=[MAGENTO])
    clock.advance(400 * DAY)
    call(client, "POST", store, customers=[WOO])
    now = int(clock() * 1000)
    counts = purge(services.storage, before_ms=now - 395 * DAY * 1000, now_ms=now)
    assert counts["customers"] == 1
    assert call(client, "GET", store).json()["result"] == ["14"]


def test_the_importer_and_the_api_store_the_same_customers(
    client, services, store, tmp_path, monkeypatch, database_url
):
    other = make_store(services, "Imported shop")
    path = tmp_path / "customers.json"
    path.write_text(json.dumps([MAGENTO, PRESTASHOP, WOO]))
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["import", "customers", str(path), "--store", other.public_key]) == 0
    call(client, "POST", store, customers=[MAGENTO, PRESTASHOP, WOO])

    def stored(store_id: int) -> list[dict[str, Any]]:
        found = [r for r in rows(services, "customers") if r["store_id"] == store_id]
        skip = ("store_id", "updated_at")
        return sorted(({k: v for k, v in r.items() if k not in skip} for r in found), key=repr)

    assert stored(store.id) == stored(other.id) != []
    assert (
        call(client, "GET", store).json()["customers"]
        == call(client, "GET", other).json()["customers"]
    )


def test_a_bad_customer_stops_the_import_naming_its_line(
    services, store, tmp_path, monkeypatch, database_url, capsys
):
    path = tmp_path / "customers.ndjson"
    path.write_text(json.dumps(WOO) + "\n" + json.dumps({**MAGENTO, "email": "x"}) + "\n")
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["import", "customers", str(path), "--store", store.public_key]) == 2
    assert "customers.ndjson line 2 (record 2): email: is not an email" in capsys.readouterr().err
    assert count(services, "customers") == 0
