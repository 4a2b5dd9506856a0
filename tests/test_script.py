"""/clerk.js, /clerk-render.js and /clerk-search.js as served: cacheable, gzip-compressed,
within budget."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from collector.script import minify

STATIC = Path(__file__).resolve().parent.parent / "static"
SCRIPT = STATIC / "clerk.js"
RENDER = STATIC / "clerk-render.js"
SEARCH = STATIC / "clerk-search.js"
BUDGET = 4096  # the first script, gzipped
RENDER_BUDGET = 8192  # the render module, gzipped: loaded only where something renders
SEARCH_BUDGET = 6144  # the search module, gzipped: loaded only by search pages and live search
SCRIPTS = [("/clerk.js", SCRIPT), ("/clerk-render.js", RENDER), ("/clerk-search.js", SEARCH)]


@pytest.mark.parametrize(("url", "path"), SCRIPTS)
def test_scripts_are_served_gzipped_with_caching_headers(client, url, path):
    answer = client.get(url, headers={"accept-encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/javascript")
    assert answer.headers["content-encoding"] == "gzip"
    assert "max-age=" in answer.headers["cache-control"]
    assert answer.headers["vary"] == "Accept-Encoding"
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.content.decode() == minify(path.read_text())  # the client decoded the gzip


@pytest.mark.parametrize("url", [url for url, _ in SCRIPTS])
def test_unchanged_script_answers_304(client, url):
    etag = client.get(url).headers["etag"]
    again = client.get(url, headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""


def test_the_three_scripts_are_three_versions(client):
    answers = [client.get(url) for url, _ in SCRIPTS]
    assert len({answer.headers["etag"] for answer in answers}) == 3
    assert len({answer.content for answer in answers}) == 3


def served_size(client, url: str) -> int:
    served = client.get(url, headers={"accept-encoding": "gzip"}).content
    return len(gzip.compress(served, compresslevel=9))


def test_first_script_within_size_budget_as_served(client):
    size = served_size(client, "/clerk.js")
    print(f"clerk.js: {len(SCRIPT.read_bytes())} bytes source, {size} gzipped (budget {BUDGET})")
    assert size <= BUDGET


def test_render_module_within_its_budget_as_served(client):
    size = served_size(client, "/clerk-render.js")
    print(f"clerk-render.js: {len(RENDER.read_bytes())} bytes source, {size} gzipped")
    assert size <= RENDER_BUDGET


def test_search_module_within_its_budget_as_served(client):
    size = served_size(client, "/clerk-search.js")
    print(f"clerk-search.js: {len(SEARCH.read_bytes())} bytes source, {size} gzipped")
    assert size <= SEARCH_BUDGET


@pytest.mark.parametrize("path", [SCRIPT, RENDER, SEARCH])
def test_scripts_have_no_storage_apis(path):
    """The scripts never touch web storage: only the clerk_visitor cookie."""
    source = path.read_text()
    for api in ("localStorage", "sessionStorage", "indexedDB", "caches."):
        assert api not in source


def test_the_first_script_renders_nothing_itself():
    """Rendering lives in clerk-render.js; clerk.js only decides when to load it."""
    source = SCRIPT.read_text()
    for marker in ("innerHTML", "cloneNode", "data-clerk-field", "liquid"):
        assert marker not in source
    assert "clerk-render.js" in source


def test_the_render_module_loads_the_search_module_on_demand():
    assert "clerk-search.js" not in SCRIPT.read_text()
    assert "clerk-search.js" in RENDER.read_text()
