"""Attribution on hand-built histories, through the real endpoints, with exact numbers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from collector.services import Services
from collector.storage import reports
from collector.storage.attribution import attribute_orders

from .factories import START, Clock, StoreKeys, rows

DAY = 86_400
WINDOW_MS = 30 * DAY * 1000


class Shop:
    """A shopper's calls, as clerk.js would send them, on the test clock."""

    def __init__(self, client: TestClient, store: StoreKeys, clock: Clock) -> None:
        self.client, self.store, self.clock = client, store, clock

    def call(self, endpoint: str, visitor: str | None, **body: Any) -> dict[str, Any]:
        answer = self.client.post(
            f"/v2/{endpoint}",
            content=json.dumps({"key": self.store.public_key, "visitor": visitor, **body}),
            headers={"content-type": "text/plain"},
        )
        assert answer.status_code == 200, answer.text
        self.clock.advance(1)
        result: dict[str, Any] = answer.json()
        return result

    def click(self, visitor: str | None, product: str, api: str, labels: list[str]) -> None:
        self.call("log/click", visitor, product=product, api=api, labels=labels, n=1)

    def sale(
        self, visitor: str | None, sale: str, lines: list[tuple[str, int, float]], **more: Any
    ):
        products = [{"id": p, "quantity": q, "price": price} for p, q, price in lines]
        return self.call("log/sale", visitor, sale=sale, products=products, **more)


@pytest.fixture
def shop(client: TestClient, store: StoreKeys, clock: Clock) -> Shop:
    return Shop(client, store, clock)


def overview(services: Services, store: StoreKeys, *, window_days: int = 30) -> dict[str, Any]:
    return services.storage.run(
        reports.overview,
        store_id=store.id,
        start_ms=int(START * 1000) - 90 * DAY * 1000,
        end_ms=int(START * 1000) + 90 * DAY * 1000,
        window_ms=window_days * DAY * 1000,
    )


def widgets(services: Services, store: StoreKeys) -> list[dict[str, Any]]:
    return services.storage.run(
        reports.widgets,
        store_id=store.id,
        start_ms=int(START * 1000) - DAY * 1000,
        end_ms=int(START * 1000) + 90 * DAY * 1000,
        window_ms=WINDOW_MS,
    )


def numbers(view: dict[str, Any]) -> tuple[Any, ...]:
    return (
        view["orders"],
        view["revenue"],
        view["impacted_orders"],
        view["impacted_revenue"],
        view["attributed_revenue"],
    )


def test_click_then_order_inside_the_window_is_attributed_to_that_widget(shop, services, store):
    shop.click("v1", "p1", "recommendations/popular", ["Bestsellers"])
    shop.clock.advance(3 * DAY)
    shop.sale("v1", "o1", [("p1", 2, 10.0), ("p2", 1, 5.0)])
    view = overview(services, store)
    assert numbers(view) == (1, 25.0, 1, 25.0, 20.0)
    assert view["share"] == 1.0
    assert view["by_source"] == {
        "recommendations": {"orders": 1, "revenue": 20.0},
        "search": {"orders": 0, "revenue": 0.0},
    }
    [widget] = [w for w in widgets(services, store) if w["orders"]]
    assert (widget["api"], widget["labels"], widget["orders"], widget["revenue"]) == (
        "recommendations/popular",
        "Bestsellers",
        1,
        20.0,
    )


def test_click_outside_the_window_is_not_attributed_and_the_window_is_a_setting(
    shop, services, store
):
    shop.click("v1", "p1", "recommendations/popular", [])
    shop.clock.advance(31 * DAY)
    shop.sale("v1", "o1", [("p1", 1, 10.0)])
    assert numbers(overview(services, store)) == (1, 10.0, 0, 0.0, 0.0)
    assert numbers(overview(services, store, window_days=40)) == (1, 10.0, 1, 10.0, 10.0)


def test_a_click_after_the_order_or_on_another_product_or_outside_clerk_does_not_count(
    shop, services, store
):
    shop.click("v1", "p9", "recommendations/popular", [])  # another product
    shop.click("v1", "p1", "shop/menu", [])  # the shop's own link, not a Clerk widget
    shop.sale("v1", "o1", [("p1", 1, 10.0)])
    shop.click("v1", "p1", "recommendations/popular", [])  # after the order
    assert numbers(overview(services, store)) == (1, 10.0, 0, 0.0, 0.0)


def test_two_visitors_linked_by_email_share_their_clicks(shop, services, store):
    shop.click("phone", "p1", "recommendations/visitor/complementary", ["For you"])
    shop.call("log/email", "phone", email="ann@example.com")
    shop.clock.advance(DAY)
    shop.sale("laptop", "o1", [("p1", 1, 30.0)], email="ann@example.com")
    assert numbers(overview(services, store)) == (1, 30.0, 1, 30.0, 30.0)


