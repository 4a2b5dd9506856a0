"""clerk.js on a small fixture page, cross-origin to a real collector, as a privacy auditor sees it.

The fixture pages (e2e/fixtures/) are served on the demo shop's origin through Playwright
routing, so the page talks to the real collector cross-origin exactly as a storefront does.
Each test checks what the device holds, what the page sends and what the collector stored.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from playwright.sync_api import Page, Route

from .harness import Recorder, Stack, device_state, open_fixture, stored, wait_for

EMAIL = "shopper@example.com"
GPC_ON = "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})"

# Clerk('call', ...) as a promise: {ok: answer} or {error: what the error callback got}, or
# {silent: true} if neither callback fired within 5 s (evaluate itself never times out).
CALL = """([endpoint, args]) => new Promise(done => {
    setTimeout(() => done({silent: true}), 5000);
    Clerk('call', endpoint, args, answer => done({ok: answer}),
        error => done({error: error instanceof Error
            ? {name: error.name, message: error.message} : error}));
})"""


def call(page: Page, endpoint: str, args: dict[str, Any]) -> dict[str, Any]:
    return page.evaluate(CALL, [endpoint, args])


def cookies(page: Page) -> dict[str, str]:
    return {c["name"]: c["value"] for c in page.context.cookies()}


def assert_device_holds_nothing(page: Page) -> None:
    device = device_state(page)
    assert "clerk_visitor" not in device["cookies"] and device["document_cookie"] == ""
    assert device["local"] == device["session"] == device["indexeddb"] == []


# --- visitor ids on the device ------------------------------------------------------------


def test_custom_visitor_id_is_sent_as_is_and_nothing_is_kept_on_the_device(
    page: Page, stack: Stack, recorder: Recorder
):
    # A clerk_visitor cookie left from consent given on an earlier visit.
    page.context.add_cookies([{"name": "clerk_visitor", "value": "old-id", "url": stack.shop_url}])
    open_fixture(page, stack, "?visitor=shop-user-42")
    recorder.wait_for_call("log/sale")
    wait_for(lambda: "clerk_visitor" not in cookies(page), what="the old cookie gone", page=page)
    assert_device_holds_nothing(page)

    calls = recorder.calls()
    assert {"log/product", "log/sale"} <= set(recorder.endpoints())
    for endpoint, payload in calls:
        assert payload["visitor"] == "shop-user-42", endpoint
        assert "old-id" not in json.dumps(payload)
    [session] = {p["session"] for _, p in calls}  # one page view, one in-memory session
    assert len(session) == 22

    [view] = stored(page, stack, "SELECT * FROM events", count=1)
    assert view["visitor_id"] == "shop-user-42" and view["session"] == session
    [order] = stored(page, stack, "SELECT * FROM orders", count=1)
    assert order["visitor_id"] == "shop-user-42"
    assert "old-id" not in stack.database_text()


def test_global_privacy_control_downgrades_persistent_to_cookieless(
    page: Page, stack: Stack, recorder: Recorder
):
    page.add_init_script(GPC_ON)
    open_fixture(page, stack, "?visitor=persistent")
    recorder.wait_for_call("log/sale")
    assert_device_holds_nothing(page)

    for endpoint, payload in recorder.calls():
        assert payload["visitor"] == "auto" and len(payload["session"]) == 22, endpoint
        assert "respect_gpc" not in payload

    [view] = stored(page, stack, "SELECT * FROM events", count=1)
    [order] = stored(page, stack, "SELECT * FROM orders", count=1)
    assert view["visitor_id"].startswith("c-") and view["visitor_mode"] == "auto"
    assert order["visitor_id"] == view["visitor_id"] and order["visitor_mode"] == "auto"


def test_a_shop_that_sets_respect_gpc_false_keeps_its_persistent_cookie(
    page: Page, stack: Stack, recorder: Recorder
):
    page.add_init_script(GPC_ON)
    open_fixture(page, stack, "?visitor=persistent&gpc=0")
    [payload] = recorder.wait_for_call("log/product")
    visitor_id = cookies(page)["clerk_visitor"]
    assert payload["visitor"] == visitor_id and payload["respect_gpc"] is False

    [view] = stored(page, stack, "SELECT * FROM events", count=1)
    assert (view["visitor_id"], view["visitor_mode"]) == (visitor_id, "persistent")


# --- tracking -----------------------------------------------------------------------------


def test_clicks_in_clerk_widgets_are_logged_with_product_api_labels_and_position(
    page: Page, stack: Stack, recorder: Recorder
):
    open_fixture(page, stack)
    page.click("#p4")  # a product outside any Clerk widget: not tracked
    page.click("#p3")  # inside <div class="clerk" data-api=... data-labels=...>
    page.click("#p2")  # inside an element registered with Clerk('click', '.product-list')
    clicks = recorder.wait_for_call("log/click", count=2)

    expected = [
        {"product": "3", "api": "recommendations/popular", "labels": ["Bestsellers"], "n": 4},
        {"product": "2", "api": "search/search", "labels": [], "n": 1},
    ]
    assert [{k: c[k] for k in ("product", "api", "labels", "n")} for c in clicks] == expected
    rows = stored(
        page,
        stack,
        "SELECT product_id, api, labels, position FROM events WHERE kind = 'click'"
        " ORDER BY product_id DESC",
        count=2,
    )
    assert rows == [
        {
            "product_id": "3",
            "api": "recommendations/popular",
            "labels": '["Bestsellers"]',
            "position": 4,
        },
        {"product_id": "2", "api": "search/search", "labels": "[]", "position": 1},
    ]


def type_email(page: Page) -> None:
    """Type an email, leave the field, come back and leave it again."""
    page.fill("#email", EMAIL)
    page.press("#email", "Tab")
    page.focus("#email")
    page.press("#email", "Tab")


def test_collect_email_sends_a_typed_email_once_and_the_collector_links_it(
    page: Page, stack: Stack, recorder: Recorder
):
    open_fixture(page, stack, "?email=1")
    type_email(page)
    assert call(page, "log/product", {"product": "5"}) == {"ok": {"status": "ok"}}

    [payload] = [p for e, p in recorder.calls() if e == "log/email"]
    assert payload["email"] == EMAIL and payload["visitor"] == "auto"
    [link] = stored(page, stack, "SELECT * FROM email_links WHERE email = ?", EMAIL, count=1)
    [view] = stack.query("SELECT visitor_id FROM events WHERE product_id = '5'")
    assert link["visitor_id"] == view["visitor_id"] and link["visitor_id"].startswith("c-")


def test_collect_email_in_null_mode_sends_and_links_nothing(
    page: Page, stack: Stack, recorder: Recorder
):
    open_fixture(page, stack, "?visitor=null&email=1")
    type_email(page)
    assert call(page, "log/product", {"product": "5"}) == {"ok": {"status": "ok"}}

    assert "log/email" not in recorder.endpoints()
    assert all(EMAIL not in json.dumps(p) for _, p in recorder.calls())
    stored(page, stack, "SELECT * FROM events", count=2)  # product 1 on load, then 5
    assert stack.query("SELECT * FROM email_links") == []
    assert EMAIL not in stack.database_text()


def test_forget_erases_the_visitor_at_the_collector_and_then_acts_as_null(
    page: Page, stack: Stack, recorder: Recorder
):
    open_fixture(page, stack, name="consent.html")
    page.click("#view")  # before consent: cookieless
    stored(page, stack, "SELECT * FROM events WHERE visitor_id LIKE 'c-%'", count=1)
    page.click("#accept")  # consent given: the visit carries over to the cookie's id
    visitor_id = wait_for(lambda: cookies(page).get("clerk_visitor"), what="cookie", page=page)
    page.click("#view")
    stored(page, stack, "SELECT * FROM events WHERE visitor_id = ?", visitor_id, count=2)

    page.click("#forget")
    [forget] = recorder.wait_for_call("privacy/forget")
    assert forget["visitor"] == visitor_id
    stored(page, stack, "SELECT * FROM events", count=0)
    assert "clerk_visitor" not in cookies(page)
    assert page.inner_text("#mode") == "null"

    page.click("#view")  # same page, later: no identifier at all
    payload = recorder.wait_for_call("log/product", count=3)[-1]
    assert payload["visitor"] is None and "session" not in payload
    [after] = stored(page, stack, "SELECT * FROM events", count=1)
    assert after["visitor_id"] is None and after["session"] is None
    assert visitor_id not in stack.database_text()
    assert_device_holds_nothing(page)


def test_forget_called_before_the_script_loads_still_erases_the_visitor(
    page: Page, stack: Stack, recorder: Recorder
):
    open_fixture(page, stack, "?visitor=persistent")
    visitor_id = cookies(page)["clerk_visitor"]
    stored(page, stack, "SELECT * FROM events WHERE visitor_id = ?", visitor_id, count=1)

    held: list[Route] = []
    page.route(f"{stack.collector_url}/clerk.js", lambda route: held.append(route))
    page.reload(wait_until="domcontentloaded")
    wait_for(lambda: held, what="the page to ask for clerk.js", page=page)
    page.evaluate("Clerk('forget')")  # e.g. inline on a "forget me" page
    held[0].continue_()

    [forget] = recorder.wait_for_call("privacy/forget")
    assert forget["visitor"] == visitor_id
    stored(page, stack, "SELECT * FROM events WHERE visitor_id = ?", visitor_id, count=0)


def test_log_markup_added_later_is_logged_once(page: Page, stack: Stack, recorder: Recorder):
    open_fixture(page, stack)
    recorder.wait_for_call("log/product")
    page.evaluate("""() => document.body.insertAdjacentHTML('beforeend',
        '<span class="clerk" data-api="log/product" data-product="9"></span>')""")
    recorder.wait_for_call("log/product", count=2)
    page.evaluate("Clerk('content')")
    assert call(page, "log/product", {"product": "10"}) == {"ok": {"status": "ok"}}

    products = [p["product"] for e, p in recorder.calls() if e == "log/product"]
    assert products == ["1", "9", "10"]
    rows = stored(page, stack, "SELECT product_id FROM events ORDER BY id", count=3)
    assert sorted(r["product_id"] for r in rows) == ["1", "10", "9"]


# --- failures never reach the page --------------------------------------------------------


def test_a_collector_that_is_down_breaks_nothing_and_reaches_the_error_callback(
    page: Page, stack: Stack, recorder: Recorder
):
    # clerk.js itself still comes (a CDN's or the browser's cached copy); the API is down.
    with urllib.request.urlopen(f"{stack.collector_url}/clerk.js", timeout=10) as answer:
        script = answer.read()
    stack.stop()
    page.route(
        f"{stack.collector_url}/clerk.js",
        lambda route: route.fulfill(body=script, content_type="application/javascript"),
    )
    open_fixture(page, stack)
    page.evaluate("Clerk('on', 'response', () => { window.answered = true })")
    page.click("#p3")  # click tracking fails quietly and the link still works
    assert page.evaluate("location.hash") == "#p3"

    result = call(page, "log/product", {"product": "5"})
    assert set(result) == {"error"} and result["error"]["name"] == "TypeError", result
    assert {"log/product", "log/sale", "log/click"} <= set(recorder.endpoints())
    assert page.evaluate("window.answered") is None
    # The page fixture fails the test on any uncaught error or unhandled rejection.


def test_an_invalid_call_gets_the_collectors_error_object_and_stores_nothing(
    page: Page, stack: Stack
):
    open_fixture(page, stack)
    stored(page, stack, "SELECT * FROM events", count=1)  # the page's own view and sale
    stored(page, stack, "SELECT * FROM orders", count=1)
    before = stack.database_text()

    result = call(page, "log/product", {"product": ["not", "valid"]})
    assert set(result) == {"error"}, result  # the error callback, not the success one
    error = result["error"]
    assert error["status"] == "error" and error["type"] == "invalid_field"
    assert error["message"].startswith("product:")  # the field is named
    assert stack.database_text() == before


def test_a_non_json_answer_reaches_the_error_callback(page: Page, stack: Stack):
    page.route(
        f"{stack.collector_url}/v2/log/product",
        lambda route: route.fulfill(
            status=502,
            body="<html><h1>502 Bad Gateway</h1></html>",
            content_type="text/html",
            headers={"access-control-allow-origin": "*"},
        ),
    )
    open_fixture(page, stack)
    result = call(page, "log/product", {"product": "5"})
    assert set(result) == {"error"} and result["error"]["name"] == "SyntaxError", result
    assert stack.query("SELECT * FROM events WHERE product_id = '5'") == []
