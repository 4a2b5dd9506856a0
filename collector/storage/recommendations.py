"""The SQL behind recommendations: activity counts, co-purchases, co-views, history.

Every function answers for one store and reads only; ranking lives in
collector/recommendations.py.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Connection,
    Result,
    Select,
    bindparam,
    func,
    select,
    true,
    union_all,
)

from .catalogue import available, category_bits
from .schema import events, order_lines, orders, product_categories, products

Counts = dict[str, int]


def tuples(result: Result[Any]) -> Iterator[tuple[Any, ...]]:
    """A result's rows as plain tuples, read a few hundred at a time. A Row is tracked by
    the garbage collector and a tuple of strings and numbers soon is not: thousands of
    Rows alive at once are moved to the oldest generation, and make the next full
    collections (tens of ms, in whichever request they fall) come sooner."""
    for rows in result.partitions(500):
        yield from map(tuple, rows)


def views(conn: Connection, *, store_id: int, since: int, until: int | None = None) -> Counts:
    """Product views per product in [since, until)."""
    where = [events.c.store_id == store_id, events.c.kind == "view", events.c.ts >= since]
    if until is not None:
        where.append(events.c.ts < until)
    query = select(events.c.product_id, func.count()).where(*where).group_by(events.c.product_id)
    return {pid: n for pid, n in tuples(conn.execute(query)) if pid is not None}


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
    return {pid: int(n) for pid, n in tuples(conn.execute(query))}


def available_ids(conn: Connection, *, store_id: int, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    query = select(products.c.id).where(
        products.c.store_id == store_id, products.c.id.in_(list(ids)), available()
    )
    return set(conn.scalars(query).all())


def newest(conn: Connection, *, store_id: int, limit: int, exclude: Sequence[str]) -> list[str]:
    query = (
        select(products.c.id)
        .where(products.c.store_id == store_id, available(), products.c.id.not_in(list(exclude)))
        .order_by(products.c.created_at.desc().nulls_last(), products.c.id)
        .limit(limit)
    )
    return list(conn.scalars(query).all())


def category_members(conn: Connection, *, store_id: int, category: str) -> list[str]:
    query = select(product_categories.c.product_id).where(
        product_categories.c.store_id == store_id, product_categories.c.category == category
    )
    return list(conn.scalars(query).all())


def bought_together(
    conn: Connection, *, store_id: int, seeds: Sequence[str], max_orders: int = 2000
) -> Counts:
    """For each other product, the number of orders that hold it and one of the seeds.

    One statement of two plain lookups (the seeds' orders by product, at most
    `max_orders` lines of them, then those orders' lines by order id) and a count
    here: a join with GROUP BY lets the planner walk every line of the store in
    product order instead, seconds at 100,000 orders."""
    their_orders = (
        select(order_lines.c.order_id)
        .where(order_lines.c.store_id == store_id, order_lines.c.product_id.in_(list(seeds)))
        .limit(max_orders)
    )
    lines = select(order_lines.c.product_id, order_lines.c.order_id).where(
        order_lines.c.store_id == store_id, order_lines.c.order_id.in_(their_orders)
    )
    orders_of = Counter(pid for pid, _ in set(tuples(conn.execute(lines))))
    skip = set(seeds)
    return {pid: n for pid, n in orders_of.items() if pid not in skip}


def viewed_together(
    conn: Connection, *, store_id: int, seeds: Sequence[str], since: int, max_visitors: int = 200
) -> Counts:
    """For each other product, how many of the seeds' recent viewers also viewed it.

    Two index-only reads: the recent viewers (recent_viewers), then their views.
    Counting happens here: with a GROUP BY or a DISTINCT the planner walks an index
    of the whole store in product order instead."""
    recent = recent_viewers(
        conn, store_id=store_id, products=seeds, since=since, limit=max_visitors
    )
    if not recent:
        return {}
    views_of = select(events.c.product_id, events.c.visitor_id).where(
        events.c.store_id == store_id,
        events.c.visitor_id.in_(recent),
        events.c.kind == "view",
        events.c.ts >= since,
    )
    viewers = Counter(pid for pid, _ in set(tuples(conn.execute(views_of))))
    skip = {None, *seeds}
    return {pid: n for pid, n in viewers.items() if pid not in skip}


def recent_viewers(
    conn: Connection, *, store_id: int, products: Sequence[str], since: int, limit: int
) -> list[str]:
    """The `limit` visitors whose latest view of one of the products since `since` is
    the newest, newest first (ties by id).

    Each product's views come newest first from the (store, kind, product, ts, visitor)
    index, all products in one statement, a few rows each, then deeper (four times)
    for the products whose oldest view read is not older than the `limit`th visitor
    found so far: a view older than that changes nothing, as a visitor's time is their
    latest view."""
    depth = dict.fromkeys(products, max(2 * limit // max(len(products), 1), 20))
    last_seen: dict[str, int] = {}
    oldest: dict[str, int] = {}  # products not read to the end: the oldest time read
    pending = list(depth)
    recent: list[str] = []
    while pending:
        given: dict[str, Any] = {"store_id": store_id, "since": since}
        for i, pid in enumerate(pending):
            given.update({f"p{i}": pid, f"n{i}": depth[pid]})
        read: dict[str, list[int]] = {pid: [] for pid in pending}
        for pid, visitor_id, ts in tuples(conn.execute(_newest_views(len(pending)), given)):
            read[pid].append(ts)
            if ts > last_seen.get(visitor_id, -1):
                last_seen[visitor_id] = ts
        for pid, times in read.items():
            if len(times) == depth[pid]:
                oldest[pid] = min(times)
            else:
                oldest.pop(pid, None)
        recent = sorted(last_seen, key=lambda v: (-last_seen[v], v))[:limit]
        known = last_seen[recent[-1]] if len(recent) == limit else None
        pending = [pid for pid, ts in oldest.items() if known is None or ts >= known]
        for pid in pending:
            depth[pid] *= 4
    return recent


@functools.cache
def _newest_views(products: int) -> CompoundSelect[str, str, int]:
    """One statement for the newest views of `products` products, the i-th bound as p{i}
    and read as far as n{i} rows: built once for each count, as building it costs more
    than running it."""
    newest = [
        select(events.c.product_id, events.c.visitor_id, events.c.ts)
        .where(
            events.c.store_id == bindparam("store_id"),
            events.c.product_id == bindparam(f"p{i}"),
            events.c.kind == "view",
            events.c.ts >= bindparam("since"),
            events.c.visitor_id.is_not(None),
        )
        .order_by(events.c.ts.desc())
        .limit(bindparam(f"n{i}"))
        .subquery()
        for i in range(products)
    ]
    return union_all(*map(select, newest))


def similar(
    conn: Connection, *, store_id: int, seeds: Sequence[str], limit: int = 200
) -> list[tuple[str, int, float]]:
    """Products sharing a category with the seeds, priced within half of theirs either way:
    (id, shared categories, distance from the seeds' mean price), most shared first,
    then closest, then by id; "shared" counts a category once for each seed in it.

    Each seed category's price range is read from the (store, category, in stock,
    price) index on the copies product_categories keeps, never the whole category:
    its `limit` closest products (one that is only in this category and not among
    them has `limit` better ones) and, with several categories, those also in
    another of them (by the bits of the row's other categories, in the index too)."""
    mean_price = conn.execute(
        select(func.avg(products.c.price)).where(
            products.c.store_id == store_id, products.c.id.in_(list(seeds))
        )
    ).scalar()
    if mean_price is None:
        return []
    mean = float(mean_price)
    weight: Counts = {}  # seeds per category, from products.categories (by primary key)
    for listed in conn.scalars(
        select(products.c.categories).where(
            products.c.store_id == store_id, products.c.id.in_(list(seeds))
        )
    ).all():
        for category in dict.fromkeys(json.loads(listed)):
            weight[category] = weight.get(category, 0) + 1
    pc = product_categories

    def price_range(category: str) -> Select[str, float]:
        return select(pc.c.product_id, pc.c.price).where(
            pc.c.store_id == store_id,
            pc.c.category == category,
            pc.c.in_stock == true(),
            pc.c.price.between(mean * 0.5, mean * 1.5),
            pc.c.product_id.not_in(list(seeds)),
        )

    found: dict[str, tuple[int, float]] = {}  # id: (shared, price)
    for category, n in weight.items():
        for pid, price in closest(conn, price_range(category), mean, limit):
            found[pid] = (n, price)
    if len(weight) > 1:
        several: dict[str, tuple[int, float]] = {}
        for category, n in weight.items():
            others = category_bits(c for c in weight if c != category)
            in_others = price_range(category).where(pc.c.other_categories.bitwise_and(others) != 0)
            for pid, price in tuples(conn.execute(in_others)):
                several[pid] = (several.get(pid, (0, 0.0))[0] + n, price)
        found.update(several)  # counted in every seed category whose range holds it
    ranked = [(pid, n, abs(price - mean)) for pid, (n, price) in found.items()]
    ranked.sort(key=lambda item: (-item[1], item[2], item[0]))
    return ranked[:limit]


def closest(
    conn: Connection, prices: Select[str, float], mean: float, limit: int
) -> list[tuple[str, float]]:
    """The `limit` rows of (id, price) closest to `mean`, ties by id.

    Read in the order of an index on (..., price, id), without a sort (which would
    read the whole range): up from the mean and down from it, `limit` rows each; when
    a side fills up, all the rows at its last price too, as the database's order of
    ids (a collation, or descending) need not be this one."""
    pc = product_categories
    up = prices.where(pc.c.price >= mean).order_by(pc.c.price, pc.c.product_id)
    down = prices.where(pc.c.price < mean).order_by(pc.c.price.desc(), pc.c.product_id.desc())
    rows: dict[str, float] = {}
    for side in (up, down):
        read = conn.execute(side.limit(limit)).all()
        rows.update(read)
        if len(read) == limit:
            rows.update(conn.execute(prices.where(pc.c.price == read[-1][1])).all())
    ordered = sorted(rows.items(), key=lambda row: (abs(row[1] - mean), row[0]))
    return ordered[:limit]


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
    recent = [pid for pid in dict.fromkeys(conn.scalars(views_).all()) if pid and pid not in skip]
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
    for kind, pid, ts in conn.execute(seen).all():
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
        for pid, quantity in conn.execute(lines).all():
            found["bought"][pid] = found["bought"].get(pid, 0) + quantity
    return found
