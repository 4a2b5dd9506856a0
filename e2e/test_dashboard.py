"""The shop owner's side: a shopper buys through a recommendation, the owner sees it.

A shopper (persistent mode) clicks a Bestseller on the demo shop's home page and
buys that product; the owner signs in to the dashboard in another browser and
finds exactly that order impacted, its revenue on the Bestsellers widget, the
customer with their visitor id, and Forget erasing them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from playwright.sync_api import Browser, Page

from .harness import USER_AGENT, Recorder, Stack, wait_for
from .test_recommendations import BESTSELLERS, choose, rendered_ids

OWNER = ("owner@shop.example", "owner-password-1")
EMAIL = "shopper@example.com"


def buy_a_bestseller(page: Page, stack: Stack, recorder: Recorder) -> tuple[str, str, float]:
    """Click the first Bestseller, buy it; returns (product id, order id, order total)."""
    choose(page, stack, "accept")
    page.goto(stack.shop_url)
    [first, *_] = rendered_ids(page, BESTSELLERS)
    page.click(f"{BESTSELLERS} [data-clerk-product-id='{first}'] a")
    page.wait_for_url(f"**/product/{first}")
    recorder.wait_for_call("log/click")
    page.click("#add-to-cart")
    page.wait_for_url("**/cart")
    page.click("#checkout")
    page.fill("#email", EMAIL)
    page.press("#email", "Tab")
    page.click("#place-order")
    page.wait_for_selector("#order-id")
    order_id = page.inner_text("#order-id").strip()
    [order] = wait_for(
        lambda: stack.query("SELECT * FROM orders WHERE id = ?", order_id),
        what=f"order {order_id} stored",
        page=page,
    )
    return first, order_id, float(order["total"])


def sign_in(owner: Page, stack: Stack) -> None:
    owner.goto(f"{stack.collector_url}/dashboard/")
    owner.wait_for_url("**/dashboard/login**")
    owner.fill("input[name=email]", OWNER[0])
    owner.fill("input[name=password]", OWNER[1])
    owner.click("button[type=submit]")
    owner.wait_for_url("**/overview**")


def csv_rows(owner: Page, url: str) -> list[dict[str, str]]:
    answer = owner.request.get(url)
    assert answer.status == 200, answer.text()
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text())))


def kpi(owner: Page, name: str) -> str:
    return owner.inner_text(f".kpi:has(span:text-is('{name}')) strong").strip()


def test_the_owner_sees_the_order_a_recommendation_made_and_can_forget_the_customer(
    browser: Browser, page: Page, stack: Stack, recorder: Recorder, tmp_path: Path
):
    stack.cli("create-admin", OWNER[0], "--password", OWNER[1])
    product_id, order_id, total = buy_a_bestseller(page, stack, recorder)
    visitor_id = page.context.cookies(stack.shop_url)
    [cookie] = [c for c in visitor_id if c["name"] == "clerk_visitor"]
    visitor_id = cookie["value"]
    money = f"{total:,.2f}"

    owner_context = browser.new_context(user_agent=USER_AGENT)
    try:
        owner = owner_context.new_page()
        sign_in(owner, stack)
        store = owner.url.split("/stores/")[1].split("/")[0]
        base = f"{stack.collector_url}/dashboard/stores/{store}"

        # Overview: one order, impacted, all of its revenue through recommendations.
        assert kpi(owner, "Orders") == "1"
        assert kpi(owner, "Impacted orders") == "1"
        assert money in kpi(owner, "Impacted revenue")
        assert money in kpi(owner, "Revenue")
        owner.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
        [summary] = csv_rows(owner, f"{base}/overview.csv?table=summary")
        assert (summary["orders"], summary["impacted_orders"]) == ("1", "1")
        assert float(summary["impacted_revenue"]) == total
        assert float(summary["attributed_revenue"]) == total

        # Widgets: the credit is on the home page's Bestsellers widget, nowhere else.
        widgets = csv_rows(owner, f"{base}/widgets.csv")
        credited = [w for w in widgets if w["orders"] != "0"]
        assert [(w["api"], w["labels"], w["orders"]) for w in credited] == [
            ("recommendations/popular", "Home, Bestsellers", "1")
        ]
        assert float(credited[0]["revenue"]) == total
        assert int(credited[0]["clicks"]) == 1 and int(credited[0]["renders"]) >= 1
        owner.goto(f"{base}/widgets")
        assert "recommendations/popular" in owner.inner_text("main")

        # Products: the bought product, sold through Clerk.
        products = {p["product_id"]: p for p in csv_rows(owner, f"{base}/products.csv")}
        assert float(products[product_id]["attributed_revenue"]) == total

        # Customers: the email with the visitor id the shopper's cookie holds.
        owner.goto(f"{base}/customers")
        row = owner.locator("tr", has_text=EMAIL)
        assert row.count() == 1
        assert visitor_id in row.inner_text()
        owner.click(f"tr:has-text('{visitor_id}') a:text-is('{visitor_id}')")
        owner.wait_for_url("**/visitor?**")
        assert product_id in owner.inner_text("main")  # the visitor log shows the view

        # Forget: the customer, their links and events go; the order stays, anonymised.
        owner.goto(f"{base}/customers")
        owner.click(f"tr:has-text('{EMAIL}') button:text-is('Forget')")
        owner.wait_for_load_state()
        assert stack.query("SELECT * FROM email_links") == []
        assert stack.query("SELECT * FROM events WHERE visitor_id = ?", visitor_id) == []
        [order] = stack.query("SELECT * FROM orders WHERE id = ?", order_id)
        assert (order["visitor_id"], order["email"]) == (None, None)
        owner.goto(f"{base}/customers")
        assert EMAIL not in owner.inner_text("main")
        assert EMAIL not in stack.database_text()
        # The shop's figures do not change: the order stays impacted, anonymously.
        owner.goto(f"{base}/overview")
        assert kpi(owner, "Impacted orders") == "1"
    finally:
        owner_context.close()
