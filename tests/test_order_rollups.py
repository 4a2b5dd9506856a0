"""The orders' daily roll-ups (storage/order_rollups.py): the overview answers the same
from them as computed live, on random orders, returns and attributions; whatever changes
a rolled-up day's orders (a late order, a return, a deletion, a new attribution, an
email link) forgets that day, so the overview stays the live one; the current day is
never rolled up; two processes rolling up the same day save it once."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select

from collector import housekeeping
from collector.services import Services
from collector.settings import Settings
from collector.storage import order_rollups, reports
from collector.storage.attribution import attribute_orders
from collector.storage.orders import delete_orders
from collector.storage.returns import record_return
from collector.storage.rollups import DAY_MS, FINAL_AFTER_MS
from collector.storage.schema import orders, rollup_orders
from collector.storage.tracking import link_email, record_event, record_sale

from .factories import START, Clock, StoreKeys
from .test_processes import processes, race

WINDOW = 30 * DAY_MS  # the settings' default, which housekeeping rolls up
FIRST = int(START * 1000) // DAY_MS - 20  # the first day of the orders
DAYS = 6
APIS = ["recommendations/popular", "recommendations/visitor", "search/search", "shop/menu"]
LABELS: list[list[str] | None] = [["Bestsellers"], ["A", "B"], None, []]


def click(
    services: Services,
    store: StoreKeys,
    ts: int,
    visitor: str,
    product: str,
    api: str,
    labels: Sequence[str] | None = ("Bestsellers",),
):
    services.storage.run(
        record_event,
        store_id=store.id,
        ts=ts,
        kind="click",
        visitor_mode="persistent",
        visitor_id=visitor,
        session=None,
        product_id=product,
        api=api,
        labels=labels,
    )


def sale(
    services: Services,
    store: StoreKeys,
    ts: int,
    order: str,
    visitor: str | None,
    lines: list[tuple[str, int, float]],
    email: str | None = None,
) -> Any:
    return services.storage.run(
        record_sale,
        store_id=store.id,
        ts=ts,
        sale_id=order,
        lines=[{"id": p, "quantity": q, "price": price} for p, q, price in lines],
        visitor_mode="persistent" if visitor else "server",
        visitor_id=visitor,
        session=None,
        email=email,
        customer=None,
        source="server",
    )


def random_history(services: Services, store: StoreKeys, rng: random.Random) -> list[str]:
    """Clicks, sales (discount lines, shoppers with and without visitor ids and emails),
    returns and email links over DAYS days from FIRST; the order ids."""
    placed: list[str] = []
    for day in range(FIRST, FIRST + DAYS):
        moments = sorted(rng.randrange(day * DAY_MS, (day + 1) * DAY_MS) for _ in range(40))
        for ts in moments:
            visitor = f"v{rng.randrange(8)}"
            what = rng.random()
            if what < 0.5:
                api = rng.choice(APIS)
                product = f"p{rng.randrange(6)}"
                click(services, store, ts, visitor, product, api, rng.choice(LABELS))
            elif what < 0.8:
                order = f"o{len(placed)}"
                lines = [
                    (
                        f"p{rng.randrange(6)}",
                        rng.randrange(1, 4),
                        rng.choice([0.0, 5.0, 9.99, 12.5, 1.0, 0.01]),
                    )
                    for _ in range(rng.randrange(1, 4))
                ]
                if rng.random() < 0.2:
                    lines.append(("discount", 1, -rng.choice([1.0, 2.5, 3.33])))
                email = f"e{rng.randrange(3)}@example.com" if rng.random() < 0.4 else None
                who = visitor if rng.random() < 0.85 else None
                sale(services, store, ts, order, who, lines, email)
                placed.append(order)
            elif what < 0.9 and placed:
                services.storage.run(
                    record_return,
                    store_id=store.id,
                    order_id=rng.choice(placed),
                    product_id=f"p{rng.randrange(6)}",
                    quantity=rng.randrange(0, 3),
                    ts=ts,
                )
            else:
                services.storage.run(
                    link_email,
                    store_id=store.id,
                    email=f"e{rng.randrange(3)}@example.com",
                    visitor_id=visitor,
                    ts=ts,
                )
    return placed


def overview(
    services: Services,
    store: StoreKeys,
    *,
    start_ms: int = FIRST * DAY_MS - DAY_MS,
    end_ms: int = (FIRST + DAYS + 2) * DAY_MS,
    window_ms: int = WINDOW,
) -> dict[str, Any]:
    return services.storage.run(
        reports.overview, store_id=store.id, start_ms=start_ms, end_ms=end_ms, window_ms=window_ms
    )


def roll_up(services: Services, store: StoreKeys, now_ms: int, window_ms: int = WINDOW) -> int:
    return order_rollups.roll_up(
        services.storage, store_id=store.id, now_ms=now_ms, window_ms=window_ms
    )


def forget_all(services: Services, store: StoreKeys) -> None:
    services.storage.run(order_rollups.forget_days, store_id=store.id, days=None)


def stored_days(services: Services, store: StoreKeys) -> set[int]:
    with services.storage.engine.connect() as conn:
        return set(
            conn.scalars(select(rollup_orders.c.day).where(rollup_orders.c.store_id == store.id))
        )


def live(services: Services, store: StoreKeys, **kwargs: Any) -> dict[str, Any]:
    """The overview with no order roll-up at all (they are forgotten: roll up again after)."""
    forget_all(services, store)
    return overview(services, store, **kwargs)


def after_days(days: int) -> int:
    """A moment when the random history's days are over and final once rolled up."""
    return (FIRST + DAYS + days) * DAY_MS + FINAL_AFTER_MS + 60_000


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_overview_from_roll_ups_is_the_live_one_on_random_orders(
    services: Services, store: StoreKeys, seed: int
) -> None:
    rng = random.Random(seed)
    random_history(services, store, rng)
    now = after_days(0)
    ranges: list[dict[str, int]] = [
        {},  # whole days, the history's and some empty ones
        {"start_ms": FIRST * DAY_MS + 3_600_000, "end_ms": (FIRST + 4) * DAY_MS - 5},  # parts
        {"start_ms": (FIRST + 2) * DAY_MS, "end_ms": (FIRST + 3) * DAY_MS},  # one day
        {"window_ms": 2 * DAY_MS},  # another window: not rolled up, live
    ]
    expected = [live(services, store, **r) for r in ranges]
    assert expected[0]["orders"] > 0 and expected[0]["impacted_orders"] > 0
    for view, r in zip(expected, ranges, strict=True):  # live, as it was read before
        assert {k: view[k] for k in reference(services, store)} == reference(services, store, **r)
    assert roll_up(services, store, now) == DAYS
    assert stored_days(services, store) == set(range(FIRST, FIRST + DAYS))
    assert [overview(services, store, **r) for r in ranges] == expected
    assert roll_up(services, store, now) == 0  # final: not again
    # Rolled up under the other window too, each day read from its own window's rows.
    assert roll_up(services, store, now, window_ms=2 * DAY_MS) == DAYS
    assert [overview(services, store, **r) for r in ranges] == expected


