"""`clerk-collector demo`: the collector and the demo shop together, seeded, on one machine."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import uvicorn
from sqlalchemy import Connection

from . import caps, logs
from .app import create_app
from .origins import parse_origin
from .settings import Settings
from .storage import Storage, contents, sitedata
from .storage.catalogue import upsert_products
from .storage.stores import (
    create_admin,
    create_store,
    set_store_origins,
    store_by_name,
    store_by_public_key,
)
from .storage.tracking import has_orders

DEMO_STORE = "Demo shop"
DEMO_ADMIN = "admin@demo.shop"
DEMO_PASSWORD = "demo-password"
# On first start (no orders yet) a month of simulated traffic fills the dashboard
# (about 5,000 requests: some 20 s of CPU).
DEMO_VISITORS = 250
DEMO_DAYS = 30
DEMO_SEED = 2026


def _demo_store_key(conn: Connection, *, now: int, shop_origin: str) -> str:
    """The demo store, created with the shop's origin; a store from an earlier run (maybe on
    another port) gets it added, so the shop's personal widgets are answered."""
    store = store_by_name(conn, DEMO_STORE)
    if store is None:
        return create_store(conn, name=DEMO_STORE, origins=[shop_origin], now=now)["public_key"]
    if shop_origin not in store.origins:
        set_store_origins(conn, store_id=store.id, origins=[*store.origins, shop_origin])
    return store.public_key


def _seed_contents(conn: Connection, *, store_id: int, now: int) -> int:
    """The demo shop's Clerk contents (demo_shop/contents.py) the store does not have yet,
    and the current design of those still holding an earlier demo's design: a content
    edited in the dashboard keeps its edits across restarts."""
    from demo_shop.contents import contents as demo_contents
    from demo_shop.contents import is_earlier_design

    have = {content["id"]: content for content in contents.list_all(conn, store_id=store_id)}
    wanted = []
    for content in demo_contents():
        stored = have.get(content["id"])
        if stored is None:
            wanted.append(content)
        elif is_earlier_design(content["id"], stored["design"]):
            wanted.append({**stored, "design": content["design"]})
    return contents.upsert(conn, store_id=store_id, contents=wanted, now=now) if wanted else 0


def _seed_site(storage: Storage, *, store_id: int, shop_url: str, now: int) -> None:
    """The shop's categories and information pages (demo_shop/info.py), as `/v2/categories`
    and `/v2/pages` store them: what live search's categories and pages sections show.
    Checked by the API's own item parsers first, so the demo seeds only what a shop could
    send."""
    from demo_shop.info import store_categories, store_pages

    from .sitedata import KINDS

    for plural, items in (
        ("categories", store_categories(shop_url)),
        ("pages", store_pages(shop_url)),
    ):
        kind, parse_item = KINDS[plural]
        parsed = [parse_item(f"{plural}[{n}]", item, False) for n, item in enumerate(items)]
        storage.run(
            sitedata.upsert_items,
            kind=kind,
            store_id=store_id,
            items=parsed,
            now=now,
            max_items=caps.SITE_ITEMS_MAX,
        )


def seed(storage: Storage, *, shop_url: str) -> str:
    """Create (or reuse) the demo store, its admin, catalogue and contents; return the
    public key."""
    from demo_shop.catalogue import generate_catalogue

    now = int(time.time() * 1000)
    public_key = storage.run(_demo_store_key, now=now, shop_origin=parse_origin(shop_url))
    store = storage.run(store_by_public_key, public_key=public_key)
    assert store is not None
    storage.run(
        create_admin, email=DEMO_ADMIN, password=DEMO_PASSWORD, now=now, store_keys=[public_key]
    )
    storage.run(upsert_products, store_id=store.id, items=generate_catalogue(shop_url), now=now)
    _seed_site(storage, store_id=store.id, shop_url=shop_url, now=now)
    storage.run(_seed_contents, store_id=store.id, now=now)
    return public_key


def simulate_history(settings: Settings, public_key: str) -> None:
    """A month of shop traffic through the collector's API, so the dashboard has data."""
    from .simulate import SimulationError, simulate

    print(
        f"first start: simulating {DEMO_DAYS} days of traffic from {DEMO_VISITORS} visitors "
        "(takes about half a minute) ...",
        flush=True,
    )
    live = sys.stdout.isatty()

    def progress(line: str) -> None:
        print(f"\r  {line}", end="", flush=True)

    try:
        result = simulate(
            settings,
            store_key=public_key,
            visitors=DEMO_VISITORS,
            days=DEMO_DAYS,
            seed=DEMO_SEED,
            progress=progress if live else None,
        )
    except SimulationError as exc:
        print("\n" if live else "", end="")
        print(f"could not simulate the traffic (the demo runs without it): {exc}", flush=True)
        return
    print("\n" if live else "", end="")
    print(result.summary(), flush=True)


def run_demo(settings: Settings, *, host: str, port: int, shop_port: int) -> int:
    logs.configure("warning")
    collector_url = f"http://{host}:{port}"
    # "localhost" for the shop and an address for the collector: two origins, as in production.
    shop_url = f"http://localhost:{shop_port}"
    storage = Storage(settings.database_url)
    storage.migrate()
    public_key = seed(storage, shop_url=shop_url)
    first_start = not storage.run(has_orders, public_key=public_key)
    storage.dispose()
    if first_start:
        simulate_history(settings, public_key)

    os.environ.update(
        DEMO_COLLECTOR_URL=collector_url, DEMO_PUBLIC_KEY=public_key, DEMO_SHOP_URL=shop_url
    )
    from demo_shop.app import create_app as create_shop

    servers = [
        _server(create_app(settings), host, port, proxy_headers=False),
        _server(create_shop(), host, shop_port),
    ]
    print(f"collector:  {collector_url}  (script {collector_url}/clerk.js)", flush=True)
    print(f"demo shop:  {shop_url}", flush=True)
    print(f"dashboard:  {collector_url}/dashboard/  ({DEMO_ADMIN} / {DEMO_PASSWORD})", flush=True)
    print(f"store key:  {public_key}", flush=True)
    print(f"database:   {settings.database_url}", flush=True)
    print("Ctrl-C stops both.", flush=True)

    async def serve_all() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    try:
        asyncio.run(serve_all())
    except KeyboardInterrupt:
        pass
    return 0


def _server(app: Any, host: str, port: int, **options: Any) -> uvicorn.Server:
    """A quiet uvicorn server: warnings only, through the collector's redacting log
    set-up, and no access log."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=logs.config("warning"),
        access_log=False,
        server_header=False,
        **options,
    )
    return uvicorn.Server(config)
