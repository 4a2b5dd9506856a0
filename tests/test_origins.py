"""Who may call what from where: CORS grants, personal calls, POST-only changes, bearer ids,
and private keys kept out of query strings (collector/origins.py, collector/api.py)."""

from __future__ import annotations

import functools
import json
from typing import Any

import anyio
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from collector import (
    contents,
    products,
    recommendations,
    search,
    sitedata,
    stats,
    suggestions,
    tracking,
)
from collector.origins import parse_origin
from collector.services import Services
from collector.validation import DERIVED_ID

from .factories import StoreKeys, all_text, make_store, product

UA = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"
SHOP = "https://shop.example"
EVIL = "https://evil.example"

# Every personal call (its answer reveals a visitor's data, or it changes them), with the
# arguments it needs; CHANGES are the ones that change a visitor's data.
PERSONAL: dict[str, dict[str, Any]] = {
    "recommendations/visitor/history": {},
    "recommendations/visitor/complementary": {},
    "log/basket/set": {"products": ["1", "2"]},
    "log/basket/add": {"product": "2"},
    "log/basket/remove": {"product": "1"},
    "log/visitor": {"visitor": "newid1", "previous": "auto"},
    "privacy/forget": {},
}
CHANGES = ["log/basket/set", "log/basket/add", "log/basket/remove", "log/visitor", "privacy/forget"]
NON_PERSONAL: dict[str, dict[str, Any]] = {
    "log/product": {"product": "1"},
    "log/click": {"product": "1", "api": "recommendations/popular"},
    "log/sale": {"sale": "s1", "products": ["1"]},
    "log/email": {"email": "ann@example.com"},
    "recommendations/popular": {},
    "recommendations/trending": {},
    "recommendations/new": {},
    "recommendations/complementary": {"products": ["1"]},
    "recommendations/substituting": {"products": ["1"]},
    "recommendations/category/popular": {"category": "Mugs"},
    "search/search": {"query": "mug"},
    "search/predictive": {"query": "mu"},
    "search/suggestions": {"query": "mu"},
    "search/categories": {"query": "mu"},
    "search/pages": {"query": "mu"},
}


def call(
    client: TestClient,
    endpoint: str,
    store: StoreKeys,
    args: dict[str, Any] | None = None,
    **headers: str,
) -> Any:
    """A call as clerk.js sends it: POST text/plain, cookieless, from a shopper's browser."""
    body = {"key": store.public_key, "visitor": "auto", **(args or {})}
    return client.post(
        f"/v2/{endpoint}",
        content=json.dumps(body),
        headers={"content-type": "text/plain;charset=UTF-8", "user-agent": UA, **headers},
    )


def shopper_history(client: TestClient, store: StoreKeys) -> None:
    """The shopper viewed a product and put it in the basket (no Origin: set up directly)."""
    client.post(
        "/v2/products",
        json={
            "key": store.public_key,
            "private_key": store.private_key,
            "products": [product(1, categories=["Mugs"]), product(2, categories=["Mugs"])],
        },
    )
    assert call(client, "log/product", store, {"product": "1"}).status_code == 200
    assert call(client, "log/basket/set", store, {"products": ["1"]}).status_code == 200


def vary(answer: Any) -> list[str]:
    return [v.strip().lower() for v in answer.headers.get("vary", "").split(",")]


# ---------------------------------------------------------------- personal calls


@pytest.mark.parametrize("endpoint", PERSONAL)
def test_personal_calls_are_served_to_a_listed_origin_with_its_grant(client, services, endpoint):
    store = make_store(services, origins=[SHOP])
    shopper_history(client, store)
    answer = call(client, endpoint, store, PERSONAL[endpoint], origin=SHOP)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == SHOP
    assert "origin" in vary(answer)
    assert "access-control-allow-credentials" not in answer.headers


