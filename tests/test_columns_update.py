"""The store's columns (search/columns.py) follow catalogue changes by reading the changed
products alone (search_changes), and answer exactly as columns read whole would: every
answer after a change is compared with the same call after every cache is emptied."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from collector.services import Services
from collector.storage.caches import clear_all
from collector.storage.schema import VALUE_INDEXED, search_changes
from collector.storage.search import columns, index

from .factories import StoreKeys
from .test_search import Shop

BRANDS = ["Acme", "Borealis", "Cirrus", "Dune"]
COLOURS = ["red", "blue", "green"]
CALLS: list[dict[str, Any]] = [
    {"facets": ["brand", "price", "categories", "colour", "sizes"]},
    {"filter": 'price <= 60 and colour != "green"', "facets": ["brand", "price"]},
    {
        "filter": '(brand in ["Acme", "Dune"]) and sizes contains "M"',
        "facets": ["brand", "sizes"],
        "facets_multiselect_attributes": ["brand"],
        "orderby": "price",
        "order": "desc",
    },
    {"filter": "stock > 0 or price > 100", "orderby": "name", "limit": 5, "offset": 2},
]


@pytest.fixture
def shop(client: TestClient, store: StoreKeys) -> Shop:
    return Shop(client, store)


def product(rng: random.Random, pid: int) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": str(pid),
        "name": rng.choice(["Rain", "Wool", "Down", "Light"])
        + rng.choice([" Jacket", " Jacket Liner", " Boots"]),
        "url": f"/p/{pid}",
        "price": rng.choice([9.5, 20, 35, 55, 60, 99.99, 130, 250]),
        "brand": rng.choice(BRANDS),
        "categories": rng.sample(["10", "20", "30"], rng.randint(0, 2)),
    }
    if rng.random() < 0.7:
        found["colour"] = rng.choice(COLOURS)
    if rng.random() < 0.6:
        found["sizes"] = rng.sample(["S", "M", "L", "XL"], rng.randint(1, 3))
    if rng.random() < 0.3:
        found["stock"] = rng.choice([0, 3])
    return found


def answers(shop: Shop) -> list[dict[str, Any]]:
    return [shop.search("jacket", **call) for call in CALLS]


def held(services: Services) -> list[columns.Columns]:
    cache = columns._cache(services.storage.engine)
    return [c for c in (cache.get(key) for key in cache.keys()) if isinstance(c, columns.Columns)]


def change(rng: random.Random, shop: Shop, catalogue: dict[str, dict[str, Any]], new: int) -> None:
    """One random change a back office makes: a product saved with some field changed,
    a new product, a product deleted."""
    kind = rng.choice(["price", "brand", "colour", "sizes", "stock", "name", "add", "delete"])
    if kind == "add" or not catalogue:
        catalogue[str(new)] = product(rng, new)
        shop.catalogue(catalogue[str(new)])
        return
    pid = rng.choice(sorted(catalogue))
    if kind == "delete":
        del catalogue[pid]
        shop.delete(pid)
        return
    item = dict(catalogue[pid])
    if kind == "price":
        item["price"] = rng.choice([1, 45, 61, 120, 300.5])
    elif kind == "brand":
        item["brand"] = rng.choice(BRANDS + ["Eon"])
    elif kind == "colour":
        if item.pop("colour", None) is None:
            item["colour"] = rng.choice(COLOURS + ["black"])
    elif kind == "sizes":
        item["sizes"] = rng.sample(["S", "M", "L", "XS"], rng.randint(0, 3))
    elif kind == "stock":
        item["stock"] = 0 if item.get("stock", 1) else 5
    else:
        item["name"] = (
            item["name"].replace("Jacket", "Coat") if "Jacket" in item["name"] else "Jacket"
        )
    catalogue[pid] = item
    shop.catalogue(item)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_columns_follow_changes_by_the_changed_products_alone(
    shop: Shop, services: Services, seed: int
):
    rng = random.Random(seed)
    catalogue = {str(pid): product(rng, pid) for pid in range(1, 31)}
    shop.catalogue(*catalogue.values())
    answers(shop)  # the columns read whole, as a running process holds them
    updated = carried = 0
    for step in range(12):
        change(rng, shop, catalogue, 100 + step)
        found = answers(shop)
        [entry] = held(services)
        updated += entry.updated_from is not None
        carried += entry._words is not None and bool(entry._words.stale)
        clear_all()
        assert found == answers(shop), f"seed {seed}, step {step}"  # read whole
        [entry] = held(services)
        assert entry.updated_from is None
    assert updated == 12
    assert carried == 12  # the words carried over too (the changed documents read apart)


def test_several_versions_at_once_and_a_product_deleted_then_added_again(
    shop: Shop, services: Services
):
    rng = random.Random(7)
    catalogue = {str(pid): product(rng, pid) for pid in range(1, 21)}
    shop.catalogue(*catalogue.values())
    answers(shop)
    first = {**catalogue["3"], "name": "Jacket", "price": 77}
    shop.delete("3")
    shop.catalogue(first)  # a new document for the same id
    shop.catalogue({**catalogue["4"], "colour": "black"}, {**catalogue["5"], "stock": 0})
    found = answers(shop)
    [entry] = held(services)
    assert entry.updated_from is not None
    clear_all()
    assert found == answers(shop)


def test_a_change_too_large_to_list_reads_the_columns_again(
    shop: Shop, services: Services, monkeypatch: pytest.MonkeyPatch
):
    rng = random.Random(11)
    catalogue = {str(pid): product(rng, pid) for pid in range(1, 21)}
    shop.catalogue(*catalogue.values())
    answers(shop)
    monkeypatch.setattr(index, "CHANGES_LISTED", 2)
    shop.catalogue(*[{**item, "price": 1234} for item in list(catalogue.values())[:3]])
    with services.storage.engine.connect() as conn:
        newest = conn.scalar(select(func.max(search_changes.c.version)))
        listed = conn.scalars(
            select(search_changes.c.product_id).where(search_changes.c.version == newest)
        ).all()
    assert listed == [""]  # "every product"
    found = answers(shop)
    [entry] = held(services)
    assert entry.updated_from is None  # read whole
    clear_all()
    assert found == answers(shop)


def test_old_changes_are_pruned_and_columns_older_than_them_read_again(
    shop: Shop, services: Services, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(index, "CHANGES_PRUNE", 2)
    monkeypatch.setattr(index, "CHANGES_KEPT", 3)
    rng = random.Random(5)
    catalogue = {str(pid): product(rng, pid) for pid in range(1, 11)}
    shop.catalogue(*catalogue.values())
    answers(shop)
    for price in range(1, 7):
        shop.catalogue({**catalogue["1"], "price": price})
    with services.storage.engine.connect() as conn:
        versions = sorted(set(conn.scalars(select(search_changes.c.version))))
    assert len(versions) <= 4 and versions == list(range(versions[0], versions[-1] + 1))
    found = answers(shop)  # the columns held are older than the changes kept
    [entry] = held(services)
    assert entry.updated_from is None
    clear_all()
    assert found == answers(shop)


def test_a_chain_of_updates_answers_as_columns_read_whole(shop: Shop, services: Services):
    """Each update made from the one before (whose positions by id were never made: an
    update finds the few changed products' positions by scanning)."""
    rng = random.Random(13)
    catalogue = {str(pid): product(rng, pid) for pid in range(1, 31)}
    shop.catalogue(*catalogue.values())
    answers(shop)
    for step in range(15):
        change(rng, shop, catalogue, 200 + step)
        found = answers(shop)
        [entry] = held(services)
        assert entry.updated_from is not None
        assert entry._position is None  # nothing made it: the scan found the positions
    pid = sorted(catalogue)[0]
    shop.delete(pid)
    answers(shop)
    shop.catalogue({**catalogue[pid], "name": "Jacket Again"})  # the same id, a new document
    found = answers(shop)
    assert held(services)[0]._position is None
    clear_all()
    assert found == answers(shop)


def test_long_values_of_a_changed_product_are_read_whole(shop: Shop, services: Services):
    """A value longer than the indexed part (VALUE_INDEXED) is read from long_value, by
    an update as by a whole read: a filter on its end finds it."""
    long = "x" * (VALUE_INDEXED + 50)
    items = [
        {
            "id": str(pid),
            "name": "Rain Jacket",
            "url": f"/p/{pid}",
            "price": 5,
            "note": f"{long} {pid}",
        }
        for pid in range(1, 6)
    ]
    shop.catalogue(*items)
    call = {"filter": 'note contains "end"', "facets": ["note"]}
    assert shop.search("jacket", **call)["count"] == 0
    shop.catalogue({**items[2], "note": f"{long} end"})
    found = shop.search("jacket", **call)
    [entry] = held(services)
    assert entry.updated_from is not None
    assert found["result"] == ["3"] and found["facets"]["note"][0]["value"] == f"{long} end"
    clear_all()
    assert shop.search("jacket", **call) == found
