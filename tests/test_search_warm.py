"""Warming (storage/search/warm.py): the housekeeping reads a searched store's columns and
words ahead of its shoppers, so that the next search with facets reads none of them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from collector import housekeeping
from collector.services import Services
from collector.storage.caches import clear_all
from collector.storage.search import warm

from .factories import StoreKeys
from .test_facets import CATALOGUE
from .test_search import Shop, wait_for

FACETS = ["brand", "price", "categories"]


@pytest.fixture
def shop(client: TestClient, store: StoreKeys) -> Shop:
    found = Shop(client, store)
    found.catalogue(*CATALOGUE)
    return found


@pytest.fixture
def statements(services: Services) -> Iterator[list[str]]:
    """The SQL the storage's engine runs while the test watches."""
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = services.storage.engine
    event.listen(engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine, "before_cursor_execute", note)


def column_reads(seen: list[str]) -> list[str]:
    return [s for s in seen if "product_values" in s or "search_texts" in s]


def reads_columns(seen: list[str]) -> bool:
    return bool(column_reads(seen))


def test_a_searched_store_is_warmed_and_its_next_faceted_search_reads_no_column(
    shop: Shop, services: Services, store: StoreKeys, statements: list[str]
):
    shop.search("jacket")
    wait_for(services, "searches", 1)
    clear_all()  # as a process that has just started

    assert housekeeping.warm_searches(services) == [store.id]
    assert reads_columns(statements)  # the warming read them
    statements.clear()
    answer = shop.search("jacket", facets=FACETS, filter="price < 100")
    assert answer["count"] == 4 and set(answer["facets"]) == set(FACETS)
    assert not reads_columns(statements), column_reads(statements)

    # Without warming, the same call reads them (the test can tell the difference).
    clear_all()
    statements.clear()
    shop.search("jacket", facets=FACETS, filter="price < 100")
    assert reads_columns(statements)


def test_warming_again_reads_nothing_new_until_the_catalogue_changes(
    shop: Shop, services: Services, store: StoreKeys, statements: list[str]
):
    shop.search("jacket")
    wait_for(services, "searches", 1)
    clear_all()
    housekeeping.warm_searches(services)
    statements.clear()
    assert housekeeping.warm_searches(services) == [store.id]
    assert not reads_columns(statements)

    shop.catalogue({**CATALOGUE[0], "price": 99})  # a new catalogue version
    statements.clear()
    housekeeping.warm_searches(services)
    assert reads_columns(statements)  # the changed product's rows, read by the warming
    statements.clear()
    answer = shop.search("jacket", facets=FACETS, filter="price = 99")
    assert answer["result"] == ["1"]
    assert not reads_columns(statements), column_reads(statements)


def test_a_store_not_searched_in_the_last_day_is_not_warmed(
    shop: Shop, services: Services, clock, statements: list[str]
):
    shop.search("jacket")
    wait_for(services, "searches", 1)
    clear_all()
    clock.advance(warm.WARM_SECONDS + 1)
    statements.clear()
    assert housekeeping.warm_searches(services) == []
    assert not reads_columns(statements)


def test_a_store_with_no_catalogue_is_not_warmed(
    client: TestClient, services: Services, store: StoreKeys
):
    Shop(client, store).search("jacket")
    wait_for(services, "searches", 1)
    assert housekeeping.warm_searches(services) == []


def test_warming_adds_no_store_past_half_the_columns_bound(
    shop: Shop, services: Services, monkeypatch, statements: list[str]
):
    shop.search("jacket")
    wait_for(services, "searches", 1)
    clear_all()
    monkeypatch.setattr(warm, "COLUMNS_BYTES", 0)  # the cache is "full"
    statements.clear()
    assert housekeeping.warm_searches(services) == []
    assert not reads_columns(statements)