@pytest.mark.parametrize("endpoint", PERSONAL)
@pytest.mark.parametrize("listed", [True, False], ids=["unlisted-origin", "store-without-list"])
def test_personal_calls_from_another_origin_are_refused_and_change_nothing(
    client, services, endpoint, listed
):
    store = make_store(services, origins=[SHOP] if listed else [])
    shopper_history(client, store)
    before = all_text(services)
    answer = call(client, endpoint, store, PERSONAL[endpoint], origin=EVIL)
    assert answer.status_code == 403, answer.text
    error = answer.json()
    assert error["status"] == "error" and error["type"] == "origin_not_allowed"
    assert "result" not in error and "basket" not in error
    if not listed:  # says how to add the origin
        assert EVIL in error["message"]
        assert "clerk-collector create-store --origin" in error["message"]
        assert "Stores page" in error["message"]
    # The refusal is readable (it holds nothing personal), so clerk.js can report it.
    assert answer.headers["access-control-allow-origin"] == EVIL
    assert "origin" in vary(answer)
    assert all_text(services) == before


@pytest.mark.parametrize("endpoint", CHANGES)
def test_calls_that_change_a_visitor_are_post_only(client, services, endpoint):
    store = make_store(services, origins=[SHOP])
    shopper_history(client, store)
    before = all_text(services)
    args = {"key": store.public_key, "visitor": "auto", **PERSONAL[endpoint]}
    query = {k: json.dumps(v) if isinstance(v, list) else v for k, v in args.items()}
    for origin in ({}, {"origin": SHOP}):  # an <img> sends none; a listed shop page is no help
        answer = client.get(f"/v2/{endpoint}", params=query, headers={"user-agent": UA, **origin})
        assert answer.status_code == 405, answer.text
        assert answer.json()["type"] == "method_not_allowed"
        assert answer.json()["status"] == "error"
    assert all_text(services) == before


def test_an_img_of_log_visitor_on_another_site_moves_nothing(client, services):
    """Finding 2: <img src="COLLECTOR/v2/log/visitor?key=K&previous=auto&visitor=atk123">."""
    store = make_store(services, origins=[SHOP])
    shopper_history(client, store)
    before = all_text(services)
    answer = client.get(
        "/v2/log/visitor",
        params={"key": store.public_key, "previous": "auto", "visitor": "atk123"},
        headers={"user-agent": UA, "sec-fetch-site": "cross-site", "sec-fetch-dest": "image"},
    )
    assert answer.status_code == 405
    assert all_text(services) == before and "atk123" not in all_text(services)