def test_an_email_linked_after_the_order_still_joins_the_histories(shop, services, store):
    shop.click("phone", "p1", "search/search", [])
    shop.sale("laptop", "o1", [("p1", 1, 30.0)], email="ann@example.com")
    assert numbers(overview(services, store)) == (1, 30.0, 0, 0.0, 0.0)
    shop.call("log/email", "phone", email="ann@example.com")  # the phone signs in later
    view = overview(services, store)
    assert numbers(view) == (1, 30.0, 1, 30.0, 30.0)
    assert view["by_source"]["search"] == {"orders": 1, "revenue": 30.0}


def test_null_mode_orders_count_in_totals_and_are_never_attributed(shop, services, store):
    shop.click("v1", "p1", "recommendations/popular", [])
    shop.sale(None, "o1", [("p1", 1, 10.0)], email="ann@example.com")
    shop.sale("v1", "o2", [("p1", 1, 10.0)])
    view = overview(services, store)
    assert numbers(view) == (2, 20.0, 1, 10.0, 10.0)
    assert [row["visitor_mode"] for row in rows(services, "orders")].count("none") == 1
    assert {row["order_id"] for row in rows(services, "order_attribution")} == {"o2"}


def test_the_last_click_gets_the_credit(shop, services, store):
    shop.click("v1", "p1", "recommendations/popular", ["Home"])
    shop.click("v1", "p2", "search/predictive", [])
    shop.click("v1", "p1", "recommendations/complementary", ["Bought together"])
    shop.sale("v1", "o1", [("p1", 1, 10.0), ("p2", 1, 4.0), ("p3", 1, 1.0)])
    view = overview(services, store)
    assert numbers(view) == (1, 15.0, 1, 15.0, 14.0)
    # The order goes to the widget of the last click; each line's revenue to its own.
    assert view["by_source"] == {
        "recommendations": {"orders": 1, "revenue": 10.0},
        "search": {"orders": 0, "revenue": 4.0},
    }
    table = {
        (w["api"], w["labels"]): (w["clicks"], w["orders"], w["revenue"])
        for w in widgets(services, store)
    }
    assert table == {
        ("recommendations/popular", "Home"): (1, 0, 0.0),
        ("search/predictive", ""): (1, 0, 4.0),
        ("recommendations/complementary", "Bought together"): (1, 1, 10.0),
    }


def test_a_sale_logged_twice_counts_once(shop, services, store):
    shop.click("v1", "p1", "recommendations/popular", [])
    first = shop.sale("v1", "o1", [("p1", 1, 10.0)])
    again = shop.sale("v1", "o1", [("p1", 1, 10.0)])
    assert (first["recorded"], again["recorded"]) == (True, False)
    assert numbers(overview(services, store)) == (1, 10.0, 1, 10.0, 10.0)
    assert len(rows(services, "order_attribution")) == 1


def test_forgetting_the_shopper_keeps_the_anonymised_order_and_its_credit(shop, services, store):
    shop.click("v1", "p1", "recommendations/popular", [])
    shop.sale("v1", "o1", [("p1", 1, 10.0)], email="ann@example.com")
    before = overview(services, store)
    shop.call("privacy/forget", None, email="ann@example.com", private_key=store.private_key)
    [order] = rows(services, "orders")
    assert (order["visitor_id"], order["email"], order["session"]) == (None, None, None)
    assert rows(services, "events") == []
    assert numbers(overview(services, store)) == numbers(before) == (1, 10.0, 1, 10.0, 10.0)
    # The clicks are really gone: recomputing from what is left finds nothing.
    services.storage.run(attribute_orders, store_id=store.id)
    assert len(rows(services, "order_attribution")) == 0


def test_stores_never_see_each_others_clicks(shop, services, store, client):
    from .factories import make_store

    other = make_store(services, "Other shop")
    Shop(client, other, shop.clock).click("v1", "p1", "recommendations/popular", [])
    shop.sale("v1", "o1", [("p1", 1, 10.0)])
    assert numbers(overview(services, store)) == (1, 10.0, 0, 0.0, 0.0)
    assert numbers(overview(services, other)) == (0, 0.0, 0, 0.0, 0.0)


def test_migration_attributes_the_orders_of_an_existing_database(shop, services, store):
    from sqlalchemy import text

    shop.click("v1", "p1", "recommendations/popular", [])
    shop.sale("v1", "o1", [("p1", 1, 10.0)])
    with services.storage.engine.begin() as conn:  # back to the schema before version 6
        for table in ("order_attribution", "rollup_visits", "rollup_widgets", "rollup_products"):
            conn.execute(text(f"DROP TABLE {table}"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 6"))
    assert services.storage.migrate() == [6]
    assert [(r["order_id"], r["api"]) for r in rows(services, "order_attribution")] == [
        ("o1", "recommendations/popular")
    ]
