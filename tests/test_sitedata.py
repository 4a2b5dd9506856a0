"""Categories and pages (private key): upsert, list, delete, folded for search, capped,
each store's own; on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from collector import caps

from .factories import StoreKeys, count, make_store, rows


def call(client, method: str, kind: str, store: StoreKeys, **body: Any):
    keys = {"key": store.public_key, "private_key": store.private_key}
    return client.request(method, f"/v2/{kind}", json={**keys, **body})


def category(id: Any, **fields: Any) -> dict[str, Any]:
    return {"id": id, "name": f"Category {id}", "url": f"/c/{id}", **fields}


def page(id: Any, **fields: Any) -> dict[str, Any]:
    return {
        "id": id,
        "type": "cms page",
        "url": f"https://shop.example/pages/{id}",
        "title": f"Page {id}",
        "text": f"About page {id}",
        **fields,
    }


MAKE = {"categories": category, "pages": page}
KINDS = list(MAKE)


def test_categories_upsert_list_and_delete_with_integer_ids(client, services, store):
    items = [
        category(987, subcategories=[654, "655"], image="https://shop.example/c.jpg"),
        category("654", name="Mugs", description="Mugs\nand cups", colour="red"),
    ]
    answer = call(client, "POST", "categories", store, categories=items)
    assert answer.json() == {"status": "ok", "count": 2}, answer.text
    listed = call(client, "GET", "categories", store).json()
    assert listed["result"] == ["654", "987"] and listed["count"] == 2
    mugs, parent = listed["categories"]
    assert mugs == {
        "id": "654",
        "name": "Mugs",
        "url": "/c/654",
        "subcategories": [],
        "description": "Mugs\nand cups",
        "colour": "red",
    }
    assert parent["subcategories"] == ["654", "655"]
    assert parent["image"] == "https://shop.example/c.jpg"
    # an upsert replaces, it does not duplicate
    call(client, "POST", "categories", store, categories=[category(654, name="Cups")])
    assert count(services, "categories") == 2
    one = call(client, "GET", "categories", store, ids=[654]).json()
    assert one["result"] == ["654"] and one["categories"][0]["name"] == "Cups"
    assert "colour" not in one["categories"][0]
    answer = call(client, "DELETE", "categories", store, categories=[654, "nope"])
    assert answer.json() == {"status": "ok", "count": 1}
    assert call(client, "GET", "categories", store).json()["result"] == ["987"]


def test_pages_upsert_list_and_delete_by_ids(client, services, store):
    items = [page(1, image="/img/1.png", author="Ann"), page("faq", type="faq")]
    assert call(client, "POST", "pages", store, pages=items).json()["count"] == 2
    listed = call(client, "GET", "pages", store, limit=1, offset=1).json()
    assert listed["result"] == ["faq"] and listed["count"] == 2
    first = call(client, "GET", "pages", store, ids=["1"]).json()["pages"][0]
    assert first == {**page("1"), "image": "/img/1.png", "author": "Ann"}
    assert call(client, "DELETE", "pages", store, ids=["1", 2]).json()["count"] == 1
    assert [r["id"] for r in rows(services, "pages")] == ["faq"]


def test_text_is_stored_folded_for_search(client, services, store):
    call(
        client,
        "POST",
        "categories",
        store,
        categories=[category(1, name="Crème BRÛLÉE Sets", description="Straße-Ærø")],
    )
    html = "<h1>Über uns</h1><p>Caf&eacute; &amp; T-Shirts<br>größe M</p>"
    call(client, "POST", "pages", store, pages=[page(1, title="Über Uns", text=html)])
    [stored_category] = rows(services, "categories")
    assert stored_category["name_terms"] == "creme brulee sets"
    assert stored_category["body_terms"] == "strasse aero"
    [stored_page] = rows(services, "pages")
    assert stored_page["title_terms"] == "uber uns"
    assert stored_page["text_terms"] == "uber uns cafe t shirts grosse m"
    assert stored_page["text"] == html  # kept as sent


@pytest.mark.parametrize(
    ("kind", "item", "field", "problem"),
    [
        ("categories", {"id": 1, "url": "/c"}, "categories[1].name", "is required"),
        ("categories", category(1, url="javascript:alert(1)"), "categories[1].url", "http"),
        ("categories", category(1, subcategories="2"), "categories[1].subcategories", "list"),
        ("categories", category(True), "categories[1].id", "string or integer"),
        ("categories", category(1, name="a\x00b"), "categories[1].name", "control"),
        ("categories", category(1, **{"Bad-Name": 1}), "categories[1].Bad-Name", "attribute"),
        ("pages", {**page(1), "type": None}, "pages[1].type", "string"),
        ("pages", {k: v for k, v in page(1).items() if k != "text"}, "pages[1].text", "required"),
        ("pages", page(1, text="x" * (caps.PAGE_TEXT_MAX + 1)), "pages[1].text", "limit"),
        ("pages", page(1, text="bell\x07"), "pages[1].text", "control"),
        ("pages", page(1, image="data:image/png;base64,AAAA"), "pages[1].image", "http"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing_of_the_batch(
    client, services, store, kind, item, field, problem
):
    answer = call(client, "POST", kind, store, **{kind: [MAKE[kind](0), item]})
    assert answer.status_code == 400, answer.text
    message = answer.json()["message"]
    assert message.startswith(f"{field}: ") and problem in message
    assert count(services, kind) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_delete_takes_its_ids_in_one_field(client, store, kind):
    neither = call(client, "DELETE", kind, store)
    both = call(client, "DELETE", kind, store, ids=["1"], **{kind: ["1"]})
    for answer in (neither, both):
        assert answer.status_code == 400 and answer.json()["message"].startswith(f"{kind}: ")


@pytest.mark.parametrize("kind", KINDS)
def test_delete_of_an_empty_list_deletes_nothing(client, services, store, kind):
    """Found by fuzzing from /v2/openapi.json: {categories: []} was a 500."""
    assert call(client, "POST", kind, store, **{kind: [MAKE[kind](1)]}).status_code == 200
    for body in ({kind: []}, {"ids": []}):
        answer = call(client, "DELETE", kind, store, **body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["count"] == 0
    assert count(services, kind) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_every_method_needs_the_private_key(client, services, store, kind):
    for method, body in (("GET", {}), ("POST", {kind: [MAKE[kind](1)]}), ("DELETE", {"ids": [1]})):
        answer = client.request(method, f"/v2/{kind}", json={"key": store.public_key, **body})
        assert answer.status_code == 403, (method, answer.text)
    refused = client.get(
        f"/v2/{kind}", params={"key": store.public_key, "private_key": store.private_key}
    )
    assert refused.status_code == 400 and refused.json()["message"].startswith("private_key: ")
    assert count(services, kind) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_stores_never_see_or_change_each_others_items(client, services, store, kind):
    other = make_store(services, name="Other shop")
    call(client, "POST", kind, store, **{kind: [MAKE[kind](1), MAKE[kind](2)]})
    call(client, "POST", kind, other, **{kind: [MAKE[kind](1, url="/other")]})
    assert call(client, "GET", kind, other).json()["result"] == ["1"]
    assert call(client, "DELETE", kind, other, ids=["1", "2"]).json()["count"] == 1
    mine = call(client, "GET", kind, store).json()
    assert mine["result"] == ["1", "2"] and mine[kind][0]["url"] != "/other"
    # another store's public key with this store's private key: refused
    crossed = {"key": other.public_key, "private_key": store.private_key}
    answer = client.request("GET", f"/v2/{kind}", json=crossed)
    assert answer.status_code == 403


@pytest.mark.parametrize("kind", KINDS)
def test_a_store_holds_at_most_its_cap_and_an_upsert_past_it_stores_nothing(
    client, services, store, kind, monkeypatch
):
    monkeypatch.setattr(caps, "SITE_ITEMS_MAX", 3)
    assert (
        call(client, "POST", kind, store, **{kind: [MAKE[kind](i) for i in (1, 2)]}).json()["count"]
        == 2
    )
    # replacing ones it holds and adding one more: 3, within the cap
    items = [MAKE[kind](1), MAKE[kind](2), MAKE[kind](3), MAKE[kind](3)]
    assert call(client, "POST", kind, store, **{kind: items}).json()["count"] == 3
    answer = call(client, "POST", kind, store, **{kind: [MAKE[kind](1, url="/new"), MAKE[kind](4)]})
    assert answer.status_code == 400
    assert answer.json()["message"] == f"{kind}: the store would hold 4; the limit is 3"
    assert count(services, kind) == 3 and "/new" not in str(rows(services, kind))
    # another store has a cap of its own
    other = make_store(services, name="Other shop")
    assert call(client, "POST", kind, other, **{kind: [MAKE[kind](9)]}).status_code == 200


def test_a_batch_past_the_per_call_cap_is_refused(client, services, store, monkeypatch):
    items = [category(i) for i in range(caps.CATALOGUE_BATCH_MAX + 1)]
    answer = call(client, "POST", "categories", store, categories=items)
    # the body size limit or the batch cap: either way a clear refusal, nothing stored
    assert answer.status_code in (400, 413)
    assert count(services, "categories") == 0


# ---------------------------------------------------------------- product/add, product/remove


def product(id: Any, **fields: Any) -> dict[str, Any]:
    return {"id": id, "name": f"P{id}", "url": f"/p/{id}", "price": 9.5, **fields}


def keyed(store: StoreKeys, **body: Any) -> dict[str, Any]:
    return {"key": store.public_key, "private_key": store.private_key, **body}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_product_add_upserts_as_post_products_does(client, services, store, method):
    answer = client.request(method, "/v2/product/add", json=keyed(store, products=[product(124)]))
    assert answer.json() == {"status": "ok", "count": 1}
    listed = client.request("GET", "/v2/products", json=keyed(store)).json()
    assert listed["result"] == ["124"] and listed["product_data"][0]["name"] == "P124"
    # the same search index as POST /v2/products keeps
    found = client.post("/v2/search/search", json={"key": store.public_key, "query": "P124"})
    assert found.json()["result"] == ["124"]


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_product_remove_deletes_as_delete_products_does(client, services, store, method):
    client.post("/v2/products", json=keyed(store, products=[product(124), product(125)]))
    answer = client.request(method, "/v2/product/remove", json=keyed(store, products=["124", 125]))
    assert answer.json() == {"status": "ok", "count": 2}
    assert count(services, "products") == 0


def test_the_aliases_check_as_the_products_api_does(client, services, store):
    bad = client.post("/v2/product/add", json=keyed(store, products=[product(1, price="free")]))
    assert bad.status_code == 400 and bad.json()["message"].startswith("products[0].price: ")
    assert count(services, "products") == 0
    client.post("/v2/products", json=keyed(store, products=[product(1)]))
    # no private key, or one in the query string: refused, nothing removed
    public = client.post("/v2/product/remove", json={"key": store.public_key, "products": [1]})
    assert public.status_code == 403
    query = client.get(
        "/v2/product/remove",
        params={"key": store.public_key, "private_key": store.private_key, "products": "[1]"},
    )
    assert query.status_code == 400 and query.json()["message"].startswith("private_key: ")
    # a GET that changes the catalogue answers no HEAD
    assert client.head("/v2/product/remove").status_code == 405
    assert client.head("/v2/product/add").status_code == 405
    assert count(services, "products") == 1


def test_product_remove_in_one_store_leaves_another_alone(client, services, store):
    other = make_store(services, name="Other shop")
    for keys in (store, other):
        client.post("/v2/product/add", json=keyed(keys, products=[product(1)]))
    client.post("/v2/product/remove", json=keyed(other, products=[1]))
    assert [r["store_id"] for r in rows(services, "products")] == [store.id]


# ---------------------------------------------------------------- log/basket/set with email


# What a browser sends with a same-origin call (a real one sends Origin too); a call with
# neither is a shop's server's (tests/test_server_calls.py).
BROWSER = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}


def basket(client, store: StoreKeys, visitor: Any, **extra: Any):
    body = {"key": store.public_key, "visitor": visitor, "products": [123, "124"], **extra}
    return client.post("/v2/log/basket/set", json=body, headers=BROWSER)


def test_basket_set_with_an_email_links_it_as_log_email_does(client, services, store):
    answer = basket(client, store, "cart-1", email="Shopper@Example.com")
    assert answer.json() == {"status": "ok", "basket": ["123", "124"]}
    [link] = rows(services, "email_links")
    assert link["email"] == "shopper@example.com" and link["visitor_id"] == "cart-1"
    # the same as log/email for the same visitor: one link
    client.post(
        "/v2/log/email",
        json={"key": store.public_key, "visitor": "cart-1", "email": "shopper@example.com"},
    )
    assert count(services, "email_links") == 1
    basket(client, store, "auto", email="shopper@example.com")
    assert count(services, "email_links") == 2  # the browser's cookieless visitor, linked too


def test_basket_set_with_an_email_in_null_mode_keeps_no_email(client, services, store):
    answer = basket(client, store, None, email="shopper@example.com")
    assert answer.status_code == 200
    assert count(services, "email_links") == 0
    assert "shopper@example.com" not in str(rows(services, "events"))


def test_basket_set_with_a_bad_email_names_it_and_stores_nothing(client, services, store):
    answer = basket(client, store, "cart-1", email="not an email")
    assert answer.status_code == 400 and answer.json()["message"].startswith("email: ")
    assert count(services, "events") == 0 and count(services, "email_links") == 0
