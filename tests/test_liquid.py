"""Designs on the server (collector/liquid.py): the shared Liquid cases, errors, limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector import liquid

CASES = json.loads((Path(__file__).parent / "fixtures" / "liquid_cases.json").read_text())


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda case: case["name"])
def test_each_shared_case_renders_as_expected(case):
    assert liquid.render(case["template"], CASES["context"]) == case["expected"]


@pytest.mark.parametrize("case", CASES["errors"], ids=lambda case: case["name"])
def test_a_design_that_does_not_parse_is_refused_saying_why(case):
    with pytest.raises(liquid.DesignError) as raised:
        liquid.parse(case["template"])
    assert str(raised.value) == case["message"]
    assert "expected" in str(raised.value) or "unexpected" in str(raised.value)


def test_catalogue_text_never_becomes_markup():
    html = liquid.render("{{ p.name }}", {"p": {"name": "<script>alert(1)</script>"}})
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_design_cannot_loop_without_bound():
    looping = "{% for a in (1..1000) %}{% for b in (1..1000) %}x{% endfor %}{% endfor %}"
    with pytest.raises(liquid.DesignError, match="loop"):
        liquid.render(looping, {})


def test_a_design_longer_than_the_limit_is_refused():
    with pytest.raises(liquid.DesignError, match="limit is"):
        liquid.parse("x" * (liquid.DESIGN_MAX + 1))


def test_unknown_filters_pass_the_value_through():
    # A storefront's config.formatters are filters only its browser has.
    assert liquid.render("{{ 5 | convert_currency }}", {}) == "5"


@pytest.mark.parametrize(
    ("value", "money", "money_eu"),
    [
        (1234.5, "1,234.50", "1.234,50"),
        (0, "0.00", "0,00"),
        (-5.255, "-5.26", "-5,26"),
        ("12", "12.00", "12,00"),
        ("n/a", "n/a", "n/a"),
        (None, "", ""),
    ],
)
def test_money_filters(value, money, money_eu):
    assert liquid.money(value) == money
    assert liquid.money_eu(value) == money_eu


@pytest.mark.parametrize(
    ("markup", "clean"),
    [
        ('<a href="javascript:alert(1)" class="x">a</a>', '<a class="x">a</a>'),
        ('<a href="java\tscript:alert(1)">a</a>', "<a>a</a>"),
        ('<a href=" JAVASCRIPT:alert(1)">a</a>', "<a>a</a>"),
        ('<img src="data:image/svg+xml,<svg/>">', "<img>"),
        (
            '<img src="https://shop.example/1.png" onerror="alert(1)">',
            '<img src="https://shop.example/1.png">',
        ),
        ('<a href="/p/1?a=1&amp;b=2">p</a>', '<a href="/p/1?a=1&amp;b=2">p</a>'),
        ('<a href="p/1">p</a><a href="#top">t</a>', '<a href="p/1">p</a><a href="#top">t</a>'),
        ('<img srcset="a.png 1x, javascript:x 2x">', "<img>"),
        (
            '<img srcset="a.png 1x, https://x/b.png 2x">',
            '<img srcset="a.png 1x, https://x/b.png 2x">',
        ),
        (
            '<form action="javascript:x"><button formaction="vbscript:x">b</button></form>',
            "<form><button>b</button></form>",
        ),
        ("<script>alert(1)</script><p>1 &lt; 2</p>", "<p>1 &lt; 2</p>"),
        ("<style>p > a { color: red }</style>", "<style>p > a { color: red }</style>"),
        ('<svg><a xlink:href="javascript:x">s</a></svg>', "<svg><a>s</a></svg>"),
        ('<p title="&quot;&gt;<b>">x</p><!-- c -->', '<p title="&quot;&gt;&lt;b&gt;">x</p>'),
    ],
)
def test_a_preview_keeps_only_http_or_relative_urls_and_no_script(markup, clean):
    assert liquid.sanitize(markup) == clean


def test_the_default_design_is_a_list_of_linked_names():
    products = [{"name": "<b>Mug</b>", "url": "/p/1"}]
    assert liquid.render(liquid.DEFAULT_DESIGN, {"products": products}) == (
        '<ul class="clerk-default"><li><a href="/p/1">&lt;b&gt;Mug&lt;/b&gt;</a></li></ul>'
    )
