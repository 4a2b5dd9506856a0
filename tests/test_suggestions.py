"""search/suggestions, search/categories and search/pages through the HTTP API, and the
Searches report counting full searches only (not a live search box's prefixes)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from collector.services import Services
from collector.storage import suggestions as suggestions_storage
from collector.storage.search import search_row, searches
from collector.suggestions import PHRASES_MAX_AGE_MS

from .factories import Clock, StoreKeys, make_store, product, rows
from .test_dashboard import make_admin, sign_in

UA = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"


class Shop:
    """A store driven through its public API, as a storefront and its shoppers would."""

    def __init__(self, client: TestClient, services: Services, store: StoreKeys) -> None:
        self.client, self.services, self.store = client, services, store
        self.logged = 0  # searches sent that are logged

    def post(self, path: str, **body: Any) -> Any:
        return self.client.post(
            f"/v2/{path}", json={"key": self.store.public_key, **body}, headers={"user-agent": UA}
        )

    def private(self, path: str, **body: Any) -> None:
        answer = self.post(path, private_key=self.store.private_key, **body)
        assert answer.status_code == 200, answer.text

    def catalogue(self, *items: dict[str, Any]) -> None:
        self.private("products", products=list(items))

    def search(self, query: str, visitor: Any = "v1", api: str = "search", **args: Any) -> int:
        answer = self.post(f"search/{api}", query=query, visitor=visitor, **args)
        assert answer.status_code == 200, answer.text
        self.logged += 1
        return int(answer.json()["count"])

    def searched(self) -> None:
        """Wait until every search sent is in the log (written without the answer waiting)."""
        deadline = time.monotonic() + 5
        while self.in_log() < self.logged and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.in_log() == self.logged

    def in_log(self) -> int:
        return sum(r["store_id"] == self.store.id for r in rows(self.services, "searches"))

    def ok(self, path: str, **body: Any) -> dict[str, Any]:
        answer = self.post(path, **body)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        assert found["status"] == "ok"
        return found

    def suggest(self, query: str, **args: Any) -> list[str]:
        self.searched()
        return list(self.ok("search/suggestions", query=query, **args)["result"])

    def eventually(self, query: str, expected: list[str]) -> bool:
        """Whether suggestions for the query become `expected` (after a recount that runs
        in the background) within 5 seconds."""
        deadline = time.monotonic() + 5
        while self.suggest(query) != expected and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.suggest(query) == expected

    def categories(self, query: str, **args: Any) -> list[str]:
        found = self.ok("search/categories", query=query, **args)
        assert found["result"] == [c["id"] for c in found["categories"]]
        return list(found["result"])

    def pages(self, query: str, **args: Any) -> list[str]:
        found = self.ok("search/pages", query=query, **args)
        assert found["result"] == [p["id"] for p in found["pages"]]
        return list(found["result"])


@pytest.fixture
def shop(client: TestClient, services: Services, store: StoreKeys) -> Shop:
    return Shop(client, services, store)


def category(id: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"id": id, "name": name, "url": f"https://shop.example/c/{id}", **fields}


def page(id: str, title: str, text: str, **fields: Any) -> dict[str, Any]:
    url = f"https://shop.example/{id}"
    return {"id": id, "type": "cms", "url": url, "title": title, "text": text, **fields}


CLOTHES = [
    product(1, name="Rain jacket"),
    product(2, name="Jacket for men", brand="North"),
    product(3, name="Winter jacket", description="A warm jacket"),
    product(4, name="Jacuzzi cover"),
    product(5, name="Jacuzzi steps"),
    product(6, name="Jackson lamp"),
    product(7, name="Blue sweater"),
    product(8, name="Crème brûlée pot", categories=["Kitchen"]),
]


# ---------------------------------------------------------------- catalogue words


def test_the_last_word_is_completed_from_catalogue_words_most_products_first(shop: Shop):
    shop.catalogue(*CLOTHES)
    assert shop.suggest("jac") == ["jacket", "jacuzzi", "jackson"]
    assert shop.suggest("JACK") == ["jacket", "jackson"]
    assert shop.suggest("jacket") == ["jacket"]
    assert shop.suggest("blue jac") == ["blue jacket", "blue jacuzzi", "blue jackson"]
    assert shop.suggest("zebra") == []


def test_limit_defaults_to_5_and_is_kept(shop: Shop):
    shop.catalogue(*[product(i, name=f"Lamp{i:02d} lampshade") for i in range(30)])
    assert len(shop.suggest("lamp")) == 5
    assert len(shop.suggest("lamp", limit=2)) == 2
    assert len(shop.suggest("lamp", limit=20)) == 20


@pytest.mark.parametrize(
    "query, expected",
    [
        ("jakcet", ["jacket"]),  # a transposition in a whole word
        ("jakce", ["jacket"]),  # ... in a prefix
        ("swaeter", ["sweater"]),
        ("jakcet blu", ["jacket blue"]),  # an earlier word corrected, the last completed
        ("crè", ["creme"]),  # accents folded
        ("CREME BR", ["creme brulee"]),
        ("crême brû", ["creme brulee"]),
    ],
)
def test_typos_and_accents_are_forgiven_as_product_search_does(shop: Shop, query, expected):
    shop.catalogue(*CLOTHES)
    assert shop.suggest(query)[: len(expected)] == expected


def test_catalogue_changes_reach_suggestions_within_a_minute(shop: Shop, monkeypatch):
    shop.catalogue(*CLOTHES)
    assert shop.suggest("jac") == ["jacket", "jacuzzi", "jackson"]
    shop.catalogue(product(9, name="Jacaranda seeds"))
    assert shop.suggest("jacar") == []  # the words loaded a moment ago are kept...
    monkeypatch.setattr(suggestions_storage, "VOCABULARY_KEEP_SECONDS", 0.0)  # ...a minute
    assert shop.suggest("jacar") == ["jacaranda"]
    shop.private("products", products=[product(6, name="Desk lamp")])  # Jackson no more
    assert shop.suggest("jac") == ["jacket", "jacuzzi", "jacaranda"]


def test_short_typed_words_are_not_corrected(shop: Shop):
    shop.catalogue(*CLOTHES)
    assert shop.suggest("jakc") == []  # under 5 letters: as product search, no typo


# ---------------------------------------------------------------- popular queries


def test_popular_queries_come_before_catalogue_words(shop: Shop):
    shop.catalogue(*CLOTHES)
    for visitor in ("v1", "v2", "v3"):
        assert shop.search("Jacket  for MEN", visitor=visitor) > 0
    for visitor in ("v1", "v2", "v3", "v4"):
        shop.search("jacuzzi steps", visitor=visitor)
    assert shop.suggest("jac") == [
        "jacuzzi steps",  # 4 shoppers
        "jacket for men",  # 3
        "jacket",
        "jacuzzi",
        "jackson",
    ]
    assert shop.suggest("jacket ") == ["jacket for men"]  # a space: the next word
    assert shop.suggest("jacket f") == ["jacket for men"]
    assert shop.suggest("jakcet f") == ["jacket for men"]


def test_a_query_by_two_shoppers_never_shows(shop: Shop, clock: Clock):
    shop.catalogue(*CLOTHES)
    for session in ("s1", "s2", "s3", "s4"):  # one shopper, many page loads
        shop.search("winter jacket", visitor="v1", session=session)
    shop.search("winter jacket", visitor="v2")
    for _ in range(3):  # without a visitor: nobody to count
        shop.search("winter jacket", visitor=None)
    assert "winter jacket" not in shop.suggest("wint")
    shop.search("winter jacket", visitor="v6")
    assert "winter jacket" not in shop.suggest("wint")  # counted at most every few minutes
    clock.advance(PHRASES_MAX_AGE_MS / 1000)
    # The call that finds the count too old starts a recount and answers as before.
    assert "winter jacket" not in shop.suggest("wint")
    assert shop.eventually("wint", ["winter jacket", "winter"])


def test_only_full_searches_with_results_count(shop: Shop):
    shop.catalogue(*CLOTHES)
    for visitor in ("v1", "v2", "v3"):
        shop.search("rain jacket", visitor=visitor, api="predictive")  # a prefix typed
        assert shop.search("rain coat", visitor=visitor) == 0  # no results
        assert shop.search("jakcet", visitor=visitor) > 0  # found through a typo
    assert shop.suggest("rain") == ["rain"]
    assert shop.suggest("jak") == []


def test_a_query_with_a_word_not_in_the_catalogue_never_shows(shop: Shop, services: Services):
    """Even had it found products (as a shopper's name with a catalogue word might, if
    search were to forgive it): every word of 4+ letters must be a catalogue word."""
    shop.catalogue(*CLOTHES)
    logged = [
        search_row(
            store_id=shop.store.id,
            ts=services.now_ms() - 1000,
            api="search/search",
            query=query,
            hits=3,
            visitor_mode="persistent",
            visitor_id=visitor,
            session=None,
        )
        for query in ("jacket anna.smith@mail.example", "anna smith", "jacket blue")
        for visitor in ("v1", "v2", "v3")
    ]
    services.storage.run(lambda conn: conn.execute(searches.insert(), logged))
    shop.logged += len(logged)
    found = shop.suggest("jacket") + shop.suggest("anna") + shop.suggest("jacket ")
    assert found == ["jacket blue", "jacket", "jacket blue"]
    assert not any("anna" in text or "smith" in text for text in found)
    stored = rows(services, "search_phrases")
    assert [(r["phrase"], r["shoppers"]) for r in stored] == [("jacket blue", 3)]


def test_old_searches_stop_counting_after_90_days(shop: Shop, clock: Clock):
    shop.catalogue(*CLOTHES)
    for visitor in ("v1", "v2", "v3"):
        shop.search("blue sweater", visitor=visitor)
    assert shop.suggest("blue ") == ["blue sweater"]
    clock.advance(91 * 86_400)
    assert shop.eventually("blue ", [])  # no longer a popular query...
    assert shop.suggest("blue sw") == ["blue sweater"]  # ...but still catalogue words


# ---------------------------------------------------------------- categories


CATEGORIES = [
    category("1", "Jackets", description="Warm coats for cold days"),
    category("2", "Rain jackets & coats"),
    category("3", "Shoes", description="Boots, and the odd jacket"),
    category("4", "Jackson Collection", subcategories=["1"], colour="green"),
    category("5", "Coat hooks and hangers"),
    category("6", "Crème brûlée"),
]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("jacket", ["1", "2", "3"]),  # in the name (shorter names first), then the text
        ("jac", ["1", "4", "2", "3"]),
        ("coat", ["5", "2", "1"]),  # the whole word before only as a prefix
        ("rain jack", ["2"]),
        ("jakcets", ["1", "2"]),  # a typo: after any exact match, still names first
        ("jacket warm", ["1"]),
        ("creme brulee", ["6"]),
        ("CRÈME", ["6"]),
        ("unicorn", []),
    ],
)
def test_categories_rank_name_matches_before_text_matches(shop: Shop, query, expected):
    shop.private("categories", categories=CATEGORIES)
    assert shop.categories(query, limit=10) == expected


def test_categories_answer_the_stored_data_with_count_limit_and_offset(shop: Shop):
    shop.private("categories", categories=CATEGORIES)
    found = shop.ok("search/categories", query="jac", limit=2)
    assert found["result"] == ["1", "4"] and found["count"] == 4
    assert found["categories"][1] == {
        "id": "4",
        "name": "Jackson Collection",
        "url": "https://shop.example/c/4",
        "subcategories": ["1"],
        "description": "",
        "colour": "green",
    }
    assert shop.categories("jac", limit=2, offset=2) == ["2", "3"]
    assert shop.categories("jac", offset=10) == []
    assert shop.ok("search/categories", query="jac", offset=10)["count"] == 4


def test_many_matches_are_ranked_and_counted_all_the_same(shop: Shop):
    many = [category(str(n), f"Jacket {n:04d}") for n in range(1_500)]
    shop.private("categories", categories=many[:750])
    shop.private("categories", categories=many[750:])
    found = shop.ok("search/categories", query="jacket", limit=3, offset=1_200)
    assert found["result"] == ["1200", "1201", "1202"] and found["count"] == 1_500
    assert shop.categories("jacket 0007") == ["7"]


def test_categories_follow_changes_to_the_data(shop: Shop):
    shop.private("categories", categories=CATEGORIES)
    assert shop.categories("boots") == ["3"]
    shop.private("categories", categories=[category("3", "Boots")])
    shop.private("categories", categories=[category("7", "Boots for rain")])
    assert shop.categories("boots") == ["3", "7"]
    answer = shop.client.request(
        "DELETE",
        "/v2/categories",
        json={"key": shop.store.public_key, "private_key": shop.store.private_key, "ids": ["3"]},
    )
    assert answer.status_code == 200
    assert shop.categories("boots") == ["7"]


# ---------------------------------------------------------------- pages


PAGES = [
    page("about", "About us", "<p>We ship <b>jackets</b> from Oslo since 1990.</p>"),
    page("ship", "Shipping &amp; returns", "Free shipping on orders over 50 &euro;."),
    page("faq", "Questions", "How long does shipping take? Two days.", image="https://i.example/q"),
    page("care", "Caring for wool", "Wash at 30 degrees. Café au lait stains: cold water."),
]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("shipping", ["ship", "faq"]),  # the title, then the text (shorter title first)
        ("ship", ["ship", "about", "faq"]),  # "ship" whole in a text before titles' prefix?
        ("returns", ["ship"]),
        ("jackets", ["about"]),  # markup taken out of the text
        ("b", []),  # nor is a tag's letter a word
        ("cafe", ["care"]),
        ("shiping", ["ship", "faq"]),
        ("euro", []),  # an entity is a character, not a word
    ],
)
def test_pages_rank_title_matches_before_text_matches(shop: Shop, query, expected):
    shop.private("pages", pages=PAGES)
    assert shop.pages(query) == expected


def test_pages_answer_the_stored_data(shop: Shop):
    shop.private("pages", pages=PAGES)
    found = shop.ok("search/pages", query="questions")
    assert found == {
        "status": "ok",
        "result": ["faq"],
        "pages": [
            {
                "id": "faq",
                "type": "cms",
                "url": "https://shop.example/faq",
                "title": "Questions",
                "text": "How long does shipping take? Two days.",
                "image": "https://i.example/q",
            }
        ],
        "count": 1,
    }


def test_pages_of_one_type_are_kept_before_the_limit_any_case(shop: Shop):
    """The search page's and live search's data-*-pages-type: a page of the answer holds
    `limit` pages of that type (kept before ranking and paging, not after)."""
    posts = [page(f"post{i}", f"Shipping news {i}", "ship", type="blog") for i in range(4)]
    shop.private("pages", pages=[*posts, *PAGES, page("cms", "Shipping", "x", type="CMS Page")])
    everything = shop.ok("search/pages", query="shipping", limit=3)
    assert everything["count"] == 7 and len(everything["result"]) == 3
    for kept in ("cms page", "CMS PAGE", " cms page "):
        found = shop.ok("search/pages", query="shipping", limit=3, type=kept)
        assert found["result"] == ["cms"] and found["count"] == 1
    blog = shop.ok("search/pages", query="shipping", limit=3, type="blog")
    assert blog["count"] == 4 and len(blog["result"]) == 3
    assert {p["type"] for p in blog["pages"]} == {"blog"}
    assert shop.pages("shipping", limit=3, offset=3, type="blog") == [
        p for p in ["post0", "post1", "post2", "post3"] if p not in blog["result"]
    ]
    assert shop.pages("shipping", type="cms") == ["ship", "faq"]
    for every in ("", "all", "All"):
        assert shop.ok("search/pages", query="shipping", type=every)["count"] == 7
    assert shop.pages("shipping", type="recipe") == []
    answer = shop.post("search/pages", query="shipping", type="x" * 65)
    assert answer.status_code == 400 and answer.json()["message"].startswith("type:")
    # categories have no type: the argument is ignored, as any unknown argument
    assert "warnings" in shop.ok("search/categories", query="shipping", type="blog")


# ---------------------------------------------------------------- every endpoint


ENDPOINTS = ["search/suggestions", "search/categories", "search/pages"]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "query"),
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": 5}, "query"),
        ({"query": "x" * 201}, "query"),
        ({"query": "a\x00b"}, "query"),
        ({"query": "jac", "limit": 0}, "limit"),
        ({"query": "jac", "limit": 101}, "limit"),
        ({"query": "jac", "limit": "many"}, "limit"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field(shop: Shop, path, body, field):
    answer = shop.post(path, **body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"].startswith(f"{field}:")


def test_suggestions_take_at_most_20(shop: Shop):
    answer = shop.post("search/suggestions", query="jac", limit=21)
    assert answer.status_code == 400 and answer.json()["message"].startswith("limit:")
    answer = shop.post("search/pages", query="jac", offset=-1)
    assert answer.status_code == 400 and answer.json()["message"].startswith("offset:")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_wrong_key_is_refused(shop: Shop, path):
    answer = shop.client.post(f"/v2/{path}", json={"key": "nope", "query": "jac"})
    assert answer.status_code == 403


def test_a_query_without_words_finds_nothing(shop: Shop):
    shop.catalogue(*CLOTHES)
    shop.private("categories", categories=CATEGORIES)
    assert shop.suggest("!!! ") == [] and shop.categories("--") == [] and shop.pages("?") == []


def test_each_store_sees_only_its_own(shop: Shop, client: TestClient, services: Services):
    other = Shop(client, services, make_store(services, "Other shop"))
    other.catalogue(product(1, name="Jacquard scarf"))
    for visitor in ("v1", "v2", "v3"):
        other.search("jacquard scarf", visitor=visitor)
    other.private("categories", categories=[category("9", "Jackets elsewhere")])
    other.private("pages", pages=[page("x", "Jackets elsewhere", "jackets")])
    other.searched()
    assert other.suggest("jac") == ["jacquard scarf", "jacquard"]
    shop.catalogue(*CLOTHES)
    assert shop.suggest("jac") == ["jacket", "jacuzzi", "jackson"]
    assert shop.categories("jackets") == [] and shop.pages("jackets") == []
    assert other.categories("jackets") == ["9"] and other.pages("jackets") == ["x"]


def test_none_of_them_is_logged_as_a_search(shop: Shop, services: Services):
    shop.catalogue(*CLOTHES)
    shop.private("categories", categories=CATEGORIES)
    shop.private("pages", pages=PAGES)
    for path in ENDPOINTS:
        shop.ok(path, query="jacket", visitor="v1")
    shop.search("marker")  # logged after them: once it is written, theirs would be too
    shop.searched()
    assert [r["query"] for r in rows(services, "searches")] == ["marker"]
    assert {r["api"] for r in rows(services, "events")} <= {"search/search"}  # its render


@pytest.mark.parametrize("path", ENDPOINTS)
def test_served_to_any_page_of_a_store_without_a_list(shop: Shop, path):
    answer = shop.client.post(
        f"/v2/{path}",
        json={"key": shop.store.public_key, "query": "jac"},
        headers={"origin": "https://elsewhere.example"},
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "https://elsewhere.example"


# ---------------------------------------------------------------- the Searches report


def stats_searches(shop: Shop) -> dict[str, Any]:
    return shop.ok("stats/searches", private_key=shop.store.private_key)


def test_the_searches_report_counts_full_searches_not_predictive_prefixes(shop: Shop):
    shop.catalogue(*CLOTHES)
    for prefix in ("j", "ja", "jac", "jack", "jacke", "jacket", "jaxxzz"):
        shop.search(prefix, visitor="v1", api="predictive")
    shop.search("jacket", visitor="v1")
    shop.search("jaxxzz", visitor="v2")  # a real search without results
    shop.searched()
    report = stats_searches(shop)
    assert [(r["query"], r["searches"], r["zero_results"]) for r in report["top"]] == [
        ("jacket", 1, 0),
        ("jaxxzz", 1, 1),
    ]
    assert [(r["query"], r["searches"]) for r in report["zero"]] == [("jaxxzz", 1)]
    make_admin(shop.services, stores=[shop.store.public_key])
    assert sign_in(shop.client).status_code == 303
    html = shop.client.get(f"/dashboard/stores/{shop.store.id}/searches").text
    cells = set(re.findall(r"<td[^>]*>([^<]*)</td>", html))
    assert {"jacket", "jaxxzz"} <= cells
    assert not cells & {"j", "ja", "jac", "jack", "jacke"}


def test_a_click_after_a_live_search_is_not_a_click_through_of_an_earlier_search(
    shop: Shop, clock: Clock
):
    shop.catalogue(*CLOTHES)
    shop.search("jacket", visitor="v1")
    clock.advance(10)
    shop.ok("log/click", product="1", api="search/search", visitor="v1")  # from the results
    clock.advance(10)
    shop.search("sweater", visitor="v2")
    clock.advance(10)
    shop.search("jacuzzi", visitor="v2", api="predictive")  # then the live search box
    clock.advance(10)
    shop.ok("log/click", product="4", api="search/predictive", visitor="v2")
    shop.searched()
    top = {r["query"]: (r["searches"], r["clicks"]) for r in stats_searches(shop)["top"]}
    assert top == {"jacket": (1, 1), "sweater": (1, 0)}
