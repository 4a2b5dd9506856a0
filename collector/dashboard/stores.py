"""Stores and keys: the admin's stores, a new store, a new private key (each shown once)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..origins import parse_origin
from ..storage.stores import (
    SlugTaken,
    create_store,
    parse_slug,
    rotate_private_key,
    set_store_origins,
    set_store_slug,
)
from . import tables
from .auth import Admin, checked_form, current_admin, page, services_of
from .export import csv_response, to_csv
from .templating import render
from .views import store_of, wants_csv

MAX_NAME = 200
MAX_ORIGINS = 50


def _context(request: Request, admin: Admin, **extra: Any) -> dict[str, Any]:
    """The page's values; its store (for the header and the snippet) as picked, or the first."""
    raw = request.query_params.get("store", "")
    store = admin.store(int(raw)) if raw.isdigit() else None
    if store is None:
        store = admin.stores[0] if admin.stores else None
    return {
        "admin": admin,
        "store": store,
        "page": "stores",
        "stores": admin.stores,
        "base_url": str(request.base_url).rstrip("/"),
        "name": "",
        "origins": "",
        "problem": "",
        "created": None,
        "rotated": None,
        "saved": None,
        "editing": None,
        "slug_saved": None,
        "editing_slug": None,
        **extra,
    }


@page
async def stores_page(request: Request) -> Response:
    admin = await current_admin(request)
    if wants_csv(request):
        keys = [c.key for c in tables.STORES]
        rows = [{key: getattr(store, key) for key in keys} for store in admin.stores]
        body = to_csv(rows, keys, {"created_at": "ms"})
        return csv_response(body, ["stores"])
    return render(request, "stores.html", _context(request, admin))


def parse_origins(text: str) -> list[str]:
    """One origin a line (scheme and host only, as create-store --origin); ValueError if not."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_ORIGINS:
        raise ValueError(f"At most {MAX_ORIGINS} origins.")
    return list(dict.fromkeys(parse_origin(line) for line in lines))


@page
async def create(request: Request) -> Response:
    admin = await current_admin(request)
    form = await checked_form(request)
    name = str(form.get("name") or "").strip()
    raw_origins = str(form.get("origins") or "")
    problem = ""
    origins: list[str] = []
    if not name or len(name) > MAX_NAME:
        problem = f"Give the store a name of 1 to {MAX_NAME} characters."
    else:
        try:
            origins = parse_origins(raw_origins)
        except ValueError as exc:
            problem = str(exc)
    if problem:
        context = _context(request, admin, name=name, origins=raw_origins, problem=problem)
        return render(request, "stores.html", context, status=400)
    services = services_of(request)
    keys = await services.storage.write(
        create_store, name=name, origins=origins, now=services.now_ms(), admin_ids=[admin.id]
    )
    services.drop_cached_store(keys["public_key"], slugs=(keys["slug"],))  # a probe's None
    admin = await current_admin(request)  # the new store is in the list now
    return render(request, "stores.html", _context(request, admin, created=keys))


@page
async def rotate(request: Request) -> Response:
    admin = await current_admin(request)
    store = store_of(request, admin)
    form = await checked_form(request)
    if form.get("confirm") != "yes":
        problem = (
            f"Tick the box to confirm: the current private key of “{store.name}” "
            "stops working at once."
        )
        return render(request, "stores.html", _context(request, admin, problem=problem), status=400)
    services = services_of(request)
    private_key = await services.storage.write(rotate_private_key, store_id=store.id)
    services.drop_cached_store(store.public_key)
    rotated = {
        "name": store.name,
        "public_key": store.public_key,
        "private_key": private_key,
        "slug": store.slug,
    }
    return render(request, "stores.html", _context(request, admin, rotated=rotated))


@page
async def save_origins(request: Request) -> Response:
    """Replace a store's origins: the pages that may call the collector, personal calls
    included (collector/origins.py). This process stops using the old list at once."""
    admin = await current_admin(request)
    store = store_of(request, admin)
    form = await checked_form(request)
    raw = str(form.get("origins") or "")
    try:
        origins = parse_origins(raw)
    except ValueError as exc:
        context = _context(request, admin, problem=str(exc), editing=(store.id, raw))
        return render(request, "stores.html", context, status=400)
    services = services_of(request)
    await services.storage.write(set_store_origins, store_id=store.id, origins=origins)
    services.drop_cached_store(store.public_key)
    admin = await current_admin(request)  # the list as stored now
    return render(request, "stores.html", _context(request, admin, saved=store.name))


@page
async def save_slug(request: Request) -> Response:
    """Give a store a new slug: its script moves to /<new>.js, and /<old>.js answers 404
    (in other collector processes within 30 seconds)."""
    admin = await current_admin(request)
    store = store_of(request, admin)
    form = await checked_form(request)
    raw = str(form.get("slug") or "")
    services = services_of(request)
    try:
        slug = parse_slug(raw)
        await services.storage.write(set_store_slug, store_id=store.id, slug=slug)
    except (ValueError, SlugTaken) as exc:
        context = _context(request, admin, problem=str(exc), editing_slug=(store.id, raw))
        return render(request, "stores.html", context, status=400)
    services.drop_cached_store(store.public_key, slugs=(store.slug, slug))
    admin = await current_admin(request)
    return render(request, "stores.html", _context(request, admin, slug_saved=store.name))