@pytest.mark.parametrize("seed", [1, 2])
def test_the_widgets_page_from_roll_ups_is_the_live_one_on_random_orders(
    services: Services, store: StoreKeys, seed: int
) -> None:
    """The widgets page's orders and revenue per widget: from the roll-ups, computed live,
    and as read before the roll-ups (the range's attributed lines at once), the same."""
    random_history(services, store, random.Random(seed))
    ranges: list[dict[str, int]] = [
        {"start_ms": FIRST * DAY_MS - DAY_MS, "end_ms": (FIRST + DAYS + 2) * DAY_MS},
        {"start_ms": FIRST * DAY_MS + 3_600_000, "end_ms": (FIRST + 4) * DAY_MS - 5},
    ]

    def page(r: dict[str, int]) -> dict[tuple[str, str], tuple[int, float]]:
        rows = services.storage.read_sync(reports.widgets, store_id=store.id, window_ms=WINDOW, **r)
        return {(w["api"], w["labels"]): (w["orders"], w["revenue"]) for w in rows}

    def before(r: dict[str, int]) -> dict[tuple[str, str], tuple[int, float]]:
        def read(conn: Any) -> dict[tuple[str, str], tuple[int, float]]:
            lines = order_rollups.attributed_lines(
                conn, store.id, r["start_ms"], r["end_ms"], WINDOW
            )
            revenue: dict[tuple[str, str], float] = {}
            orders_: dict[tuple[str, str], int] = {}
            for line in lines:
                key = (line["api"], reports._labels(line["labels"]))
                revenue[key] = revenue.get(key, 0.0) + line["amount"]
            for line in order_rollups.credited(lines).values():
                key = (line["api"], reports._labels(line["labels"]))
                orders_[key] = orders_.get(key, 0) + 1
            return {k: (orders_.get(k, 0), money(v)) for k, v in revenue.items()}

        return services.storage.read_sync(read)

    live_pages = []
    for r in ranges:
        forget_all(services, store)
        live_pages.append(page(r))
        sold = {k: v for k, v in live_pages[-1].items() if v != (0, 0.0)}
        assert sold == before(r)
    assert any(orders_ for orders_, _ in live_pages[0].values())
    assert roll_up(services, store, after_days(0)) == DAYS
    assert [page(r) for r in ranges] == live_pages


