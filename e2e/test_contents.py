"""clerk-render.js in Chromium: Liquid designs, handlers, data-target, data-exclude-from, popups.

The fixture page (e2e/fixtures/contents.html) holds one widget per feature, each asking
recommendations/popular with its own labels, over test_rendering's catalogue (a known
bestseller order 1, 2, 3, 4, 5, 6; product 2's name is markup; product 3's promo_url is
`javascript:`, product 4's `data:`). No answer is faked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from .harness import Recorder, Stack, open_fixture, stored, wait_for
from .test_rendering import HOSTILE, PRODUCT_PAGE, RenderingStack

WIDGETS = ["inline", "xtemplate", "linked", "priced", "second", "first", "targeted"]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = RenderingStack(tmp_path)
    try:
        yield stack.start()
    finally:
        stack.stop()


def rendered(page: Page, element_id: str | None = None) -> list[list[Any]]:
    events: list[list[Any]] = page.evaluate("window.rendered")
    return [e for e in events if element_id in (None, e[0])]


def open_page(page: Page, stack: Stack) -> list[str]:
    """The contents fixture with its load-time widgets rendered; the console's warnings."""
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    page.route(
        f"{stack.shop_url}/fixture/p/*",
        lambda route: route.fulfill(body=PRODUCT_PAGE, content_type="text/html"),
    )
    open_fixture(page, stack, name="contents.html")
    wait_for(
        lambda: {e[0] for e in rendered(page)} >= set(WIDGETS),
        what="the widgets to render",
        page=page,
    )
    return warnings


def calls_labelled(recorder: Recorder, label: str) -> list[dict[str, Any]]:
    return [p for _, p in recorder.calls() if p.get("labels") == [label]]


def texts(page: Page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "nodes => nodes.map(n => n.textContent)")


def attributes(page: Page, selector: str, name: str) -> list[str | None]:
    return page.eval_on_selector_all(
        selector, "(nodes, name) => nodes.map(n => n.getAttribute(name))", name
    )


# --- Liquid designs ---------------------------------------------------------------------------


def test_liquid_written_inside_the_element_renders_with_catalogue_text_as_text(
    page: Page, stack: Stack
):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_page(page, stack)

    assert texts(page, "#inline li a") == ["Blue Mug", HOSTILE, "Red Mug"]
    assert texts(page, "#inline .price") == ["€9.50", "€12.00", "€7.25"]
    assert texts(page, "#inline .last") == ["3"]  # forloop
    # comparisons written in the page's HTML (> and quotes, which the page escapes) work
    assert attributes(page, "#inline li:has(.dear)", "data-clerk-product-id") == ["1", "2"]
    assert attributes(page, "#inline li", "data-clerk-product-id") == ["1", "2", "3"]
    assert attributes(page, "#inline li", "data-clerk-n") == ["1", "2", "3"]
    assert attributes(page, "#inline li a", "href") == [
        "/fixture/p/1",
        "/fixture/p/2",
        "/fixture/p/3",
    ]
    assert page.locator("#inline img").count() == 0 and dialogs == []
    assert "{%" not in page.inner_html("#inline")


def test_an_x_template_design_with_a_formatter_filter_and_unsafe_links_dropped(
    page: Page, stack: Stack
):
    open_page(page, stack)

    assert texts(page, "#xtemplate .name") == [
        "BLUE MUG!",
        HOSTILE.upper() + "!",  # the formatter's output is escaped too: still text
        "RED MUG!",
        "TEAPOT!",
    ]
    assert texts(page, "#xtemplate .price") == ["9,50", "12,00", "7,25", "30,00"]
    assert page.locator("#xtemplate img, #xtemplate IMG").count() == 0
    # https kept; javascript: and data: (the catalogue's, and the design's own) removed
    assert attributes(page, "#xtemplate .promo", "href") == [
        "https://example.com/offer",
        "",  # no promo_url: an empty, relative address
        None,
        None,
    ]
    assert attributes(page, "#xtemplate .bad", "href") == [None] * 4
    svg_links = page.eval_on_selector_all(
        "#xtemplate svg a",
        "links => links.map(a => a.getAttributeNS('http://www.w3.org/1999/xlink', 'href'))",
    )
    assert svg_links == ["https://example.com/offer", "", None, None]


def test_product_links_of_a_design_without_product_ids_are_found_by_url(
    page: Page, stack: Stack, recorder: Recorder
):
    open_page(page, stack)
    assert attributes(page, "#linked a", "data-clerk-product-id") == ["1", "2", None]
    assert attributes(page, "#linked a", "data-clerk-n") == ["1", "2", None]
    page.click("#linked a.l >> nth=1")
    page.wait_for_url(f"{stack.shop_url}/fixture/p/2")
    [click] = recorder.wait_for_call("log/click")
    assert (click["product"], click["labels"], click["n"]) == ("2", ["Linked"], 2)


