"""The baseline: a bare Starlette app whose one route answers 204 and does nothing else.

Served by uvicorn with the same options and worker count as the collector, it is
the ceiling that the collector's ingest rate is compared with (DESIGN.md asks for
at least 0.6 of it).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def log_product(request: Request) -> Response:
    return Response(status_code=204)


def create_app() -> Starlette:
    return Starlette(routes=[Route("/v2/log/product", log_product, methods=["GET", "POST"])])
