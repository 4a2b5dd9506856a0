"""The catalogue API: upsert, list, delete, with the private key only."""

from __future__ import annotations

from .factories import StoreKeys, count, make_store, product


def call(client, method: str, store: StoreKeys, **body):
    # GET too carries a JSON body: the private key never travels in a query string.
    keys = {"key": store.public_key, "private_key": store.private_key}
    return client.request(method, "/v2/products", json={**keys, **body})


def test_upsert_list_and_delete(client, services, store):
    items = [product(1, categories=["Mugs"], stock=3, colour="red"), product(2, price=5)]
    assert call(client, "POST", store, products=items).json() == {"status": "ok", "count": 2}
    listed = call(client, "GET", store).json()
    assert listed["result"] == ["1", "2"] and listed["count"] == 2
    first = listed["product_data"][0]
    assert first["categories"] == ["Mugs"] and first["stock"] == 3 and first["colour"] == "red"
    # an upsert replaces the product, it does not duplicate it
    call(client, "POST", store, products=[product(1, name="Renamed")])
    assert count(services, "products") == 2
    assert call(client, "GET", store, ids=["1"]).json()["product_data"][0]["name"] == "Renamed"
    assert call(client, "DELETE", store, products=["1"]).json()["count"] == 1
    assert call(client, "GET", store).json()["result"] == ["2"]


def test_list_with_paging(client, store):
    call(client, "POST", store, products=[product(i) for i in range(1, 6)])
    answer = call(client, "GET", store, limit=2, offset=2)
    assert answer.json()["result"] == ["3", "4"] and answer.json()["count"] == 5


def test_list_refuses_the_private_key_in_a_query_string(client, store):
    answer = client.get(
        "/v2/products", params={"key": store.public_key, "private_key": store.private_key}
    )
    assert answer.status_code == 400 and answer.json()["message"].startswith("private_key: ")


def test_head_answers_as_get_does_without_a_body(client, store):
    call(client, "POST", store, products=[product(1)])
    assert call(client, "GET", store).status_code == 200
    answer = call(client, "HEAD", store)
    assert answer.status_code == 200 and answer.content == b""
    assert client.head("/v2/products").status_code == 400  # no key: as GET, not a 500


def test_stores_do_not_see_each_others_products(client, services, store):
    other = make_store(services, name="Other shop")
    call(client, "POST", store, products=[product(1)])
    assert call(client, "GET", other).json()["count"] == 0
    refused = client.request(
        "GET", "/v2/products", json={"key": other.public_key, "private_key": store.private_key}
    )
    assert refused.status_code == 403


def test_a_bad_record_names_its_index_and_stores_none_of_the_batch(client, services, store):
    items = [product(1), product(2, categories="Mugs")]
    answer = call(client, "POST", store, products=items)
    assert answer.status_code == 400
    assert "products[1].categories" in answer.json()["message"]
    assert count(services, "products") == 0
