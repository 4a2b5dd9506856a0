"""The shape every /v2 endpoint shares: read, validate, authenticate, call, answer."""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import origins
from .errors import ApiError, invalid
from .payload import read_arguments
from .services import Services
from .storage.stores import Store
from .validation import REQUIRED, Fields, JsonSchema, boolean, text, validate, visitor
from .validation import session as session_field
from .visitors import NO_VISITOR, SERVER_MODE, Visitor

# Sent with every call by clerk.js (and accepted from direct API users).
COMMON: Fields = {
    "key": (text(64), REQUIRED),
    "visitor": (visitor, "auto"),
    "session": (session_field, None),
    "respect_gpc": (boolean, True),
    # Optional everywhere; required where `private`, and checked wherever it is sent.
    "private_key": (text(128), None),
}


PRIVATE_KEY_IN_QUERY = (
    "is never accepted in a query string (addresses end up in access logs, proxies and "
    "history); send the call as a POST with the arguments in its body, as JSON or "
    "form-encoded (application/x-www-form-urlencoded, e.g. PHP's http_build_query)"
)


@dataclass
class Call:
    request: Request
    services: Services
    store: Store
    data: dict[str, Any]
    private: bool
    # A dashboard preview: answers as the endpoint does but records nothing (no render,
    # no search), so that previews never count as a widget's impressions.
    preview: bool = False
    # Arguments the endpoint does not know, ignored (validation.warn): the answer names them.
    warnings: list[str] = field(default_factory=list)

    async def visitor(self) -> Visitor:
        """The caller's visitor per its consent mode (see visitors.py).

        With the private key the caller is the shop's server, not a shopper: `auto` derives
        nothing (the server's own address and User-Agent are every customer's), and an id
        it sends is used as sent (the shop holds the shopper's consent, not this request).
        """
        sent = self.data["visitor"]
        if sent is None:
            return NO_VISITOR
        if self.private:
            if sent == "auto":
                return Visitor(mode=SERVER_MODE, id=None, session=self.data["session"])
            return Visitor(mode="persistent", id=sent, session=self.data["session"])
        gpc = self.request.headers.get("sec-gpc") == "1" and self.data["respect_gpc"]
        return await self.services.visitors.resolve(
            sent=sent,
            session=self.data["session"],
            store_key=self.store.public_key,
            ip=self.request.client.host if self.request.client else "",
            user_agent=self.request.headers.get("user-agent", ""),
            gpc=bool(gpc),
        )


