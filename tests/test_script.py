"""/clerk.js and /clerk-render.js as served: cacheable, gzip-compressed, within budget."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from collector.script import minify

STATIC = Path(__file__).resolve().parent.parent / "static"
SCRIPT = STATIC / "clerk.js"
RENDER = STATIC / "clerk-render.js"
BUDGET = 4096  # the first script, gzipped
RENDER_BUDGET = 8192  # the render module, gzipped: loaded only where something renders


@pytest.mark.parametrize(("url", "path"), [("/clerk.js", SCRIPT), ("/clerk-render.js", RENDER)])
def test_scripts_are_served_gzipped_with_caching_headers(client, url, path):
    answer = client.get(url, headers={"accept-encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/javascript")
    assert answer.headers["content-encoding"] == "gzip"
    assert "max-age=" in answer.headers["cache-control"]
    assert answer.headers["vary"] == "Accept-Encoding"
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.content.decode() == minify(path.read_text())  # the client decoded the gzip


@pytest.mark.parametrize("url", ["/clerk.js", "/clerk-render.js"])
def test_unchanged_script_answers_304(client, url):
    etag = client.get(url).headers["etag"]
    again = client.get(url, headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""


def test_the_two_scripts_are_two_versions(client):
    first, render = client.get("/clerk.js"), client.get("/clerk-render.js")
    assert first.headers["etag"] != render.headers["etag"]
    assert first.content != render.content


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


@pytest.mark.parametrize("path", [SCRIPT, RENDER])
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
