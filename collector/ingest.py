"""The lean path of the tracking calls: POST /v2/log/* answered ahead of Starlette.

Under load a tracking call spends more of its time in Starlette's layers (error
middleware, the router's walk over every route, exception middleware, the endpoint
wrapper, the response objects) than in its own work. This path takes a POST to a
/v2/log/* address straight to what that route's endpoint answers (collector/api.py's
`CONTENTS`: the same limits, validation, store, origins and visitor rules, the same
group-commit write answered after the commit), and writes the answer itself: the
common `{"status":"ok"}` as bytes and headers made once by Starlette's own
JSONResponse, with the CORS headers of collector/middleware.py's rule. Its exceptions
become answers with the app's own exception handlers. Every other request, OPTIONS
preflights included, goes to the Starlette app as before.

The request metrics (scope["route"]), the access log and the proxy headers wrap this
path as they wrap the app. tests/test_ingest_path.py checks that both paths give the
same answers and store the same rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .api import CONTENTS, Content
from .middleware import cors_headers, with_cors

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]
PREFIX = "/v2/log/"
# The answer of every call that records an event: made once, by Starlette's JSONResponse.
OK = {"status": "ok"}
_OK = JSONResponse(OK)
OK_BODY, OK_HEADERS = _OK.body, tuple(_OK.raw_headers)


class IngestHeaders(Headers):
    """Starlette's Headers, looked up in a dict made once (the first of each name, as
    Starlette's own lookups find) instead of a walk over the list on every lookup."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope=scope)
        self._first = dict(reversed(self._list))

    def get(self, key: str, default: Any = None) -> Any:
        value = self._first.get(key.lower().encode("latin-1"))
        return default if value is None else value.decode("latin-1")

    def __getitem__(self, key: str) -> str:
        value = self._first.get(key.lower().encode("latin-1"))
        if value is None:
            raise KeyError(key)
        return value.decode("latin-1")

    def __contains__(self, key: Any) -> bool:
        return key.lower().encode("latin-1") in self._first


class IngestRequest(Request):
    """A Request whose headers are IngestHeaders."""

    @property
    def headers(self) -> Headers:
        if not hasattr(self, "_headers"):
            self._headers = IngestHeaders(self.scope)
        return self._headers


class IngestPath:
    """ASGI: the POST /v2/log/* routes of `routes` answered here, the rest by `app`."""

    def __init__(
        self,
        app: ASGIApp,
        routes: Iterable[Any],
        handlers: Mapping[type[Exception], ExceptionHandler],
    ) -> None:
        self.app = app
        self.routes = {
            route.path: route
            for route in routes
            if isinstance(route, Route)
            and route.path.startswith(PREFIX)
            and "POST" in (route.methods or ())
        }
        self.contents: dict[str, Content] = {
            path: CONTENTS[route.endpoint] for path, route in self.routes.items()
        }
        self.handlers = dict(handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            content = self.contents.get(scope["path"])
            if content is not None:
                route = self.routes[scope["path"]]
                # What Starlette's app and router note in the scope for the endpoint.
                scope["app"] = self.app
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {}
                await self._answer(content, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _answer(self, content: Content, scope: Scope, receive: Receive, send: Send) -> None:
        request = IngestRequest(scope, receive, send)
        origin = request.headers.get("origin")
        try:
            found = await content(request)
        except Exception as exc:
            kind, handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
            await response(scope, receive, with_cors(send, scope, origin, server_only=False))
            if kind is Exception:
                # As Starlette's ServerErrorMiddleware: answered, then raised for the
                # server to log.
                raise
            return
        if found == OK:
            body, headers = OK_BODY, [*OK_HEADERS, *cors_headers(scope, origin, 200)]
        else:
            answer = JSONResponse(found)
            body, headers = answer.body, [*answer.raw_headers, *cors_headers(scope, origin, 200)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _handler(self, exc: Exception) -> tuple[type | None, ExceptionHandler | None]:
        """The app's handler for this exception, as Starlette looks it up (by its class
        and then its bases, in order)."""
        for kind in type(exc).__mro__:
            if kind in self.handlers:
                return kind, self.handlers[kind]
        return None, None
