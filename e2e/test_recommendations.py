"""Recommendations in the demo shop, per visitor mode, as a shopper meets them.

The widgets are rendered by clerk.js from the real collector's answers; the
history they show is what the collector stored for this visitor, so these tests
prove cookieless continuity across page loads, cookie continuity across an IP
change, and that null mode gets nothing personal.
"""

from __future__ import annotations

import json

from playwright.sync_api import BrowserContext, Page

from .harness import Recorder, Stack, wait_for

HISTORY = '.clerk[data-api="recommendations/visitor/history"]'
FOR_YOU = '.clerk[data-api="recommendations/visitor/complementary"]'
BESTSELLERS = '.clerk[data-api="recommendations/popular"]'


def choose(page: Page, stack: Stack, button: str) -> None:
    page.goto(stack.shop_url)
    page.click(f"#consent-{button}")
    wait_for(
        lambda: page.evaluate("document.documentElement.dataset.consent") != "unset",
        what="consent saved",
        page=page,
    )


def view(page: Page, stack: Stack, recorder: Recorder, *product_ids: str) -> None:
    """Each product on a page load of its own, waiting until the view is logged."""
    for pid in product_ids:
        before = len([1 for e, p in recorder.calls() if e == "log/product"])
        page.goto(f"{stack.shop_url}/product/{pid}")
        recorder.wait_for_call("log/product", count=before + 1)
    # These products' views (not any: a second call would count the first call's).
    listed = ", ".join(f"'{pid}'" for pid in product_ids)  # the test's own ids
    viewed = (
        f"SELECT DISTINCT product_id FROM events WHERE kind = 'view' AND product_id IN ({listed})"
    )
    wait_for(
        lambda: len(stack.query(viewed)) == len(set(product_ids)), what="views stored", page=page
    )


def rendered_ids(page: Page, selector: str) -> list[str]:
    """The product ids a widget shows once clerk.js has rendered it (empty or not)."""
    wait_for(
        lambda: page.evaluate(
            "s => { const e = document.querySelector(s); return e && (e.children.length > 0"
            " || e.hasAttribute('data-clerk-empty')); }",
            selector,
        ),
        what=f"{selector} rendered",
        page=page,
    )
    return page.eval_on_selector_all(
        f"{selector} [data-clerk-product-id]",
        "els => els.map(e => e.getAttribute('data-clerk-product-id'))",
    )


def test_cookieless_history_shows_the_products_newest_first(
    page: Page, stack: Stack, recorder: Recorder
):
    choose(page, stack, "necessary")
    view(page, stack, recorder, "3", "8", "5")
    page.goto(stack.shop_url)
    assert rendered_ids(page, HISTORY) == ["5", "8", "3"]
    assert page.context.cookies() and all(
        c["name"].startswith("demo_") for c in page.context.cookies()
    )


def test_cookieless_history_does_not_follow_a_new_ip_but_the_cookie_does(
    context: BrowserContext, page: Page, stack: Stack, recorder: Recorder
):
    # The collector trusts X-Forwarded-For from 127.0.0.1 (FORWARDED_ALLOW_IPS), as it would
    # behind a proxy: setting it on the way out gives the shopper another client address.
    address = {"ip": "198.51.100.10"}
    context.route(
        f"{stack.collector_url}/v2/**",
        lambda route: route.continue_(
            headers={**route.request.headers, "x-forwarded-for": address["ip"]}
        ),
    )
    choose(page, stack, "necessary")
    view(page, stack, recorder, "3", "4")
    address["ip"] = "198.51.100.99"
    page.goto(stack.shop_url)
    assert rendered_ids(page, HISTORY) == []  # another address: another cookieless visitor

    page.click("#consent-open")
    page.click("#consent-accept")
    # The consent takes effect without a reload: clerk.js sets its cookie once the visit is
    # carried over (log/visitor). A page opened before that would still be cookieless.
    recorder.wait_for_call("log/visitor")
    wait_for(
        lambda: any(c["name"] == "clerk_visitor" for c in context.cookies()),
        what="the clerk_visitor cookie",
        page=page,
    )
    view(page, stack, recorder, "6", "7")
    address["ip"] = "203.0.113.42"
    page.goto(stack.shop_url)
    assert rendered_ids(page, HISTORY) == ["7", "6"]  # the cookie carries the visitor


def test_null_mode_widgets_show_nothing_personal_and_send_no_identifier(
    page: Page, stack: Stack, recorder: Recorder
):
    choose(page, stack, "reject")
    before_choice = len(recorder.calls())  # the first page load was cookieless (no choice yet)
    view(page, stack, recorder, "3", "4")
    page.goto(stack.shop_url)
    assert rendered_ids(page, HISTORY) == []
    assert rendered_ids(page, FOR_YOU) == []
    assert rendered_ids(page, BESTSELLERS)  # non-personal widgets still work
    assert page.is_hidden(f"section:has({HISTORY})")
    for endpoint, payload in recorder.calls()[before_choice:]:
        assert payload["visitor"] is None, endpoint
        assert not {"session", "email", "customer"} & set(payload), endpoint


def test_a_click_on_a_recommendation_is_logged_with_its_widget(
    page: Page, stack: Stack, recorder: Recorder
):
    choose(page, stack, "accept")
    page.goto(stack.shop_url)
    [first, *_] = rendered_ids(page, BESTSELLERS)
    page.click(f"{BESTSELLERS} [data-clerk-product-id='{first}'] a")
    page.wait_for_url(f"**/product/{first}")
    [click] = recorder.wait_for_call("log/click")
    assert click["product"] == first and click["api"] == "recommendations/popular"
    assert click["labels"] == ["Home", "Bestsellers"] and click["n"] == 1
    wait_for(
        lambda: stack.query("SELECT * FROM events WHERE kind = 'click'"),
        what="click stored",
        page=page,
    )
    [stored] = stack.query("SELECT * FROM events WHERE kind = 'click'")
    assert stored["api"] == "recommendations/popular"
    assert json.loads(stored["labels"]) == ["Home", "Bestsellers"]


def test_markup_in_a_product_name_renders_as_text(page: Page, stack: Stack, recorder: Recorder):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    choose(page, stack, "necessary")
    view(page, stack, recorder, "7")  # the catalogue's hostile name
    page.goto(stack.shop_url)
    assert rendered_ids(page, HISTORY) == ["7"]
    name = page.inner_text(f"{HISTORY} [data-clerk-product-id='7'] .card-name")
    assert name.startswith("<img src=x onerror=alert(1)>")
    assert page.eval_on_selector_all(f"{HISTORY} img:not([data-clerk-src])", "e => e.length") == 0
    assert dialogs == []
