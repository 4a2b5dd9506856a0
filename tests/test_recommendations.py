"""Each recommendation algorithm on a small hand-built history, with the exact order expected."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import re
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from collector import recommendations
from collector.api import Call
from collector.rankings import RankingCache
from collector.services import RANKING_IDS, RANKINGS, Services
from collector.storage import recommendations as sql
from collector.storage.catalogue import category_bits, upsert_products
from collector.storage.schema import events
from collector.storage.stores import store_by_public_key
from collector.storage.tracking import event_row, record_sale

from .factories import Clock, StoreKeys, make_store, product, rows

DAY = 86_400


class Shop:
    """Drives a store through its public API, as a storefront and its shoppers would."""

    def __init__(self, client: TestClient, store: StoreKeys) -> None:
        self.client, self.store = client, store

    def catalogue(self, *items: dict[str, Any]) -> None:
        answer = self.client.post(
            "/v2/products",
            json={
                "key": self.store.public_key,
                "private_key": self.store.private_key,
                "products": list(items),
            },
        )
        assert answer.status_code == 200, answer.text

    def delete(self, *ids: str) -> None:
        self.client.request(
            "DELETE",
            "/v2/products",
            json={
                "key": self.store.public_key,
                "private_key": self.store.private_key,
                "products": list(ids),
            },
        )

    def view(self, visitor: str | None, *ids: str) -> None:
        for pid in ids:
            answer = self.client.post(
                "/v2/log/product",
                json={"key": self.store.public_key, "visitor": visitor, "product": pid},
            )
            assert answer.status_code == 200, answer.text

    def buy(self, visitor: str | None, sale: str, *lines: str | tuple[str, int]) -> None:
        products = [
            {"id": x[0], "quantity": x[1], "price": 1.0} if isinstance(x, tuple) else x
            for x in lines
        ]
        answer = self.client.post(
            "/v2/log/sale",
            json={
                "key": self.store.public_key,
                "visitor": visitor,
                "sale": sale,
                "products": products,
            },
        )
        assert answer.status_code == 200, answer.text

    def ask(self, api: str, **args: Any) -> list[str]:
        answer = self.client.post(
            f"/v2/recommendations/{api}", json={"key": self.store.public_key, **args}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["result"] == [p["id"] for p in body["product_data"]]
        return list(body["result"])


@pytest.fixture
def shop(client: TestClient, store: StoreKeys) -> Shop:
    return Shop(client, store)


def items(*ids: int, **fields: Any) -> list[dict[str, Any]]:
    return [product(i, created_at=1_000 + i, **fields) for i in ids]


def test_popular_ranks_by_units_sold_then_views_and_newest_fill_the_rest(shop: Shop):
    shop.catalogue(*items(1, 2, 3, 4, 5, 6))
    shop.buy("a", "O1", ("2", 3))
    shop.buy("b", "O2", "1")
    shop.view("a", "3", "3", "4", "1")
    assert shop.ask("popular", limit=4) == ["2", "1", "3", "4"]
    assert shop.ask("popular", limit=6) == ["2", "1", "3", "4", "6", "5"]


def test_popular_forgets_activity_older_than_thirty_days(shop: Shop, clock: Clock):
    shop.catalogue(*items(1, 2))
    shop.buy("a", "O1", ("1", 5))
    clock.advance(31 * DAY)
    shop.view("b", "2")
    assert shop.ask("popular", limit=1) == ["2"]


def test_never_recommends_deleted_out_of_stock_or_excluded_products(shop: Shop):
    shop.catalogue(*items(1, 2, 3, 4), product(5, stock=0, created_at=2_000))
    shop.view("a", "1", "2", "3", "4", "5", "5", "5")
    shop.delete("1")
    assert shop.ask("popular", limit=10, exclude=["3"]) == ["2", "4"]
    assert "5" not in shop.ask("new", limit=10)


def test_trending_ranks_the_rise_over_the_previous_week(shop: Shop, clock: Clock):
    shop.catalogue(*items(1, 2, 3))
    shop.view("a", *["1"] * 14, *["3"] * 7)  # a steady week before...
    clock.advance(3 * DAY)
    shop.view("b", "1", "2", "2", "2", *["3"] * 5)  # ...and today
    # rises: 1 -> 1 - 14/7 < 0 (not trending), 2 -> 3 - 0 = 3, 3 -> 5 - 1 = 4
    assert shop.ask("trending", limit=5) == ["3", "2"]


def test_new_is_newest_first_with_undated_products_last(shop: Shop):
    shop.catalogue(product(1, created_at=50), product(2), product(3, created_at=90))
    assert shop.ask("new", limit=3) == ["3", "1", "2"]


def test_new_ties_by_id_then_undated_products_by_id(shop: Shop):
    # Dated and undated products are read apart (storage/recommendations.newest): the
    # order is still created_at DESC NULLS LAST, id, whatever the limit cuts.
    shop.catalogue(
        product(1, created_at=50),
        product(2),
        product(3, created_at=90),
        product(4, created_at=50),
        product(5),
        product(6, created_at=99, stock=0),
    )
    assert shop.ask("new", limit=2) == ["3", "1"]
    assert shop.ask("new", limit=3) == ["3", "1", "4"]
    assert shop.ask("new", limit=4) == ["3", "1", "4", "2"]
    assert shop.ask("new", limit=10) == ["3", "1", "4", "2", "5"]
    assert shop.ask("new", limit=10, exclude=["1", "2"]) == ["3", "4", "5"]


def test_complementary_is_bought_together_then_viewed_together(shop: Shop):
    shop.catalogue(*items(1, 2, 3, 4, 5, 6))
    shop.buy("a", "O1", "1", "2", "3")
    shop.buy("b", "O2", "1", "2")
    shop.buy("c", "O3", "1", "4")
    shop.view("v1", "1", "5")
    shop.view("v2", "1", "5")
    shop.view("v3", "1", "3")
    # bought together with 1: 2 (x2), 3, 4; viewed together: 5 (x2), 3
    assert shop.ask("complementary", products=["1"], limit=10) == ["2", "3", "4", "5"]


def test_complementary_falls_back_to_co_views_alone(shop: Shop):
    shop.catalogue(*items(1, 2, 3))
    shop.view("v1", "1", "3")
    assert shop.ask("complementary", products=["1"]) == ["3"]


def test_substituting_shares_categories_then_co_views_then_closest_price(shop: Shop):
    shop.catalogue(
        product(1, categories=["Mugs", "Kitchen"], price=10.0),
        product(2, categories=["Mugs"], price=11.0),
        product(3, categories=["Mugs"], price=14.0),
        product(4, categories=["Mugs", "Kitchen"], price=14.9),
        product(5, categories=["Mugs"], price=30.0),  # not a close price
        product(6, categories=["Plates"], price=10.0),  # no shared category
    )
    shop.view("v1", "1", "3")
    assert shop.ask("substituting", products=["1"], limit=10) == ["4", "3", "2"]


def test_category_popular_ranks_within_the_category(shop: Shop):
    shop.catalogue(
        product(1, categories=["Mugs"]),
        product(2, categories=["Mugs"]),
        product(3, categories=["Plates"]),
        product(4, categories=["Mugs"]),
    )
    shop.buy("a", "O1", "3", "4")
    shop.view("a", "2")
    assert shop.ask("category/popular", category="Mugs", limit=3) == ["4", "2", "1"]


def test_visitor_history_is_newest_first_without_repeats(shop: Shop):
    shop.catalogue(*items(1, 2, 3, 4), product(9, stock=0))
    shop.view("me", "3", "1", "2", "9", "1")
    shop.view("someone-else", "4")
    assert shop.ask("visitor/history", visitor="me", limit=10) == ["1", "2", "3"]
    assert shop.ask("visitor/history", visitor="me", limit=2, exclude=["2"]) == ["1", "3"]


def test_visitor_history_is_continuous_for_a_cookieless_visitor(shop: Shop):
    shop.catalogue(*items(1, 2))
    shop.view("auto", "1")
    shop.view("auto", "2")
    assert shop.ask("visitor/history", visitor="auto") == ["2", "1"]


def test_null_visitor_gets_nothing_personal_or_the_fallback_it_asks_for(shop: Shop):
    shop.catalogue(*items(1, 2))
    shop.view(None, "1")
    shop.view("a", "2", "2")
    assert shop.ask("visitor/history", visitor=None) == []
    assert shop.ask("visitor/complementary", visitor=None) == []
    assert shop.ask("visitor/history", visitor=None, fallback="popular") == ["2", "1"]


def test_visitor_complementary_uses_what_they_did_and_skips_what_they_bought(shop: Shop):
    shop.catalogue(*[product(i, categories=["C"], price=10.0) for i in range(1, 8)])
    shop.buy("x", "O1", "2", "3")  # others bought 3 with 2...
    shop.buy("y", "O2", "1", "4")  # ...and 4 with 1
    shop.buy("z", "O3", "1", "2")
    shop.view("me", "1")
    shop.buy("me", "O4", "2")
    # seeds: 2 (bought), 1 (viewed); complements 3 (with 2) and 4 (with 1), tied, by id;
    # then substitutes (same category and price) 5, 6, 7; never 2, which they bought
    assert shop.ask("visitor/complementary", visitor="me", limit=10) == ["3", "4", "5", "6", "7"]


def test_visitor_complementary_starts_from_the_twenty_most_recent_products(
    shop: Shop, clock: Clock
):
    shop.catalogue(*items(*range(1, 23)), *items(101, 102))
    shop.buy("x", "O1", "1", "101")  # 101 goes with the first product viewed...
    shop.buy("y", "O2", "22", "102")  # ...102 with the last
    for pid in range(1, 23):  # 22 products, one a second: 1 is not among the latest 20
        shop.view("me", str(pid))
        clock.advance(1)
    assert shop.ask("visitor/complementary", visitor="me", limit=1) == ["102"]
    found = shop.ask("visitor/complementary", visitor="me", limit=30)
    assert "102" in found and "101" not in found


def test_renders_are_recorded_with_api_and_labels(shop: Shop, services):
    shop.catalogue(*items(1))
    shop.ask("new", labels=["Home", "New in"])
    [render] = wait_rows(services, "SELECT * FROM events WHERE kind = 'render'")
    assert render["api"] == "recommendations/new"
    assert json.loads(render["labels"]) == ["Home", "New in"]
    assert json.loads(render["data"]) == {"count": 1}


def wait_rows(services, sql: str) -> list[dict[str, Any]]:
    """Renders are written without the answer waiting; the next commit brings them."""
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [r for r in rows(services, "events") if r["kind"] == "render"]
        if found:
            return found
        time.sleep(0.02)
    return []


@pytest.mark.parametrize(
    "api,args,field",
    [
        ("complementary", {}, "products"),
        ("complementary", {"products": "1"}, "products"),
        ("category/popular", {}, "category"),
        ("visitor/history", {"fallback": "everything"}, "fallback"),
        ("popular", {"limit": 0}, "limit"),
        ("popular", {"exclude": [None]}, "exclude[0]"),
    ],
)
def test_bad_arguments_name_the_field(client, store, api, args, field):
    answer = client.post(f"/v2/recommendations/{api}", json={"key": store.public_key, **args})
    assert answer.status_code == 400 and field in answer.json()["message"]


def test_get_with_query_parameters_works(client, store, shop: Shop):
    shop.catalogue(*items(1, 2))
    answer = client.get(
        "/v2/recommendations/new",
        params={"key": store.public_key, "limit": "1", "labels": '["Home"]', "exclude": '["2"]'},
    )
    assert answer.json()["result"] == ["1"]


# ---------------------------------------------------------------- price ranges, co-views


def test_substituting_reads_price_ranges_kept_in_step_with_the_catalogue(shop: Shop):
    shop.catalogue(
        product(1, categories=["Mugs", "Gifts"], price=20.0),  # the seed: range 10-30
        product(2, categories=["Mugs"], price=20.5),
        product(3, categories=["Mugs", "Gifts"], price=29.0),  # both categories, far
        product(4, categories=["Gifts"], price=19.0),
        product(5, categories=["Mugs"], price=9.5),  # below the range
        product(6, categories=["Mugs"], price=30.0),  # the top of the range
        product(7, categories=["Gifts", "Mugs"], price=21.0, stock=0),
        product(8, categories=["Plates"], price=20.0),  # no shared category
    )
    assert shop.ask("substituting", products=["1"], limit=10) == ["3", "2", "4", "6"]
    shop.catalogue(
        product(2, categories=["Mugs"], price=40.0),  # out of the range now
        product(7, categories=["Gifts", "Mugs"], price=21.0, stock=3),  # back in stock
        product(5, categories=["Plates"], price=20.0),
    )
    shop.delete("4")
    assert shop.ask("substituting", products=["1"], limit=10) == ["7", "3", "6"]


def test_similar_matches_its_definition_for_any_catalogue(services, store: StoreKeys):
    """Ranges read from the index, `limit` closest per category, and products in several
    categories found by their bits give what the definition gives: every product that
    shares a category, ranked by shared categories, distance and id. Equal prices,
    several categories, names that share a bit (Accessories and Gifts) and small limits
    probe the edges."""
    rng = random.Random(7)
    names = ["Accessories", "Gifts", "Mugs", "Plates", "Lamps"]
    assert category_bits(["Accessories"]) == category_bits(["Gifts"])
    catalogue = [
        product(
            i,
            categories=rng.sample(names, rng.choice([0, 1, 1, 1, 2, 2, 3])),
            price=rng.choice([4.0, 7.5, 8.0, 9.5, 10.0, 10.5, 12.0, 14.0, 15.0, 16.0, 22.0]),
            stock=rng.choice([None, None, 0, 3]),
        )
        for i in range(1, 121)
    ]
    services.storage.run(upsert_products, store_id=store.id, items=catalogue, now=0)
    for _ in range(40):
        seeds = [str(rng.randint(1, 125)) for _ in range(rng.choice([1, 1, 2, 3]))]
        limit = rng.choice([1, 3, 5, 200])
        found = services.storage.run(sql.similar, store_id=store.id, seeds=seeds, limit=limit)
        assert found == similar_by_definition(catalogue, seeds, limit), (seeds, limit)


def similar_by_definition(
    catalogue: list[dict[str, Any]], seeds: list[str], limit: int
) -> list[tuple[str, int, float]]:
    present = [p for p in catalogue if p["id"] in seeds]
    if not present:
        return []
    mean = sum(p["price"] for p in present) / len(present)  # prices are exact in binary
    weight = Counter(c for p in present for c in p["categories"])
    ranked = []
    for p in catalogue:
        shared = sum(weight[c] for c in p["categories"])
        in_stock = p["stock"] is None or p["stock"] > 0
        if shared and in_stock and p["id"] not in seeds and mean / 2 <= p["price"] <= mean * 1.5:
            ranked.append((p["id"], shared, abs(p["price"] - mean)))
    ranked.sort(key=lambda item: (-item[1], item[2], item[0]))
    return ranked[:limit]


def test_viewed_together_matches_its_definition_for_any_history(services, store: StoreKeys):
    """The recent viewers read newest first per product, as far as needed, give what the
    definition gives: the `max_visitors` visitors whose latest view of a seed (since
    `since`) is the newest, ties by id, and what else they viewed since then."""
    rng = random.Random(11)
    visitors = [f"v{i}" for i in range(40)] + ["often"] * 20 + [None]
    history = [
        event_row(
            store_id=store.id,
            ts=rng.choice(range(1_000, 1_060, 2)),  # many views share a time
            kind=rng.choice(["view", "view", "view", "click"]),
            visitor_mode="persistent",
            visitor_id=rng.choice(visitors),
            session=None,
            product_id=str(rng.choice([1, 1, 1, 2, 2, 3, rng.randint(4, 12)])),
        )
        for _ in range(800)
    ]
    services.storage.run(lambda conn: conn.execute(events.insert(), history))
    for _ in range(60):
        seeds = rng.sample([str(i) for i in range(1, 14)], rng.choice([1, 1, 2, 5]))
        since, most = rng.choice([0, 1_010, 1_040]), rng.choice([1, 3, 10, 15, 25, 200])
        found = services.storage.run(
            sql.viewed_together, store_id=store.id, seeds=seeds, since=since, max_visitors=most
        )
        expected = viewed_together_by_definition(history, seeds, since, most)
        assert found == expected
        # The top few (ties by id), with the counts of some others asked for too:
        among, also = rng.sample([str(i) for i in range(1, 14)], 2), ["12", "3"]
        top = services.storage.run(
            sql.viewed_together,
            store_id=store.id,
            seeds=seeds,
            since=since,
            max_visitors=most,
            top=2,
            also=also,
        )
        ranked = sorted(expected, key=lambda pid: (-expected[pid], pid))
        wanted = {*ranked[:2], *(pid for pid in also if pid in expected)}
        assert wanted <= set(top) and len(top) <= 2 + len(also)
        assert top == {pid: expected[pid] for pid in top}
        assert set(top) - wanted <= set(ranked[: 2 + len(also)])  # the next best, if any
        some = services.storage.run(
            sql.viewed_together,
            store_id=store.id,
            seeds=seeds,
            since=since,
            max_visitors=most,
            among=among,
        )
        assert some == {pid: n for pid, n in expected.items() if pid in among}


def viewed_together_by_definition(
    history: list[dict[str, Any]], seeds: list[str], since: int, most: int
) -> dict[str, int]:
    views = [e for e in history if e["kind"] == "view" and e["ts"] >= since and e["visitor_id"]]
    last: dict[str, int] = {}
    for e in views:
        if e["product_id"] in seeds:
            last[e["visitor_id"]] = max(last.get(e["visitor_id"], 0), e["ts"])
    recent = set(sorted(last, key=lambda v: (-last[v], v))[:most])
    pairs = {(e["product_id"], e["visitor_id"]) for e in views if e["visitor_id"] in recent}
    return dict(Counter(pid for pid, _ in pairs if pid not in seeds))


# ---------------------------------------------------------------- cached rankings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_ranking_cache_serves_the_stale_ranking_while_one_recomputation_runs():
    clock = FakeClock()
    cache = RankingCache(60, clock=clock)
    calls: list[int] = []
    release = asyncio.Event()

    async def compute() -> list[str]:
        calls.append(len(calls))
        if len(calls) > 1:
            await release.wait()
        return [f"ranking {len(calls)}"]

    async def scenario() -> None:
        first = await asyncio.gather(*(cache.get(("s", "popular"), compute) for _ in range(3)))
        assert first == [["ranking 1"]] * 3 and len(calls) == 1  # waited for, once
        clock.now += 59
        assert await cache.get(("s", "popular"), compute) == ["ranking 1"]
        clock.now += 2  # expired: the stale ranking, at once, while one recomputation runs
        stale = [await cache.get(("s", "popular"), compute) for _ in range(3)]
        await asyncio.sleep(0.01)  # the recomputation starts
        assert stale == [["ranking 1"]] * 3 and len(calls) == 2
        assert await cache.get(("s", "popular"), compute) == ["ranking 1"]
        release.set()
        for _ in range(100):
            if await cache.get(("s", "popular"), compute) == ["ranking 2"]:
                break
            await asyncio.sleep(0.01)
        assert await cache.get(("s", "popular"), compute) == ["ranking 2"]
        assert len(calls) == 2

    asyncio.run(scenario())


def test_ranking_cache_keeps_the_stale_ranking_when_a_recomputation_fails(caplog):
    clock = FakeClock()
    cache = RankingCache(60, clock=clock)
    results: list[Any] = [["first"], RuntimeError("database is down"), ["third"]]

    async def compute() -> list[str]:
        result = results.pop(0)
        if isinstance(result, Exception):
            raise result
        return list(result)

    async def scenario() -> None:
        assert await cache.get(("k",), compute) == ["first"]
        clock.now += 61
        assert await cache.get(("k",), compute) == ["first"]  # the failing recomputation
        await asyncio.sleep(0.01)
        assert await cache.get(("k",), compute) == ["first"]  # ... and the next one
        for _ in range(100):
            if await cache.get(("k",), compute) == ["third"]:
                break
            await asyncio.sleep(0.01)
        assert await cache.get(("k",), compute) == ["third"]

    asyncio.run(scenario())
    assert "database is down" in caplog.text


def test_ranking_cache_without_a_lifetime_computes_every_time():
    cache = RankingCache(0)
    calls: list[int] = []

    async def compute() -> list[str]:
        calls.append(1)
        return [str(len(calls))]

    async def scenario() -> list[list[str]]:
        return [await cache.get(("k",), compute) for _ in range(3)]

    assert asyncio.run(scenario()) == [["1"], ["2"], ["3"]]


def test_popular_answers_from_the_previous_ranking_while_it_is_recomputed(shop: Shop, services):
    clock = FakeClock()
    services.rankings = RankingCache(60, clock=clock)
    shop.catalogue(*items(1, 2, 3))
    shop.view("a", "1")
    assert shop.ask("popular", limit=1) == ["1"]
    shop.view("b", "2", "2")
    assert shop.ask("popular", limit=1) == ["1"]  # cached
    clock.now += 61
    assert shop.ask("popular", limit=1) == ["1"]  # expired: the previous one, meanwhile
    deadline = time.monotonic() + 10
    while shop.ask("popular", limit=1) != ["2"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert shop.ask("popular", limit=1) == ["2"]


def test_ranking_cache_with_a_bound_drops_the_least_recently_used():
    cache = RankingCache(60, clock=FakeClock(), max_entries=2)
    calls: list[str] = []

    def computing(name: str) -> Any:
        async def compute() -> list[str]:
            calls.append(name)
            return [name]

        return compute

    async def scenario() -> None:
        for key in ("a", "b", "a", "c", "a", "b"):
            assert await cache.get((key,), computing(key)) == [key]

    asyncio.run(scenario())
    assert calls == ["a", "b", "c", "b"]  # "b" went when "c" came; "a" was used since


def test_complements_and_substitutes_are_kept_per_set_of_seeds(shop: Shop, services):
    clock = FakeClock()
    services.seed_rankings = RankingCache(60, clock=clock)
    shop.catalogue(*[product(i, categories=["C"], price=10.0 + i) for i in range(1, 6)])
    shop.buy("a", "O1", "1", "2")
    assert shop.ask("complementary", products=["1"]) == ["2"]
    assert shop.ask("substituting", products=["1", "2"]) == ["3", "4", "5"]
    shop.buy("b", "O2", "1", "3")
    shop.buy("c", "O3", "1", "3")
    shop.view("v", "1", "5")
    shop.view("w", "2", "5")
    assert shop.ask("complementary", products=["1"]) == ["2"]  # kept
    assert shop.ask("substituting", products=["2", "1"]) == ["3", "4", "5"]  # same set
    shop.delete("2")
    assert shop.ask("complementary", products=["1"]) == []  # stock is checked every time
    clock.now += 61
    deadline = time.monotonic() + 10
    while shop.ask("complementary", products=["1"]) != ["3", "5"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert shop.ask("complementary", products=["1"]) == ["3", "5"]
    while (
        shop.ask("substituting", products=["1"]) != ["5", "3", "4"] and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert shop.ask("substituting", products=["1"]) == ["5", "3", "4"]  # 5: viewed with 1


# ---------------------------------------------------------------- bought together


def test_bought_together_sums_the_orders_of_each_seed(shop: Shop, services, store):
    shop.catalogue(*items(1, 2, 3, 4, 5))
    shop.buy("a", "O1", "1", "2", "3")
    shop.buy("b", "O2", "2", "3")
    shop.buy("c", "O3", "1", ("3", 2), "3")  # a product twice in one order: one order
    shop.buy("c", "O3", "1", "4")  # the same sale again: not counted twice
    shop.buy(None, "O4", "4", "5")  # no visitor: its order counts all the same
    together = services.storage.run(sql.bought_together, store_id=store.id, seeds=["1", "2"])
    # 3: with 1 in O1 and O3, with 2 in O1 and O2 (O1 counts for each seed)
    assert together == {"3": 4}
    assert services.storage.run(sql.bought_together, store_id=store.id, seeds=["4"]) == {"5": 1}
    top = services.storage.run(sql.bought_together, store_id=store.id, seeds=["3"], top=1)
    assert top == {"1": 2}  # tied with 2: by id
    assert shop.ask("complementary", products=["1", "2"]) == ["3"]


def test_an_order_pairs_its_first_fifty_lines_only(services, store):
    from collector.storage.schema import PAIRED_LINES
    from collector.storage.tracking import record_sale

    lines = [{"id": str(i), "quantity": 1, "price": 1.0} for i in range(PAIRED_LINES + 5)]
    services.storage.run(
        record_sale,
        store_id=store.id,
        ts=1_000,
        sale_id="B2B",
        lines=lines,
        visitor_mode="none",
        visitor_id=None,
        session=None,
        email=None,
        customer=None,
    )
    pairs = rows(services, "co_purchases")
    assert len(pairs) == PAIRED_LINES * (PAIRED_LINES - 1)
    assert {r["orders"] for r in pairs} == {1}
    assert str(PAIRED_LINES) not in {r["product_id"] for r in pairs}


def test_ranking_cache_waits_for_the_recomputations_under_way():
    clock = FakeClock()
    cache = RankingCache(60, clock=clock)
    finished: list[str] = []

    async def compute() -> list[str]:
        await asyncio.sleep(0.05)
        finished.append("done")
        return ["r"]

    async def scenario() -> None:
        await cache.get(("k",), compute)
        clock.now += 61
        assert await cache.get(("k",), compute) == ["r"]  # stale; one recomputation starts
        assert len(finished) == 1
        await cache.wait()  # what the app's shutdown does before closing the storage
        assert len(finished) == 2

    asyncio.run(scenario())


# ---------------------------------------------------------------- bounded caches


def cached_services(settings, clock: Clock) -> Services:
    """Services as the collector makes them, with rankings kept (the tests' settings keep
    none, so that every request sees the history as it is)."""
    services = Services(dataclasses.replace(settings, recommendation_cache_seconds=60), clock=clock)
    services.storage.migrate()
    return services


def test_ten_thousand_categories_leave_the_ranking_cache_at_its_cap(settings, clock: Clock):
    """Any text names a category: each asked for is one ranking, and the least recently
    used go at the cap, while the store's popular ranking (used by all of them) stays."""
    services = cached_services(settings, clock)
    try:
        keys = make_store(services)
        services.storage.run(
            upsert_products,
            store_id=keys.id,
            items=[product(i, categories=["Mugs"]) for i in (1, 2, 3)],
            now=0,
        )
        store = services.storage.run(store_by_public_key, public_key=keys.public_key)

        async def ask(category: str) -> list[str]:
            data = {"category": category, "limit": 10, "exclude": []}
            call = Call(request=None, services=services, store=store, data=data, private=False)  # type: ignore[arg-type]
            return await recommendations.category_popular(call)

        async def scenario() -> list[str]:
            for n in range(10_000):
                assert await ask(f"made up {n}") == []
            return await ask("Mugs")

        assert asyncio.run(scenario()) == ["1", "2", "3"]
        assert len(services.rankings) == RANKINGS
        assert services.rankings.ids <= RANKING_IDS
    finally:
        services.storage.dispose()


