"""The opt-in access log (ACCESS_LOG=1): one line per request, with the method, the path of
the endpoint, the status and the duration, and nothing else.

Never the client's address, the query string, the body, the User-Agent or any other
header: those are what made uvicorn's own access log (off, see logs.py) a record of
shoppers. The path is written only when it is an endpoint's (a route matched it, so it
holds nothing but the route's fixed words and whole numbers); any other path (a 404, a
preflight answered before routing) could be anything a client typed, and is written as
"(unmatched)".
"""

from __future__ import annotations

import logging
import time

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("collector.access")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "(unmatched)"


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what uvicorn answers if the app fails before it starts an answer

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            path, took = endpoint_path(scope), (time.perf_counter() - started) * 1000
            log.info(
                "%s %s %d %.1fms",
                method,
                path,
                status,
                took,
                # LOG_FORMAT=json writes these as fields of their own.
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(took, 1),
                },
            )


def endpoint_path(scope: Scope) -> str:
    """The request's path if a route matched it (Starlette's router notes the route in the
    scope it was given, which is this one), else UNMATCHED."""
    return str(scope["path"]) if isinstance(scope.get("route"), Route) else UNMATCHED
