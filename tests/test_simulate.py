"""clerk-collector simulate: synthetic traffic through the collector's own API."""

from __future__ import annotations

import dataclasses
import json
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from collector.cli import main
from collector.services import Services
from collector.settings import Settings
from collector.simulate import BadArguments, SimulationError, simulate
from collector.simulate import visits as simulation
from collector.storage.catalogue import upsert_products
from demo_shop import contents as demo_contents
from demo_shop.app import create_app as create_shop
from demo_shop.catalogue import generate_catalogue
from demo_shop.settings import Settings as ShopSettings

from .factories import START, StoreKeys, make_store

DAY = 86_400
NOW = START + 10 * DAY  # the simulated "now": 2026-06-07 01:00 UTC
APIS = {
    "recommendations/popular",
    "recommendations/complementary",
    "recommendations/substituting",
    "recommendations/category/popular",
    "recommendations/trending",
    "recommendations/visitor/history",
    "recommendations/visitor/complementary",
    "search/search",
    "search/predictive",
}


def all_rows(services: Services, sql: str, **params: Any) -> list[dict[str, Any]]:
    with services.storage.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def stocked_store(services: Services, name: str = "Sim shop") -> StoreKeys:
    store = make_store(services, name)
    items = generate_catalogue("https://shop.example", n=80)
    services.storage.run(upsert_products, store_id=store.id, items=items, now=0)
    return store


def counts(services: Services, store_id: int) -> dict[str, Any]:
    """What a run stored, counted without the ids a run chooses at random."""
    where = {"s": store_id}
    return {
        "events": all_rows(
            services,
            "SELECT kind, visitor_mode, COUNT(*) AS n FROM events WHERE store_id = :s "
            "GROUP BY kind, visitor_mode ORDER BY kind, visitor_mode",
            **where,
        ),
        "orders": all_rows(
            services,
            "SELECT visitor_mode, COUNT(*) AS n, COUNT(email) AS emails FROM orders "
            "WHERE store_id = :s GROUP BY visitor_mode ORDER BY visitor_mode",
            **where,
        ),
        "searches": all_rows(
            services,
            "SELECT api, query, hits FROM searches WHERE store_id = :s ORDER BY ts, api, query",
            **where,
        ),
    }


@pytest.fixture
def store(services: Services) -> StoreKeys:
    return stocked_store(services)