def test_ranking_cache_is_bounded_by_the_ids_it_holds():
    cache = RankingCache(60, clock=FakeClock(), max_ids=1_000)

    def ids(n: int) -> Any:
        return lambda: asyncio.sleep(0, [str(i) for i in range(n)])

    async def scenario() -> None:
        for n in range(10):
            await cache.get((n,), ids(300))
        assert (len(cache), cache.ids) == (3, 900)
        await cache.get(("big",), ids(5_000))
        assert (len(cache), cache.ids) == (1, 5_000)  # the last one stays, alone

    asyncio.run(scenario())


# ---------------------------------------------------------------- bounded reads


class Reads:
    """The SELECTs a block of code runs, with their parameters (and, on PostgreSQL, the
    rows each returned: psycopg's rowcount)."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.seen = engine, list[tuple[str, Any, int]]()

    def __enter__(self) -> Reads:
        event.listen(self.engine, "after_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "after_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.seen.append((statement, parameters, cursor.rowcount))

    def of(self, table: str) -> list[tuple[str, Any, int]]:
        return [r for r in self.seen if re.search(rf"\bFROM {table}\b", r[0])]


def limit_of(statement: str, parameters: Any) -> int:
    """The value of the statement's outermost LIMIT (a literal or a bound parameter)."""
    found = re.findall(r"LIMIT (\?|%\(\w+\)s|\d+)", statement)
    assert found, statement
    last = found[-1]
    if last.isdigit():
        return int(last)
    if last == "?":
        return int(parameters[statement[: statement.rindex("LIMIT ?")].count("?")])
    return int(parameters[last[2:-2]])


