"""Plain ASGI middleware: CORS for the browser-facing API, echoing only what was granted."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .origins import granted

# Endpoints that only a shop's server calls, with the private key: no CORS, so a
# browser page can never read them even if a private key leaked into one.
SERVER_ONLY = ("/v2/products", "/v2/orders", "/v2/customers", "/v2/stats/")


class CORSMiddleware:
    """A page may read an answer only when the endpoint granted its origin (collector/origins.py
    says who is granted what); error answers, which hold no visitor data, are readable by the
    page that caused them, so a shop can see why it was refused. Never `*`, never
    credentials; `Vary: Origin` on every answer, as each depends on the caller's origin.

    Browsers send clerk.js's text/plain POSTs without a preflight; the OPTIONS answer is
    there for direct API users who send application/json. It cannot know the store (there
    is no body), and grants only the sending: the real answer's own headers decide whether
    the page may read it, and the real request is refused before it changes anything.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v2/"):
            await self.app(scope, receive, send)
            return
        origin = Headers(scope=scope).get("origin")
        server_only = path.startswith(SERVER_ONLY)
        if scope["method"] == "OPTIONS" and not server_only:
            await _preflight(send, origin)
            return

        await self.app(scope, receive, with_cors(send, scope, origin, server_only=server_only))


def with_cors(send: Send, scope: Scope, origin: str | None, *, server_only: bool) -> Send:
    """`send`, with the CORS headers added to the answer's start."""

    async def send_with_cors(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [
                *message.get("headers", ()),
                *cors_headers(scope, origin, message["status"], server_only=server_only),
            ]
        await send(message)

    return send_with_cors


def cors_headers(
    scope: Scope, origin: str | None, status: int, *, server_only: bool = False
) -> list[tuple[bytes, bytes]]:
    """The headers CORS adds to an answer with this status (see CORSMiddleware)."""
    headers = [(b"vary", b"Origin")]
    readable = granted(scope) or (origin if status >= 400 else None)
    if readable and not server_only:
        headers.append((b"access-control-allow-origin", readable.encode("latin-1")))
    return headers


async def _preflight(send: Send, origin: str | None) -> None:
    headers = [(b"vary", b"Origin"), (b"content-length", b"0")]
    if origin:
        headers += [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", b"GET, POST"),
            (b"access-control-allow-headers", b"content-type"),
            (b"access-control-max-age", b"86400"),
        ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
