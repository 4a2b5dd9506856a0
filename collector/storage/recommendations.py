"""The SQL behind recommendations: activity counts, co-purchases, co-views, history.

Every function answers for one store and reads only, but for `add_co_purchases` (a
recorded sale), `take_back_co_purchases` (a replaced one) and `fill_co_purchases`
(migration 8); ranking lives in
collector/recommendations.py.

Somewhat over 500 lines: each algorithm's SQL (counts, pairs, co-views, similar
products, a visitor's interests) is short, and they share the read caps and the
covering-index tricks written once at the top; splitting them would scatter those.
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
    Integer,
    Result,
    Select,
    bindparam,
    case,
    delete,
    distinct,
    func,
    literal,
    select,
    true,
    union_all,
    update,
)

from ..filters import Expr
from . import attributes
from .catalogue import available, category_bits
from .engine import upsert
from .schema import (
    PAIRED_LINES,
    co_purchases,
    events,
    order_lines,
    orders,
    product_categories,
    products,
)

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


def _filtered(store_id: int, where: list[Any], expr: Expr | None) -> list[Any]:
    """These conditions on products, and the filter's (when there is one)."""
    if expr is None:
        return where
    return [*where, attributes.condition(expr, store_id, products.c.id)]


def available_ids(
    conn: Connection, *, store_id: int, ids: Sequence[str], filter: Expr | None = None
) -> set[str]:
    """Those of these products that exist, are in stock and satisfy the filter."""
    if not ids:
        return set()
    where = [products.c.store_id == store_id, products.c.id.in_(list(ids)), available()]
    query = select(products.c.id).where(*_filtered(store_id, where, filter))
    return set(conn.scalars(query).all())


def newest(
    conn: Connection,
    *,
    store_id: int,
    limit: int,
    exclude: Sequence[str],
    filter: Expr | None = None,
) -> list[str]:
    """Newest first by created_at, undated products last (ties by id).

    Dated and undated products are two statements: `ORDER BY created_at DESC NULLS
    LAST` is the order of a backward scan of (store_id, created_at) on SQLite but not on
    PostgreSQL (where that scan gives NULLS FIRST), which sorted every product of the
    store instead (38 ms at 100,000; bench/recs.py), while `created_at IS NOT NULL ...
    ORDER BY created_at DESC` reads the index from its end on both."""
    where = [products.c.store_id == store_id, available(), products.c.id.not_in(list(exclude))]
    where = _filtered(store_id, where, filter)
    dated = (
        select(products.c.id)
        .where(*where, products.c.created_at.is_not(None))
        .order_by(products.c.created_at.desc(), products.c.id)
        .limit(limit)
    )
    found = list(conn.scalars(dated).all())
    if len(found) < limit:
        undated = (
            select(products.c.id)
            .where(*where, products.c.created_at.is_(None))
            .order_by(products.c.id)
            .limit(limit - len(found))
        )
        found += conn.scalars(undated).all()
    return found


def category_members(conn: Connection, *, store_id: int, category: str) -> list[str]:
    query = select(product_categories.c.product_id).where(
        product_categories.c.store_id == store_id, product_categories.c.category == category
    )
    return list(conn.scalars(query).all())


def bought_together(
    conn: Connection, *, store_id: int, seeds: Sequence[str], top: int | None = None
) -> Counts:
    """For each other product, the orders that hold it and a seed, summed over the seeds
    (an order holding two seeds counts twice), from co_purchases; with `top`, only the
    `top` most bought together (ties by id in Python's order).

    One read of the seeds' rows by primary key, summed in the database."""
    cp = co_purchases
    n = func.sum(cp.c.orders)
    query = (
        select(cp.c.other_id, n)
        .where(
            cp.c.store_id == store_id,
            cp.c.product_id.in_(list(seeds)),
            cp.c.other_id.not_in(list(seeds)),
        )
        .group_by(cp.c.other_id)
    )
    if top is not None:
        query = query.order_by(n.desc(), _by_id(conn, cp.c.other_id)).limit(top)
    return {pid: int(count) for pid, count in conn.execute(query).all()}


