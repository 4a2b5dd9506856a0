"""Contents: the private-key API (upsert, list, delete), store isolation, designs checked, and
/v2/content serving a content through its api (collector/contents.py)."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from collector import caps, lists
from collector.app import create_app
from collector.services import Services

from .factories import Clock, StoreKeys, all_text, count, make_store, product, rows

SHOP = "https://shop.example"
EVIL = "https://evil.example"
UA = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"


def contents(client: TestClient, method: str, store: StoreKeys, **body: Any) -> Any:
    keys = {"key": store.public_key, "private_key": store.private_key}
    return client.request(method, "/v2/contents", json={**keys, **body})


def content(client: TestClient, store: StoreKeys, args: dict[str, Any], **headers: str) -> Any:
    """A content rendered as clerk.js asks for it: POST text/plain, cookieless."""
    body = {"key": store.public_key, "visitor": "auto", **args}
    return client.post(
        "/v2/content",
        content=json.dumps(body),
        headers={"content-type": "text/plain;charset=UTF-8", "user-agent": UA, **headers},
    )


def catalogue(client: TestClient, store: StoreKeys, *items: dict[str, Any]) -> None:
    answer = client.post(
        "/v2/products",
        json={"key": store.public_key, "private_key": store.private_key, "products": list(items)},
    )
    assert answer.status_code == 200, answer.text


ALTERNATIVES = {
    "id": "product-page-alternatives",
    "name": "Alternatives",
    "api": "recommendations/substituting",
    "limit": 4,
    "labels": ["Product page", "Alternatives"],
    "design": "{% for product in products %}<a href='{{ product.url }}'>{{ product.name }}</a>"
    "{% endfor %}",
}
POPULAR = {"id": "home-popular", "api": "recommendations/popular", "limit": 3}


# ---------------------------------------------------------------- the contents API


def test_upsert_list_and_delete(client, services, store):
    answer = contents(client, "POST", store, contents=[ALTERNATIVES, POPULAR])
    assert answer.json() == {"status": "ok", "count": 2}, answer.text
    listed = contents(client, "GET", store).json()
    assert listed["count"] == 2
    by_id = {c["id"]: c for c in listed["contents"]}
    assert by_id["product-page-alternatives"] == {
        **ALTERNATIVES,
        "arguments": {},
        "updated_at": services.now_ms(),
    }
    # defaults: the name is the id, no labels, no arguments, the default design
    assert by_id["home-popular"] == {
        **POPULAR,
        "name": "home-popular",
        "labels": [],
        "arguments": {},
        "design": None,
        "updated_at": services.now_ms(),
    }
    # an upsert replaces by id
    changed = {**POPULAR, "limit": 8, "arguments": {"exclude": ["9"]}}
    assert contents(client, "POST", store, contents=[changed]).json()["count"] == 1
    assert count(services, "contents") == 2
    again = {c["id"]: c for c in contents(client, "GET", store).json()["contents"]}
    assert again["home-popular"]["limit"] == 8
    assert again["home-popular"]["arguments"] == {"exclude": ["9"]}
    deleted = contents(client, "DELETE", store, ids=["home-popular", "no-such"])
    assert deleted.json() == {"status": "ok", "count": 1}
    assert [c["id"] for c in contents(client, "GET", store).json()["contents"]] == [
        "product-page-alternatives"
    ]


def test_the_contents_api_needs_the_private_key(client, store):
    for method in ("GET", "POST", "DELETE"):
        body = {"key": store.public_key, "contents": [POPULAR], "ids": ["x"]}
        answer = client.request(method, "/v2/contents", json=body)
        assert answer.status_code in (400, 403), answer.text
    answer = client.request("GET", "/v2/contents", json={"key": store.public_key})
    assert answer.status_code == 403 and answer.json()["type"] == "private_key_required"


def test_one_stores_key_never_reads_or_deletes_anothers_contents(client, services, store):
    other = make_store(services, name="Other shop")
    contents(client, "POST", store, contents=[POPULAR])
    assert contents(client, "GET", other).json()["contents"] == []
    assert contents(client, "DELETE", other, ids=["home-popular"]).json()["count"] == 0
    mixed = {"key": other.public_key, "private_key": store.private_key}
    refused = client.request("GET", "/v2/contents", json=mixed)
    assert refused.status_code == 403
    # the same id in two stores: two contents
    contents(client, "POST", other, contents=[{**POPULAR, "limit": 5}])
    assert count(services, "contents") == 2
    assert contents(client, "GET", store).json()["contents"][0]["limit"] == 3
    # nor renders it
    catalogue(client, store, product(1))
    assert content(client, store, {"content": "home-popular"}).json()["result"] == ["1"]
    assert content(client, other, {"content": "home-popular"}).json()["result"] == []


BAD = [
    ({"api": "log/product"}, "contents[1].api", "not a list endpoint"),
    ({"api": "recommendations/nope"}, "contents[1].api", "not a list endpoint"),
    ({"id": "has space"}, "contents[1].id", "A-Z a-z 0-9"),
    ({"id": "x" * 65}, "contents[1].id", "1-64"),
    ({"limit": 0}, "contents[1].limit", "between 1 and 100"),
    ({"limit": 101}, "contents[1].limit", "between 1 and 100"),
    ({"labels": "Home"}, "contents[1].labels", "must be a list"),
    ({"labels": ["x"] * 11}, "contents[1].labels", "the limit is 10"),
    ({"name": "n" * 201}, "contents[1].name", "the limit is 200"),
    ({"arguments": {"colour": "red"}}, "contents[1].arguments.colour", "not an argument"),
    ({"arguments": {"exclude": "9"}}, "contents[1].arguments.exclude", "must be a list"),
    ({"arguments": {"limit": 5}}, "contents[1].arguments.limit", "content's own limit"),
    ({"arguments": {"key": "x"}}, "contents[1].arguments.key", "not an argument"),
    ({"arguments": []}, "contents[1].arguments", "must be an object"),
    ({"design": 5}, "contents[1].design", "Liquid source"),
    (
        {"design": "<ul>\n{% for p in products %}\n<li>{{ p.name }}</li>\n</ul>"},
        "contents[1].design",
        "line ",
    ),
    ({"design": "{{ product.name "}, "contents[1].design", "expected"),
    ({"design": "{% if %}x{% endif %}"}, "contents[1].design", "line 1"),
    ({"design": "x" * (caps.DESIGN_LENGTH_MAX + 1)}, "contents[1].design", "the limit is"),
    ({"colour": "red"}, "contents[1].colour", "unknown field"),
]


@pytest.mark.parametrize(("change", "field", "says"), BAD, ids=[b[1] + b[2] for b in BAD])
def test_a_bad_content_is_a_400_naming_it_and_nothing_is_stored(
    client, services, store, change, field, says
):
    before = all_text(services)
    answer = contents(client, "POST", store, contents=[POPULAR, {**POPULAR, **change}])
    assert answer.status_code == 400, answer.text
    message = answer.json()["message"]
    assert field in message and says in message, message
    assert all_text(services) == before


def test_a_design_that_does_not_parse_says_where_and_what_was_expected(client, store):
    design = "<ul>\n{% for p in products %}\n  <li>{{ p.name }}</li>\n</ul>"
    answer = contents(client, "POST", store, contents=[{**POPULAR, "design": design}])
    assert answer.status_code == 400
    message = answer.json()["message"]
    assert message.startswith("contents[0].design: line ")
    assert "expected" in message and "endfor" in message, message


def test_repeated_ids_in_one_call_are_refused(client, services, store):
    answer = contents(client, "POST", store, contents=[POPULAR, POPULAR])
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("contents[1].id: repeats contents[0].id")
    assert count(services, "contents") == 0


def test_a_store_has_at_most_contents_max_contents(client, services, store):
    many = [{**POPULAR, "id": f"c{i}"} for i in range(caps.CONTENTS_MAX)]
    assert contents(client, "POST", store, contents=many).json()["count"] == caps.CONTENTS_MAX
    answer = contents(client, "POST", store, contents=[{**POPULAR, "id": "one-more"}])
    assert answer.status_code == 400 and answer.json()["message"].startswith("contents: ")
    assert count(services, "contents") == caps.CONTENTS_MAX
    # replacing one that exists is fine
    assert contents(client, "POST", store, contents=[{**POPULAR, "id": "c1"}]).status_code == 200


def test_every_list_endpoint_is_registered_once_with_its_route(client):
    assert set(lists.REGISTRY) == {
        "recommendations/popular",
        "recommendations/trending",
        "recommendations/new",
        "recommendations/complementary",
        "recommendations/substituting",
        "recommendations/category/popular",
        "recommendations/visitor/history",
        "recommendations/visitor/complementary",
        "search/search",
        "search/predictive",
    }
    personal = {name for name, entry in lists.REGISTRY.items() if entry.personal}
    assert personal == {"recommendations/visitor/history", "recommendations/visitor/complementary"}


# ---------------------------------------------------------------- /v2/content


def shop(client: TestClient, store: StoreKeys) -> None:
    """Mugs 1-3 (3 out of stock), a tea 4, and a sale of 1 with 2."""
    catalogue(
        client,
        store,
        product(1, name="Blue mug", categories=["Mugs"]),
        product(2, name="Red mug", categories=["Mugs"]),
        product(3, name="Green mug", categories=["Mugs"], stock=0),
        product(4, name="Green tea", categories=["Tea"]),
    )
    sale = {"sale": "o1", "products": ["1", "2"], "visitor": "buyer1"}
    assert content_free_call(client, store, "log/sale", sale).status_code == 200


def content_free_call(client: TestClient, store: StoreKeys, api: str, args: dict[str, Any]) -> Any:
    return client.post(f"/v2/{api}", json={"key": store.public_key, **args})


# Each kind of list: the content (its arguments as defaults), what the call adds, and the
# same list asked for directly.
KINDS = [
    ("recommendations/popular", {}, {}),
    ("recommendations/trending", {}, {}),
    ("recommendations/new", {}, {}),
    ("recommendations/complementary", {}, {"products": ["1"]}),
    ("recommendations/substituting", {}, {"products": [1]}),
    ("recommendations/category/popular", {"category": "Mugs"}, {}),
    ("search/search", {}, {"query": "mug"}),
    ("search/predictive", {"query": "gre"}, {}),
]


@pytest.mark.parametrize(("api", "defaults", "args"), KINDS, ids=[k[0] for k in KINDS])
def test_a_content_answers_as_its_api_does_with_the_content(client, store, api, defaults, args):
    shop(client, store)
    saved = {"id": "slot", "name": "A slot", "api": api, "limit": 2, "labels": ["Slot"]}
    saved |= {"arguments": defaults, "design": "{{ products.size }}"}
    assert contents(client, "POST", store, contents=[saved]).status_code == 200
    direct = content_free_call(client, store, api, {**defaults, **args, "limit": 2}).json()
    answer = content(client, store, {"content": "slot", **args})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["result"] and body["result"] == direct["result"]
    assert body["product_data"] == direct["product_data"] and body["count"] == direct["count"]
    assert body["content"] == {
        "id": "slot",
        "name": "A slot",
        "api": api,
        "labels": ["Slot"],
        "limit": 2,
        "design": "{{ products.size }}",
    }


def test_element_arguments_win_over_the_contents_defaults(client, services, store):
    shop(client, store)
    saved = {**POPULAR, "limit": 1, "labels": ["Home"], "arguments": {"exclude": ["1"]}}
    contents(client, "POST", store, contents=[saved])
    assert content(client, store, {"content": "home-popular"}).json()["result"] == ["2"]
    wider = content(client, store, {"content": "home-popular", "limit": 3, "exclude": []})
    assert wider.json()["result"] == ["1", "2", "4"]
    # the render is recorded with the content's labels, which the answer gives for clicks;
    # renders are written without the answer waiting, so wait for both commits
    deadline = time.monotonic() + 5
    while True:
        renders = [r for r in rows(services, "events") if r["kind"] == "render"]
        if len(renders) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert renders and all(json.loads(r["labels"]) == ["Home"] for r in renders)
    assert all(r["api"] == "recommendations/popular" for r in renders)
    assert wider.json()["content"]["labels"] == ["Home"]
    # by GET with a query string too (lists as JSON), and with Clerk's "@id"
    answer = client.get(
        "/v2/content",
        params={"key": store.public_key, "content": "@home-popular", "exclude": '["2"]'},
    )
    assert answer.status_code == 200 and answer.json()["result"] == ["1"]


def test_a_content_checks_its_apis_arguments(client, store):
    contents(client, "POST", store, contents=[{**POPULAR, "api": "recommendations/complementary"}])
    missing = content(client, store, {"content": "home-popular"})
    assert missing.status_code == 400 and missing.json()["message"] == "products: is required"
    bad = content(client, store, {"content": "home-popular", "products": ["1"], "limit": 500})
    assert bad.status_code == 400 and bad.json()["message"].startswith("limit: ")


def test_an_unknown_content_is_a_404_saying_so(client, store):
    answer = content(client, store, {"content": "product-page-alternatives", "products": ["1"]})
    assert answer.status_code == 404
    assert answer.json() == {
        "status": "error",
        "type": "unknown_content",
        "message": "content: this store has no content product-page-alternatives",
    }
    unknown_key = content(client, StoreKeys(0, "nokey", ""), {"content": "x"})
    assert unknown_key.status_code == 403
    bad_id = content(client, store, {"content": "no such"})
    assert bad_id.status_code == 400 and bad_id.json()["message"].startswith("content: ")


def test_a_personal_content_keeps_its_apis_origin_rule(client, services):
    store = make_store(services, origins=[SHOP])
    shop(client, store)
    saved = {"id": "history", "api": "recommendations/visitor/history", "labels": ["Seen"]}
    contents(client, "POST", store, contents=[saved])
    seen = content_free_call(client, store, "log/product", {"product": "4", "visitor": "ann1"})
    assert seen.status_code == 200
    mine = content(client, store, {"content": "history", "visitor": "ann1"}, origin=SHOP)
    assert mine.status_code == 200 and mine.json()["result"] == ["4"]
    assert mine.headers["access-control-allow-origin"] == SHOP
    refused = content(client, store, {"content": "history", "visitor": "ann1"}, origin=EVIL)
    assert refused.status_code == 403 and refused.json()["type"] == "origin_not_allowed"
    # a store with no origins refuses personal contents to every page
    bare = make_store(services, name="No origins")
    contents(client, "POST", bare, contents=[saved])
    answer = content(client, bare, {"content": "history", "visitor": "ann1"}, origin=SHOP)
    assert answer.status_code == 403 and "reveals or changes" in answer.json()["message"]
    # a non-personal content is served to any page of a store with no list
    contents(client, "POST", bare, contents=[POPULAR])
    assert content(client, bare, {"content": "home-popular"}, origin=EVIL).status_code == 200


def test_a_change_is_served_at_once_in_this_process(client, store):
    shop(client, store)
    contents(client, "POST", store, contents=[POPULAR])
    assert content(client, store, {"content": "home-popular"}).json()["content"]["limit"] == 3
    contents(client, "POST", store, contents=[{**POPULAR, "limit": 1}])
    answer = content(client, store, {"content": "home-popular"}).json()
    assert answer["content"]["limit"] == 1 and len(answer["result"]) == 1
    contents(client, "DELETE", store, ids=["home-popular"])
    assert content(client, store, {"content": "home-popular"}).status_code == 404


def test_a_content_call_is_rate_limited_like_its_api(settings):
    small = dataclasses.replace(settings, rate_limit_store="3/minute")
    services = Services(small, clock=Clock())
    services.storage.migrate()
    store = make_store(services)
    try:
        with TestClient(create_app(small, services=services)) as client:
            contents(client, "POST", store, contents=[POPULAR])
            answers = [content(client, store, {"content": "home-popular"}) for _ in range(3)]
    finally:
        services.storage.dispose()
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].json()["type"] == "rate_limited"


def test_the_content_cache_is_bounded_by_the_characters_of_its_designs(
    client, services, monkeypatch
):
    import anyio

    from collector import services as services_module

    stores = [make_store(services, name=f"Shop {i}") for i in range(3)]
    design = "{{ products.size }}" + "x" * 5000
    for store in stores:
        contents(client, "POST", store, contents=[{**POPULAR, "design": design}])
    monkeypatch.setattr(services_module, "CONTENT_CACHE_CHARS", 13_000)  # two stores' worth

    async def load_all() -> None:
        for store in stores:
            assert (await services.contents(store.id))["home-popular"]["design"] == design

    anyio.run(load_all)
    assert list(services._contents) == [stores[1].id, stores[2].id]  # the oldest went
    assert services._content_chars == sum(entry[1] for entry in services._contents.values())
    assert services._content_chars <= 13_000
