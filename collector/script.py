"""Serving the browser scripts: minified, cacheable, with an ETag, gzip-compressed once per
version.

Three scripts, each one `Script`: /clerk.js (static/clerk.js), the first script every shop
page loads; /clerk-render.js (static/clerk-render.js, beside it), which clerk.js loads only on
pages that have something to render; and /clerk-search.js (static/clerk-search.js), which
clerk-render.js loads only on pages with a search page or live search's sections. Each store's
own copy of the first script is served at /<slug>.js (StoreScripts). The sources stay
readable, comments and all, and run as they are; the collector strips comments and white space
(rjsmin) when it loads a file, so comments cost shoppers nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import rjsmin
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .storage.stores import valid_slug


def minify(source: str) -> str:
    minified: str = rjsmin.jsmin(source)
    return minified


@dataclass(frozen=True)
class ScriptVersion:
    mtime: float
    raw: bytes
    gzipped: bytes
    etag: str


# The render and search modules' files, beside the first script's (CLERK_JS_PATH moves all).
RENDER_NAME = "clerk-render.js"
SEARCH_NAME = "clerk-search.js"


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
        return self.answer(request, self.current())

    def answer(self, request: Request, version: ScriptVersion) -> Response:
        """A version of the script with its caching headers, gzipped if the client takes it,
        or 304 when the client holds it already."""
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


def search_script(first: Path, max_age: int) -> Script:
    """The search module served at /clerk-search.js, from the file beside the first script."""
    return Script(first.with_name(SEARCH_NAME), max_age, "/" + SEARCH_NAME)


def prelude(public_key: str) -> bytes:
    """What a store's own script runs first: its key, as the first command of the queue,
    so that a `config` of the shop's own (later in the queue) still wins."""
    key = json.dumps(public_key)
    return (
        "(window.__clerk_q=window.__clerk_q||[]).unshift&&"
        f'window.__clerk_q.unshift(["config",{{key:{key}}}]);'
    ).encode()


# What an address no store has answers: the same for every such address (one never
# named, one renamed away, one that cannot be a slug), and not kept by browsers or
# proxies, so that a store made or renamed to it is served as soon as the collector
# knows (this process at once, others within services.STORE_CACHE_SECONDS).
NO_STORE_SCRIPT = b"/* clerk-collector: no store has this script address */\n"


class StoreScripts:
    """/<slug>.js: a store's own script, as Clerk serves a shop's: exactly the bytes of
    /clerk.js after prelude(its public key), so a page needs no `config` for the key.

    Each store's version has its own ETag (the prelude differs), follows /clerk.js when
    the file changes, and is kept per process (at most MAX_VERSIONS; all dropped when
    full). The route is the app's last, and no slug starts with "clerk", so it shadows no
    other address (/clerk.js, /clerk-render.js, /clerk-search.js, /healthz, /dashboard, /v2/...).
    """

    MAX_VERSIONS = 1024

    def __init__(self, script: Script) -> None:
        self.script = script
        self._versions: dict[tuple[str, str], ScriptVersion] = {}

    def version(self, public_key: str) -> ScriptVersion:
        base = self.script.current()
        cached = self._versions.get((public_key, base.etag))
        if cached is None:
            raw = prelude(public_key) + base.raw
            cached = ScriptVersion(
                mtime=base.mtime,
                raw=raw,
                gzipped=gzip.compress(raw, compresslevel=9, mtime=0),
                etag='"' + hashlib.sha256(raw).hexdigest()[:32] + '"',
            )
            if len(self._versions) >= self.MAX_VERSIONS:
                self._versions.clear()
            self._versions[(public_key, base.etag)] = cached
        return cached

    async def endpoint(self, request: Request) -> Response:
        services = request.app.state.services
        # An unknown address costs a database read (then a cache entry): the same per-client
        # rate limit as any API call bounds how fast anyone can probe for slugs.
        services.limits.check_client(request)
        slug = request.path_params["slug"]
        store = await services.store_by_slug(slug) if valid_slug(slug) else None
        if store is None:
            return Response(
                NO_STORE_SCRIPT,
                status_code=404,
                media_type="application/javascript; charset=utf-8",
                headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
            )
        return self.script.answer(request, self.version(store.public_key))

    def routes(self) -> list[Route]:
        return [Route("/{slug}.js", self.endpoint, methods=["GET", "HEAD"])]
