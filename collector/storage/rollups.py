"""Daily roll-ups: a day's event counts, computed once the day is over and kept.

Event counts come from daily roll-ups (rollup_* tables) for days that are over,
and are computed live for the rest (the current day, or a day not rolled up yet),
so a range costs a row per past day, never a scan of its events (`rollup_sums`).
Days are UTC days. The report queries (reports.py) read their counts through here.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Connection,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from .clerk import CLERK_APIS
from .engine import advisory_xact_lock
from .schema import (
    events,
    orders,
    rollup_orders,
    rollup_products,
    rollup_visits,
    rollup_widgets,
)

if TYPE_CHECKING:
    from . import Storage

DAY_MS = 86_400_000
# A day's roll-up is final once computed this long after the day ended (group
# commits and clock skew between processes are far shorter).
FINAL_AFTER_MS = 10 * 60_000
# With a store id, the PostgreSQL advisory lock under which a day's roll-up is saved
# (a 32-bit int: the pair (key, store id) names one store's lock).
ADVISORY_KEY = 0x726F6C6C  # "roll"

Row = dict[str, Any]


def day_of(ms: int) -> int:
    return ms // DAY_MS


def _day_end(day: Any) -> Any:
    """The end of a day (a column) in ms, in 64-bit arithmetic on every backend."""
    return (day + 1) * literal(DAY_MS, BigInteger)


def days_in(start_ms: int, end_ms: int) -> range:
    """The UTC days that a range of ms (start inclusive, end exclusive) touches."""
    return range(day_of(start_ms), day_of(end_ms - 1) + 1) if end_ms > start_ms else range(0)


def _is_clerk_click() -> Any:
    return and_(events.c.kind == "click", or_(*(events.c.api.like(p + "%") for p in CLERK_APIS)))


def canonical_labels(raw: str | None) -> str:
    """Labels as the roll-ups keep them: the JSON list as tracking writes it (no labels,
    NULL, is "[]"); text that is not JSON is kept as it is."""
    try:
        return json.dumps(json.loads(raw or "[]"))
    except ValueError:
        return str(raw)


def labels_hash(labels: str) -> str:
    """The key of canonical labels in rollup_widgets: the first 32 hex digits (128 bits)
    of their SHA-256. Stable across processes, versions and backends: it is stored."""
    return hashlib.sha256(labels.encode()).hexdigest()[:32]


# ---------------------------------------------------------------- daily roll-ups


def day_rollup(
    conn: Connection,
    *,
    store_id: int,
    day: int,
    parts: Sequence[str] = ("visits", "widgets", "products"),
) -> dict[str, list[Row]]:
    """A day's roll-up rows (of these parts), computed from its raw events and orders.

    A read: the housekeeping task runs it outside the write that saves the rows."""
    return {part: _PARTS[part](conn, store_id, day) for part in parts}


def _in_day(store_id: int, day: int) -> Any:
    return and_(
        events.c.store_id == store_id, events.c.ts >= day * DAY_MS, events.c.ts < (day + 1) * DAY_MS
    )


def day_visitors(conn: Connection, *, store_id: int, day: int) -> dict[str, bool]:
    """The day's visitors, each with whether they clicked a Clerk widget or search result
    (the part of a day's visits read from its events)."""
    clerk = func.max(case((_is_clerk_click(), 1), else_=0))
    return {
        visitor: bool(used)
        for visitor, used in conn.execute(
            select(events.c.visitor_id, clerk)
            .where(_in_day(store_id, day), events.c.visitor_id.is_not(None))
            .group_by(events.c.visitor_id)
        )
    }


def _visits_row(conn: Connection, store_id: int, day: int, seen: dict[str, bool]) -> Row:
    """The day's visits row: its visitors (`day_visitors`) and their orders of the day."""
    start, end = day * DAY_MS, (day + 1) * DAY_MS
    visitors = dict(seen)
    buyers: dict[str, tuple[int, float]] = {}
    for visitor, count, revenue in conn.execute(
        select(orders.c.visitor_id, func.count(), func.sum(orders.c.total))
        .where(
            orders.c.store_id == store_id,
            orders.c.ts >= start,
            orders.c.ts < end,
            orders.c.visitor_id.is_not(None),
        )
        .group_by(orders.c.visitor_id)
    ):
        buyers[visitor] = (int(count), float(revenue or 0.0))
        visitors.setdefault(visitor, False)
    return {
        "visits": len(visitors),
        "clerk_visits": sum(visitors.values()),
        "converted": len(buyers),
        "clerk_converted": sum(1 for v in buyers if visitors[v]),
        "orders_clerk": sum(n for v, (n, _) in buyers.items() if visitors[v]),
        "revenue_clerk": round(sum(r for v, (_, r) in buyers.items() if visitors[v]), 2),
        "orders_other": sum(n for v, (n, _) in buyers.items() if not visitors[v]),
        "revenue_other": round(sum(r for v, (_, r) in buyers.items() if not visitors[v]), 2),
    }


def _day_visits(conn: Connection, store_id: int, day: int) -> list[Row]:
    seen = day_visitors(conn, store_id=store_id, day=day)
    return [_visits_row(conn, store_id, day, seen)]


def _day_widgets(conn: Connection, store_id: int, day: int) -> list[Row]:
    widgets = []
    for api, raw, renders, clicks in conn.execute(
        select(
            events.c.api,
            events.c.labels,
            func.sum(case((events.c.kind == "render", 1), else_=0)),
            func.sum(case((events.c.kind == "click", 1), else_=0)),
        )
        .where(
            _in_day(store_id, day),
            events.c.kind.in_(("render", "click")),
            events.c.api.is_not(None),
        )
        .group_by(events.c.api, events.c.labels)
    ):
        labels = canonical_labels(raw)
        widgets.append(
            {
                "api": api,
                "labels_hash": labels_hash(labels),
                "labels": labels,
                "renders": int(renders),
                "clicks": int(clicks),
            }
        )
    return _merge_widgets(widgets)


def _day_products(conn: Connection, store_id: int, day: int) -> list[Row]:
    return [
        {"product_id": product, "views": int(views), "clicks": int(clicks)}
        for product, views, clicks in conn.execute(
            select(
                events.c.product_id,
                func.sum(case((events.c.kind == "view", 1), else_=0)),
                func.sum(case((events.c.kind == "click", 1), else_=0)),
            )
            .where(
                _in_day(store_id, day),
                events.c.kind.in_(("view", "click")),
                events.c.product_id.is_not(None),
            )
            .group_by(events.c.product_id)
        )
    ]


def _merge_widgets(rows: list[Row]) -> list[Row]:
    """Rows of the same api and labels (NULL and "[]" are both no labels) as one."""
    merged: dict[tuple[str, str], Row] = {}
    for row in rows:
        key = (row["api"], row["labels_hash"])
        if key in merged:
            merged[key]["renders"] += row["renders"]
            merged[key]["clicks"] += row["clicks"]
        else:
            merged[key] = dict(row)
    return list(merged.values())


_PARTS = {"visits": _day_visits, "widgets": _day_widgets, "products": _day_products}
LATER_PARTS = ("widgets", "products")  # read before the write that saves them with visits


def days_to_roll_up(
    conn: Connection, *, store_id: int, now_ms: int, days: Iterable[int] | None = None
) -> list[int]:
    """Days that are over and have no final roll-up (of `days`, or since the first event)."""
    today = day_of(now_ms)
    final = set(
        conn.scalars(
            select(rollup_visits.c.day).where(
                rollup_visits.c.store_id == store_id,
                rollup_visits.c.computed_at >= _day_end(rollup_visits.c.day) + FINAL_AFTER_MS,
            )
        )
    )
    if days is None:
        first = conn.scalar(select(func.min(events.c.ts)).where(events.c.store_id == store_id))
        first_order = conn.scalar(
            select(func.min(orders.c.ts)).where(orders.c.store_id == store_id)
        )
        starts = [t for t in (first, first_order) if t is not None]
        days = range(day_of(min(starts)), today) if starts else range(0)
    return [d for d in days if d < today and d not in final]


def save_rollup(
    conn: Connection,
    *,
    store_id: int,
    day: int,
    rows: dict[str, list[Row]],
    now_ms: int,
    visitors: dict[str, bool] | None = None,
) -> bool:
    """Replace a day's roll-up rows (a short write), unless the day has a final roll-up
    already (another collector process saved it since these rows were read): whether
    they were saved. One store's roll-ups are saved one at a time across processes (an
    advisory lock on PostgreSQL; SQLite writes go one at a time anyway).

    With `visitors` (`day_visitors`, read before), the visits row is made here from
    them and the day's orders as they are now, under the lock `take_back_revenue` takes
    too: a return or a deleted order of the day between the read and this write is in
    the saved figures (or, after this write, takes its amount off them), never lost."""
    advisory_xact_lock(conn, ADVISORY_KEY, store_id)
    final = conn.scalar(
        select(rollup_visits.c.day).where(
            rollup_visits.c.store_id == store_id,
            rollup_visits.c.day == day,
            rollup_visits.c.computed_at >= _day_end(rollup_visits.c.day) + FINAL_AFTER_MS,
        )
    )
    if final is not None:
        return False
    if visitors is not None:
        rows = {**rows, "visits": [_visits_row(conn, store_id, day, visitors)]}
    for table in (rollup_visits, rollup_widgets, rollup_products):
        conn.execute(delete(table).where(table.c.store_id == store_id, table.c.day == day))
    conn.execute(
        insert(rollup_visits),
        [{"store_id": store_id, "day": day, "computed_at": now_ms, **rows["visits"][0]}],
    )
    for table, name in ((rollup_widgets, "widgets"), (rollup_products, "products")):
        if rows[name]:
            conn.execute(
                insert(table), [{"store_id": store_id, "day": day, **r} for r in rows[name]]
            )
    return True


def roll_up(storage: Storage, *, store_id: int, now_ms: int, last_day: int | None = None) -> int:
    """Roll up the store's days that are over and not final (up to `last_day`); return how
    many. Each day is computed on a read connection, then saved in a short write, so that
    tracking writes never wait behind a day's computation (housekeeping and purge)."""
    done = 0
    for day in storage.read_sync(days_to_roll_up, store_id=store_id, now_ms=now_ms):
        if last_day is not None and day > last_day:
            break
        visitors = storage.read_sync(day_visitors, store_id=store_id, day=day)
        rows = storage.read_sync(day_rollup, store_id=store_id, day=day, parts=LATER_PARTS)
        storage.run(
            save_rollup, store_id=store_id, day=day, rows=rows, now_ms=now_ms, visitors=visitors
        )
        done += 1
    return done


def refresh_rollups(
    conn: Connection, *, store_id: int, now_ms: int, days: Iterable[int] | None = None
) -> int:
    """Roll up, in this transaction, the days that are over and not final; return how many.

    (The collector's housekeeping and purge do the same a day at a time, reading outside
    the write transaction: see `roll_up`.)
    """
    todo = days_to_roll_up(conn, store_id=store_id, now_ms=now_ms, days=days)
    for day in todo:
        rows = day_rollup(conn, store_id=store_id, day=day)
        save_rollup(conn, store_id=store_id, day=day, rows=rows, now_ms=now_ms)
    return len(todo)


def take_back_revenue(
    conn: Connection,
    *,
    store_id: int,
    day: int,
    visitor_id: str,
    amount: float,
    orders: int = 0,
) -> None:
    """A stored day's revenue figures less `amount` (an order of this visitor on that day
    lost it to a return, storage/returns.py), and its order counts less `orders` (the
    order was deleted, storage/orders.py), in the columns `_day_visits` counted the
    order in: a visitor who clicked a Clerk widget or search result that day is Clerk's.
    A day not rolled up yet needs nothing: it is computed live from the orders, or saved
    by `save_rollup` from the orders as they are when it holds the same lock."""
    advisory_xact_lock(conn, ADVISORY_KEY, store_id)
    clerk = conn.execute(
        select(events.c.id)
        .where(_in_day(store_id, day), events.c.visitor_id == visitor_id, _is_clerk_click())
        .limit(1)
    ).first()
    side = "clerk" if clerk is not None else "other"
    revenue, count = f"revenue_{side}", f"orders_{side}"
    conn.execute(
        update(rollup_visits)
        .where(rollup_visits.c.store_id == store_id, rollup_visits.c.day == day)
        .values(
            {revenue: rollup_visits.c[revenue] - amount, count: rollup_visits.c[count] - orders}
        )
    )


def invalidate_rollups(conn: Connection, *, store_id: int, start_ms: int, end_ms: int) -> None:
    """Forget the roll-ups of these days (events were written into the past: simulate),
    the orders' too (rollup_orders, every window)."""
    first, last = day_of(start_ms), day_of(end_ms)
    for table in (rollup_visits, rollup_widgets, rollup_products, rollup_orders):
        conn.execute(
            delete(table).where(
                table.c.store_id == store_id, table.c.day >= first, table.c.day <= last
            )
        )


# ---------------------------------------------------------------- reading roll-ups


def _rolled(
    conn: Connection, store_id: int, start_ms: int, end_ms: int
) -> tuple[set[int], list[int]]:
    """(days of the range read from final roll-ups, days to compute live)."""
    days = days_in(start_ms, end_ms)
    if not days:
        return set(), []
    final = set(
        conn.scalars(
            select(rollup_visits.c.day).where(
                rollup_visits.c.store_id == store_id,
                rollup_visits.c.day >= days.start,
                rollup_visits.c.day < days.stop,
                rollup_visits.c.computed_at >= _day_end(rollup_visits.c.day) + FINAL_AFTER_MS,
            )
        )
    )
    return final, [d for d in days if d not in final]


def rollup_sums(
    conn: Connection,
    table: Any,
    keys: Sequence[str],
    values: Sequence[str],
    store_id: int,
    start_ms: int,
    end_ms: int,
    products: Sequence[str] | None = None,
) -> dict[tuple[Any, ...], dict[str, float]]:
    """Sum `values` of a roll-up per `keys` over the range: final days stored, others live.

    `products` limits rollup_products to these ids.
    """
    final, live = _rolled(conn, store_id, start_ms, end_ms)
    sums: dict[tuple[Any, ...], dict[str, float]] = defaultdict(lambda: dict.fromkeys(values, 0))

    def add(key: tuple[Any, ...], row: Any) -> None:
        target = sums[key]
        for name in values:
            target[name] += row[name] or 0

    if final:
        days = days_in(start_ms, end_ms)
        which = [table.c.store_id == store_id, table.c.day >= days.start, table.c.day < days.stop]
        if len(final) < len(days):
            which.append(table.c.day.in_(sorted(final)))
        if products is not None:
            which.append(table.c.product_id.in_(list(products)))
        for stored in conn.execute(
            select(*(table.c[k] for k in keys), *(func.sum(table.c[v]).label(v) for v in values))
            .where(*which)
            .group_by(*(table.c[k] for k in keys))
        ).mappings():
            add(tuple(stored[k] for k in keys), stored)
    name = {rollup_visits: "visits", rollup_widgets: "widgets", rollup_products: "products"}[table]
    for day in live:
        for row in day_rollup(conn, store_id=store_id, day=day, parts=(name,))[name]:
            if products is None or row["product_id"] in products:
                add(tuple(row[k] for k in keys), row)
    return sums
