"""Search and predictive search on small hand-built catalogues, with the exact order expected."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from collector.search import POPULARITY_MAX_AGE_MS
from collector.services import Services
from collector.storage import catalogue
from collector.storage.caches import Cache
from collector.storage.folding import normalise_query, words
from collector.storage.search import paging
from collector.storage.search import query as search_storage
from collector.storage.search.typos import edits
from collector.storage.searches import forget_searches

from .factories import Clock, StoreKeys, count, make_store, product, rows

UA = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"


class Shop:
    """Drives a store through its public API, as a storefront and its shoppers would."""

    def __init__(self, client: TestClient, store: StoreKeys) -> None:
        self.client, self.store = client, store

    def catalogue(self, *items: dict[str, Any]) -> None:
        body = {"private_key": self.store.private_key, "products": list(items)}
        answer = self.client.post("/v2/products", json={"key": self.store.public_key, **body})
        assert answer.status_code == 200, answer.text

    def delete(self, *ids: str) -> None:
        body = {"private_key": self.store.private_key, "products": list(ids)}
        answer = self.client.request(
            "DELETE", "/v2/products", json={"key": self.store.public_key, **body}
        )
        assert answer.status_code == 200, answer.text

    def view(self, pid: str, times: int = 1) -> None:
        for _ in range(times):
            body = {"key": self.store.public_key, "visitor": "v", "product": pid}
            assert self.client.post("/v2/log/product", json=body).status_code == 200

    def buy(self, sale: str, pid: str, quantity: int = 1) -> None:
        line = {"id": pid, "quantity": quantity, "price": 1.0}
        body = {"key": self.store.public_key, "visitor": "v", "sale": sale, "products": [line]}
        assert self.client.post("/v2/log/sale", json=body).status_code == 200

    def search(self, query: str, api: str = "search", **args: Any) -> dict[str, Any]:
        answer = self.client.post(
            f"/v2/search/{api}",
            json={"key": self.store.public_key, "query": query, **args},
            headers={"user-agent": UA},
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        assert body["status"] == "ok"
        assert body["result"] == [p["id"] for p in body["product_data"]]
        return body

    def find(self, query: str, api: str = "search", **args: Any) -> list[str]:
        return list(self.search(query, api, **args)["result"])


@pytest.fixture
def shop(client: TestClient, store: StoreKeys) -> Shop:
    return Shop(client, store)


def wait_for(services, table: str, n: int) -> list[dict[str, Any]]:
    """Searches and renders are written without the answer waiting: wait for the commit."""
    deadline = time.monotonic() + 5
    while count(services, table) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return rows(services, table)


# ---------------------------------------------------------------- ranking


def test_name_ranks_before_brand_and_categories_before_description(shop: Shop):
    shop.catalogue(
        product(1, name="Warm coat", description="Goes over any jacket."),
        product(2, name="Rain jacket"),
        product(3, name="Parka", categories=["Jacket"]),
        product(4, name="Anorak", brand="Jacket & Co"),
        product(5, name="Umbrella", description="For rainy days"),
    )
    shop.buy("O1", "1", 5)  # popularity never lifts a product over a better field...
    shop.buy("O2", "4")  # ...but orders products within one
    assert shop.find("jacket") == ["2", "4", "3", "1"]


def test_every_word_must_match_and_ranks_by_where_all_of_them_are(shop: Shop):
    shop.catalogue(
        product(1, name="Jacket", description="In red"),
        product(2, name="Red rain jacket"),
        product(3, name="Red scarf"),
        product(4, name="Jacket", categories=["Red"]),
    )
    assert shop.find("red jacket") == ["2", "4", "1"]


def test_popularity_breaks_ties_by_units_sold_then_views(shop: Shop):
    shop.catalogue(*[product(i, name=f"Desk lamp {i}") for i in range(1, 6)])
    shop.buy("O1", "2", 3)
    shop.buy("O2", "3")
    shop.view("3", 5)
    shop.view("4", 2)
    shop.view("5", 1)
    assert shop.find("lamp") == ["2", "3", "4", "5", "1"]


def test_popularity_is_recounted_once_it_is_older_than_the_maximum_age(shop: Shop, clock: Clock):
    shop.catalogue(*[product(i, name=f"Lamp {i}") for i in range(1, 4)])
    shop.buy("O1", "3")
    assert shop.find("lamp") == ["3", "1", "2"]
    shop.buy("O2", "2", 4)
    assert shop.find("lamp") == ["3", "1", "2"]  # the figures are a few minutes old at most
    clock.advance(POPULARITY_MAX_AGE_MS / 1000)
    assert shop.find("lamp") == ["2", "3", "1"]


# ---------------------------------------------------------------- matching


@pytest.mark.parametrize(
    "query,expected",
    [
        ("cafe", ["1", "2"]),
        ("CAFÉ", ["1", "2"]),
        ("Café", ["1", "2"]),
        ("café CRÈME", ["1"]),
        ("creme", ["1"]),
        ("smorrebrod", ["3"]),
        ("SMØRREBRØD", ["3"]),
        ("grosse", ["4"]),
        ("größe", ["4"]),
    ],
)
def test_case_and_accents_are_ignored_both_ways(shop: Shop, query: str, expected: list[str]):
    shop.catalogue(
        product(1, name="Café crème"),
        product(2, name="CAFE NOIR"),
        product(3, name="Smørrebrød plate"),
        product(4, name="Shirt", description="Grosse M"),
    )
    assert shop.find(query) == expected


@pytest.mark.parametrize(
    "api,query,expected",
    [
        ("predictive", "bl ja", ["1"]),  # every word is a prefix...
        ("predictive", "tea", ["3", "4"]),
        ("predictive", "Te", ["3", "4"]),
        ("predictive", "j", []),  # ...from two characters on
        ("search", "tea", ["4"]),  # a full search matches whole words
        ("search", "jack", []),
        ("search", "blue jacket", ["1"]),
    ],
)
def test_predictive_completes_words_and_full_search_does_not(
    shop: Shop, api: str, query: str, expected: list[str]
):
    shop.catalogue(
        product(1, name="Blue jacket"),
        product(2, name="Black jeans"),
        product(3, name="Teapot"),
        product(4, name="Tea"),
    )
    assert shop.find(query, api) == expected


@pytest.mark.parametrize(
    "query,expected",
    [
        ("jacket", ["1"]),
        ("jackte", ["1"]),  # transposition
        ("jaket", ["1"]),  # deletion
        ("jackeet", ["1"]),  # insertion
        ("jacxet", ["1"]),  # substitution
        ("LEATHR jackte", ["1"]),  # one typo in each word
        ("jkacte", []),  # two typos
        ("lmap", []),  # short words must be right...
        ("lam", []),
        ("lamp", ["2"]),
        ("phone16", []),  # ...and so must words with digits
        ("phone15", ["3"]),
    ],
)
def test_one_typo_is_forgiven_in_words_of_five_letters_or_more(
    shop: Shop, query: str, expected: list[str]
):
    shop.catalogue(
        product(1, name="Leather jacket"),
        product(2, name="Lamp"),
        product(3, name="Phone15 case"),
    )
    assert shop.find(query) == expected


def test_typo_tolerance_works_in_predictive_search_too(shop: Shop):
    shop.catalogue(product(1, name="Leather jacket"), product(2, name="Lamp"))
    assert shop.find("jackte", "predictive") == ["1"]


def test_exact_matches_rank_before_typo_matches(shop: Shop):
    shop.catalogue(
        product(1, name="Jackets"),  # one edit away from the query, in the name
        product(2, name="Coat", description="A jacket for winter"),  # exact, description
    )
    shop.buy("O1", "1", 9)
    assert shop.find("jacket") == ["2", "1"]


def test_a_query_without_letters_or_digits_finds_nothing(shop: Shop):
    shop.catalogue(product(1, name="Lamp"))
    assert shop.search("!!!") | {"product_data": []} == {
        "status": "ok",
        "result": [],
        "product_data": [],
        "count": 0,
    }


# ---------------------------------------------------------------- what is returned


def test_exclude_and_labels(shop: Shop, services):
    shop.catalogue(*[product(i, name="Lamp") for i in range(1, 4)])
    answer = shop.search("lamp", exclude=["2"], labels=["Search page"])
    assert (answer["result"], answer["count"]) == (["1", "3"], 2)
    [render] = [r for r in wait_for(services, "events", 1) if r["kind"] == "render"]
    assert render["api"] == "search/search"
    assert json.loads(render["labels"]) == ["Search page"]
    shop.search("la", "predictive", labels=["Header box"])
    renders = [r for r in wait_for(services, "events", 2) if r["kind"] == "render"]
    assert [(r["api"], json.loads(r["labels"])) for r in renders][-1] == (
        "search/predictive",
        ["Header box"],
    )


def test_limit_and_offset_page_through_every_match_with_the_full_count(shop: Shop):
    shop.catalogue(*[product(i, name="Lamp") for i in range(1, 6)], product(6, name="Mug"))
    pages = [shop.search("lamp", limit=2, offset=n) for n in (0, 2, 4, 6)]
    assert [(p["result"], p["count"]) for p in pages] == [
        (["1", "2"], 5),
        (["3", "4"], 5),
        (["5"], 5),
        ([], 5),
    ]
    predictive = shop.search("lam", "predictive", limit=3)
    assert (predictive["result"], predictive["count"]) == (["1", "2", "3"], 5)


def test_deleted_and_out_of_stock_products_are_never_found(shop: Shop):
    shop.catalogue(
        product(1, name="Lamp", stock=0),
        product(2, name="Lamp"),  # stock not tracked
        product(3, name="Lamp", stock=4),
        product(4, name="Lamp", stock=-1),
        product(5, name="Lamp"),
    )
    shop.delete("5")
    answer = shop.search("lamp")
    assert (answer["result"], answer["count"]) == (["2", "3"], 2)
    assert shop.find("lamp", "predictive") == ["2", "3"]
    shop.catalogue(product(1, name="Lamp", stock=2))  # back in stock
    assert shop.find("lamp") == ["1", "2", "3"]


def test_an_upsert_updates_the_index(shop: Shop, services):
    shop.catalogue(product(1, name="Blue jacket"), product(2, name="Lamp"))
    shop.catalogue(product(1, name="Green coat"))
    assert shop.find("jacket") == []
    assert shop.find("jakcet") == []  # the old words have left the vocabulary too
    assert shop.find("coat") == ["1"]
    assert "jacket" not in {r["word"] for r in rows(services, "search_vocabulary")}
    shop.delete("1")
    assert shop.find("coat") == []
    assert {r["word"] for r in rows(services, "search_vocabulary")} == {"lamp"}


def test_stores_never_see_each_others_products_or_searches(client, services, shop: Shop):
    other = Shop(client, make_store(services, name="Other shop"))
    shop.catalogue(product("a", name="Red lamp"), product("b", name="Leather jacket"))
    other.catalogue(product("x", name="Blue lamp"))
    assert shop.find("lamp") == ["a"]
    assert other.find("lamp") == ["x"]
    assert other.find("jaket") == []  # nor each other's vocabulary
    searches = wait_for(services, "searches", 3)
    assert sorted((r["store_id"], r["query"]) for r in searches) == sorted(
        [(shop.store.id, "lamp"), (other.store.id, "lamp"), (other.store.id, "jaket")]
    )


def test_get_with_query_parameters_works(client, store, shop: Shop):
    shop.catalogue(*[product(i, name="Lamp") for i in range(1, 5)])
    answer = client.get(
        "/v2/search/search",
        params={
            "key": store.public_key,
            "query": "lamp",
            "limit": "2",
            "offset": "1",
            "labels": '["Results"]',
            "exclude": '["2"]',
        },
    )
    assert (answer.json()["result"], answer.json()["count"]) == (["3", "4"], 3)


# ---------------------------------------------------------------- tiers, walks and caches

# Every way storage/search/ can read a page, forced on a small catalogue: tier by tier
# with joins, with walks down the ranking (to the end, or giving up at once and joining
# after all), or every match ranked in one pass.
READINGS: dict[str, dict[str, int]] = {
    "as chosen": {},
    "walks": {
        **{"WALK_MIN_MATCHES": 0, "WALK_GAIN": 10**9, "WALK_MIN_CAP": 10**9},
        **{"PG_DENSE_MIN": 1, "PG_DENSE_MAX": 1},
    },
    "walks that give up": {
        **{"WALK_MIN_MATCHES": 0, "WALK_GAIN": 10**9, "WALK_CAP": 0, "WALK_MIN_CAP": 1},
        **{"PG_DENSE_MIN": 1, "PG_DENSE_MAX": 1, "PG_WALK_PER_RESULT": 1},
    },
    "one pass": {"DEEP_PAGE": 0},
}

# "jacket": name, then brand/categories, then description; then the same with the typo
# "jackets"; by units sold, then views, within each.
JACKETS = ["1", "13", "2", "3", "4", "5", "6", "7", "8", "9", "10"]


@pytest.mark.parametrize("reading", list(READINGS))
def test_pages_across_rank_tiers_follow_one_order_however_they_are_read(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, reading: str
):
    for name, value in READINGS[reading].items():
        monkeypatch.setattr(paging, name, value)
    shop.catalogue(
        product(1, name="Rain jacket"),
        product(2, name="Ski jacket"),
        product(3, name="Jacket"),
        product(4, name="Anorak", brand="Jacket & Co"),
        product(5, name="Parka", categories=["Jacket"]),
        product(6, name="Coat", description="Wear it as a jacket"),
        product(7, name="Vest", description="Not a jacket"),
        product(8, name="Jackets stand"),
        product(9, name="Hook", categories=["Jackets"]),
        product(10, name="Hanger", description="For jackets"),
        product(11, name="Old jacket", stock=0),
        product(12, name="Lamp"),
        product(13, name="Denim jacket"),
    )
    shop.buy("O1", "1", 2)
    shop.buy("O2", "4")
    shop.buy("O3", "10")
    shop.view("13", 3)
    shop.view("6", 2)
    shop.view("2")
    everything = shop.search("jacket", limit=100)
    assert (everything["result"], everything["count"]) == (JACKETS, 11)
    for size in (1, 2, 3, 4):
        pages = [shop.search("jacket", limit=size, offset=at) for at in range(0, 11, size)]
        assert [pid for page in pages for pid in page["result"]] == JACKETS
        assert {page["count"] for page in pages} == {11}
    for at in (11, 30):
        assert shop.search("jacket", limit=3, offset=at) | {"product_data": []} == {
            "status": "ok",
            "result": [],
            "product_data": [],
            "count": 11,
        }
    excluding = shop.search("jacket", limit=3, offset=2, exclude=["13", "5", "9"])
    assert (excluding["result"], excluding["count"]) == (["3", "4", "6"], 8)
    predictive = shop.search("jack", "predictive", limit=5)  # a prefix: jackets is exact
    assert (predictive["result"], predictive["count"]) == (["1", "13", "2", "3", "8"], 11)


def test_cached_predictive_answers_follow_every_change_to_the_catalogue(shop: Shop):
    shop.catalogue(product(1, name="Lamp"), product(2, name="Lampshade"), product(3, name="Mug"))
    assert shop.find("lam", "predictive") == ["1", "2"]
    assert shop.find("lam", "predictive") == ["1", "2"]  # the same, from the cache
    shop.delete("1")
    assert shop.find("lam", "predictive") == ["2"]
    shop.catalogue(product(2, name="Shade"))
    assert shop.search("lam", "predictive")["count"] == 0
    shop.catalogue(product(3, name="Lamp mug", stock=0))
    assert shop.find("lam", "predictive") == []
    shop.catalogue(product(3, name="Lamp mug", stock=5))
    assert shop.find("lam", "predictive") == ["3"]
    shop.catalogue(product(4, name="Lamp"))
    assert shop.search("lam", "predictive") | {"product_data": []} == {
        "status": "ok",
        "result": ["3", "4"],
        "product_data": [],
        "count": 2,
    }


def test_cached_predictive_answers_follow_the_popularity_recount(shop: Shop, clock: Clock):
    shop.catalogue(*[product(i, name=f"Lamp {i}") for i in range(1, 4)])
    assert shop.find("lam", "predictive") == ["1", "2", "3"]
    shop.buy("O1", "3")
    assert shop.find("lam", "predictive") == ["1", "2", "3"]  # figures a few minutes old
    clock.advance(POPULARITY_MAX_AGE_MS / 1000)
    assert shop.find("lam", "predictive") == ["3", "1", "2"]


def test_changes_made_by_another_process_reach_cached_answers_and_counts(
    shop: Shop, settings, clock: Clock
):
    shop.catalogue(*[product(i, name="Lamp") for i in range(1, 4)], product(4, name="Lamb"))
    assert shop.search("lamp", limit=1)["count"] == 3  # the count of a full page is cached
    assert shop.find("lam", "predictive") == ["1", "2", "3", "4"]
    assert shop.find("lanterm") == []  # so are typo corrections (none here)
    other = Services(settings, clock=clock)  # another worker on the same database
    try:
        other.storage.run(catalogue.delete_products, store_id=shop.store.id, ids=["1"])
        new = [product(4, name="Lamb", stock=0), product(5, name="Lamp"), product(7, name="Lamp")]
        new.append(product(6, name="Lantern"))
        other.storage.run(catalogue.upsert_products, store_id=shop.store.id, items=new, now=0)
    finally:
        other.storage.dispose()
    answer = shop.search("lamp", limit=1)
    assert (answer["result"], answer["count"]) == (["2"], 4)
    assert shop.find("lam", "predictive") == ["2", "3", "5", "7"]
    assert shop.find("lanterm") == ["6"]


def test_every_query_is_recorded_cached_or_not(shop: Shop, services):
    shop.catalogue(product(1, name="Lamp"))
    for _ in range(3):
        shop.search("lamp", "predictive")
    shop.search("zebra", "predictive")
    shop.search("zebra", "predictive")
    searches = wait_for(services, "searches", 5)
    assert sorted((r["query"], r["hits"]) for r in searches) == [
        *[("lamp", 1)] * 3,
        *[("zebra", 0)] * 2,
    ]


def test_the_cache_forgets_old_entries_and_the_least_recently_used():
    now = [0.0]
    cache = Cache(entries=2, seconds=60, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    now[0] = 61.0
    assert cache.get("a") is None
    forever = Cache(entries=1, seconds=None, clock=lambda: now[0])
    forever.put("a", 1)
    now[0] = 1e9
    assert forever.get("a") == 1


def test_the_cache_is_bounded_by_the_weight_of_its_entries():
    cache = Cache(entries=100, weight=1_000)
    for n in range(10):
        cache.put(n, ("ids",) * 300, weight=300)
    assert (len(cache.entries), cache.weight) == (3, 900)
    cache.put("big", ("ids",) * 5_000, weight=5_000)
    assert (list(cache.entries), cache.weight) == (["big"], 5_000)  # the last one stays


def test_an_entry_asked_by_many_threads_at_once_is_built_once():
    cache = Cache(entries=10)
    builds: list[int] = []
    started = threading.Event()

    def build() -> tuple[str, int]:
        builds.append(1)
        started.set()
        time.sleep(0.2)  # the others ask meanwhile
        return "columns", 1

    found: list[str] = []
    threads = [threading.Thread(target=lambda: found.append(cache.once("k", build)))]
    threads[0].start()
    started.wait()
    threads += [threading.Thread(target=lambda: found.append(cache.once("k", build)))]
    threads += [threading.Thread(target=lambda: found.append(cache.once("k", build)))]
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join()
    assert (builds, found) == ([1], ["columns"] * 3)
    assert cache._building == {}  # no lock left behind


def test_exclude_is_applied_after_the_cache_one_entry_per_query(shop: Shop, services):
    """Shoppers' boxes send exclude lists that all differ: the answers kept per process
    are one per query (and depth), never one per list, and each answer honours its list."""
    shop.catalogue(*[product(i, name="Lamp") for i in range(1, 31)])
    shop.buy("O1", "7", 3)
    shop.search("lam", "predictive")  # the popularity recount, then steady answers
    cache = search_storage._cache(services.storage.engine)
    cache.clear()
    ranked = [str(i) for i in [7, *range(1, 7), *range(8, 31)]]
    ranked.sort(key=lambda pid: (pid != "7", pid))
    for n in range(40):
        unknown = [f"{n:03d}-{'x' * 100}-{i:03d}" for i in range(100)]
        shown = [str(1 + n % 30), str(1 + (n * 7) % 30)]
        exclude = [*unknown, *shown]
        predictive = shop.search("lam", "predictive", limit=5, exclude=exclude)
        found = shop.search("lamp", limit=5, offset=n % 3, exclude=exclude)
        rest = [pid for pid in ranked if pid not in shown]
        assert (predictive["result"], predictive["count"]) == (rest[:5], len(rest))
        assert (found["result"], found["count"]) == (rest[n % 3 : n % 3 + 5], len(rest))
    kinds = Counter(key[0] for key in cache.entries)
    assert kinds["answer"] == 1  # predictive answers: one, whatever the lists
    assert kinds["count"] <= 2  # all matches of each query, excluded or not
    # A shallow answer (10 deep) that does not hold every match: the excluded products
    # it does not hold are counted apart.
    few = shop.search("lam", "predictive", limit=5, exclude=["30", "1", "zebra"])
    rest = [pid for pid in ranked if pid not in ("30", "1")]
    assert (few["result"], few["count"]) == (rest[:5], 28)


# ---------------------------------------------------------------- the searches log


def test_a_query_that_finds_nothing_is_recorded_with_zero_hits(shop: Shop, services):
    shop.catalogue(product(1, name="Lamp"))
    assert shop.search("zebra")["count"] == 0
    [row] = wait_for(services, "searches", 1)
    assert (row["api"], row["query"], row["normalised"], row["hits"]) == (
        "search/search",
        "zebra",
        "zebra",
        0,
    )


@pytest.mark.parametrize(
    "sent,mode,session",
    [
        ({"visitor": "shopper-1", "session": "s1"}, "persistent", "s1"),
        ({"session": "s2"}, "auto", "s2"),
        ({"visitor": "auto"}, "auto", None),
        ({"visitor": None, "session": "s3"}, "none", None),
    ],
)
def test_every_query_is_recorded_with_the_visitor_its_mode_allows(
    shop: Shop, services, sent: dict[str, Any], mode: str, session: str | None
):
    shop.catalogue(product(1, name="Café crème"), product(2, name="Café noir"))
    shop.search("  Café   CRÈME ", "predictive", **sent)
    [row] = wait_for(services, "searches", 1)
    assert row["store_id"] == shop.store.id and row["ts"] > 0
    assert (row["api"], row["query"], row["normalised"], row["hits"]) == (
        "search/predictive",
        "Café   CRÈME",
        "cafe creme",
        1,
    )
    assert (row["visitor_mode"], row["session"]) == (mode, session)
    if mode == "persistent":
        assert row["visitor_id"] == "shopper-1"
    elif mode == "auto":
        assert row["visitor_id"].startswith("c-")
    else:
        assert row["visitor_id"] is None


@pytest.mark.parametrize(
    "api,args,field",
    [
        ("search", {}, "query"),
        ("search", {"query": ""}, "query"),
        ("search", {"query": "   "}, "query"),
        ("search", {"query": 5}, "query"),
        ("search", {"query": ["lamp"]}, "query"),
        ("search", {"query": "x" * 201}, "query"),
        ("search", {"query": "la\u0000mp"}, "query"),
        ("search", {"query": "lamp", "offset": -1}, "offset"),
        ("search", {"query": "lamp", "offset": 10_001}, "offset"),
        ("search", {"query": "lamp", "limit": 0}, "limit"),
        ("search", {"query": "lamp", "limit": "ten"}, "limit"),
        ("predictive", {"query": "lamp", "limit": [5]}, "limit"),
        ("predictive", {"query": "lamp", "exclude": "1"}, "exclude"),
        ("predictive", {"query": "lamp", "labels": [1]}, "labels[0]"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_stores_nothing(
    shop: Shop, client, services, api: str, args: dict[str, Any], field: str
):
    shop.catalogue(product(1, name="Lamp"))
    answer = client.post(f"/v2/search/{api}", json={"key": shop.store.public_key, **args})
    assert answer.status_code == 400
    assert answer.json()["status"] == "error" and field in answer.json()["message"]
    shop.search("lamp")  # a good query after it: once it is stored, nothing else was
    assert [r["query"] for r in wait_for(services, "searches", 1)] == ["lamp"]
    assert len([r for r in rows(services, "events") if r["kind"] == "render"]) <= 1


# ---------------------------------------------------------------- upgrades and text


def test_migrations_2_and_5_index_the_products_already_there(shop: Shop, services):
    shop.catalogue(product(1, name="Blue jacket"), product(2, name="Lamp"))
    with services.storage.engine.begin() as conn:  # back to a schema before migration 2
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TABLE search_fts"))
        names = (
            "search_texts, search_documents, search_vocabulary, search_popularity, searches, "
            "search_catalogue"
        )
        for name in names.split(", "):
            conn.execute(text(f"DROP TABLE {name}"))
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP FUNCTION clerk_search_unaccent(text)"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version IN (2, 5)"))
    assert services.storage.migrate() == [2, 5]
    assert shop.find("jakcet") == ["1"]
    assert [(r["version"], r["documents"]) for r in rows(services, "search_catalogue")] == [(1, 2)]
    shop.catalogue(product(3, name="Red jacket"))
    assert shop.find("jacket", "predictive") == ["1", "3"]


@pytest.mark.parametrize(
    "value,expected",
    [
        ("T-Shirt, Größe M", ["t", "shirt", "grosse", "m"]),
        ("Crème BRÛLÉE", ["creme", "brulee"]),
        ("Smørrebrød & Æble ŁÓDŹ", ["smorrebrod", "aeble", "lodz"]),
        ("rock'n'roll_2024", ["rock", "n", "roll", "2024"]),
        ("हिंदी किताब", ["हिंदी", "किताब"]),  # marks stay inside their words
    ],
)
def test_words_are_folded_and_split_the_same_way_for_products_and_queries(value, expected):
    assert words(value) == expected


def test_a_stored_query_is_folded_with_single_spaces():
    assert normalise_query("  Café \t CRÈME!! ") == "cafe creme!!"


def test_edits_are_every_string_one_edit_away():
    found = edits("abcde")
    assert {"bacde", "abcd", "abcdef", "xbcde", "abxcde"} <= found
    assert "abcde" not in found and "badce" not in found


def test_forgetting_a_visitor_erases_their_searches_only(shop: Shop, services):
    shop.catalogue(product(1, name="Lamp"))
    for visitor in ("me", "you", None):
        shop.search("lamp", visitor=visitor)
    wait_for(services, "searches", 3)
    erased = services.storage.run(forget_searches, store_id=shop.store.id, visitor_ids=["me"])
    assert erased == 1
    assert sorted(str(r["visitor_id"]) for r in rows(services, "searches")) == ["None", "you"]