def big_history(services, store_id: int, visitor: str, views: int, products: int) -> None:
    rows_ = [
        event_row(
            store_id=store_id,
            ts=1_000 + n,
            kind="view" if n % 5 else "click",
            visitor_mode="persistent",
            visitor_id=visitor,
            session=None,
            product_id=str(n % products),
        )
        for n in range(views)
    ]
    services.storage.run(lambda conn: conn.execute(events.insert(), rows_))


def test_interests_reads_a_bounded_number_of_rows_of_a_long_history(services, store):
    """A visitor with 20,000 views and clicks and 300 orders of 10 lines: what one call
    reads stops at the caps, the newest first."""
    big_history(services, store.id, "busy", 20_000, 5_000)
    for n in range(300):
        services.storage.run(
            record_sale,
            store_id=store.id,
            ts=2_000 + n,
            sale_id=f"S{n}",
            lines=[{"id": f"b{n}-{i}", "quantity": 1, "price": 1.0} for i in range(10)],
            visitor_mode="persistent",
            visitor_id="busy",
            session=None,
            email=None,
            customer=None,
        )
    with Reads(services.storage.engine) as reads:
        found = services.storage.run(sql.interests, store_id=store.id, visitor_id="busy", since=0)
    read = sum(found["view"].values()) + sum(found["click"].values())
    assert read == sql.MAX_INTEREST_EVENTS  # one count per event row read
    assert list(found["view"])[0] == str(19_999 % 5_000)  # the newest first
    assert sum(found["bought"].values()) <= sql.MAX_INTEREST_LINES
    assert "b299-0" in found["bought"]  # the newest order's lines
    for table, cap in [
        ("events", sql.MAX_INTEREST_EVENTS),
        ("orders", sql.MAX_INTEREST_ORDERS),
        ("order_lines", sql.MAX_INTEREST_LINES),
    ]:
        for statement, parameters, rowcount in reads.of(table):
            assert limit_of(statement, parameters) <= cap, statement
            assert rowcount <= cap  # -1 on SQLite (not known before the rows are read)


