"""A store's own script, /<slug>.js, in Chromium: a page that loads only it and calls
Clerk without any config records the view for that store (and no other)."""

from __future__ import annotations

from playwright.sync_api import Page

from .harness import Recorder, Stack, open_fixture, stored


def test_a_page_with_only_the_store_script_records_views_for_that_store(
    page: Page, stack: Stack, recorder: Recorder
):
    # Another store on the same collector: the page's view must not reach it.
    stack.cli("create-store", "Other shop")
    [own] = stack.query("SELECT id, slug FROM stores WHERE public_key = ?", stack.public_key)
    assert own["slug"] == "e2e-shop"
    open_fixture(page, stack, name="store_script.html")
    [sent] = recorder.wait_for_call("log/product")
    assert sent["key"] == stack.public_key and sent["product"] == "7"
    [view] = stored(page, stack, "SELECT store_id, product_id, visitor_mode FROM events", count=1)
    assert view == {"store_id": own["id"], "product_id": "7", "visitor_mode": "auto"}


def test_the_dashboards_loader_for_the_store_script_queues_calls_and_keeps_the_pages_config(
    page: Page, stack: Stack, recorder: Recorder
):
    open_fixture(page, stack, "?visitor=shop-user-8", name="store_loader.html")
    [sent] = recorder.wait_for_call("log/product")
    # the key from the script's prelude, the visitor from the page's own later config
    assert sent["key"] == stack.public_key and sent["visitor"] == "shop-user-8"
    [view] = stored(page, stack, "SELECT product_id, visitor_id FROM events", count=1)
    assert view == {"product_id": "8", "visitor_id": "shop-user-8"}
