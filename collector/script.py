"""Serving /clerk.js: minified, cacheable, with an ETag, gzip-compressed once per version.

static/clerk.js stays readable, comments and all, and runs as it is; the collector
strips comments and white space (rjsmin) when it loads the file, so comments cost
shoppers nothing.
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


class Script:
    def __init__(self, path: Path, max_age: int) -> None:
        self.path = path
        self.max_age = max_age
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
        return [Route("/clerk.js", self.endpoint, methods=["GET", "HEAD"])]