Handler = Callable[[Call], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Target:
    """What a call runs: its fields (beyond COMMON), its handler, and whether it is personal."""

    fields: Fields
    handler: Handler
    personal: bool = False

    @cached_property
    def all_fields(self) -> Fields:
        """COMMON and the target's own fields, merged once rather than on every call."""
        return {**COMMON, **self.fields}


@dataclass(frozen=True)
class Declaration:
    """What an endpoint declares, for collector/openapi.py: its fields beyond COMMON, which
    key it needs, whether it is personal, the shape of its answer beyond `status` (None:
    an object), and whether it takes arguments beyond its fields (`open`: /v2/content, whose
    arguments are those of the content it names)."""

    fields: Fields
    private: bool
    personal: bool
    summary: str
    answer: JsonSchema | None = None
    open: bool = False


# Endpoint -> its declaration; by_method endpoints -> {method: endpoint} (see openapi.py).
DECLARED: weakref.WeakKeyDictionary[Callable[..., Any], Declaration] = weakref.WeakKeyDictionary()
# Endpoint -> what it answers with 200, as data (the endpoint is JSONResponse of it): the
# lean ingest path (collector/ingest.py) calls it and writes the answer itself.
Content = Callable[[Request], Awaitable[dict[str, Any]]]
CONTENTS: weakref.WeakKeyDictionary[Callable[..., Any], Content] = weakref.WeakKeyDictionary()
METHODS: weakref.WeakKeyDictionary[Callable[..., Any], dict[str, Callable[..., Any]]] = (
    weakref.WeakKeyDictionary()
)


COUNT: JsonSchema = {"type": "integer", "minimum": 0}
IDS: JsonSchema = {"type": "array", "items": {"type": "string"}}
RECORDS: JsonSchema = {"type": "array", "items": {"type": "object"}}


def answer(**properties: JsonSchema) -> JsonSchema:
    """An answer's schema beside `status`: these properties, each always there."""
    return {"type": "object", "properties": properties, "required": list(properties)}


def _summary(handler: Handler) -> str:
    """The first paragraph of a handler's docstring, on one line."""
    doc = (handler.__doc__ or "").strip().split("\n\n", 1)[0]
    return " ".join(doc.split())


# Picks a call's target from its raw arguments (and may add defaults to them): see dispatch.
Resolver = Callable[[Services, dict[str, Any], bool], Awaitable[tuple[dict[str, Any], Target]]]


def endpoint(
    fields: Fields,
    handler: Handler,
    *,
    private: bool = False,
    personal: bool = False,
    answer: JsonSchema | None = None,
) -> Callable[..., Any]:
    """A Starlette endpoint for `handler`; `private` ones need the store's private key.

    `personal` ones reveal or change a visitor's data: from a page they are served only to
    the store's own origins (collector/origins.py); with the private key they are a shop
    server's calls like any other. A personal endpoint that changes data is routed POST only.
    """
    target = Target(fields, handler, personal)

    async def fixed(
        services: Services, raw: dict[str, Any], from_query: bool
    ) -> tuple[dict[str, Any], Target]:
        return raw, target

    run = dispatch(fixed, private=private)
    DECLARED[run] = Declaration(fields, private, personal, _summary(handler), answer)
    return run


def dispatch(
    resolve: Resolver,
    *,
    private: bool = False,
    fields: Fields | None = None,
    summary: str = "",
    answer: JsonSchema | None = None,
) -> Callable[..., Any]:
    """A Starlette endpoint whose fields, handler and origin rule come from the call's own
    arguments (/v2/content: those of the content it names), then as `endpoint`. `fields`
    are those it always takes (beyond COMMON), declared with `summary` and `answer` for
    the API's document; it takes others, which depend on the call."""

    async def content(request: Request) -> dict[str, Any]:
        services: Services = request.app.state.services
        services.limits.check_client(request)  # before the body is read: cheap
        if request.scope["query_string"] and any(
            name.split("[", 1)[0] == "private_key" for name in request.query_params
        ):
            # Addresses end up in access logs, proxies and browser history.
            raise invalid("private_key", PRIVATE_KEY_IN_QUERY)
        raw, from_query = await read_arguments(request, services.settings.max_body_bytes)
        raw, target = await resolve(services, raw, from_query)
        warnings: list[str] = []
        data = validate(raw, target.all_fields, from_query=from_query, warnings=warnings)
        store = await services.store(data["key"])
        if store is None:
            raise ApiError(403, "unknown_key", "key: no store has this public key")
        services.limits.check_store(store.id)
        has_private = bool(data.get("private_key"))
        if has_private and not store.private_key_matches(data["private_key"]):
            raise ApiError(403, "wrong_private_key", "private_key: does not match this store")
        origins.check(request, store, personal=target.personal and not has_private)
        if private and not has_private:
            raise ApiError(403, "private_key_required", "private_key: this endpoint needs it")
        call = Call(
            request=request,
            services=services,
            store=store,
            data=data,
            private=has_private,
            warnings=warnings,
        )
        answer = await target.handler(call)
        if call.warnings:
            answer = {**answer, "warnings": call.warnings}
        return {"status": "ok", **answer}

    async def run(request: Request) -> Response:
        return JSONResponse(await content(request))

    DECLARED[run] = Declaration(fields or {}, private, False, summary, answer, open=True)
    CONTENTS[run] = content
    return run


def by_method(endpoints: dict[str, Callable[..., Any]], *, head: bool = True) -> Callable[..., Any]:
    """One Starlette endpoint that answers each method with its own endpoint. Starlette
    routes HEAD wherever GET goes: with `head` it answers as GET does (without the body);
    without (a GET that changes data, as Clerk's product/add), 405."""

    async def run(request: Request) -> Response:
        method = request.method
        if method == "HEAD" and head:
            method = "GET"
        if method not in endpoints:
            raise HTTPException(405)
        response: Response = await endpoints[method](request)
        return response

    METHODS[run] = endpoints
    return run
