"""data-template="@ID": contents the collector holds, rendered by clerk-render.js in Chromium.

The store gets its contents through the private-key API (POST /v2/contents), as a shop owner
or the dashboard saves them; the page embeds them as Clerk's plugins do. Each content asks
recommendations/popular over test_rendering's catalogue (bestsellers 1, 2, 3, 4, 5, 6;
product 2's name is markup). No answer is faked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from .harness import Recorder, Stack, http_json, open_fixture, stored, wait_for
from .test_rendering import HOSTILE, PRODUCT_PAGE, RenderingStack

DESIGN = (
    "{% for product in products %}"
    '<div class="alt" data-clerk-product-id="{{ product.id }}">'
    '<a href="{{ product.url }}">{{ product.name }}</a> '
    '<span class="price">{{ globals.currency_symbol }}{{ product.price | money }}</span> '
    '<span class="title">{{ content.name }}</span></div>'
    "{% endfor %}"
)
CONTENTS = [
    {
        "id": "product-page-alternatives",
        "name": "Alternatives <for you>",
        "api": "recommendations/popular",
        "limit": 2,
        "labels": ["Alternatives"],
        "design": DESIGN,
    },
    {
        "id": "product-page-others",
        "name": "Others also bought",
        "api": "recommendations/popular",
        "limit": 2,
        "labels": ["Others"],
        "design": DESIGN,
    },
    {
        "id": "plain-default",
        "name": "Plain",
        "api": "recommendations/popular",
        "limit": 1,
        "labels": ["Plain"],
        "design": None,
    },
]


class ContentsStack(RenderingStack):
    def seed_catalogue(self) -> None:
        super().seed_catalogue()
        http_json(
            f"{self.collector_url}/v2/contents",
            {"key": self.public_key, "private_key": self.private_key, "contents": CONTENTS},
        )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = ContentsStack(tmp_path)
    try:
        yield stack.start()
    finally:
        stack.stop()


def rendered(page: Page, element_id: str | None = None) -> list[list[Any]]:
    events: list[list[Any]] = page.evaluate("window.rendered")
    return [e for e in events if element_id in (None, e[0])]


def open_page(page: Page, stack: Stack) -> list[str]:
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    page.route(
        f"{stack.shop_url}/fixture/p/*",
        lambda route: route.fulfill(body=PRODUCT_PAGE, content_type="text/html"),
    )
    open_fixture(page, stack, name="content_ids.html")
    wait_for(
        lambda: {e[0] for e in rendered(page)} >= {"alternatives", "others", "defaulted"},
        what="the contents to render",
        page=page,
    )
    return warnings


def content_calls(recorder: Recorder) -> dict[str, dict[str, Any]]:
    return {p["content"]: p for e, p in recorder.calls() if e == "content"}


def test_a_content_renders_through_its_liquid_design(page: Page, stack: Stack, recorder: Recorder):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_page(page, stack)

    cards = page.eval_on_selector_all(
        "#alternatives .alt",
        """cards => cards.map(c => [c.dataset.clerkProductId, c.dataset.clerkN,
            c.querySelector('a').textContent, c.querySelector('.price').textContent,
            c.querySelector('.title').textContent])""",
    )
    assert cards == [
        ["1", "1", "Blue Mug", "€9.50", "Alternatives <for you>"],
        ["2", "2", HOSTILE, "€12.00", "Alternatives <for you>"],
    ]
    assert page.locator("#alternatives img").count() == 0 and dialogs == []
    call = content_calls(recorder)["product-page-alternatives"]
    assert call["key"] == stack.public_key and call["visitor"] == "auto"


def test_a_click_on_a_content_is_logged_with_the_contents_api_and_labels(
    page: Page, stack: Stack, recorder: Recorder
):
    open_page(page, stack)
    page.click("#alternatives .alt:nth-child(2) a")
    page.wait_for_url(f"{stack.shop_url}/fixture/p/2")
    [click] = recorder.wait_for_call("log/click")
    assert {k: click[k] for k in ("product", "api", "labels", "n")} == {
        "product": "2",
        "api": "recommendations/popular",
        "labels": ["Alternatives"],
        "n": 2,
    }
    stored(page, stack, "SELECT * FROM events WHERE kind = 'click'", count=1)


def test_exclude_from_between_two_contents_and_element_arguments_over_defaults(
    page: Page, stack: Stack, recorder: Recorder
):
    open_page(page, stack)
    ids = "[data-clerk-product-id]"
    first = page.eval_on_selector_all(
        f"#alternatives {ids}", "n => n.map(e => e.dataset.clerkProductId)"
    )
    second = page.eval_on_selector_all(
        f"#others {ids}", "n => n.map(e => e.dataset.clerkProductId)"
    )
    assert first == ["1", "2"] and second == ["3", "4"]
    assert content_calls(recorder)["product-page-others"]["exclude"] == ["1", "2"]

    # no design: the plain list; data-limit="3" over the content's limit of 1
    names = page.eval_on_selector_all("#defaulted ul > li > a", "a => a.map(e => e.textContent)")
    assert names == ["Blue Mug", HOSTILE, "Red Mug"]
    assert content_calls(recorder)["plain-default"]["limit"] == 3


def test_a_content_the_store_does_not_have_renders_nothing_and_says_why_under_debug(
    page: Page, stack: Stack, recorder: Recorder
):
    warnings = open_page(page, stack)
    wait_for(lambda: "no-such-content" in content_calls(recorder), what="the call", page=page)
    wait_for(lambda: any("no-such-content" in w for w in warnings), what="a warning", page=page)
    assert page.inner_html("#missing") == "" and rendered(page, "missing") == []
