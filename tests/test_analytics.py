"""Dashboard figures: visits and conversion, roll-ups, searches, customers, purge, stats/*."""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import pytest

from collector import housekeeping
from collector.caps import LABEL_LENGTH_MAX, LABELS_MAX
from collector.storage import reports, rollups
from collector.storage.retention import purge
from collector.storage.tracking import record_event

from .factories import START, make_store, rows
from .test_attribution import DAY, Shop

DAY_MS = DAY * 1000
TODAY = datetime.datetime.fromtimestamp(START, datetime.UTC).date()


@pytest.fixture
def shop(client, store, clock) -> Shop:
    return Shop(client, store, clock)


def render(services, store, clock, visitor: str, api: str, labels: list[str]) -> None:
    services.storage.run(
        record_event,
        store_id=store.id,
        ts=int(clock() * 1000),
        kind="render",
        visitor_mode="persistent",
        visitor_id=visitor,
        session=None,
        api=api,
        labels=labels,
    )


def a_day_of_shopping(shop: Shop, services, store) -> None:
    """v1 clicks a recommendation and buys it; v2 only looks; v3 buys without Clerk."""
    render(services, store, shop.clock, "v1", "recommendations/popular", ["Bestsellers"])
    render(services, store, shop.clock, "v2", "recommendations/popular", ["Bestsellers"])
    shop.call("log/product", "v1", product="p1")
    shop.click("v1", "p1", "recommendations/popular", ["Bestsellers"])
    shop.sale("v1", "o1", [("p1", 2, 10.0)], email="ann@example.com")
    shop.call("log/product", "v2", product="p2")
    shop.call("log/product", "v3", product="p3")
    shop.sale("v3", "o2", [("p3", 1, 10.0)])
    shop.sale(None, "o3", [("p3", 1, 5.0)])


def report(services, store, name: str, days: int = 3, **more: Any) -> Any:
    start = int(START * 1000) - (int(START * 1000) % DAY_MS)
    kwargs: dict[str, Any] = {
        "store_id": store.id,
        "start_ms": start,
        "end_ms": start + days * DAY_MS,
    }
    if name in ("overview", "widgets", "products"):
        kwargs["window_ms"] = 30 * DAY_MS
    return services.storage.run(getattr(reports, name), **kwargs, **more)


def test_visits_conversion_and_order_value_of_clerk_users_and_others(shop, services, store):
    a_day_of_shopping(shop, services, store)
    view = report(services, store, "overview")
    assert (view["orders"], view["revenue"], view["impacted_orders"], view["impacted_revenue"]) == (
        3,
        35.0,
        1,
        20.0,
    )
    # Null-mode shoppers have no visitor id: they count in orders, not in visits.
    assert (view["visits"], view["clerk_visits"]) == (3, 1)
    assert (view["conversion_clerk"], view["conversion_other"]) == (1.0, 0.5)
    assert (view["aov_clerk"], view["aov_other"]) == (20.0, 10.0)
    assert [d["date"] for d in view["daily"]] == [
        (TODAY + datetime.timedelta(days=n)).isoformat() for n in range(3)
    ]
    assert view["daily"][0] == {
        "date": TODAY.isoformat(),
        "orders": 3,
        "revenue": 35.0,
        "impacted_orders": 1,
        "impacted_revenue": 20.0,
        "attributed_revenue": 20.0,
        "returned": 0.0,
    }


def test_rolled_up_days_give_the_same_figures_as_live_ones_and_outlive_the_events(
    shop, services, store, clock
):
    a_day_of_shopping(shop, services, store)
    live = {name: report(services, store, name) for name in ("overview", "widgets", "products")}
    clock.advance(2 * DAY)
    assert (
        services.storage.run(rollups.refresh_rollups, store_id=store.id, now_ms=int(clock() * 1000))
        == 2
    )
    # Final days are not computed again.
    assert (
        services.storage.run(rollups.refresh_rollups, store_id=store.id, now_ms=int(clock() * 1000))
        == 0
    )
    assert len(rows(services, "rollup_visits")) == 2
    assert {name: report(services, store, name) for name in live} == live
    # Retention removes the raw events; the day's figures stay.
    counts = purge(services.storage, before_ms=int(clock() * 1000), now_ms=int(clock() * 1000))
    assert counts["events"] == 6 and rows(services, "events") == []
    assert counts["orders_anonymised"] == 2  # the null-mode order had nobody to forget
    assert len(rows(services, "orders")) == 3
    assert {name: report(services, store, name) for name in live} == live


def test_widgets_and_products_tables(shop, services, store):
    a_day_of_shopping(shop, services, store)
    [widget] = report(services, store, "widgets")
    assert widget == {
        "api": "recommendations/popular",
        "labels": "Bestsellers",
        "renders": 2,
        "clicks": 1,
        "ctr": 0.5,
        "orders": 1,
        "revenue": 20.0,
    }
    table = {row["product_id"]: row for row in report(services, store, "products")}
    assert table["p1"] == {
        "product_id": "p1",
        "name": "",
        "views": 1,
        "clicks": 1,
        "units": 2,
        "revenue": 20.0,
        "attributed_revenue": 20.0,
    }
    assert (table["p3"]["units"], table["p3"]["revenue"], table["p3"]["attributed_revenue"]) == (
        2,
        15.0,
        0.0,
    )
    assert list(table) == ["p1", "p3", "p2"]  # by revenue, then clicks and views