def money(value: float) -> float:
    return round(value, 2)


def reference(services: Services, store: StoreKeys, **kwargs: Any) -> dict[str, Any]:
    """The overview's order figures as they were read before the roll-ups: every order
    and attributed line of the range at once."""
    span = {"start_ms": FIRST * DAY_MS - DAY_MS, "end_ms": (FIRST + DAYS + 2) * DAY_MS}
    span.update(kwargs)
    window = span.pop("window_ms", WINDOW)

    def read(conn: Any) -> dict[str, Any]:
        found = conn.execute(
            select(orders.c.total, orders.c.returned).where(
                orders.c.store_id == store.id,
                orders.c.ts >= span["start_ms"],
                orders.c.ts < span["end_ms"],
            )
        ).all()
        lines = order_rollups.attributed_lines(
            conn, store.id, span["start_ms"], span["end_ms"], window
        )
        last = order_rollups.credited(lines)
        sources = {
            s: {
                "orders": sum(1 for r in last.values() if r["source"] == s),
                "revenue": money(sum(r["amount"] for r in lines if r["source"] == s)),
            }
            for s in ("recommendations", "search")
        }
        return {
            "orders": len(found),
            "revenue": money(sum(t for t, _ in found)),
            "returned": money(sum(r for _, r in found)),
            "impacted_orders": len(last),
            "impacted_revenue": money(sum(r["total"] for r in last.values())),
            "attributed_revenue": money(sum(r["amount"] for r in lines)),
            "by_source": sources,
        }

    return services.storage.read_sync(read)


def rolled(services: Services, store: StoreKeys, now: int) -> dict[str, Any]:
    roll_up(services, store, now)
    assert FIRST + 2 in stored_days(services, store)
    return overview(services, store)


def base_history(services: Services, store: StoreKeys) -> None:
    """A shopper who clicked widgets, two orders on the history's third day."""
    day = (FIRST + 2) * DAY_MS
    click(services, store, day + 1_000, "v1", "p1", "recommendations/popular")
    sale(services, store, day + 2_000, "o1", "v1", [("p1", 2, 10.0), ("p2", 1, 5.0)])
    sale(services, store, day + 3_000, "o2", "v2", [("p1", 1, 10.0)], email="e@example.com")
    sale(services, store, (FIRST + 4) * DAY_MS, "o3", None, [("p3", 1, 7.5)])


def assert_live_after(services: Services, store: StoreKeys, before: dict[str, Any]) -> None:
    """The overview now (roll-ups as the change left them) is the live one, and changed;
    rolled up again, it stays so."""
    now_view = overview(services, store)
    assert now_view != before
    assert now_view == live(services, store)
    assert rolled(services, store, after_days(1)) == now_view


def test_a_late_order_on_a_rolled_up_day_forgets_it(services: Services, store: StoreKeys) -> None:
    base_history(services, store)
    before = rolled(services, store, after_days(0))
    sale(services, store, (FIRST + 2) * DAY_MS + 5_000, "late", "v1", [("p1", 1, 3.0)])
    assert FIRST + 2 not in stored_days(services, store)
    assert FIRST + 4 in stored_days(services, store)  # the other days are kept
    assert_live_after(services, store, before)