def add_co_purchases(conn: Connection, *, store_id: int, lines: Sequence[str]) -> None:
    """Count one order (of these lines' product ids, in line order) in co_purchases:
    each ordered pair of different products among its first PAIRED_LINES lines."""
    pairs = _pairs_of(lines)
    if not pairs:
        return
    statement = upsert(conn, co_purchases)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["store_id", "product_id", "other_id"],
            set_={"orders": co_purchases.c.orders + statement.excluded.orders},
        ),
        [{"store_id": store_id, "product_id": a, "other_id": b, "orders": 1} for a, b in pairs],
    )


def take_back_co_purchases(conn: Connection, *, store_id: int, lines: Sequence[str]) -> None:
    """Undo add_co_purchases for one order of these lines (a replaced sale): each of its
    pairs counts one order less, and a pair no order holds any more goes."""
    pairs = _pairs_of(lines)
    if not pairs:
        return
    keys = [{"s": store_id, "a": a, "b": b} for a, b in pairs]
    same = (
        (co_purchases.c.store_id == bindparam("s"))
        & (co_purchases.c.product_id == bindparam("a"))
        & (co_purchases.c.other_id == bindparam("b"))
    )
    conn.execute(update(co_purchases).where(same).values(orders=co_purchases.c.orders - 1), keys)
    conn.execute(delete(co_purchases).where(same, co_purchases.c.orders <= 0), keys)


def _pairs_of(lines: Sequence[str]) -> list[tuple[str, str]]:
    products = list(dict.fromkeys(lines[:PAIRED_LINES]))
    return [(a, b) for a in products for b in products if a != b]


def fill_co_purchases(conn: Connection) -> None:
    """Count every order there is in co_purchases (migration 8): the pairs counted here,
    then inserted 5,000 rows at a time."""
    ol = order_lines
    query = (
        select(ol.c.store_id, ol.c.order_id, ol.c.product_id)
        .where(ol.c.line < PAIRED_LINES)
        .order_by(ol.c.store_id, ol.c.order_id, ol.c.line)
    )
    counts: Counter[tuple[int, str, str]] = Counter()
    order: tuple[int, str] | None = None
    products: list[str] = []
    for store_id, order_id, product_id in tuples(conn.execute(query)):
        if (store_id, order_id) != order:
            if order is not None:
                counts.update((order[0], a, b) for a, b in _pairs_of(products))
            order, products = (store_id, order_id), []
        products.append(product_id)
    if order is not None:
        counts.update((order[0], a, b) for a, b in _pairs_of(products))
    rows = [
        {"store_id": s, "product_id": a, "other_id": b, "orders": n}
        for (s, a, b), n in counts.items()
    ]
    for start in range(0, len(rows), 5000):
        conn.execute(co_purchases.insert(), rows[start : start + 5000])