def test_a_design_that_does_not_parse_renders_nothing_and_says_why_under_debug(
    page: Page, stack: Stack, recorder: Recorder
):
    warnings = open_page(page, stack)
    wait_for(lambda: rendered(page, "broken"), what="#broken", page=page)
    assert page.inner_html("#broken") == ""
    assert any("Liquid" in w and "endif" in w for w in warnings), warnings
    assert len(calls_labelled(recorder, "Broken")) == 1


def test_content_re_renders_a_liquid_widget_from_its_saved_design(page: Page, stack: Stack):
    open_page(page, stack)
    page.evaluate(
        "document.querySelector('#inline').dataset.limit = '2'; Clerk('content', '#inline')"
    )
    wait_for(lambda: len(rendered(page, "inline")) == 2, what="#inline again", page=page)
    assert texts(page, "#inline li a") == ["Blue Mug", HOSTILE]


# --- handlers ---------------------------------------------------------------------------------


def test_a_response_handler_changes_the_price_before_rendering(page: Page, stack: Stack):
    open_page(page, stack)
    assert texts(page, "#priced .price") == ["99.00"]  # the catalogue says 9.5
    assert texts(page, "#xtemplate .price")[0] == "9,50"  # other contents keep theirs


def test_on_with_a_selector_runs_only_for_the_contents_it_matches(page: Page, stack: Stack):
    open_page(page, stack)
    assert len(rendered(page)) >= len(WIDGETS)
    assert page.evaluate("window.onlyInline") == [["inline", 3]]


# --- where products go ------------------------------------------------------------------------


def test_data_target_renders_into_another_element_and_clicks_there_are_tracked(
    page: Page, stack: Stack, recorder: Recorder
):
    open_page(page, stack)
    assert page.inner_html("#targeted") == ""
    assert texts(page, "#elsewhere li a") == ["Blue Mug", HOSTILE]

    page.click("#elsewhere li:nth-child(2) a")
    page.wait_for_url(f"{stack.shop_url}/fixture/p/2")
    [click] = recorder.wait_for_call("log/click")
    assert {k: click[k] for k in ("product", "api", "labels", "n")} == {
        "product": "2",
        "api": "recommendations/popular",
        "labels": ["Targeted"],
        "n": 2,
    }
    stored(page, stack, "SELECT * FROM events WHERE kind = 'click'", count=1)


def test_data_exclude_from_leaves_no_product_in_both_widgets(
    page: Page, stack: Stack, recorder: Recorder
):
    open_page(page, stack)
    first = attributes(page, "#first [data-clerk-product-id]", "data-clerk-product-id")
    second = attributes(page, "#second [data-clerk-product-id]", "data-clerk-product-id")
    assert first == ["1", "2"] and second == ["3", "4"]
    assert not set(first) & set(second)
    [ask] = calls_labelled(recorder, "Second")
    assert ask["exclude"] == ["1", "2"]  # it waited for the first, placed after it


# --- popups and exit intent -------------------------------------------------------------------


def is_hidden(page: Page, selector: str) -> bool:
    return bool(page.evaluate("s => document.querySelector(s).hidden", selector))


def test_ui_popup_shows_and_hides_and_escape_or_its_close_button_hide_it(page: Page, stack: Stack):
    open_page(page, stack)
    page.focus("#outside")
    page.evaluate("Clerk('ui', 'popup', '#popup', 'show')")
    wait_for(lambda: not is_hidden(page, "#popup"), what="the popup shown", page=page)
    assert page.get_attribute("#popup", "role") == "dialog"
    assert page.evaluate("document.activeElement.id") == "popup"
    assert page.is_visible("#popup .clerk-popup-close")

    page.keyboard.press("Escape")
    assert is_hidden(page, "#popup")
    assert page.evaluate("document.activeElement.id") == "outside"  # focus went back

    page.evaluate("Clerk('ui', 'popup', '#popup', 'show')")
    assert not is_hidden(page, "#popup")
    page.click("#popup .clerk-popup-close")
    assert is_hidden(page, "#popup")

    page.evaluate("Clerk('ui', 'popup', '#popup', 'show'); Clerk('ui', 'popup', '#popup', 'hide')")
    assert is_hidden(page, "#popup")