def test_an_import_without_attribution_forgets_its_day_too(
    services: Services, store: StoreKeys
) -> None:
    base_history(services, store)
    before = rolled(services, store, after_days(0))
    services.storage.run(
        record_sale,
        store_id=store.id,
        ts=(FIRST + 3) * DAY_MS,
        sale_id="imported",
        lines=[{"id": "p9", "quantity": 1, "price": 4.0}],
        visitor_mode="import",
        visitor_id=None,
        session=None,
        email=None,
        customer=None,
        attribute=False,
        source="server",
    )
    assert FIRST + 3 not in stored_days(services, store)
    assert_live_after(services, store, before)


def test_a_server_sale_replacing_a_browsers_forgets_both_days(
    services: Services, store: StoreKeys
) -> None:
    base_history(services, store)
    services.storage.run(
        record_sale,
        store_id=store.id,
        ts=(FIRST + 1) * DAY_MS,
        sale_id="b1",
        lines=[{"id": "p1", "quantity": 1, "price": 4.0}],
        visitor_mode="persistent",
        visitor_id="v1",
        session=None,
        email=None,
        customer=None,
    )
    before = rolled(services, store, after_days(0))
    assert sale(services, store, (FIRST + 3) * DAY_MS, "b1", "v3", [("p2", 2, 8.0)]) == "replaced"
    assert not {FIRST + 1, FIRST + 3} & stored_days(services, store)
    assert_live_after(services, store, before)


def test_a_return_forgets_its_orders_day(services: Services, store: StoreKeys) -> None:
    base_history(services, store)
    before = rolled(services, store, after_days(0))
    services.storage.run(
        record_return,
        store_id=store.id,
        order_id="o1",
        product_id="p1",
        quantity=1,
        ts=after_days(0),
    )
    assert FIRST + 2 not in stored_days(services, store)
    assert_live_after(services, store, before)


def test_deleting_orders_forgets_their_days(services: Services, store: StoreKeys) -> None:
    base_history(services, store)
    before = rolled(services, store, after_days(0))
    assert services.storage.run(delete_orders, store_id=store.id, ids=["o1", "o3"]) == 2
    assert not {FIRST + 2, FIRST + 4} & stored_days(services, store)
    assert_live_after(services, store, before)


def test_attributing_orders_again_forgets_their_days(services: Services, store: StoreKeys) -> None:
    base_history(services, store)
    before = rolled(services, store, after_days(0))
    # A click that came in late (a backfill): the order is attributed again.
    click(services, store, (FIRST + 2) * DAY_MS + 2_500, "v2", "p1", "search/search")
    services.storage.run(attribute_orders, store_id=store.id, order_ids=["o2", "o3"])
    assert_live_after(services, store, before)
    # And every order of the store.
    click(services, store, (FIRST + 2) * DAY_MS + 100, "v1", "p2", "recommendations/visitor")
    before = overview(services, store)
    services.storage.run(attribute_orders, store_id=store.id)
    assert stored_days(services, store) == set()
    assert_live_after(services, store, before)


def test_an_email_link_that_credits_an_order_forgets_its_day(
    services: Services, store: StoreKeys
) -> None:
    base_history(services, store)
    # v7 clicked p1 before o2 was placed (by v2, with e@example.com)...
    click(services, store, (FIRST + 2) * DAY_MS + 500, "v7", "p1", "search/search")
    before = rolled(services, store, after_days(0))
    # ... and is now known to be the same shopper: o2 gains the click (attribute_link).
    assert services.storage.run(
        link_email, store_id=store.id, email="e@example.com", visitor_id="v7", ts=after_days(0)
    )
    assert FIRST + 2 not in stored_days(services, store)
    assert_live_after(services, store, before)


