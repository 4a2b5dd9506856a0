"""A store's orders as the orders API reads and deletes them (/v2/orders, private key).

Orders are written by tracking.record_sale (log/sale, the orders API and import); this
module lists them and deletes them. A listed order is what the shop's server would
need to check its sync: id, time, lines, customer id, total, returned amount and who
recorded it. Never its email, visitor id or page-view session: the private key is a
shop's server's secret, but one that leaks must not hand out who the shoppers are
or the bearer ids that would let anyone act as them (see docs/API.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, select

from .order_rollups import forget_days
from .rollups import day_of, take_back_revenue
from .schema import order_lines, order_returns, orders
from .tracking import drop_lines


def _time(ts: int) -> int | float:
    """Unix seconds, as the order was sent (whole seconds as an integer)."""
    return ts // 1000 if ts % 1000 == 0 else ts / 1000


def list_orders(
    conn: Connection,
    *,
    store_id: int,
    limit: int,
    offset: int,
    ids: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the store's orders, newest first, and how many match in all."""
    where = [orders.c.store_id == store_id]
    if ids is not None:
        where.append(orders.c.id.in_(list(ids)))
    total = conn.execute(select(func.count()).select_from(orders).where(*where)).scalar_one()
    page = conn.execute(
        select(
            orders.c.id,
            orders.c.ts,
            orders.c.customer,
            orders.c.total,
            orders.c.returned,
            orders.c.source,
        )
        .where(*where)
        .order_by(orders.c.ts.desc(), orders.c.id)
        .limit(limit)
        .offset(offset)
    ).all()
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if page:
        for order_id, product_id, quantity, price in conn.execute(
            select(
                order_lines.c.order_id,
                order_lines.c.product_id,
                order_lines.c.quantity,
                order_lines.c.price,
            )
            .where(
                order_lines.c.store_id == store_id,
                order_lines.c.order_id.in_([row.id for row in page]),
            )
            .order_by(order_lines.c.order_id, order_lines.c.line)
        ):
            lines[order_id].append({"id": product_id, "quantity": quantity, "price": price})
    found = []
    for row in page:
        item: dict[str, Any] = {"id": row.id, "time": _time(row.ts), "products": lines[row.id]}
        if row.customer is not None:
            item["customer"] = row.customer
        item.update(total=row.total, returned=row.returned, source=row.source)
        found.append(item)
    return found, int(total)


def delete_orders(conn: Connection, *, store_id: int, ids: Sequence[str]) -> int:
    """Delete these orders with what they counted: lines, bought-together pairs,
    attribution, returns, and their share of a day already rolled up (their days' order
    roll-ups are forgotten)."""
    wanted = sorted(set(ids))
    found = conn.execute(
        select(orders.c.id, orders.c.ts, orders.c.visitor_id, orders.c.total).where(
            orders.c.store_id == store_id, orders.c.id.in_(wanted)
        )
    ).all()
    forget_days(conn, store_id=store_id, days={day_of(row.ts) for row in found})
    for order_id, ts, visitor_id, total in found:
        drop_lines(conn, store_id=store_id, order_id=order_id)
        conn.execute(
            delete(order_returns).where(
                order_returns.c.store_id == store_id, order_returns.c.order_id == order_id
            )
        )
        if visitor_id is not None:
            take_back_revenue(
                conn,
                store_id=store_id,
                day=day_of(ts),
                visitor_id=visitor_id,
                amount=total,
                orders=1,
            )
        conn.execute(delete(orders).where(orders.c.store_id == store_id, orders.c.id == order_id))
    return len(found)
