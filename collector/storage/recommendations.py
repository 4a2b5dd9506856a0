"""The SQL behind recommendations: activity counts, co-purchases, co-views, history.

Every function answers for one store and reads only; ranking lives in
collector/recommendations.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, literal_column, select

from .catalogue import available
from .schema import events, order_lines, orders, product_categories, products

Counts = dict[str, int]


def views(conn: Connection, *, store_id: int, since: int, until: int | None = None) -> Counts:
    """Product views per product in [since, until)."""
    where = [events.c.store_id == store_id, events.c.kind == "view", events.c.ts >= since]
    if until is not None:
        where.append(events.c.ts < until)
    query = select(events.c.product_id, func.count()).where(*where).group_by(events.c.product_id)
    return {pid: n for pid, n in conn.execute(query) if pid is not None}


def sales(conn: Connection, *, store_id: int, since: int, until: int | None = None) -> Counts:
    """Units sold per product in orders placed in [since, until)."""
    where = [orders.c.store_id == store_id, orders.c.ts >= since]
    if until is not None:
        where.append(orders.c.ts < until)
    query = (
        select(order_lines.c.product_id, func.sum(order_lines.c.quantity))
        .join(
            orders,
            (orders.c.store_id == order_lines.c.store_id) & (orders.c.id == order_lines.c.order_id),
        )
        .where(*where)
        .group_by(order_lines.c.product_id)
    )
    return {pid: int(n) for pid, n in conn.execute(query)}


def available_ids(conn: Connection, *, store_id: int, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    query = select(products.c.id).where(
        products.c.store_id == store_id, products.c.id.in_(list(ids)), available()
    )
    return set(conn.scalars(query))


def newest(conn: Connection, *, store_id: int, limit: int, exclude: Sequence[str]) -> list[str]:
    query = (
        select(products.c.id)
        .where(products.c.store_id == store_id, available(), products.c.id.not_in(list(exclude)))
        .order_by(products.c.created_at.desc().nulls_last(), products.c.id)
        .limit(limit)
    )
    return list(conn.scalars(query))


def category_members(conn: Connection, *, store_id: int, category: str) -> list[str]:
    query = select(product_categories.c.product_id).where(
        product_categories.c.store_id == store_id, product_categories.c.category == category
    )
    return list(conn.scalars(query))


def bought_together(
    conn: Connection, *, store_id: int, seeds: Sequence[str], max_orders: int = 2000
) -> Counts:
    """For each other product, the number of orders that hold it and one of the seeds.

    Two plain lookups (the seeds' orders by product, then those orders' lines by
    order id) and a count here: a join with GROUP BY lets the planner walk every line
    of the store in product order instead, seconds at 100,000 orders."""
    order_ids = list(
        conn.scalars(
            select(order_lines.c.order_id)
            .where(order_lines.c.store_id == store_id, order_lines.c.product_id.in_(list(seeds)))
            .limit(max_orders)
        )
    )
    counts: dict[str, set[str]] = {}
    for start in range(0, len(order_ids), 500):
        lines = select(order_lines.c.product_id, order_lines.c.order_id).where(
            order_lines.c.store_id == store_id,
            order_lines.c.order_id.in_(order_ids[start : start + 500]),
        )
        for pid, oid in conn.execute(lines):
            if pid not in seeds:
                counts.setdefault(pid, set()).add(oid)
    return {pid: len(orders_) for pid, orders_ in counts.items()}


def viewed_together(
    conn: Connection, *, store_id: int, seeds: Sequence[str], since: int, max_visitors: int = 200
) -> Counts:
    """For each other product, how many of the seeds' recent viewers also viewed it.

    Plain index lookups (by product, then by visitor) with the time window and the
    counting done here: with a time condition or a GROUP BY in the SQL, the planner
    prefers the (store, ts) index and reads a month of events."""
    viewers = select(events.c.visitor_id, events.c.ts).where(
        events.c.store_id == store_id,
        events.c.product_id.in_(list(seeds)),
        events.c.kind == "view",
    )
    last_seen: dict[str, int] = {}
    for visitor_id, ts in conn.execute(viewers):
        if visitor_id is not None and ts >= since and ts > last_seen.get(visitor_id, -1):
            last_seen[visitor_id] = ts
    recent = sorted(last_seen, key=lambda v: (-last_seen[v], v))[:max_visitors]
    if not recent:
        return {}
    views_of = select(events.c.visitor_id, events.c.product_id, events.c.ts).where(
        events.c.store_id == store_id, events.c.visitor_id.in_(recent), events.c.kind == "view"
    )
    seen: dict[str, set[str]] = {}
    for visitor_id, pid, ts in conn.execute(views_of):
        if pid is not None and pid not in seeds and ts >= since:
            seen.setdefault(pid, set()).add(visitor_id)
    return {pid: len(who) for pid, who in seen.items()}


def similar(
    conn: Connection, *, store_id: int, seeds: Sequence[str], limit: int = 200
) -> list[tuple[str, int, float]]:
    """Products sharing a category with the seeds, priced within half of theirs either way:
    (id, shared categories, distance from the seeds' mean price), closest first."""
    mean_price = conn.execute(
        select(func.avg(products.c.price)).where(
            products.c.store_id == store_id, products.c.id.in_(list(seeds))
        )
    ).scalar()
    if mean_price is None:
        return []
    mine, theirs = product_categories.alias("mine"), product_categories.alias("theirs")
    shared = func.count().label("shared")
    distance = func.abs(products.c.price - float(mean_price)).label("distance")
    query = (
        select(theirs.c.product_id, shared, distance)
        .join(
            mine,
            (mine.c.store_id == theirs.c.store_id) & (mine.c.category == theirs.c.category),
        )
        .join(
            products,
            (products.c.store_id == theirs.c.store_id) & (products.c.id == theirs.c.product_id),
        )
        .where(
            mine.c.store_id == store_id,
            mine.c.product_id.in_(list(seeds)),
            theirs.c.product_id.not_in(list(seeds)),
            products.c.price.between(float(mean_price) * 0.5, float(mean_price) * 1.5),
            available(),
        )
        .group_by(theirs.c.product_id, products.c.price)
        .order_by(literal_column("shared").desc(), literal_column("distance"), theirs.c.product_id)
        .limit(limit)
    )
    return [(pid, int(n), float(d)) for pid, n, d in conn.execute(query)]


def history(
    conn: Connection,
    *,
    store_id: int,
    visitor_id: str,
    limit: int,
    exclude: Sequence[str],
    max_views: int = 1000,
) -> list[str]:
    """The visitor's viewed products still for sale, most recently viewed first.

    The visitor's latest views come by the (store, visitor, ts) index; de-duplicating
    and the stock check happen after, so the planner has only that one way in."""
    views_ = (
        select(events.c.product_id)
        .where(
            events.c.store_id == store_id,
            events.c.visitor_id == visitor_id,
            events.c.kind == "view",
        )
        .order_by(events.c.ts.desc(), events.c.id.desc())
        .limit(max_views)
    )
    skip = set(exclude)
    recent = [pid for pid in dict.fromkeys(conn.scalars(views_)) if pid and pid not in skip]
    chosen: list[str] = []
    for start in range(0, len(recent), max(limit * 2, 20)):
        chunk = recent[start : start + max(limit * 2, 20)]
        ok = available_ids(conn, store_id=store_id, ids=chunk)
        chosen += [pid for pid in chunk if pid in ok]
        if len(chosen) >= limit:
            break
    return chosen[:limit]


def interests(
    conn: Connection, *, store_id: int, visitor_id: str, since: int
) -> dict[str, dict[str, int]]:
    """What a visitor viewed, clicked and bought since a time: {kind: {product: count}}.

    Views and clicks come by the (store, visitor, ts) index and are counted here."""
    seen = select(events.c.kind, events.c.product_id, events.c.ts).where(
        events.c.store_id == store_id,
        events.c.visitor_id == visitor_id,
        events.c.kind.in_(["view", "click"]),
    )
    found: dict[str, dict[str, int]] = {"view": {}, "click": {}, "bought": {}}
    for kind, pid, ts in conn.execute(seen):
        if pid is not None and ts >= since:
            found[kind][pid] = found[kind].get(pid, 0) + 1
    order_ids = list(
        conn.scalars(
            select(orders.c.id).where(
                orders.c.store_id == store_id, orders.c.visitor_id == visitor_id
            )
        )
    )
    for start in range(0, len(order_ids), 500):
        lines = select(order_lines.c.product_id, order_lines.c.quantity).where(
            order_lines.c.store_id == store_id,
            order_lines.c.order_id.in_(order_ids[start : start + 500]),
        )
        for pid, quantity in conn.execute(lines):
            found["bought"][pid] = found["bought"].get(pid, 0) + quantity
    return found
