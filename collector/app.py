"""The collector's ASGI application, declared as data in one factory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from . import (
    contents,
    customers,
    housekeeping,
    metrics,
    orders,
    products,
    recommendations,
    search,
    sitedata,
    stats,
    suggestions,
    tracking,
)
from .access_log import AccessLog
from .dashboard import mount as dashboard_mount
from .errors import ApiError, error_response
from .ingest import IngestPath
from .logs import describe
from .middleware import CORSMiddleware
from .openapi import Plain, document
from .openapi import html as api_page
from .script import Script, StoreScripts, render_script, search_script
from .services import Services
from .settings import Settings
from .storage import STORAGE_UNAVAILABLE
from .storage.migrations import is_current

log = logging.getLogger("collector")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = {404: f"no endpoint {request.url.path}", 405: f"{request.method} is not allowed here"}
    return error_response(
        exc.status_code,
        kind,
        message.get(exc.status_code, str(exc.detail)),
        headers=dict(exc.headers or {}),
    )


async def _storage_error(request: Request, exc: Exception) -> Response:
    log.error("storage unavailable: %s", describe(exc))
    return error_response(
        503,
        "storage_unavailable",
        "storage is unavailable; try again later",
        headers={"Retry-After": "5"},
    )


async def _server_error(request: Request, exc: Exception) -> Response:
    return error_response(500, "internal_error", "internal error; it has been logged")


# The app's answers to exceptions; the lean ingest path (collector/ingest.py) uses them too.
EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    ApiError: _api_error,
    HTTPException: _http_error,
    **{kind: _storage_error for kind in STORAGE_UNAVAILABLE},
    Exception: _server_error,
}


async def health(request: Request) -> Response:
    services: Services = request.app.state.services
    failure = services.storage.writer.failure
    if failure is not None:
        return error_response(
            503,
            "writer_unavailable",
            f"the group-commit writer cannot take writes: {failure}",
            headers={"Retry-After": "5"},
        )

    await anyio.to_thread.run_sync(services.storage.ping)
    return JSONResponse({"status": "ok", "backend": services.storage.backend})


READY_TIMEOUT = 5.0  # seconds /readyz waits for the database before it calls it unreachable


def _database_state(services: Services) -> dict[str, str]:
    """Whether the database answers, and whether its schema has every migration."""
    try:
        current = is_current(services.storage.engine)
    except Exception as exc:
        log.warning("readiness: the database is unreachable: %s", describe(exc))
        return {"database": "unreachable", "schema": "unknown"}
    return {"database": "ok", "schema": "ok" if current else "behind"}


async def ready(request: Request) -> Response:
    """200 when the collector can serve: the database answers, its schema is current and
    the group-commit writer runs; else 503 naming what is not (never a message of the
    database's: no address, user or password)."""
    services: Services = request.app.state.services
    checks = {"database": "unreachable", "schema": "unknown"}
    with anyio.move_on_after(READY_TIMEOUT):
        checks = await anyio.to_thread.run_sync(_database_state, services, abandon_on_cancel=True)
    writer = services.storage.writer.state
    checks["writer"] = "ok" if writer == "running" else writer
    failed = [name for name, state in checks.items() if state not in ("ok", "unknown")]
    if not failed:
        return JSONResponse({"status": "ready", "checks": checks})
    return JSONResponse(
        {
            "status": "not_ready",
            "message": "; ".join(f"{name} {checks[name]}" for name in failed),
            "failed": failed,
            "checks": checks,
        },
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def index(request: Request) -> Response:
    return JSONResponse({"status": "ok", "name": "clerk-collector", "script": "/clerk.js"})


# The routes that are not API calls, as the API's document names them (collector/openapi.py).
PLAIN = {
    "/": Plain("The collector's name and its script's address"),
    "/healthz": Plain("Alive, and the storage reachable"),
    "/readyz": Plain("Ready: the database answers, its schema is current, the writer runs"),
    "/metrics": Plain(
        "Prometheus text (METRICS=1; only for METRICS_ALLOW_IPS)", "text/plain; version=0.0.4"
    ),
    "/v2/openapi.json": Plain("This document: OpenAPI 3.1, derived from the declarations"),
    "/v2/api.html": Plain("This document as a page (no script, works offline)", "text/html"),
    "/clerk.js": Plain("The tracking and rendering script", "text/javascript"),
    "/clerk-render.js": Plain(
        "The script's render module, loaded when a page has widgets", "text/javascript"
    ),
    "/clerk-search.js": Plain("The script's search module", "text/javascript"),
    "/{slug}.js": Plain(
        "The script with a store's key and settings in it (its slug)", "text/javascript"
    ),
}


async def openapi_json(request: Request) -> Response:
    return JSONResponse(_api_document(request))


async def openapi_html(request: Request) -> Response:
    return HTMLResponse(api_page(_api_document(request)))


def _api_document(request: Request) -> dict[str, Any]:
    """Made once per app, on first use, from the app's own routes."""
    state = request.app.state
    if getattr(state, "openapi", None) is None:
        state.openapi = document(request.app.routes, PLAIN)
    found: dict[str, Any] = state.openapi
    return found


_frozen: list[bool] = []


def _freeze_once() -> None:
    """What is alive after the first start-up of the process (modules, app, caches) lives
    as long as the process: keep it out of the collector's full passes, which otherwise
    stall requests that allocate many rows. Once per process: a full collection costs
    60-100 ms in a large process, and an app made again in the same process (tests)
    leaves its objects to the collector as usual."""
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen.append(True)


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    ingest_path: bool = True,
) -> Any:
    """The app. `ingest_path=False` leaves out the lean path of the tracking calls
    (collector/ingest.py), so that tests and the benchmark can compare the two."""
    settings = settings or Settings.from_env()
    services = services or Services(settings)
    script = Script(settings.script_path, settings.script_max_age)
    # METRICS_PORT: /metrics is served on a listener of its own (cli.py), not here.
    serve_metrics = settings.metrics and not settings.metrics_port
    renderer = render_script(settings.script_path, settings.script_max_age)
    searcher = search_script(settings.script_path, settings.script_max_age)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(services.storage.migrate)
        await anyio.to_thread.run_sync(lambda: services.secret_key)
        await services.storage.start()
        _freeze_once()
        stop = asyncio.Event()
        janitor = asyncio.create_task(housekeeping.run(services, stop), name="housekeeping")
        try:
            yield
        finally:
            stop.set()
            await janitor
            await services.rankings.wait()
            await services.seed_rankings.wait()
            await suggestions.wait(services)
            await services.storage.stop()
            services.storage.dispose()

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", health),
            Route("/readyz", ready),
            *([metrics.endpoint(settings.metrics_allow_ips)] if serve_metrics else []),
            Route("/v2/openapi.json", openapi_json),
            Route("/v2/api.html", openapi_html),
            *script.routes(),
            *renderer.routes(),
            *searcher.routes(),
            *tracking.routes,
            *products.routes,
            *orders.routes,
            *customers.routes,
            *sitedata.routes,
            *recommendations.routes,
            *search.routes,
            *suggestions.routes,
            *contents.routes,
            *stats.routes,
            dashboard_mount(lambda: services.secret_key),
            # Last: /<slug>.js must not shadow any other address (see StoreScripts).
            *StoreScripts(script).routes(),
        ],
        middleware=[Middleware(CORSMiddleware)],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.settings = settings
    served: Any = app
    if ingest_path:
        served = IngestPath(app, tracking.routes, EXCEPTION_HANDLERS)
    # The access log (opt-in) around the whole app, so that its duration is the answer's.
    if settings.access_log:
        served = AccessLog(served)
    if settings.metrics:
        served = metrics.RequestMetrics(served)
    # Outermost, so every part sees the real client address behind a trusted proxy.
    return ProxyHeadersMiddleware(served, trusted_hosts=settings.forwarded_allow_ips)