def test_the_current_day_is_never_rolled_up_and_a_fresh_day_only_once_final(
    services: Services, store: StoreKeys
) -> None:
    today = FIRST + 4
    base_history(services, store)  # orders on FIRST + 2 and today
    now = today * DAY_MS + 20 * 3_600_000
    assert roll_up(services, store, now) == 2  # the days before it, not today
    assert stored_days(services, store) == {FIRST + 2, FIRST + 3}
    view = overview(services, store)
    sale(services, store, now, "o4", "v1", [("p1", 1, 2.0)])  # today's order: seen at once
    assert overview(services, store)["orders"] == view["orders"] + 1
    # Just after midnight the day is rolled up, but not final: read live, rolled again.
    midnight = (today + 1) * DAY_MS
    assert roll_up(services, store, midnight + 60_000) == 1
    assert today in stored_days(services, store)
    sale(services, store, midnight - 1, "o5", "v1", [("p1", 1, 2.0)])  # a late group commit
    assert overview(services, store)["orders"] == view["orders"] + 2
    assert roll_up(services, store, midnight + FINAL_AFTER_MS) == 1
    assert roll_up(services, store, midnight + FINAL_AFTER_MS + 60_000) == 0
    assert overview(services, store) == live(services, store)
    assert overview(services, store)["orders"] == view["orders"] + 2


def test_housekeeping_rolls_up_the_orders_under_the_settings_window(
    services: Services, store: StoreKeys, clock: Clock
) -> None:
    base_history(services, store)
    expected = live(services, store)
    clock.now = after_days(0) / 1000
    housekeeping.roll_up(services)
    assert stored_days(services, store) == set(range(FIRST + 2, FIRST + DAYS))
    with services.storage.engine.connect() as conn:
        windows = set(conn.scalars(select(rollup_orders.c.window_ms)))
    assert windows == {services.settings.attribution_window_days * DAY_MS}
    assert overview(services, store) == expected


def windows_stored(services: Services, store: StoreKeys) -> set[int]:
    with services.storage.engine.connect() as conn:
        return set(
            conn.scalars(
                select(rollup_orders.c.window_ms).where(rollup_orders.c.store_id == store.id)
            )
        )


def test_the_rows_of_a_window_no_process_uses_any_more_go(
    services: Services, store: StoreKeys
) -> None:
    """The attribution window was changed: the old window's rows go once no process has
    saved a day under it for UNUSED_AFTER_MS; a window still in use (a process of the old
    setting, during a rolling restart) keeps its rows, and so does the roller's own."""
    old, new, other = WINDOW, WINDOW + DAY_MS, WINDOW + 2 * DAY_MS
    base_history(services, store)
    now = after_days(0)
    assert roll_up(services, store, now, window_ms=old) > 0
    assert roll_up(services, store, now, window_ms=other) > 0
    # The next day: a process of the new setting rolls up; the other two windows were
    # saved a day ago, so both are kept (either may still be some process's).
    assert roll_up(services, store, now + DAY_MS, window_ms=new) > 0
    assert windows_stored(services, store) == {old, new, other}
    # `other` is still in use (its process saves each day as it ends); `old` is not.
    later = now + order_rollups.UNUSED_AFTER_MS + DAY_MS
    assert roll_up(services, store, later - 60_000, window_ms=other) > 0
    assert roll_up(services, store, later, window_ms=new) > 0
    assert windows_stored(services, store) == {new, other}
    # Nothing saved (no day ended since): nothing looked at.
    assert roll_up(services, store, later + 60_000, window_ms=new) == 0
    # Once `other`'s process is gone too, its rows go as well.
    gone = later + order_rollups.UNUSED_AFTER_MS
    assert roll_up(services, store, gone, window_ms=new) > 0
    assert windows_stored(services, store) == {new}
    rolled_view = overview(services, store, window_ms=new)
    assert rolled_view == live(services, store, window_ms=new)  # (which forgets them all)


def test_processes_rolling_up_the_same_day_at_once_save_it_once(
    services: Services, settings: Settings, store: StoreKeys, clock: Clock
) -> None:
    base_history(services, store)
    expected = live(services, store)
    now, day = after_days(0), FIRST + 2
    racers = processes(settings, clock)
    try:
        saved = race(
            [
                lambda s=s: s.storage.run(  # type: ignore[misc]
                    order_rollups.save_day, store_id=store.id, day=day, window_ms=WINDOW, now_ms=now
                )
                for s in racers
            ]
        )
        assert sorted(saved) == [False] * (len(racers) - 1) + [True]
        done = race([lambda s=s: roll_up(s, store, now) for s in racers])  # type: ignore[misc]
        assert sum(done) == DAYS - 3  # the days after the first order's but that one, once
    finally:
        for s in racers:
            s.storage.dispose()
    assert overview(services, store) == expected
