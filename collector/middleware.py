"""Plain ASGI middleware: CORS for the browser-facing API."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Endpoints that only a shop's server calls, with the private key: no CORS, so a
# browser page can never read them even if a private key leaked into one.
SERVER_ONLY = ("/v2/products", "/v2/orders", "/v2/customers", "/v2/stats/")


class CORSMiddleware:
    """Any origin may call the tracking and widget API without credentials.

    Browsers send clerk.js's text/plain POSTs without a preflight; the OPTIONS
    answer is there for direct API users who send application/json.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v2/") or path.startswith(SERVER_ONLY):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await _preflight(send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"access-control-allow-origin", b"*"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cors)


async def _preflight(send: Send) -> None:
    headers = [
        (b"access-control-allow-origin", b"*"),
        (b"access-control-allow-methods", b"GET, POST"),
        (b"access-control-allow-headers", b"content-type"),
        (b"access-control-max-age", b"86400"),
        (b"content-length", b"0"),
    ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