def test_viewed_together_reads_a_bounded_number_of_views(services, store):
    """100 recent viewers of a product who each viewed 300 others: 30,000 views, and one
    call reads at most MAX_VIEWS_READ of them."""
    history = [
        event_row(
            store_id=store.id,
            ts=1_000 + v * 1_000 + n,
            kind="view",
            visitor_mode="persistent",
            visitor_id=f"v{v}",
            session=None,
            product_id="seed" if n == 300 else f"p{(v * 300 + n) % 7_000}",
        )
        for v in range(100)
        for n in range(301)
    ]
    services.storage.run(lambda conn: conn.execute(events.insert(), history))
    with Reads(services.storage.engine) as reads:
        together = services.storage.run(
            sql.viewed_together, store_id=store.id, seeds=["seed"], since=0
        )
    # Each count is of distinct viewers among the views read: their sum is at most those.
    assert 0 < sum(together.values()) <= sql.MAX_VIEWS_READ < 30_000
    [(statement, parameters, _)] = [r for r in reads.of("events") if "count(DISTINCT" in r[0]]
    inner = statement[: statement.index(") AS anon")]
    assert limit_of(inner, parameters) == sql.MAX_VIEWS_READ


def test_calls_that_vary_limit_or_seeds_share_a_few_cached_lists(shop: Shop, services, clock):
    """The complements of a set of seeds are read to one of a few depths, whatever the
    limit and the exclude list; a call uses its first MAX_SEEDS seeds."""
    services.seed_rankings = RankingCache(60, clock=clock, max_entries=1_000)
    shop.catalogue(*items(*range(1, 80)))
    shop.buy("a", "O1", "1", "2", "3")
    for limit in range(1, 101):
        shop.ask("complementary", products=["1"], limit=limit, exclude=["2"] * (limit % 7))
    assert len(services.seed_rankings) <= len(recommendations.SEED_DEPTHS)
    shop.buy("b", "O2", "45", "60")
    many = [str(i) for i in range(1, 51)]  # 45 is past the first MAX_SEEDS
    assert "60" not in shop.ask("complementary", products=many, limit=20)
    assert "60" in shop.ask("complementary", products=["45"], limit=20)
    assert all(len(key[-1]) <= recommendations.MAX_SEEDS for key in services.seed_rankings.keys())


