"""Each consent choice, end to end: what the device holds, what is sent, what is stored.

A shopper browses the demo shop (home -> product -> cart -> checkout with an email
-> confirmation) under one of the banner's three choices. Then we check what a
privacy auditor would: cookies and web storage on the device, the payload of every
request to the collector, and the rows the collector wrote.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import BrowserContext, Page

from .harness import USER_AGENT, Recorder, Stack, device_state, wait_for

EMAIL = "shopper@example.com"
# The shopper's own actions. Widget renders are left out: the home page renders its
# widgets before the banner is answered, in the default cookieless mode.
TRACKED = "SELECT * FROM events WHERE kind != 'render' ORDER BY id"
SHOP_COOKIES = {"demo_consent", "demo_cart"}  # the shop's own, necessary cookies


def choose(page: Page, button: str) -> None:
    page.click(f"#consent-{button}")
    wait_for(
        lambda: (
            page.context.cookies()
            and any(c["name"] == "demo_consent" for c in page.context.cookies())
        ),
        what="consent saved",
        page=page,
    )


def shop_and_buy(page: Page, stack: Stack, consent: str, recorder: Recorder) -> str:
    """Home -> product -> cart -> checkout -> confirmation; returns the order id.

    recorder.choice is set to the number of calls made before the choice."""
    page.goto(stack.shop_url)
    recorder.wait_for_call("recommendations/popular")  # the home page's widgets asked
    recorder.choice = len(recorder.calls())
    choose(page, consent)
    page.click("a.product-link >> nth=0")
    page.wait_for_selector("#add-to-cart")
    product_id = page.url.rstrip("/").rsplit("/", 1)[1]
    page.click("#add-to-cart")
    page.wait_for_url("**/cart")
    page.click("#checkout")
    page.fill("#email", EMAIL)
    page.press("#email", "Tab")  # a real shopper moves on to the next field
    page.click("#place-order")
    page.wait_for_selector("#order-id")
    order_id = page.inner_text("#order-id").strip()
    wait_for(
        lambda: stack.query("SELECT id FROM orders WHERE id = ?", order_id),
        what=f"order {order_id} stored",
        page=page,
    )
    assert product_id
    return order_id


def assert_nothing_identifying_stored(stack: Stack) -> None:
    dump = stack.database_text()
    assert "127.0.0.1" not in dump, "the client IP is stored"
    assert "E2E-Marker" not in dump and USER_AGENT not in dump, "the User-Agent is stored"


def test_auto_mode_keeps_nothing_on_the_device_and_derives_the_visitor_server_side(
    page: Page, stack: Stack, recorder: Recorder
):
    order_id = shop_and_buy(page, stack, "necessary", recorder)
    recorder.wait_for_call("log/sale")

    device = device_state(page)
    assert set(device["cookies"]) <= SHOP_COOKIES and "clerk_visitor" not in device["cookies"]
    assert device["local"] == device["session"] == device["indexeddb"] == []

    calls = recorder.calls()
    assert {"log/product", "log/basket/set", "log/email", "log/sale"} <= set(recorder.endpoints())
    for endpoint, payload in calls:
        assert payload["visitor"] == "auto", endpoint
        assert payload["key"] == stack.public_key
        assert len(payload["session"]) == 22  # in-memory, per page load
    sessions = {p["session"] for _, p in calls}
    assert len(sessions) >= 3, "the session id is per page load, never carried across"
    for request in recorder.requests:
        assert "cookie" not in request.all_headers()  # nothing of the shop's rides along

    events = stack.query(TRACKED)
    visitor_ids = {e["visitor_id"] for e in events}
    assert len(visitor_ids) == 1 and next(iter(visitor_ids)).startswith("c-")
    assert {e["visitor_mode"] for e in events} == {"auto"}
    [order] = stack.query("SELECT * FROM orders")
    assert order["id"] == order_id and order["visitor_id"] in visitor_ids
    assert [r["visitor_id"] for r in stack.query("SELECT * FROM email_links")] == [
        order["visitor_id"]
    ]
    assert len(stack.query("SELECT * FROM salts")) == 1
    assert_nothing_identifying_stored(stack)


def test_persistent_mode_sets_one_first_party_cookie_and_uses_it_as_the_visitor(
    page: Page, stack: Stack, recorder: Recorder
):
    shop_and_buy(page, stack, "accept", recorder)
    recorder.wait_for_call("log/sale")

    device = device_state(page)
    cookie = device["cookies"]["clerk_visitor"]
    assert set(device["cookies"]) - SHOP_COOKIES == {"clerk_visitor"}
    assert cookie["path"] == "/" and cookie["sameSite"] == "Lax" and not cookie["secure"]
    assert cookie["domain"] == "localhost"  # first-party: the shop's host, not the collector's
    days = (cookie["expires"] - page.evaluate("Date.now() / 1000")) / 86400
    assert 364 < days <= 366
    assert device["local"] == device["session"] == device["indexeddb"] == []

    visitor_id = cookie["value"]
    after_consent = recorder.calls()[recorder.choice :]
    assert after_consent[0][0] == "log/visitor"  # consent given: carry the visit over
    assert all(p["visitor"] == visitor_id for _, p in after_consent), after_consent

    events = stack.query(TRACKED)
    assert {e["visitor_id"] for e in events} == {visitor_id}
    assert {e["visitor_mode"] for e in events} == {"persistent"}
    [order] = stack.query("SELECT * FROM orders")
    assert order["visitor_id"] == visitor_id and order["email"] == EMAIL
    links = stack.query("SELECT email, visitor_id FROM email_links")
    assert links == [{"email": EMAIL, "visitor_id": visitor_id}]
    assert_nothing_identifying_stored(stack)


def test_null_mode_sends_stores_and_derives_nothing_identifying(
    page: Page, stack: Stack, recorder: Recorder
):
    shop_and_buy(page, stack, "reject", recorder)
    recorder.wait_for_call("log/sale")

    device = device_state(page)
    assert set(device["cookies"]) <= SHOP_COOKIES
    assert device["local"] == device["session"] == device["indexeddb"] == []

    calls = recorder.calls()[recorder.choice :]
    assert "log/email" not in recorder.endpoints()
    assert {"log/product", "log/sale"} <= set(recorder.endpoints())
    for endpoint, payload in calls:
        assert payload["visitor"] is None, endpoint
        assert not {"session", "email", "customer"} & set(payload), (endpoint, payload)
        assert EMAIL not in str(payload)

    events = stack.query(TRACKED)
    assert events and all(e["visitor_id"] is None and e["session"] is None for e in events)
    [order] = stack.query("SELECT * FROM orders")
    assert order["visitor_id"] is None and order["email"] is None and order["customer"] is None
    assert order["total"] > 0  # the sale still counts in the shop's totals
    assert stack.query("SELECT * FROM email_links") == []
    assert EMAIL not in stack.database_text()
    assert_nothing_identifying_stored(stack)


def test_a_shopper_who_rejected_earlier_is_never_identified_or_hashed(
    context: BrowserContext, page: Page, stack: Stack, recorder: Recorder
):
    context.add_cookies([{"name": "demo_consent", "value": "reject", "url": stack.shop_url}])
    page.goto(stack.shop_url)
    recorder.wait_for_call("recommendations/popular")
    page.click("a.product-link >> nth=0")
    recorder.wait_for_call("log/product")
    wait_for(lambda: stack.query("SELECT * FROM events WHERE kind = 'view'"), page=page)

    assert all(p["visitor"] is None and "session" not in p for _, p in recorder.calls())
    events = stack.query("SELECT * FROM events")  # renders included
    assert events and all(e["visitor_id"] is None and e["session"] is None for e in events)
    assert stack.query("SELECT * FROM salts") == []  # nothing was even hashed
    assert set(device_state(page)["cookies"]) <= SHOP_COOKIES


def view_product(page: Page, stack: Stack, product_id: str) -> None:
    page.goto(f"{stack.shop_url}/product/{product_id}")


def test_consent_given_mid_visit_keeps_the_visit(page: Page, stack: Stack, recorder: Recorder):
    page.goto(stack.shop_url)
    choose(page, "necessary")
    for product_id in ("3", "4"):
        view_product(page, stack, product_id)
        recorder.wait_for_call("log/product", count=int(product_id) - 2)
    wait_for(
        lambda: len(stack.query(TRACKED)) == 2,
        what="two cookieless views",
        page=page,
    )
    cookieless = {e["visitor_id"] for e in stack.query(TRACKED)}
    assert len(cookieless) == 1

    page.click("#consent-open")
    page.click("#consent-accept")  # Clerk('config', {visitor: 'persistent'}) without a reload
    [merge] = recorder.wait_for_call("log/visitor")
    cookie = wait_for(
        lambda: {c["name"]: c for c in page.context.cookies()}.get("clerk_visitor"),
        what="the clerk_visitor cookie",
        page=page,
    )
    assert merge["visitor"] == cookie["value"] and merge["previous"] == "auto"
    view_product(page, stack, "5")
    recorder.wait_for_call("log/product", count=3)
    wait_for(lambda: len(stack.query(TRACKED)) == 3, what="third view stored", page=page)

    events = stack.query(
        "SELECT product_id, visitor_id, visitor_mode FROM events WHERE kind = 'view' ORDER BY id"
    )
    assert [e["product_id"] for e in events] == ["3", "4", "5"]
    assert {e["visitor_id"] for e in events} == {cookie["value"]}, "the visit was not carried over"


def test_consent_withdrawn_deletes_the_cookie_and_stops_identifiers(
    page: Page, stack: Stack, recorder: Recorder
):
    page.goto(stack.shop_url)
    choose(page, "accept")
    view_product(page, stack, "3")
    recorder.wait_for_call("log/product")
    assert "clerk_visitor" in {c["name"] for c in page.context.cookies()}

    page.click("#consent-open")
    page.click("#consent-reject")  # Clerk('config', {visitor: null}), at once
    assert "clerk_visitor" not in {c["name"] for c in page.context.cookies()}
    page.evaluate("Clerk('call', 'log/product', {product: '4'})")  # same page, no reload
    view_product(page, stack, "5")
    payloads = recorder.wait_for_call("log/product", count=3)
    for payload in payloads[1:]:
        assert payload["visitor"] is None and "session" not in payload
    assert "clerk_visitor" not in {c["name"] for c in page.context.cookies()}
    wait_for(lambda: len(stack.query(TRACKED)) == 3, what="three views stored", page=page)
    events = stack.query(
        "SELECT product_id, visitor_id FROM events WHERE kind = 'view' ORDER BY id"
    )
    assert [e["visitor_id"] is None for e in events] == [False, True, True]


def test_calls_queued_before_the_script_arrives_still_run(
    page: Page, stack: Stack, recorder: Recorder
):
    held: list[Any] = []
    page.route(f"{stack.collector_url}/clerk.js", lambda route: held.append(route))
    page.goto(f"{stack.shop_url}/product/6", wait_until="domcontentloaded")
    wait_for(lambda: held, what="the page to ask for clerk.js", page=page)
    # The page has run its inline calls already; they wait in the loader's queue.
    page.evaluate("Clerk('call', 'log/product', {product: '7'}, r => window.__answer = r)")
    queued = page.evaluate("window.__clerk_q.length")
    assert queued >= 2 and page.evaluate("typeof window.Clerk.loaded") == "undefined"
    assert recorder.calls() == []

    held[0].continue_()  # clerk.js arrives late
    payloads = recorder.wait_for_call("log/product", count=2)
    assert {p["product"] for p in payloads} == {"6", "7"}
    wait_for(
        lambda: page.evaluate("window.__answer && window.__answer.status") == "ok",
        what="the queued call's callback",
        page=page,
    )
