"""The lean path of the tracking calls: POST /v2/log/* answered ahead of Starlette.

Under load a tracking call spends more of its time in Starlette's layers (error
middleware, the router's walk over every route, exception middleware, the endpoint
wrapper) than in its own work. This path takes a POST to a /v2/log/* address straight
to that route's own endpoint function (collector/api.py: the same limits, validation,
store, origins and visitor rules, the same group-commit write answered after the
commit), behind the same CORS middleware, and turns its exceptions into answers
with the app's own exception handlers. Every other request, OPTIONS preflights
included, goes to the Starlette app as before.

The request metrics (scope["route"]), the access log and the proxy headers wrap this
path as they wrap the app. tests/test_ingest_path.py checks that both paths give the
same answers and store the same rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .middleware import CORSMiddleware

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]
PREFIX = "/v2/log/"


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
        self.handlers = dict(handlers)
        self.cors = CORSMiddleware(self._answer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            route = self.routes.get(scope["path"])
            if route is not None:
                # What Starlette's app and router note in the scope for the endpoint.
                scope["app"] = self.app
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = {}
                await self.cors(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response: Response = await scope["endpoint"](request)
        except Exception as exc:
            kind, handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
            await response(scope, receive, send)
            if kind is Exception:
                # As Starlette's ServerErrorMiddleware: answered, then raised for the
                # server to log.
                raise
            return
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> tuple[type | None, ExceptionHandler | None]:
        """The app's handler for this exception, as Starlette looks it up (by its class
        and then its bases, in order)."""
        for kind in type(exc).__mro__:
            if kind in self.handlers:
                return kind, self.handlers[kind]
        return None, None
