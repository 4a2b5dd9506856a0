"""/clerk.js as served: cacheable, gzip-compressed, within its size budget."""

from __future__ import annotations

import gzip
from pathlib import Path

from collector.script import minify

SCRIPT = Path(__file__).resolve().parent.parent / "static" / "clerk.js"
BUDGET = 4096


def test_script_is_served_gzipped_with_caching_headers(client):
    answer = client.get("/clerk.js", headers={"accept-encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/javascript")
    assert answer.headers["content-encoding"] == "gzip"
    assert "max-age=" in answer.headers["cache-control"]
    assert answer.headers["vary"] == "Accept-Encoding"
    assert answer.content.decode() == minify(SCRIPT.read_text())  # the client decoded the gzip


def test_unchanged_script_answers_304(client):
    etag = client.get("/clerk.js").headers["etag"]
    again = client.get("/clerk.js", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""


def test_script_within_size_budget_as_served(client):
    served = client.get("/clerk.js", headers={"accept-encoding": "gzip"}).content
    size = len(gzip.compress(served, compresslevel=9))
    print(
        f"clerk.js: {len(SCRIPT.read_bytes())} bytes source, {len(served)} minified, "
        f"{size} gzipped (budget {BUDGET})"
    )
    assert size <= BUDGET


def test_script_has_no_storage_apis():
    """The script itself must never touch web storage: only the clerk_visitor cookie."""
    source = SCRIPT.read_text()
    for api in ("localStorage", "sessionStorage", "indexedDB", "caches."):
        assert api not in source