def test_recent_viewers_reads_a_bounded_number_of_views_of_a_product(services, store):
    """A product viewed 20,000 times by one visitor, after 50 others viewed it: the read
    for its 100 latest viewers stops at MAX_SEED_VIEWS_READ views."""
    others = [
        event_row(
            store_id=store.id,
            ts=1_000 + v,
            kind="view",
            visitor_mode="persistent",
            visitor_id=f"v{v}",
            session=None,
            product_id="seed",
        )
        for v in range(50)
    ]
    services.storage.run(lambda conn: conn.execute(events.insert(), others))
    big_history(services, store.id, "bot", 20_000, 1)  # product "0", from ts 1,000...
    services.storage.run(
        lambda conn: conn.execute(
            events.update().where(events.c.visitor_id == "bot").values(product_id="seed")
        )
    )
    with Reads(services.storage.engine) as reads:
        viewers = services.storage.run(
            sql.recent_viewers, store_id=store.id, products=["seed"], since=0, limit=100
        )
    assert viewers[0] == "bot" and len(viewers) < 51  # the others' views were not reached
    for statement, parameters, rowcount in reads.of("events"):
        assert limit_of(statement, parameters) <= sql.MAX_SEED_VIEWS_READ
        assert rowcount <= sql.MAX_SEED_VIEWS_READ
