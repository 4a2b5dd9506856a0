"""log/returned (private key) and discount lines: what they do to revenue and attribution.

v1 clicks p1 in a widget and orders two of it (10 each) with one p2 (5): revenue 25,
attributed 20. Returns take units off; discount lines lower the order's total and are
never credited to a widget.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from typing import Any

import pytest

from collector.storage import rollups

from .factories import StoreKeys, rows
from .test_analytics import report
from .test_attribution import DAY, Shop
from .test_dashboard import make_admin, sign_in

WIDGET = ("recommendations/popular", ["Bestsellers"])


@pytest.fixture
def shop(client, store, clock) -> Shop:
    return Shop(client, store, clock)


def returned(client, store: StoreKeys, *, private: bool = True, **args: Any):
    body: dict[str, Any] = {"key": store.public_key, **args}
    if private:
        body["private_key"] = store.private_key
    return client.post(
        "/v2/log/returned", content=json.dumps(body), headers={"content-type": "text/plain"}
    )


def a_clerk_order(shop: Shop) -> None:
    shop.click("v1", "p1", *WIDGET)
    shop.sale("v1", "o1", [("p1", 2, 10.0), ("p2", 1, 5.0)])


def figures(services, store) -> tuple[Any, ...]:
    view = report(services, store, "overview")
    return (
        view["orders"],
        view["revenue"],
        view["returned"],
        view["impacted_orders"],
        view["impacted_revenue"],
        view["attributed_revenue"],
        view["by_source"]["recommendations"]["revenue"],
    )


def widget_revenue(services, store) -> float:
    [row] = [r for r in report(services, store, "widgets") if r["api"] == WIDGET[0]]
    return float(row["revenue"])


def product_row(services, store, product_id: str) -> dict[str, Any]:
    [row] = [r for r in report(services, store, "products") if r["product_id"] == product_id]
    return row


# ---------------------------------------------------------------- returns


def test_a_return_lowers_revenue_and_attributed_revenue_by_its_amount(
    shop, client, services, store
):
    a_clerk_order(shop)
    assert figures(services, store) == (1, 25.0, 0.0, 1, 25.0, 20.0, 20.0)
    answer = returned(client, store, order="o1", product="p1", quantity=1)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "status": "ok",
        "recorded": True,
        "order_known": True,
        "applied": 1,
        "order_total": 15.0,
        "order_returned": 10.0,
    }
    assert figures(services, store) == (1, 15.0, 10.0, 1, 15.0, 10.0, 10.0)
    assert widget_revenue(services, store) == 10.0
    p1 = product_row(services, store, "p1")
    assert (p1["units"], p1["revenue"], p1["attributed_revenue"]) == (1, 10.0, 10.0)
    # The same figures in stats/overview (what BI tools read).
    stats = client.post(
        "/v2/stats/overview", json={"key": store.public_key, "private_key": store.private_key}
    ).json()
    assert (stats["revenue"], stats["returned"], stats["attributed_revenue"]) == (15.0, 10.0, 10.0)


def test_a_repeated_return_counts_once_and_a_larger_one_replaces_it(shop, client, services, store):
    a_clerk_order(shop)
    for _ in range(3):
        assert returned(client, store, order="o1", product="p1", quantity=1).status_code == 200
    assert figures(services, store) == (1, 15.0, 10.0, 1, 15.0, 10.0, 10.0)
    assert len(rows(services, "order_returns")) == 1
    # More than the order holds: both units, no more; the Clerk line is gone whole, so
    # the order is no longer one Clerk impacted.
    answer = returned(client, store, order="o1", product="p1", quantity=5)
    assert answer.json()["applied"] == 2
    assert figures(services, store) == (1, 5.0, 20.0, 0, 0.0, 0.0, 0.0)
    # Quantity 0 takes the return back.
    assert returned(client, store, order="o1", product="p1", quantity=0).status_code == 200
    assert figures(services, store) == (1, 25.0, 0.0, 1, 25.0, 20.0, 20.0)


def test_clerks_own_arguments_and_sale_as_the_order(shop, client, services, store):
    a_clerk_order(shop)
    # As Clerk's Magento 2 plugin sends it, with integers for ids, and `sale` as well.
    assert (
        returned(client, store, order=1, product="p9", quantity="1").json()["order_known"] is False
    )
    assert returned(client, store, sale="o1", product="p2").json()["applied"] == 1
    assert figures(services, store)[:3] == (1, 20.0, 5.0)
    assert returned(client, store, sale="o1", order="o1", product="p2").status_code == 200


def test_a_return_before_its_order_is_kept_and_applied_when_the_order_arrives(
    shop, client, services, store
):
    answer = returned(client, store, order="o1", product="p1", quantity=1)
    assert answer.status_code == 200
    assert answer.json()["order_known"] is False and answer.json()["applied"] == 0
    a_clerk_order(shop)
    assert figures(services, store) == (1, 15.0, 10.0, 1, 15.0, 10.0, 10.0)


def test_a_return_survives_the_shops_own_record_replacing_the_browsers(
    shop, client, services, store
):
    a_clerk_order(shop)
    returned(client, store, order="o1", product="p1", quantity=1)
    lines = [{"id": "p1", "quantity": 2, "price": 10.0}, {"id": "p2", "quantity": 1, "price": 5.0}]
    body = {"key": store.public_key, "private_key": store.private_key, "visitor": "v1"}
    answer = client.post("/v2/log/sale", json={**body, "sale": "o1", "products": lines})
    assert answer.json()["replaced"] is True
    assert figures(services, store) == (1, 15.0, 10.0, 1, 15.0, 10.0, 10.0)


def test_a_return_on_a_rolled_up_day_lowers_its_order_value(shop, client, services, store, clock):
    a_clerk_order(shop)
    shop.sale("v3", "o2", [("p3", 1, 10.0)])
    before = report(services, store, "overview")
    assert (before["aov_clerk"], before["aov_other"]) == (25.0, 10.0)
    clock.advance(2 * DAY)
    now = int(clock() * 1000)
    assert services.storage.run(rollups.refresh_rollups, store_id=store.id, now_ms=now) >= 1
    returned(client, store, order="o1", product="p1", quantity=1)
    returned(client, store, order="o2", product="p3", quantity=1)
    after = report(services, store, "overview")
    assert (after["aov_clerk"], after["aov_other"], after["revenue"]) == (15.0, 0.0, 15.0)


def _roll_up_read(services, store, day: int) -> tuple[Any, Any]:
    """What the housekeeping reads of a day before the write that saves its roll-up."""
    storage = services.storage
    visitors = storage.read_sync(rollups.day_visitors, store_id=store.id, day=day)
    parts = storage.read_sync(
        rollups.day_rollup, store_id=store.id, day=day, parts=rollups.LATER_PARTS
    )
    return visitors, parts


def test_a_return_between_a_days_roll_up_read_and_its_save_is_in_the_saved_figures(
    shop, client, services, store, clock
):
    a_clerk_order(shop)
    day = rollups.day_of(int(clock() * 1000))
    clock.advance(2 * DAY)
    now = int(clock() * 1000)
    visitors, parts = _roll_up_read(services, store, day)
    returned(client, store, order="o1", product="p1", quantity=1)  # 10 of the 25 back
    saved = services.storage.run(
        rollups.save_rollup, store_id=store.id, day=day, rows=parts, now_ms=now, visitors=visitors
    )
    assert saved
    stored = rows(services, "rollup_visits")
    assert [(r["day"], r["orders_clerk"], r["revenue_clerk"]) for r in stored] == [(day, 1, 15.0)]
    assert report(services, store, "overview")["aov_clerk"] == 15.0


@pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_return_waits_for_a_roll_up_being_saved_and_then_takes_its_amount_off(
    shop, client, services, store, clock
):
    """PostgreSQL: a return and a roll-up save of its day in two sessions at once; the
    return's take-back waits for the save's lock, then finds the saved row."""
    a_clerk_order(shop)
    day = rollups.day_of(int(clock() * 1000))
    clock.advance(2 * DAY)
    now = int(clock() * 1000)
    visitors, parts = _roll_up_read(services, store, day)
    done = threading.Event()
    with services.storage.engine.connect() as saving:
        with saving.begin():
            assert rollups.save_rollup(
                saving, store_id=store.id, day=day, rows=parts, now_ms=now, visitors=visitors
            )
            answer: list[Any] = []
            thread = threading.Thread(
                target=lambda: (
                    answer.append(returned(client, store, order="o1", product="p1", quantity=1)),
                    done.set(),
                )
            )
            thread.start()
            assert not done.wait(1.0)  # the return waits for the roll-up's lock
        thread.join(30)
    assert done.is_set() and answer[0].status_code == 200
    stored = rows(services, "rollup_visits")
    assert [(r["day"], r["orders_clerk"], r["revenue_clerk"]) for r in stored] == [(day, 1, 15.0)]


def test_the_dashboard_overview_shows_the_returns(shop, client, services, store):
    a_clerk_order(shop)
    returned(client, store, order="o1", product="p1", quantity=1)
    make_admin(services, stores=[store.public_key])
    assert sign_in(client).status_code == 303
    page = client.get(f"/dashboard/stores/{store.id}/overview")
    assert page.status_code == 200
    assert "Returned" in page.text and "10.00" in page.text
    summary = client.get(f"/dashboard/stores/{store.id}/overview.csv?table=summary")
    head, values = list(csv.reader(io.StringIO(summary.text)))[:2]
    shown = dict(zip(head, values, strict=True))
    assert (shown["revenue"], shown["returned"], shown["attributed_revenue"]) == (
        "15.0",
        "10.0",
        "10.0",
    )


BAD = [
    ({"order": "o1"}, 400, "product"),
    ({"product": "p1"}, 400, "order"),
    ({"order": "o1", "product": "p1", "quantity": "two"}, 400, "quantity"),
    ({"order": "o1", "product": "p1", "quantity": -1}, 400, "quantity"),
    ({"order": "o1", "product": "p1", "quantity": [1]}, 400, "quantity"),
    ({"order": "o1", "sale": "o2", "product": "p1"}, 400, "sale"),
    ({"order": ["o1"], "product": "p1"}, 400, "order"),
    ({"order": "o1", "product": "p1"}, 403, "private_key"),  # the public key alone
]


@pytest.mark.parametrize("args,status,field", BAD)
def test_a_bad_return_is_refused_naming_the_field_and_stores_nothing(
    shop, client, services, store, args, status, field
):
    a_clerk_order(shop)
    answer = returned(client, store, private=status != 403, **args)
    assert answer.status_code == status, answer.text
    assert answer.json()["message"].startswith(f"{field}:")
    assert rows(services, "order_returns") == []
    assert figures(services, store) == (1, 25.0, 0.0, 1, 25.0, 20.0, 20.0)


# ---------------------------------------------------------------- discount lines


def test_a_discount_line_lowers_the_order_and_its_attributed_lines_alike(
    shop, client, services, store
):
    shop.click("v1", "p1", *WIDGET)
    answer = shop.sale("v1", "o1", [("p1", 2, 10.0), ("p2", 1, 20.0), ("coupon", 1, -8.0)])
    assert answer["recorded"] is True
    assert [r["price"] for r in rows(services, "order_lines")] == [10.0, 20.0, -8.0]
    # Revenue as the shop sent it (40 - 8); p1's line is half the goods, so half of it.
    assert figures(services, store) == (1, 32.0, 0.0, 1, 32.0, 16.0, 16.0)
    assert widget_revenue(services, store) == 16.0
    # A discount is no product sold: no row of its own on the products page.
    assert [r for r in report(services, store, "products") if r["product_id"] == "coupon"] == []


def test_a_discount_line_is_never_credited_to_a_widget(shop, services, store):
    # A click on the coupon's id (anyone can log one) does not make the order Clerk's.
    shop.click("v1", "coupon", *WIDGET)
    shop.sale("v1", "o1", [("p2", 1, 20.0), ("coupon", 1, -5.0)])
    assert figures(services, store) == (1, 15.0, 0.0, 0, 0.0, 0.0, 0.0)


def test_an_order_discounted_below_nothing_counts_for_nothing_not_less(shop, services, store):
    shop.click("v1", "p1", *WIDGET)
    shop.sale("v1", "o1", [("p1", 1, 10.0), ("gift-card", 1, -50.0)])
    shop.sale("v2", "o2", [("p3", 1, 30.0)])
    view = report(services, store, "overview")
    assert (view["orders"], view["revenue"], view["attributed_revenue"]) == (2, 30.0, 0.0)
    assert view["share"] == 0.0 and view["impacted_revenue"] == 0.0
    assert all(day["revenue"] >= 0 for day in view["daily"])


def test_a_return_of_a_discounted_order_keeps_the_figures_consistent(shop, client, services, store):
    shop.click("v1", "p1", *WIDGET)
    shop.sale("v1", "o1", [("p1", 2, 10.0), ("p2", 1, 20.0), ("coupon", 1, -8.0)])
    # Returning the coupon changes nothing: it is no product that comes back.
    assert returned(client, store, order="o1", product="coupon").json()["applied"] == 0
    returned(client, store, order="o1", product="p2", quantity=1)
    view = report(services, store, "overview")
    # Goods 20 less the 8 discount: 12, all of it p1's now.
    assert (view["revenue"], view["returned"], view["attributed_revenue"]) == (12.0, 20.0, 12.0)
    assert view["attributed_revenue"] <= view["impacted_revenue"] <= view["revenue"]
