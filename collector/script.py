"""Serving the browser scripts: minified, cacheable, with an ETag, gzip-compressed once per version.

Two scripts: /clerk.js (static/clerk.js), the first script every shop page loads, and
/clerk-render.js (static/clerk-render.js, beside it), which clerk.js loads only on pages that
have something to render. Each is one `Script`. The sources stay readable, comments and
all, and run as they are; the collector strips comments and white space (rjsmin) when it
loads a file, so comments cost shoppers nothing.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import rjsmin
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def minify(source: str) -> str:
    minified: str = rjsmin.jsmin(source)
    return minified


@dataclass(frozen=True)
class ScriptVersion:
    mtime: float
    raw: bytes
    gzipped: bytes
    etag: str


# The render module's file, beside the first script's (CLERK_JS_PATH moves both).
RENDER_NAME = "clerk-render.js"


class Script:
    """One script file served at `url`; `current()` is its version as served now."""

    def __init__(self, path: Path, max_age: int, url: str = "/clerk.js") -> None:
        self.path = path
        self.max_age = max_age
        self.url = url
        self._version: ScriptVersion | None = None

    def current(self) -> ScriptVersion:
        mtime = self.path.stat().st_mtime
        if self._version is None or self._version.mtime != mtime:
            raw = minify(self.path.read_text(encoding="utf-8")).encode()
            self._version = ScriptVersion(
                mtime=mtime,
                raw=raw,
                gzipped=gzip.compress(raw, compresslevel=9, mtime=0),
                etag='"' + hashlib.sha256(raw).hexdigest()[:32] + '"',
            )
        return self._version

    async def endpoint(self, request: Request) -> Response:
        version = self.current()
        headers = {
            "Cache-Control": f"public, max-age={self.max_age}, stale-while-revalidate=86400",
            "ETag": version.etag,
            "Vary": "Accept-Encoding",
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
        }
        if version.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        body = version.raw
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = version.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)

    def routes(self) -> list[Route]:
        return [Route(self.url, self.endpoint, methods=["GET", "HEAD"])]


def render_script(first: Path, max_age: int) -> Script:
    """The render module served at /clerk-render.js, from the file beside the first script."""
    return Script(first.with_name(RENDER_NAME), max_age, "/" + RENDER_NAME)
