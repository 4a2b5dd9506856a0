"""The browser's Liquid renderer (static/clerk-render.js) over tests/fixtures/liquid_cases.json.

The same cases are python-liquid's (collector/liquid.py, tests/test_liquid.py): the design a
shop owner previews in the dashboard renders alike in shoppers' browsers. The module runs as
the collector serves it (minified by collector/script.py), loaded by clerk.js in Chromium on a
page of its own; the renderer is reached through clerk.js's internal object (Clerk._), which
is there for this test and for clerk-render.js, not an API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from collector.script import RENDER_NAME, Script

from .harness import USER_AGENT, wait_for

ROOT = Path(__file__).resolve().parent.parent
CASES = json.loads((ROOT / "tests" / "fixtures" / "liquid_cases.json").read_text())
SHOP, COLLECTOR = "https://shop.test", "https://collector.test"
PAGE = f"""<!doctype html><title>Liquid cases</title>
<script>
(function(w,d){{var e=d.createElement('script');e.async=true;
e.src='{COLLECTOR}/clerk.js';var s=d.getElementsByTagName('script')[0];
s.parentNode.insertBefore(e,s);w.__clerk_q=w.__clerk_q||[];
w.Clerk=w.Clerk||function(){{w.__clerk_q.push(arguments)}};}})(window,document);
Clerk('ui', 'popup', '#nothing', 'hide');  // something for the render module to do
</script>"""


def served(name: str) -> bytes:
    return Script(ROOT / "static" / name, max_age=0).current().raw


@pytest.fixture(scope="module")
def liquid_page(browser: Browser) -> Iterator[Page]:
    """One page with clerk.js and clerk-render.js as served; no collector is needed."""
    context = browser.new_context(user_agent=USER_AGENT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    scripts = {f"{COLLECTOR}/clerk.js": served("clerk.js")}
    scripts[f"{COLLECTOR}/{RENDER_NAME}"] = served(RENDER_NAME)
    page.route(
        f"{COLLECTOR}/*.js",
        lambda route: route.fulfill(
            body=scripts[route.request.url], content_type="application/javascript"
        ),
    )
    page.route(f"{SHOP}/", lambda route: route.fulfill(body=PAGE, content_type="text/html"))
    page.goto(f"{SHOP}/")
    wait_for(
        lambda: page.evaluate("!!(window.Clerk && Clerk._ && Clerk._.liquid)"),
        what="clerk-render.js to load",
        page=page,
    )
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


RENDER = """([template, context, formatters]) => {
    const functions = {};
    for (const name of formatters) functions[name] = value => '<' + value + '>';
    try { return {html: Clerk._.liquid(template, context, functions)}; }
    catch (error) { return {error: String(error.message || error)}; }
}"""


def render(page: Page, template: str, formatters: list[str] = []) -> dict[str, Any]:  # noqa: B006
    result: dict[str, Any] = page.evaluate(RENDER, [template, CASES["context"], formatters])
    return result


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_each_case_renders_as_python_liquid_does(liquid_page: Page, case: dict[str, str]):
    assert render(liquid_page, case["template"]) == {"html": case["expected"]}


@pytest.mark.parametrize("case", CASES["errors"], ids=[c["name"] for c in CASES["errors"]])
def test_each_error_case_fails(liquid_page: Page, case: dict[str, str]):
    result = render(liquid_page, case["template"])
    assert set(result) == {"error"} and result["error"].startswith("Liquid: "), result


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # only own properties: nothing of JavaScript's objects is reachable
        (
            "[{{ products.constructor }}][{{ products.__proto__ }}][{{ query.length }}]"
            "[{{ content['constructor'] }}][{{ count.toFixed }}]",
            "[][][][][]",
        ),
        ("{{ query | constructor }}|{{ query | toString }}", "shoe|shoe"),
        # a formatter from config.formatters is a filter; its output is escaped too
        ("{{ products[0].brand | wrap }}", "&lt;Acme&gt;"),
        (
            "{% for i in (1..5) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 4 %}"
            "{% break %}{% endif %}{{ i }}{% endfor %}",
            "13",
        ),
    ],
)
def test_the_renderer_reads_only_own_properties_and_uses_formatters(
    liquid_page: Page, template: str, expected: str
):
    assert render(liquid_page, template, ["wrap"]) == {"html": expected}


def test_loops_are_bounded(liquid_page: Page):
    result = render(
        liquid_page, "{% for i in (1..10) %}{% for j in (1..20000) %}{% endfor %}{% endfor %}"
    )
    assert result == {"error": "Liquid: too many loop iterations"}