def test_searches_top_zero_results_and_click_through(shop, services, store, client):
    from .factories import product

    client.post(
        "/v2/products",
        json={
            "key": store.public_key,
            "private_key": store.private_key,
            "products": [product("p1", name="Rain jacket"), product("p2", name="Wool jacket")],
        },
    ).raise_for_status()
    shop.call("search/search", "v1", query="Jacket")
    shop.click("v1", "p1", "search/search", [])
    shop.call("search/search", "v2", query="jacket")
    shop.call("search/search", "v2", query="zzzz")
    shop.call("search/search", None, query="zzzz")
    # The searches log is written after the answer (not waited for): let it land.
    deadline = time.monotonic() + 10
    while len(rows(services, "searches")) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    found = report(services, store, "searches")
    assert found["top"] == [
        {"query": "Jacket", "searches": 2, "zero_results": 0, "clicks": 1, "ctr": 0.5},
        {"query": "zzzz", "searches": 2, "zero_results": 2, "clicks": 0, "ctr": 0.0},
    ]
    assert [(r["query"], r["searches"]) for r in found["zero"]] == [("zzzz", 2)]


def test_customers_with_their_visitor_ids_and_orders(shop, services, store):
    shop.call("log/email", "phone", email="ann@example.com")
    shop.sale("laptop", "o1", [("p1", 1, 30.0)], email="ann@example.com")
    shop.sale("v9", "o2", [("p1", 1, 5.0)], email="bob@example.com")
    found = services.storage.run(reports.customers, store_id=store.id, query="ANN")
    assert [(c["email"], c["visitor_ids"], c["orders"], c["revenue"]) for c in found] == [
        ("ann@example.com", ["phone", "laptop"], 1, 30.0)
    ]
    everyone = services.storage.run(reports.customers, store_id=store.id)
    assert [c["email"] for c in everyone] == ["bob@example.com", "ann@example.com"]
    log = services.storage.run(reports.visitor_log, store_id=store.id, visitor_id="phone")
    assert [e["kind"] for e in log] == []  # log/email is a link, not an event
    shop.call("log/product", "phone", product="p1")
    log = services.storage.run(reports.visitor_log, store_id=store.id, visitor_id="phone")
    assert [(e["kind"], e["product_id"]) for e in log] == [("view", "p1")]


def test_purge_dry_run_counts_and_deletes_nothing(shop, services, store, clock):
    a_day_of_shopping(shop, services, store)
    now = int(clock() * 1000) + DAY_MS
    counts = purge(services.storage, before_ms=now, now_ms=now, dry_run=True)
    assert counts == {
        "events": 6,
        "event_partitions_dropped": 0,
        "searches": 0,
        "baskets": 0,
        "email_links": 1,
        "orders_anonymised": 2,
        "customers": 0,
    }
    assert len(rows(services, "events")) == 6
    assert [o["email"] for o in rows(services, "orders") if o["id"] == "o1"] == ["ann@example.com"]


def test_purge_keeps_what_is_inside_the_retention_period(shop, services, store, clock):
    shop.call("log/product", "v1", product="p1")
    clock.advance(10 * DAY)
    shop.call("log/product", "v1", product="p2")
    cutoff = int(clock() * 1000) - 5 * DAY_MS
    purge(services.storage, before_ms=cutoff, now_ms=int(clock() * 1000))
    assert [e["product_id"] for e in rows(services, "events")] == ["p2"]


# ---------------------------------------------------------------- stats/* endpoints


def stats(client, store, name: str, **params: Any):
    """By POST: a private key never travels in a query string."""
    return client.post(
        f"/v2/stats/{name}",
        json={"key": store.public_key, "private_key": store.private_key, **params},
    )


