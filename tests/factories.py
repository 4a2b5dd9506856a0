"""Builders for test data, in one place."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text

from collector.services import Services
from collector.storage.schema import stores
from collector.storage.stores import create_store

START = 1_779_930_000.0  # 2026-05-28 01:00 UTC: a fixed moment early in a day


class Clock:
    """The collector's clock, set by the test: moving it a day rotates the salt."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class StoreKeys:
    id: int
    public_key: str
    private_key: str


def make_store(
    services: Services, name: str = "Test shop", origins: list[str] | None = None
) -> StoreKeys:
    keys = services.storage.run(create_store, name=name, origins=origins or [], now=0)
    store_id = services.storage.run(
        lambda conn: conn.execute(
            select(stores.c.id).where(stores.c.public_key == keys["public_key"])
        ).scalar_one()
    )
    return StoreKeys(store_id, keys["public_key"], keys["private_key"])


def product(id: str | int, **fields: Any) -> dict[str, Any]:
    return {
        "id": str(id),
        "name": f"Product {id}",
        "url": f"https://shop.example/p/{id}",
        "price": 10.0,
        **fields,
    }


def rows(services: Services, table: str) -> list[dict[str, Any]]:
    with services.storage.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {table}"))]


def count(services: Services, table: str) -> int:
    return len(rows(services, table))


def all_text(services: Services) -> str:
    """Every value of every table, as text: for 'this is stored nowhere' checks."""
    from collector.storage.schema import metadata

    with services.storage.engine.connect() as conn:
        dump = [
            json.dumps([list(map(str, r)) for r in conn.execute(select(t))])
            for t in metadata.sorted_tables
        ]
    return "\n".join(dump)