def test_a_cross_site_request_without_origin_gets_nothing_personal(client, services):
    """An <img>, <script> or link on another site sends a GET without Origin, but a browser
    says where it came from in Sec-Fetch-Site."""
    store = make_store(services, origins=[SHOP])
    shopper_history(client, store)
    answer = client.get(
        "/v2/recommendations/visitor/history",
        params={"key": store.public_key, "visitor": "auto"},
        headers={"user-agent": UA, "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors"},
    )
    assert answer.status_code == 403 and answer.json()["type"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("fetch_site", [None, "none", "same-origin"])
def test_personal_calls_without_an_origin_are_served(client, services, fetch_site):
    """A shop's server, a script, or the shopper opening the URL: not a page of another
    origin. (In auto mode such a caller only ever reaches its own cookieless id.)"""
    store = make_store(services)
    shopper_history(client, store)
    headers = {} if fetch_site is None else {"sec-fetch-site": fetch_site}
    answer = call(client, "recommendations/visitor/history", store, **headers)
    assert answer.status_code == 200 and answer.json()["result"] == ["1"]
    assert "access-control-allow-origin" not in answer.headers
    assert "origin" in vary(answer)


def test_the_null_origin_is_never_granted(client, services):
    store = make_store(services, origins=[SHOP])
    answer = call(client, "recommendations/visitor/history", store, origin="null")
    assert answer.status_code == 403


def test_the_private_key_makes_forget_a_server_call(client, services):
    """privacy/forget is personal with the public key only; with the private key it is the
    shop's server's (which a browser page never holds)."""
    store = make_store(services)
    call(client, "log/email", store, {"visitor": "v1", "email": "ann@example.com"})
    answer = client.post(
        "/v2/privacy/forget",
        json={"key": store.public_key, "private_key": store.private_key, "visitor": "v1"},
    )
    assert answer.status_code == 200 and answer.json()["forgotten"]["links"] == 1


def test_a_listed_origin_is_granted_and_others_are_not_on_one_store(client, services):
    store = make_store(services, origins=[SHOP, "http://localhost:8001"])
    shopper_history(client, store)
    mine = call(client, "recommendations/visitor/history", store, origin="http://localhost:8001")
    assert mine.json()["result"] == ["1"]
    assert mine.headers["access-control-allow-origin"] == "http://localhost:8001"
    # Same host, another port: another origin.
    other = call(client, "recommendations/visitor/history", store, origin="http://localhost:8002")
    assert other.status_code == 403


# ---------------------------------------------------------------- non-personal calls


@pytest.mark.parametrize("endpoint", NON_PERSONAL)
def test_non_personal_calls_are_served_to_any_origin_of_a_store_without_a_list(
    client, services, store, endpoint
):
    answer = call(client, endpoint, store, NON_PERSONAL[endpoint], origin=EVIL)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == EVIL  # echoed, never *
    assert "origin" in vary(answer)


@pytest.mark.parametrize("endpoint", NON_PERSONAL)
def test_non_personal_calls_of_a_store_with_a_list_are_served_to_listed_origins_only(
    client, services, endpoint
):
    store = make_store(services, origins=[SHOP])
    before = all_text(services)
    refused = call(client, endpoint, store, NON_PERSONAL[endpoint], origin=EVIL)
    assert refused.status_code == 403 and refused.json()["type"] == "origin_not_allowed"
    assert all_text(services) == before
    served = call(client, endpoint, store, NON_PERSONAL[endpoint], origin=SHOP)
    assert served.status_code == 200 and served.headers["access-control-allow-origin"] == SHOP


def test_no_answer_grants_every_origin(client, services, store):
    answers = [
        call(client, "log/product", store, {"product": "1"}, origin=SHOP),
        call(client, "log/product", store, {"product": "1"}),
        call(client, "log/product", store, {"product": ""}, origin=SHOP),
        client.options("/v2/log/product", headers={"origin": SHOP}),
    ]
    assert all(a.headers.get("access-control-allow-origin") != "*" for a in answers)


def test_preflight_echoes_the_origin_and_grants_no_credentials(client):
    preflight = client.options(
        "/v2/recommendations/visitor/history",
        headers={
            "origin": SHOP,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SHOP
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"]
    assert "origin" in vary(preflight)
    assert "access-control-allow-credentials" not in preflight.headers


def test_private_endpoints_have_no_cors(client, store):
    answer = client.post(
        "/v2/stats/overview",
        json={"key": store.public_key, "private_key": store.private_key},
        headers={"origin": SHOP},
    )
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


# ---------------------------------------------------------------- bearer ids


def test_the_derived_namespace_is_exactly_what_derive_makes(services: Services):
    for ip in ("198.51.100.7", "203.0.113.9", "2001:db8::1"):
        derived = anyio.run(
            functools.partial(services.visitors.derive, store_key="pk_a", ip=ip, user_agent="UA")
        )
        assert DERIVED_ID.fullmatch(derived)
    for custom in ("c-short", "c-" + "a" * 21, "c-" + "a" * 23, "d-" + "a" * 22, "abc"):
        assert not DERIVED_ID.fullmatch(custom)


DERIVED = "c-" + "AbCdEfGhIjKlMnOpQrStUw"


@pytest.mark.parametrize(
    ("endpoint", "args", "field"),
    [
        ("log/product", {"product": "1", "visitor": DERIVED}, "visitor"),
        ("recommendations/visitor/history", {"visitor": DERIVED}, "visitor"),
        ("log/basket/set", {"products": ["1"], "visitor": DERIVED}, "visitor"),
        ("privacy/forget", {"visitor": DERIVED}, "visitor"),
        ("log/visitor", {"visitor": DERIVED, "previous": "auto"}, "visitor"),
        ("log/visitor", {"visitor": "newid1", "previous": DERIVED}, "previous"),
    ],
)
def test_ids_in_the_derived_namespace_are_refused(client, services, endpoint, args, field):
    store = make_store(services, origins=[SHOP])
    shopper_history(client, store)
    before = all_text(services)
    answer = call(client, endpoint, store, args, origin=SHOP)
    assert answer.status_code == 400, answer.text
    assert answer.json()["type"] == "invalid_field"
    assert answer.json()["message"].startswith(f"{field}: ")
    assert all_text(services) == before


def test_ids_that_merely_start_with_c_are_fine(client, services, store):
    answer = call(client, "log/product", store, {"product": "1", "visitor": "c-123"})
    assert answer.status_code == 200


# ---------------------------------------------------------------- private keys


def v2_routes() -> list[tuple[str, str]]:
    """Every /v2 endpoint with a method it answers (POST where it takes one)."""
    found = []
    modules = (tracking, recommendations, search, suggestions, stats, products, sitedata, contents)
    for module in modules:
        for route in module.routes:
            assert isinstance(route, Route)
            methods = route.methods or {"GET"}
            found.append((route.path, "POST" if "POST" in methods else "GET"))
    return found


@pytest.mark.parametrize(("path", "method"), v2_routes())
def test_a_private_key_in_a_query_string_is_refused_naming_it(client, services, path, method):
    store = make_store(services)
    before = all_text(services)
    query = {"key": store.public_key, "private_key": store.private_key}
    body = {"key": store.public_key}
    if method == "GET":
        answer = client.get(path, params=query)
    else:  # even when the body is fine, the key in the address is already in logs
        answer = client.post(path, params={"private_key": store.private_key}, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["type"] == "invalid_field"
    assert answer.json()["message"].startswith("private_key: ")
    assert all_text(services) == before


def test_the_catalogue_lists_by_get_with_a_json_body(client, store):
    keys = {"key": store.public_key, "private_key": store.private_key}
    client.post("/v2/products", json={**keys, "products": [product(1), product(2)]})
    answer = client.request("GET", "/v2/products", json={**keys, "limit": 1})
    assert answer.status_code == 200 and answer.json()["result"] == ["1"]


# ---------------------------------------------------------------- origin values


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("https://shop.example", "https://shop.example"),
        ("https://Shop.Example/", "https://shop.example"),
        ("HTTP://localhost:8001", "http://localhost:8001"),
        ("https://shop.example:443", "https://shop.example"),
        ("http://shop.example:80", "http://shop.example"),
        ("https://shop.example:8443", "https://shop.example:8443"),
        ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
        ("http://[::1]:8001", "http://[::1]:8001"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
    ],
)
def test_origins_are_kept_as_browsers_send_them(raw, clean):
    assert parse_origin(raw) == clean


@pytest.mark.parametrize(
    "raw",
    [
        "shop.example",
        "ftp://shop.example",
        "https://shop.example/path",
        "https://shop.example?x=1",
        "https://shop.example#top",
        "https://user@shop.example",
        "https://shop.example:99999",
        "https://shop.example:port",
        "https://",
        "null",
        "*",
        "javascript:alert(1)",
        "https://shop example",
        "https://" + "a" * 300 + ".example",
    ],
)
def test_what_is_not_an_origin_is_refused(raw):
    with pytest.raises(ValueError, match="scheme and host"):
        parse_origin(raw)