def test_a_small_simulation_stores_believable_traffic(settings: Settings, services, store):
    result = simulate(settings, store_key=store.public_key, visitors=20, days=3, seed=4, now=NOW)
    events = all_rows(services, "SELECT * FROM events WHERE store_id = :s", s=store.id)

    # Every row is the collector's own, through its API; the summary counts them.
    assert result.visitors == 20 and result.visits >= 20
    assert len(events) == result.events
    assert result.requests > result.events  # sales and email links are not events
    assert "20 visitors" in result.summary() and "requests/s" in result.summary()

    # All three visitor modes, the way the collector stores each.
    by_mode: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_mode.setdefault(event["visitor_mode"], []).append(event)
    assert set(by_mode) == {"auto", "persistent", "none"}
    assert all(e["visitor_id"].startswith("c-") for e in by_mode["auto"])
    assert all(len(e["visitor_id"]) == 22 for e in by_mode["persistent"])
    assert all(e["session"] for e in by_mode["auto"] + by_mode["persistent"])
    assert all(e["visitor_id"] is None and e["session"] is None for e in by_mode["none"])

    # Spread over the simulated days, all in the past.
    stamps = [e["ts"] for e in events]
    assert (NOW - 3 * DAY) * 1000 <= min(stamps) and max(stamps) < NOW * 1000
    assert len({ts // (DAY * 1000) for ts in stamps}) >= 3
    assert len({ts // 3_600_000 % 24 for ts in stamps}) >= 8  # over the hours of the days

    kinds = {e["kind"] for e in events}
    assert kinds == {"view", "click", "render", "basket"}
    clicks = [e for e in events if e["kind"] == "click"]
    assert all(c["api"] in APIS and c["position"] >= 1 for c in clicks)
    assert all(json.loads(c["labels"]) for c in clicks)
    assert {c["api"].split("/")[0] for c in clicks} == {"recommendations", "search"}

    # Orders with catalogue prices; nothing identifying in null mode.
    prices = {p["id"]: p["price"] for p in generate_catalogue("https://shop.example", n=80)}
    orders = all_rows(services, "SELECT * FROM orders WHERE store_id = :s", s=store.id)
    lines = all_rows(services, "SELECT * FROM order_lines WHERE store_id = :s", s=store.id)
    assert len(orders) == result.orders > 0
    assert all(line["price"] == prices[line["product_id"]] for line in lines)
    for order in orders:
        mine = [line for line in lines if line["order_id"] == order["id"]]
        assert mine and order["total"] == round(sum(x["quantity"] * x["price"] for x in mine), 2)
        if order["visitor_mode"] == "none":
            assert order["visitor_id"] is order["session"] is order["email"] is None
    assert any(order["email"] for order in orders)
    assert all_rows(services, "SELECT * FROM email_links WHERE store_id = :s", s=store.id)

    # Searches are logged, some finding nothing; null-mode ones without an id.
    searches = all_rows(services, "SELECT * FROM searches WHERE store_id = :s", s=store.id)
    assert len(searches) == result.searches > 0
    assert {s["api"] for s in searches} == {"search/search", "search/predictive"}
    assert any(s["hits"] == 0 for s in searches) and any(s["hits"] > 0 for s in searches)
    assert all(s["visitor_id"] is None for s in searches if s["visitor_mode"] == "none")

    # No salt of a day that is over is left behind.
    assert not all_rows(services, "SELECT * FROM salts WHERE expires_at <= :now", now=NOW * 1000)


def test_the_same_seed_gives_the_same_traffic(settings: Settings, services, store):
    other = stocked_store(services, "Twin shop")
    for keys in (store, other):
        simulate(settings, store_key=keys.public_key, visitors=8, days=2, seed=9, now=NOW)
    first, second = counts(services, store.id), counts(services, other.id)
    assert first == second
    assert first["events"] and first["searches"]


@pytest.mark.parametrize(
    ("visitors", "days", "key", "message"),
    [
        (0, 3, None, "--visitors"),
        (5, 0, None, "--days"),
        (5, 3, "pk_nope", "no store has the public key"),
    ],
)
def test_bad_arguments_fail_cleanly_and_store_nothing(
    settings: Settings, services, store, visitors, days, key, message
):
    with pytest.raises(BadArguments, match=message):
        simulate(settings, store_key=key or store.public_key, visitors=visitors, days=days)
    for table in ("events", "orders", "searches", "email_links", "baskets"):
        assert not all_rows(services, f"SELECT * FROM {table}")


def test_a_store_without_products_is_refused(settings: Settings, services):
    empty = make_store(services, "Empty shop")
    with pytest.raises(BadArguments, match="no products"):
        simulate(settings, store_key=empty.public_key, visitors=5, days=2)


def test_a_refused_request_fails_the_run(settings: Settings, services, store, monkeypatch):
    broken = (("recommendations/popular", ("Home", "Bestsellers"), 1000),)  # limit: 1..100
    monkeypatch.setattr(simulation, "HOME_WIDGETS", broken)
    with pytest.raises(SimulationError, match=r"recommendations/popular answered HTTP 400.*limit"):
        simulate(settings, store_key=store.public_key, visitors=10, days=2, seed=1, now=NOW)


# ---------------------------------------------------------------- the command line


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


def test_cli_simulates_and_prints_a_summary(db, services, store, capsys):
    args = ["simulate", "--visitors", "4", "--days", "2", "--store", store.public_key]
    assert main([*args, "--seed", "3"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("simulated 4 visitors") and "orders" in out and "requests/s" in out
    assert "visits" in err  # progress, a line per simulated day
    assert all_rows(services, "SELECT * FROM events WHERE store_id = :s", s=store.id)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--visitors", "0", "--days", "2"], "--visitors must be from 1"),
        (["--visitors", "5", "--days", "0"], "--days must be from 1"),
    ],
)
def test_cli_refuses_bad_numbers(db, services, store, capsys, args, message):
    assert main(["simulate", *args, "--store", store.public_key]) == 2
    assert message in capsys.readouterr().err
    assert not all_rows(services, "SELECT * FROM events")


def test_cli_refuses_an_unknown_store(db, services, capsys):
    assert main(["simulate", "--visitors", "5", "--days", "2", "--store", "pk_nope"]) == 2
    assert "no store has the public key 'pk_nope'" in capsys.readouterr().err
    assert not all_rows(services, "SELECT * FROM events")


def test_cli_reports_a_refused_request(db, services, store, capsys, monkeypatch):
    broken = (("recommendations/popular", ("Home", "Bestsellers"), 1000),)
    monkeypatch.setattr(simulation, "HOME_WIDGETS", broken)
    args = ["simulate", "--visitors", "8", "--days", "2", "--store", store.public_key]
    assert main(args) == 1
    assert "answered HTTP 400" in capsys.readouterr().err


def test_a_simulation_is_not_cut_short_by_rate_limits(settings: Settings, services, store):
    """The operator's own traffic, hundreds of requests at once: a collector's limits (here
    far below the defaults) are not applied to it."""
    tight = dataclasses.replace(settings, rate_limit_client="5/minute", rate_limit_store="5/minute")
    result = simulate(tight, store_key=store.public_key, visitors=6, days=1, seed=2, now=NOW)
    assert result.requests > 10


# ---------------------------------------------------------------- the shop's own widgets


class _Widgets(HTMLParser):
    """The Clerk widgets a page renders on load, in the order of its markup: (api, labels,
    limit), from its data-api widgets' attributes, and for its `@id` contents from the
    content the demo seeds (exit intent waits for the pointer to leave: not on load)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, tuple[str, ...], int]] = []
        self.contents = demo_contents.by_id()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "clerk" not in (a.get("class") or "").split() or a.get("data-exit-intent"):
            return
        template = a.get("data-template") or ""
        if template.startswith("@"):
            content = self.contents[template[1:]]
            self.found.append((content["api"], tuple(content["labels"]), content["limit"]))
        elif a.get("data-limit"):
            labels = tuple(json.loads(a.get("data-labels") or "[]"))
            self.found.append((str(a["data-api"]), labels, int(str(a["data-limit"]))))


def test_the_simulated_pages_ask_for_the_widgets_the_shop_renders():
    """Each page simulate walks calls what the demo shop's markup for that page calls (api,
    labels and limit, in the page's order), so the dashboard shows the shop's own widgets."""
    shop = TestClient(create_shop(ShopSettings(public_key="pk_x", catalogue_size=40)))
    header = [simulation.HEADER_SEARCH]
    walked = {
        "/": header + list(simulation.HOME_WIDGETS),
        "/category/gifts": header + [simulation.CATEGORY_POPULAR, simulation.CATEGORY_TRENDING],
        "/product/7": header + [simulation.PRODUCT_ALTERNATIVES, simulation.PRODUCT_OTHERS_BOUGHT],
        "/search?q=mug": header + [simulation.SEARCH_RESULTS, simulation.SEARCH_BESTSELLERS],
    }
    for path, specs in walked.items():
        page = shop.get(path)
        assert page.status_code == 200, path
        parser = _Widgets()
        parser.feed(page.text)
        assert parser.found == [tuple(spec[:3]) for spec in specs], path
