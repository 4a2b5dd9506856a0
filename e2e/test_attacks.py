"""Another website, opened in the shopper's own browser, tries to read and move the
history of a cookieless shopper (issue 9, findings 1 and 2).

In `auto` mode the shopper's identity is ambient: their address and User-Agent, which
every page they open sends along. So a page on a third origin (a tiny http.server on
another loopback port, started here) fetches the personal endpoints as the shopper would,
by POST text/plain (no preflight) and by GET, and puts an <img> of log/visitor on the page
to move the shopper's history to an id it picked. It must learn nothing and move nothing,
and the shop's own widgets must keep working.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page

from .harness import Recorder, Stack, free_port, open_fixture, stored, wait_for
from .test_recommendations import HISTORY, choose, rendered_ids, view

ATTACKER_ID = "atk123"
VIEWED = ["3", "8", "5"]
IN_BASKET = "5"  # the last product viewed is put in the basket

# The other site's page: every way it has to reach the personal endpoints as the shopper.
ATTACK_PAGE = """<!doctype html>
<meta charset="utf-8"><title>A page on another site</title>
<script>
const API = "{{COLLECTOR}}/v2/", KEY = "{{KEY}}";
const CALLS = [
  ["recommendations/visitor/history", {}],
  ["recommendations/visitor/complementary", {}],
  ["log/basket/remove", {product: "{{IN_BASKET}}"}],
  ["log/basket/add", {product: "1"}],
  ["log/basket/set", {products: []}],
  ["log/visitor", {previous: "auto", visitor: "{{ATTACKER_ID}}"}],
];
async function attempt(endpoint, args, method) {
  const all = {key: KEY, visitor: "auto", ...args};
  const query = new URLSearchParams(Object.entries(all).map(
    ([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  try {
    const answer = method === "POST"
      ? await fetch(API + endpoint, {method: "POST", body: JSON.stringify(all)})
      : await fetch(API + endpoint + "?" + query);
    return {endpoint, method, status: answer.status, text: await answer.text()};
  } catch (error) {
    return {endpoint, method, error: String(error)};
  }
}
function image(src) {
  return new Promise(done => {
    const img = new Image();
    img.onload = img.onerror = () => done(src);
    img.src = src;
  });
}
window.attack = (async () => {
  const seen = [];
  for (const [endpoint, args] of CALLS)
    for (const method of ["POST", "GET"]) seen.push(await attempt(endpoint, args, method));
  // Finding 2: an image GET carries no Origin header at all.
  await image(API + "log/visitor?key=" + KEY + "&previous=auto&visitor={{ATTACKER_ID}}");
  return seen;
})();
</script>
<h1>Nothing to see here</h1>
"""


@pytest.fixture
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The stack; a test named `..._without_a_list` gets a store created without origins."""
    listed = "without_a_list" not in request.node.name
    stack = Stack(tmp_path, list_shop_origin=listed)
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture
def attacker(tmp_path: Path, stack: Stack) -> Iterator[str]:
    """The other site: an http.server process on a third loopback origin."""
    site = tmp_path / "other-site"
    site.mkdir()
    html = (
        ATTACK_PAGE.replace("{{COLLECTOR}}", stack.collector_url)
        .replace("{{KEY}}", stack.public_key)
        .replace("{{IN_BASKET}}", IN_BASKET)
        .replace("{{ATTACKER_ID}}", ATTACKER_ID)
    )
    (site / "index.html").write_text(html)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=site,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/index.html"
    try:
        wait_for(lambda: urllib.request.urlopen(url, timeout=5).status == 200, 10, "other site")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def browse_and_fill_the_basket(page: Page, stack: Stack, recorder: Recorder) -> str:
    """Views three products, puts the last in the basket (cookieless); returns the
    shopper's derived id."""
    choose(page, stack, "necessary")
    view(page, stack, recorder, *VIEWED)
    page.click("#add-to-cart")
    page.wait_for_url("**/cart")
    recorder.wait_for_call("log/basket/set")
    [shopper] = {r["visitor_id"] for r in stack.query("SELECT visitor_id FROM events")}
    assert shopper.startswith("c-")
    return str(shopper)


def shopper_rows(stack: Stack, shopper: str) -> list[dict[str, Any]]:
    """What the shopper did (renders, written without waiting, are left out)."""
    return stack.query(
        "SELECT * FROM events WHERE visitor_id = ? AND kind != 'render' ORDER BY id", shopper
    )


def attack(context: BrowserContext, url: str) -> list[dict[str, Any]]:
    """The other site, in another tab of the shopper's browser."""
    other = context.new_page()
    try:
        other.goto(url)
        results: list[dict[str, Any]] = other.evaluate("window.attack")
    finally:
        other.close()
    return results


def assert_learned_nothing(results: list[dict[str, Any]]) -> None:
    assert len(results) == 12
    for result in results:
        if "error" in result:  # the browser withheld the answer from the page
            continue
        answer = json.loads(result["text"])  # readable: an error, holding no visitor data
        assert answer["status"] == "error", result
        assert result["status"] in (403, 405), result
        assert not {"result", "product_data", "basket", "merged", "forgotten"} & set(answer)


def assert_moved_nothing(stack: Stack, shopper: str, before: list[dict[str, Any]]) -> None:
    assert shopper_rows(stack, shopper) == before
    assert stack.query("SELECT * FROM events WHERE visitor_id = ?", ATTACKER_ID) == []
    assert ATTACKER_ID not in stack.database_text()


def test_another_site_learns_and_moves_nothing_of_a_cookieless_shopper(
    context: BrowserContext, page: Page, stack: Stack, recorder: Recorder, attacker: str
):
    shopper = browse_and_fill_the_basket(page, stack, recorder)
    stored(page, stack, "SELECT * FROM events WHERE kind = 'basket'", count=1)
    before = shopper_rows(stack, shopper)
    assert [r["product_id"] for r in before if r["kind"] == "view"] == VIEWED

    results = attack(context, attacker)

    assert_learned_nothing(results)
    assert_moved_nothing(stack, shopper, before)
    # An origin the store does not list is refused; calls that change a visitor are POST only.
    by_call = {(r["endpoint"], r["method"]): r for r in results}
    assert by_call[("recommendations/visitor/history", "POST")]["status"] == 403
    assert by_call[("log/basket/set", "GET")]["status"] == 405

    # The shop's own widgets, the personal history included, still work.
    page.goto(stack.shop_url)
    assert rendered_ids(page, HISTORY) == list(reversed(VIEWED))
    with page.expect_response(lambda r: r.url.endswith("/v2/log/basket/set")) as basket:
        page.goto(f"{stack.shop_url}/cart")
    assert basket.value.status == 200 and basket.value.json()["basket"] == [IN_BASKET]


def test_another_site_learns_and_moves_nothing_of_a_store_without_a_list(
    context: BrowserContext, page: Page, stack: Stack, recorder: Recorder, attacker: str
):
    """A store created without origins answers personal calls to no page at all: the
    attacker gets nothing, and neither do the shop's own personal widgets (history,
    basket): clerk.js hears a 403 that says how to list the shop's origin, and the
    shop's pages and store-wide widgets go on working."""
    choose(page, stack, "necessary")
    view(page, stack, recorder, *VIEWED)  # events are not personal: stored as ever
    with page.expect_response(lambda r: r.url.endswith("/v2/log/basket/set")) as basket:
        page.click("#add-to-cart")
    assert basket.value.status == 403
    assert "create-store --origin" in basket.value.json()["message"]
    [shopper] = {r["visitor_id"] for r in stack.query("SELECT visitor_id FROM events")}
    before = shopper_rows(stack, shopper)
    assert [r["kind"] for r in before] == ["view"] * 3  # the refused basket is not stored

    results = attack(context, attacker)

    assert_learned_nothing(results)
    assert_moved_nothing(stack, shopper, before)

    # The shop's own history widget is refused too: it stays as the shop's markup left it
    # (empty), while store-wide widgets render.
    with page.expect_response(lambda r: "/v2/recommendations/visitor/history" in r.url) as mine:
        page.goto(stack.shop_url)
    assert mine.value.status == 403
    assert mine.value.headers["access-control-allow-origin"] == stack.shop_url
    rendered_ids(page, '.clerk[data-api="recommendations/popular"]')  # waits for it
    assert page.eval_on_selector_all(f"{HISTORY} [data-clerk-product-id]", "e => e.length") == 0


def test_a_refused_personal_call_is_reported_under_debug_and_the_page_goes_on_without_a_list(
    page: Page, stack: Stack
):
    warnings: list[str] = []
    page.on("console", lambda m: _keep_warning(m, warnings))
    open_fixture(page, stack, "?debug=1")
    page.evaluate(
        """() => { const e = document.createElement('div'); e.className = 'clerk';
        e.setAttribute('data-api', 'recommendations/visitor/history'); e.id = 'history';
        document.body.append(e); }"""
    )
    message = wait_for(
        lambda: next((w for w in warnings if "visitor/history" in w), None),
        what="a console warning",
        page=page,
    )
    assert "create-store --origin" in message and "Stores page" in message
    assert page.eval_on_selector("#history", "e => e.children.length") == 0
    # The page goes on working: other calls are answered, nothing is thrown into it.
    page.evaluate("Clerk('call', 'log/product', {product: '9'})")
    stored(page, stack, "SELECT * FROM events WHERE product_id = '9'", count=1)


def _keep_warning(message: ConsoleMessage, warnings: list[str]) -> None:
    if message.type == "warning":
        warnings.append(message.text)