def test_stats_endpoints_answer_the_dashboard_queries(shop, services, store, client):
    a_day_of_shopping(shop, services, store)
    day = TODAY.isoformat()
    overview = stats(client, store, "overview", **{"from": day, "to": day}).json()
    assert overview["status"] == "ok"
    assert (overview["orders"], overview["revenue"], overview["impacted_orders"]) == (3, 35.0, 1)
    assert overview["attributed_revenue"] == 20.0
    assert overview["by_source"]["recommendations"] == {"orders": 1, "revenue": 20.0}
    assert len(overview["daily"]) == 1
    widgets = stats(client, store, "widgets", **{"from": day, "to": day}).json()
    assert widgets["rows"][0]["clicks"] == 1
    products = stats(client, store, "products", **{"from": day, "to": day, "limit": 1}).json()
    assert [r["product_id"] for r in products["rows"]] == ["p1"]
    assert stats(client, store, "searches").json()["top"] == []
    customers = stats(client, store, "customers").json()
    assert [c["email"] for c in customers["rows"]] == ["ann@example.com"]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"private_key": None}, 403, "private_key"),
        ({"private_key": "sk_wrong"}, 403, "private_key"),
        ({"from": "2026-13-01"}, 400, "from: 2026-13-01 is not a calendar date"),
        ({"to": "yesterday"}, 400, "to: must be a date as YYYY-MM-DD"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, 400, "from: 2026-05-02 is after to"),
        ({"from": "1990-01-01", "to": "2026-05-01"}, 400, "longer than"),
        ({"limit": 0}, 400, "limit: must be between"),
        ({"limit": "ten"}, 400, "limit: must be an integer"),
    ],
)
def test_stats_refuse_bad_requests_naming_the_problem(client, store, params, status, message):
    query = {"key": store.public_key, "private_key": store.private_key, **params}
    answer = client.post(
        "/v2/stats/products", json={k: v for k, v in query.items() if v is not None}
    )
    assert answer.status_code == status, answer.text
    assert message in answer.json()["message"]
    assert "access-control-allow-origin" not in answer.headers


def test_stats_never_mix_stores(shop, services, store, client):
    a_day_of_shopping(shop, services, store)
    other = make_store(services, "Other shop")
    answer = stats(client, other, "overview").json()
    assert (answer["orders"], answer["visits"]) == (0, 0)
    assert stats(client, other, "customers").json()["rows"] == []
    # The other store's private key does not open this store.
    mixed = client.post(
        "/v2/stats/overview", json={"key": store.public_key, "private_key": other.private_key}
    )
    assert mixed.status_code == 403


def test_stats_default_to_the_last_30_days(client, store, clock):
    answer = stats(client, store, "overview").json()
    assert len(answer["daily"]) == 30
    assert (
        answer["daily"][-1]["date"]
        == datetime.datetime.fromtimestamp(clock(), datetime.UTC).date().isoformat()
    )


def test_the_collectors_housekeeping_rolls_up_each_finished_day(shop, services, store, clock):
    a_day_of_shopping(shop, services, store)
    live = report(services, store, "overview")
    clock.advance(DAY)
    housekeeping.roll_up(services)  # what the app runs every minute
    assert [r["day"] for r in rows(services, "rollup_visits")] == [int(START) // DAY]
    assert report(services, store, "overview") == live
    housekeeping.roll_up(services)
    assert len(rows(services, "rollup_visits")) == 1


# ---------------------------------------------------------------- the largest labels


def longest_labels() -> list[str]:
    """The largest labels a call may send: LABELS_MAX labels of LABEL_LENGTH_MAX characters,
    outside the BMP (JSON writes each as a 12-byte surrogate-pair escape) and varied, so
    that no compression could fit them in an index row (PostgreSQL's limit is 2,704 bytes)."""
    return [
        "".join(chr(0x20000 + (i * 7919 + j * 104_729) % 0xA000) for j in range(LABEL_LENGTH_MAX))
        for i in range(LABELS_MAX)
    ]


def roll_up_by_housekeeping(services, now_ms: int) -> None:
    housekeeping.roll_up(services)


def roll_up_by_purge(services, now_ms: int) -> None:
    purge(services.storage, before_ms=now_ms, now_ms=now_ms)


@pytest.mark.parametrize("roll_up", [roll_up_by_housekeeping, roll_up_by_purge])
def test_the_longest_labels_roll_up_for_every_store_and_show_on_the_dashboard(
    shop, services, store, clock, client, roll_up
):
    """The roll-ups are keyed by a hash of the labels: the longest labels once stopped the
    day's roll-ups on PostgreSQL ("index row size exceeds maximum") for every later store."""
    from .test_dashboard import make_admin, sign_in
    from .test_recommendations import wait_rows

    big = longest_labels()
    assert len(json.dumps(big)) > 7000
    shop.call("recommendations/popular", "v1", labels=big)
    assert wait_rows(services, "render")
    shop.click("v1", "p1", "recommendations/popular", big)
    later = make_store(services, "Later shop")  # rolled up after the first store
    Shop(client, later, clock).click("v2", "p2", "recommendations/new", ["Home"])
    clock.advance(DAY)

    roll_up(services, int(clock() * 1000))

    day = int(START) // DAY
    assert sorted((r["store_id"], r["day"]) for r in rows(services, "rollup_visits")) == [
        (store.id, day),
        (later.id, day),
    ]
    assert report(services, later, "widgets")[0]["labels"] == "Home"
    [widget] = report(services, store, "widgets")
    assert (widget["labels"], widget["renders"], widget["clicks"]) == (", ".join(big), 1, 1)
    make_admin(services, stores=[store.public_key])
    assert sign_in(client).status_code == 303
    page = client.get(f"/dashboard/stores/{store.id}/widgets", params={"from": TODAY.isoformat()})
    assert all(label in page.text for label in big)