def leave_through_the_top(page: Page) -> None:
    page.mouse.move(200, 200)
    page.mouse.move(200, 5)
    page.mouse.move(200, -20)  # out of the window, upwards


def test_exit_intent_renders_and_shows_its_popup_once_per_page_load(
    page: Page, stack: Stack, recorder: Recorder
):
    open_page(page, stack)
    assert calls_labelled(recorder, "Exit") == [] and is_hidden(page, "#exit-popup")

    page.mouse.move(200, 200)
    page.mouse.move(10, 300)  # moving about inside the page is no exit
    page.mouse.move(-20, 300)  # nor is leaving through the side
    page.mouse.move(10, 300)
    page.wait_for_timeout(300)
    assert calls_labelled(recorder, "Exit") == []

    leave_through_the_top(page)
    wait_for(lambda: rendered(page, "exit"), what="the exit intent content", page=page)
    wait_for(lambda: not is_hidden(page, "#exit-popup"), what="its popup shown", page=page)
    assert texts(page, "#exit li a") == ["Blue Mug", HOSTILE]

    page.keyboard.press("Escape")
    leave_through_the_top(page)
    page.wait_for_timeout(500)
    assert len(calls_labelled(recorder, "Exit")) == 1 and len(rendered(page, "exit")) == 1
    assert is_hidden(page, "#exit-popup")


# --- context, basket, loading on demand -------------------------------------------------------


def render_module_requests(recorder: Recorder) -> list[str]:
    return [r.url for r in recorder.requests if r.url.endswith("/clerk-render.js")]


@pytest.mark.parametrize("visitor", ["auto", "persistent", "null"])
def test_context_logs_the_product_view_in_each_visitor_mode(
    page: Page, stack: Stack, recorder: Recorder, visitor: str
):
    open_fixture(page, stack, f"?visitor={visitor}", name="context.html")
    [view] = recorder.wait_for_call("log/product")
    assert view["product"] == "123"  # the plugins' integer id, sent as a string
    [row] = stored(page, stack, "SELECT * FROM events WHERE product_id = '123'", count=1)
    assert row["product_id"] == "123"
    cookie = {c["name"]: c["value"] for c in page.context.cookies()}.get("clerk_visitor")
    if visitor == "null":  # the view counts, and nothing identifying is sent or stored
        assert view["visitor"] is None and not {"session", "email", "customer"} & set(view)
        assert row["visitor_id"] is None and row["session"] is None and cookie is None
    elif visitor == "auto":
        assert view["visitor"] == "auto" and len(view["session"]) == 22 and cookie is None
        assert row["visitor_id"].startswith("c-") and row["visitor_mode"] == "auto"
    else:
        assert view["visitor"] == cookie and row["visitor_id"] == cookie
    assert render_module_requests(recorder) == []  # nothing to render: never loaded


def test_basket_is_cart_and_ui_loads_the_render_module_on_demand(
    page: Page, stack: Stack, recorder: Recorder
):
    open_fixture(page, stack, name="context.html")
    recorder.wait_for_call("log/product")
    page.click("#add")
    [added] = recorder.wait_for_call("log/basket/add")
    assert added["product"] == "123"
    assert render_module_requests(recorder) == []

    page.evaluate("Clerk('ui', 'popup', '#powerstep', 'show')")  # waits for the module
    wait_for(lambda: page.is_visible("#powerstep"), what="the popup shown", page=page)
    assert len(render_module_requests(recorder)) == 1
    assert render_module_requests(recorder)[0] == f"{stack.collector_url}/clerk-render.js"


def test_a_page_with_only_tracking_markup_never_loads_the_render_module(
    page: Page, stack: Stack, recorder: Recorder
):
    open_fixture(page, stack)  # basic.html: log spans and a shop-rendered .clerk list
    recorder.wait_for_call("log/sale")
    page.wait_for_timeout(300)
    assert render_module_requests(recorder) == []


def test_a_store_script_page_fetches_the_render_module_from_the_same_collector(
    page: Page, stack: Stack, recorder: Recorder
):
    open_fixture(page, stack, name="store_widget.html")
    # Until clerk-render.js has run, the widget's Liquid is the page's own text: one
    # <p class="name"> holding "{{ product.name }}". Wait for what replaced it.
    names = wait_for(
        lambda: [n for n in texts(page, "#popular .name") if "{{" not in n],
        what="the widget to render",
        page=page,
    )
    assert names == texts(page, "#popular .name") == ["Blue Mug", HOSTILE]
    assert render_module_requests(recorder) == [f"{stack.collector_url}/clerk-render.js"]
    [ask] = calls_labelled(recorder, "Store script")
    assert ask["key"] == stack.public_key
