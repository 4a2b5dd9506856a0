"""About this install: what the operator checks (version, database, traffic, maintenance)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from ..storage import migrations
from ..storage.operations import current_salt_expiry, database_size, events_between, last_run
from .auth import current_admin, page, services_of
from .templating import render

DAY_MS = 86_400_000
RECENT_DAYS = 7  # events per day: the average of the last this many whole UTC days


def package_version() -> str:
    try:
        return version("clerk-collector")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _facts(conn: Connection, *, store_ids: list[int], now: int) -> dict[str, Any]:
    today = now - now % DAY_MS
    start = today - RECENT_DAYS * DAY_MS
    return {
        "size": database_size(conn),
        "schema": max(migrations.applied_versions(conn), default=0),
        "events_per_day": events_between(conn, store_ids=store_ids, start=start, end=today)
        / RECENT_DAYS,
        "events_today": events_between(conn, store_ids=store_ids, start=today, end=now + 1),
        "purge": last_run(conn, name="purge"),
        "salt_expires": current_salt_expiry(conn),
    }


def size(value: int) -> str:
    """Bytes in the unit that suits them (1,024 of one make the next)."""
    amount = float(value)
    for unit in ("bytes", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:,.0f} {unit}" if unit == "bytes" else f"{amount:,.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


@page
async def about(request: Request) -> Response:
    admin = await current_admin(request)
    services = services_of(request)
    settings = services.settings
    facts = await services.storage.read(
        _facts, store_ids=[store.id for store in admin.stores], now=services.now_ms()
    )
    context = {
        "admin": admin,
        "store": admin.stores[0] if admin.stores else None,
        "page": "about",
        "version": package_version(),
        "engine": {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(
            services.storage.backend, services.storage.backend
        ),
        "size": size(facts.pop("size")),
        "latest_schema": max(v for v, _, _ in migrations.MIGRATIONS),
        "recent_days": RECENT_DAYS,
        "stores": len(admin.stores),
        "rotation_days": settings.salt_rotation_days,
        "retention_days": settings.retention_days,
        "metrics": settings.metrics,
        **facts,
    }
    return render(request, "about.html", context)
