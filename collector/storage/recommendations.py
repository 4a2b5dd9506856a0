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


def bought_together(conn: Connection, *, store_id: int, seeds: Sequence[str]) -> Counts:
    """For each other product, the number of orders that hold it and one of the seeds."""
    a, b = order_lines.alias("a"), order_lines.alias("b")
    query = (
        select(b.c.product_id, func.count(func.distinct(b.c.order_id)))
        .join(a, (a.c.store_id == b.c.store_id) & (a.c.order_id == b.c.order_id))
        .where(
            a.c.store_id == store_id,
            a.c.product_id.in_(list(seeds)),
            b.c.product_id.not_in(list(seeds)),
        )
        .group_by(b.c.product_id)
    )
    return {pid: n for pid, n in conn.execute(query)}


def viewed_together(
    conn: Connection, *, store_id: int, seeds: Sequence[str], since: int, max_visitors: int = 200
) -> Counts:
    """For each other product, how many of the seeds' recent viewers also viewed it."""
    last_seen = func.max(events.c.ts)
    viewers = (
        select(events.c.visitor_id)
        .where(
            events.c.store_id == store_id,
            events.c.kind == "view",
            events.c.product_id.in_(list(seeds)),
            events.c.visitor_id.is_not(None),
            events.c.ts >= since,
        )
        .group_by(events.c.visitor_id)
        .order_by(last_seen.desc())
        .limit(max_visitors)
    )
    ids = list(conn.scalars(viewers))
    if not ids:
        return {}
    query = (
        select(events.c.product_id, func.count(func.distinct(events.c.visitor_id)))
        .where(
            events.c.store_id == store_id,
            events.c.kind == "view",
            events.c.visitor_id.in_(ids),
            events.c.ts >= since,
            events.c.product_id.not_in(list(seeds)),
        )
        .group_by(events.c.product_id)
    )
    return {pid: n for pid, n in conn.execute(query) if pid is not None}


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
    conn: Connection, *, store_id: int, visitor_id: str, limit: int, exclude: Sequence[str]
) -> list[str]:
    """The visitor's viewed products still for sale, most recently viewed first."""
    last_view = func.max(events.c.id)
    query = (
        select(events.c.product_id)
        .join(
            products,
            (products.c.store_id == events.c.store_id) & (products.c.id == events.c.product_id),
        )
        .where(
            events.c.store_id == store_id,
            events.c.visitor_id == visitor_id,
            events.c.kind == "view",
            events.c.product_id.not_in(list(exclude)),
            available(),
        )
        .group_by(events.c.product_id)
        .order_by(last_view.desc())
        .limit(limit)
    )
    return list(conn.scalars(query))


def interests(
    conn: Connection, *, store_id: int, visitor_id: str, since: int
) -> dict[str, dict[str, int]]:
    """What a visitor viewed, clicked and bought since a time: {kind: {product: count}}."""
    seen = (
        select(events.c.kind, events.c.product_id, func.count())
        .where(
            events.c.store_id == store_id,
            events.c.visitor_id == visitor_id,
            events.c.kind.in_(["view", "click"]),
            events.c.ts >= since,
        )
        .group_by(events.c.kind, events.c.product_id)
    )
    found: dict[str, dict[str, int]] = {"view": {}, "click": {}, "bought": {}}
    for kind, pid, n in conn.execute(seen):
        if pid is not None:
            found[kind][pid] = n
    bought = (
        select(order_lines.c.product_id, func.sum(order_lines.c.quantity))
        .join(
            orders,
            (orders.c.store_id == order_lines.c.store_id) & (orders.c.id == order_lines.c.order_id),
        )
        .where(orders.c.store_id == store_id, orders.c.visitor_id == visitor_id)
        .group_by(order_lines.c.product_id)
    )
    found["bought"] = {pid: int(n) for pid, n in conn.execute(bought)}
    return found
