"""The collector's metrics, in Prometheus text at /metrics (METRICS=1), with prometheus-client.

What is counted: requests by route template, method and status, and their latency; the
group-commit writer's queue depth, batch sizes and commit time; lookups of the caches
(hits and misses, whose ratio is the hit ratio); requests refused by a rate limit; reads
meant for the read replica, by where they ran.

Labels never hold a request's own path: a route is named by its template
("/v2/log/product", "/dashboard/stores/{store_id}/overview", "/{slug}.js"), and a path
no route matched is "other". A raw path would make the series unbounded, and a path may
carry what a client typed. No label holds a key, an address or an id.

Several workers (`serve --workers N`): each process writes its figures to files in
PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode, which `serve` sets up
before the workers start), and /metrics adds up those of every process, whichever
worker answers. One process: the figures live in its memory.

Counting is always on (each costs about a microsecond, at most a few times a request);
the per-request middleware is added only when METRICS is on.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from ipaddress import ip_address
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .settings import ConfigError, Settings, allowed_networks

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
OTHER = "other"  # the route label of a path no route matched
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "clerk_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "clerk_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WRITER_QUEUE = Gauge(
    "clerk_writer_queue_depth",
    "Writes queued for the group-commit writer or in its batch under way",
    multiprocess_mode="livesum",
)
WRITER_BATCH = Histogram(
    "clerk_writer_batch_size",
    "Writes in one group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
)
WRITER_COMMIT = Histogram(
    "clerk_writer_commit_seconds",
    "Time of one group commit (its transaction, the retries of a failed one, the commit)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30),
)
CACHE_LOOKUPS = Counter(
    "clerk_cache_lookups",
    "Lookups in the per-process caches, by cache and result (hit or miss)",
    ["cache", "result"],
)
REPLICA_READS = Counter(
    "clerk_replica_reads",
    "Reads meant for the read replica (DATABASE_REPLICA_URL), by where they ran: replica, "
    "or primary (the replica failed, or did within the last 30 s)",
    ["ran_on"],
)
RATE_LIMITED = Counter(
    "clerk_rate_limited",
    "Requests refused with 429, by the limit they passed (client or store)",
    ["limit"],
)


def route_label(scope: Scope, root_path: str) -> str:
    """The template of the route that answered (the path of the mount it is in first), or
    OTHER. Starlette's routers note the matched route in the scope, and a mount adds the
    part of the path it matched to root_path (a fixed word: the dashboard's /dashboard)."""
    route = scope.get("route")
    if not isinstance(route, Route):
        return OTHER
    mount = str(scope.get("root_path", ""))[len(root_path) :]
    return mount + route.path_format


class RequestMetrics:
    """Counts every HTTP request with its route label, method and status, and times it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = str(scope.get("root_path", ""))
        status = 500  # what uvicorn answers if the app fails before it starts an answer

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = route_label(scope, root_path)
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            REQUESTS.labels(route, method, str(status)).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)


def multiprocess_dir() -> Path | None:
    found = os.environ.get(MULTIPROC_ENV)
    return Path(found) if found else None


class _Workers(MultiProcessCollector):
    """The figures of every worker process; first, the live-only gauges (queue depth) of
    workers that are gone are dropped (uvicorn starts a new worker in place of one that
    died, and the old one's files stay)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(None, path=str(directory))  # type: ignore[no-untyped-call]
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        for path in self.directory.glob("gauge_live*_*.db"):
            found = re.fullmatch(r"gauge_live\w+_(\d+)\.db", path.name)
            if found is None:
                continue
            try:
                os.kill(int(found.group(1)), 0)
            except ProcessLookupError:
                mark_process_dead(int(found.group(1)), str(self.directory))  # type: ignore[no-untyped-call]
            except PermissionError:
                pass  # alive, another user's
        collected: Iterable[Metric] = super().collect()  # type: ignore[no-untyped-call]
        return collected


def registry() -> CollectorRegistry:
    """What /metrics serves: the figures of every worker in multiprocess mode, else this
    process's (with its own CPU, memory and garbage collector figures)."""
    directory = multiprocess_dir()
    if directory is None:
        return REGISTRY
    collected = CollectorRegistry()
    collected.register(_Workers(directory))
    return collected


def prepare_multiprocess(directory: Path) -> None:
    """Before the workers start: an empty directory for their files (figures of an earlier
    run would be added to this one's)."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        path.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)


def endpoint(allow: list[str]) -> Route:
    """GET /metrics on the app's own port, for clients in `allow` (METRICS_ALLOW_IPS) only:
    the figures tell how much traffic each part of the collector has."""
    networks = allowed_networks("METRICS_ALLOW_IPS", allow)

    async def metrics(request: Request) -> Response:
        if networks is not None:
            host = request.client.host if request.client else ""
            try:
                address = ip_address(host)
            except ValueError:
                address = None
            if address is None or not any(address in network for network in networks):
                return PlainTextResponse(
                    "metrics are served only to the addresses in METRICS_ALLOW_IPS\n",
                    status_code=403,
                )
        return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", metrics, methods=["GET"])


@contextlib.contextmanager
def serving(settings: Settings, *, workers: int) -> Iterator[None]:
    """Around `serve`: with METRICS on and several workers, prometheus-client's multiprocess
    mode (each worker writes its figures to files in PROMETHEUS_MULTIPROC_DIR, set here
    before the workers start, to a fresh directory unless the operator named one, and
    /metrics adds them up); with METRICS_PORT, this process serves /metrics on that port
    (on METRICS_HOST) for as long as it serves."""
    if not settings.metrics:
        yield
        return
    directory, made = multiprocess_dir(), False
    if directory is None and workers > 1:
        directory, made = Path(tempfile.mkdtemp(prefix="clerk-metrics-")), True
    if directory is not None:
        prepare_multiprocess(directory)
    try:
        if not settings.metrics_port:
            yield
            return
        host, port = settings.metrics_host, settings.metrics_port
        try:
            server, _ = start_http_server(port, addr=host, registry=registry())
        except OSError as exc:
            raise ConfigError(
                f"METRICS_PORT: cannot listen on {host}:{port} ({exc.strerror})"
            ) from None
        try:
            yield
        finally:
            server.shutdown()
    finally:
        if made and directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