def _by_id(conn: Connection, column: Any) -> Any:
    """`column` to order ids by, as Python orders them (PostgreSQL: bytewise, "C")."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column


# viewed_together's read cap: 100 visitors' views in 30 days. On the benchmark's data set
# (docs/benchmarks.md) the most viewed product's 100 latest viewers viewed 3,717
# products, the heaviest visitor 310; the tests read under 1,000. Past the cap the
# counts come from the views read first (the viewers in index order), not from all.
MAX_VIEWS_READ = 10_000


def viewed_together(
    conn: Connection,
    *,
    store_id: int,
    seeds: Sequence[str],
    since: int,
    max_visitors: int = 100,
    top: int | None = None,
    among: Sequence[str] | None = None,
    also: Sequence[str] = (),
) -> Counts:
    """For each other product (of those `among`, when given), how many of the seeds'
    `max_visitors` latest viewers since `since` (recent_viewers) also viewed it since
    then; with `top`, only the products `also` asked for and the best of the others
    (ties by id in Python's order): at least the `top` most viewed, at most `top` +
    len(`also`) products.

    The viewers' views come by the (store, visitor, ts) index and are counted in the
    database: only the counts come to Python. The views are read in a subquery with a
    LIMIT (a cap far above any real read), which SQLite does not merge into the GROUP
    BY: merged, it reads every view of the store by the (store, kind, product) index,
    which gives product order, instead of these visitors' few."""
    visitors = recent_viewers(
        conn, store_id=store_id, products=seeds, since=since, limit=max_visitors
    )
    if not visitors or among == []:
        return {}
    views_of = (
        select(events.c.product_id, events.c.visitor_id)
        .where(
            events.c.store_id == store_id,
            events.c.visitor_id.in_(visitors),
            events.c.kind == "view",
            events.c.ts >= since,
            events.c.product_id.not_in(list(seeds)),
        )
        .limit(MAX_VIEWS_READ)
    )
    if among is not None:
        # Tested on `product_id || ''`, which no index has: on the column itself,
        # SQLite reads every view of those products by the (store, kind, product) index.
        views_of = views_of.where(events.c.product_id.concat("").in_(list(among)))
    product_id, visitor_id = views_of.subquery().c
    n = func.count(distinct(visitor_id))
    query = select(product_id, n).group_by(product_id)
    if top is not None:
        wanted = [case((product_id.in_(list(also)), 0), else_=1)] if also else []
        query = query.order_by(*wanted, n.desc(), _by_id(conn, product_id))
        query = query.limit(top + len(also))
    return {pid: count for pid, count in conn.execute(query).all() if pid is not None}


# recent_viewers' read cap per product: 100 viewers found in 2,000 views is 20 views of
# the one product per viewer in 30 days.
MAX_SEED_VIEWS_READ = 2_000


def recent_viewers(
    conn: Connection, *, store_id: int, products: Sequence[str], since: int, limit: int
) -> list[str]:
    """The `limit` visitors whose latest view of one of the products since `since` is
    the newest, newest first (ties by id).

    Each product's views come newest first from the (store, kind, product, ts, visitor)
    index, all products in one statement, a few rows each, then deeper (four times)
    for the products whose oldest view read is not older than the `limit`th visitor
    found so far: a view older than that changes nothing, as a visitor's time is their
    latest view. At most MAX_SEED_VIEWS_READ views of each product are read: a product
    viewed over and over by a few (a bot) gives fewer viewers, not a longer read."""
    first = max(2 * limit // max(len(products), 1), 20)
    depth = dict.fromkeys(products, min(first, MAX_SEED_VIEWS_READ))
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
        pending = [
            pid
            for pid, ts in oldest.items()
            if (known is None or ts >= known) and depth[pid] < MAX_SEED_VIEWS_READ
        ]
        for pid in pending:
            depth[pid] = min(depth[pid] * 4, MAX_SEED_VIEWS_READ)
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

    def in_category(category: str) -> Select[str, float]:
        return select(pc.c.product_id, pc.c.price).where(
            pc.c.store_id == store_id,
            pc.c.category == category,
            pc.c.in_stock == true(),
            pc.c.product_id.not_in(list(seeds)),
        )

    def price_range(category: str) -> Select[str, float]:
        return in_category(category).where(pc.c.price.between(mean * 0.5, mean * 1.5))

    found: dict[str, tuple[int, float]] = {}  # id: (shared, price)
    for category, n in weight.items():
        for pid, price in closest(conn, in_category(category), mean, limit):
            found[pid] = (n, price)
    if len(weight) > 1:
        # Those in several seed categories, counted in every one whose range holds them,
        # ranked in the database: only the best `limit` come back. One left out has
        # `limit` better ones here, whatever a plain range above says of it.
        in_others = []
        for category, n in weight.items():
            others = category_bits(c for c in weight if c != category)
            in_others.append(
                price_range(category)
                .where(pc.c.other_categories.bitwise_and(others) != 0)
                .add_columns(literal(n, Integer).label("weight"))
            )
        rows = union_all(*in_others).subquery()
        shared, its_price = func.sum(rows.c.weight), func.max(rows.c.price)
        several = (
            select(rows.c.product_id, shared, its_price)
            .group_by(rows.c.product_id)
            .order_by(shared.desc(), func.abs(its_price - mean), _by_id(conn, rows.c.product_id))
            .limit(limit)
        )
        found.update((pid, (int(n), p)) for pid, n, p in conn.execute(several).all())
    ranked = [(pid, n, abs(price - mean)) for pid, (n, price) in found.items()]
    ranked.sort(key=lambda item: (-item[1], item[2], item[0]))
    return ranked[:limit]


def closest(
    conn: Connection, prices: Select[str, float], mean: float, limit: int
) -> list[tuple[str, float]]:
    """The `limit` rows of (id, price) priced within half of `mean` either way and
    closest to it, ties by id.

    Read in the order of an index on (..., price, id), without a sort (which would
    read the whole range): up from the mean and down from it, `limit` rows each; when
    a side fills up, the rows at its last price too, by id as Python orders ids (the
    index has them in the database's order: a collation, or descending), at most
    `limit` of them (an equality on the price alone: with the range as well, SQLite
    reads the range and sorts it)."""
    pc = product_categories
    up = prices.where(pc.c.price >= mean, pc.c.price <= mean * 1.5)
    up = up.order_by(pc.c.price, pc.c.product_id)
    down = prices.where(pc.c.price < mean, pc.c.price >= mean * 0.5)
    down = down.order_by(pc.c.price.desc(), pc.c.product_id.desc())
    rows: dict[str, float] = {}
    for side in (up, down):
        read = conn.execute(side.limit(limit)).all()
        rows.update(read)
        if len(read) == limit:
            ties = prices.where(pc.c.price == read[-1][1])
            rows.update(
                conn.execute(ties.order_by(_by_id(conn, pc.c.product_id)).limit(limit)).all()
            )
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
    filter: Expr | None = None,
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
        ok = available_ids(conn, store_id=store_id, ids=chunk, filter=filter)
        chosen += [pid for pid in chunk if pid in ok]
        if len(chosen) >= limit:
            break
    return chosen[:limit]


# What interests() reads of one visitor, at most: their newest views and clicks, and the
# lines of their newest orders. Recommendations start from the 20 most recent products
# (and skip what was bought): a long history (a bot's, or an id shared by an attacker)
# costs no more than this.
MAX_INTEREST_EVENTS = 1_000
MAX_INTEREST_ORDERS = 100
MAX_INTEREST_LINES = 1_000


def interests(
    conn: Connection, *, store_id: int, visitor_id: str, since: int
) -> dict[str, dict[str, int]]:
    """What a visitor viewed, clicked and bought since a time: {kind: {product: count}},
    each kind's products most recent first; of the newest MAX_INTEREST_EVENTS views and
    clicks and the lines (MAX_INTEREST_LINES at most) of the MAX_INTEREST_ORDERS newest
    orders.

    Views and clicks come by the (store, visitor, ts) index (the time bound in SQL:
    without it SQLite may read every view and click of the store by the (store, kind)
    index instead) and are counted here."""
    seen = (
        select(events.c.kind, events.c.product_id)
        .where(
            events.c.store_id == store_id,
            events.c.visitor_id == visitor_id,
            events.c.ts >= since,
            events.c.kind.in_(["view", "click"]),
        )
        .order_by(events.c.ts.desc(), events.c.id.desc())
        .limit(MAX_INTEREST_EVENTS)
    )
    found: dict[str, dict[str, int]] = {"view": {}, "click": {}, "bought": {}}
    for kind, pid in conn.execute(seen).all():
        if pid is not None:
            found[kind][pid] = found[kind].get(pid, 0) + 1
    # Ordered by `ts + 0`, which no index gives: by ts itself, SQLite reads the store's
    # orders by time instead of the visitor's by (store, visitor), then sorts those.
    theirs = conn.execute(
        select(orders.c.id)
        .where(orders.c.store_id == store_id, orders.c.visitor_id == visitor_id)
        .order_by((orders.c.ts + 0).desc(), orders.c.id)
        .limit(MAX_INTEREST_ORDERS)
    ).all()
    newest_first = {order_id: n for n, (order_id,) in enumerate(theirs)}
    bought: list[tuple[Any, ...]] = []
    if newest_first:
        lines = (
            select(
                order_lines.c.order_id,
                order_lines.c.line,
                order_lines.c.product_id,
                order_lines.c.quantity,
            )
            .where(
                order_lines.c.store_id == store_id,
                order_lines.c.order_id.in_(list(newest_first)),
            )
            .limit(MAX_INTEREST_LINES)
        )
        bought = list(tuples(conn.execute(lines)))
    bought.sort(key=lambda row: (newest_first[row[0]], row[1]))
    for _, _, pid, quantity in bought:
        found["bought"][pid] = found["bought"].get(pid, 0) + quantity
    return found
