"""Returns (log/returned): units of an order's products that came back, and what they take
off the order's figures.

A return is kept per (order, product) as the number of units returned so far, as the
shop's server last said: logging the same return again replaces the figure instead of
adding to it, so a retried call never counts twice (and 0 takes a return back). It is
kept even when the order is not recorded (yet): `settle` applies it when the order
arrives (tracking.record_sale calls it), so an import that comes later still counts it.

`settle` spreads each product's returned units over the order's lines of that product
in line order, never more than a line holds, and only over lines with a price of 0 or
more (a discount line is no product that can come back). Then the order's `total` is
its lines' (quantity - returned) x price, never below 0; `returned` is the amount the
returns took off, `discount` the sum of its discount lines. Reports read these
(reports.py), so a return lowers revenue, the order's impact, and the attributed
revenue of its lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select, update

from .engine import upsert
from .order_rollups import forget_days
from .rollups import day_of, take_back_revenue
from .schema import order_lines, order_returns, orders


def amounts(lines: Iterable[tuple[int, float, int]]) -> dict[str, float]:
    """An order's total, returned and discount amounts from its lines' (quantity, price,
    returned units): total = what the lines still hold, never below 0."""
    kept = returned = discount = 0.0
    for quantity, price, units_back in lines:
        if price < 0:
            discount -= quantity * price
        else:
            kept += (quantity - units_back) * price
            returned += units_back * price
    return {
        "total": round(max(kept - discount, 0.0), 2),
        "returned": round(returned, 2),
        "discount": round(discount, 2),
    }


def settle(conn: Connection, *, store_id: int, order_id: str) -> bool:
    """Apply the order's returns to its lines and amounts; False when it has none."""
    wanted = dict(
        conn.execute(
            select(order_returns.c.product_id, order_returns.c.quantity).where(
                order_returns.c.store_id == store_id, order_returns.c.order_id == order_id
            )
        ).all()
    )
    if not wanted:
        return False
    lines = conn.execute(
        select(
            order_lines.c.line,
            order_lines.c.product_id,
            order_lines.c.quantity,
            order_lines.c.price,
            order_lines.c.returned,
        )
        .where(order_lines.c.store_id == store_id, order_lines.c.order_id == order_id)
        .order_by(order_lines.c.line)
    ).all()
    left = {pid: int(n) for pid, n in wanted.items()}
    figures: list[tuple[int, float, int]] = []
    for line, product_id, quantity, price, was in lines:
        units = 0
        if price >= 0 and left.get(product_id, 0) > 0:
            units = min(int(quantity), left[product_id])
            left[product_id] -= units
        if units != was:
            conn.execute(
                update(order_lines)
                .where(
                    order_lines.c.store_id == store_id,
                    order_lines.c.order_id == order_id,
                    order_lines.c.line == line,
                )
                .values(returned=units)
            )
        figures.append((int(quantity), float(price), units))
    conn.execute(
        update(orders)
        .where(orders.c.store_id == store_id, orders.c.id == order_id)
        .values(**amounts(figures))
    )
    return True


def record_return(
    conn: Connection,
    *,
    store_id: int,
    order_id: str,
    product_id: str,
    quantity: int,
    ts: int,
) -> dict[str, Any]:
    """Keep that `quantity` units of the product came back from the order (replacing what
    an earlier call said), and apply it if the order is recorded.

    Answers whether the order is known, how many units were applied (no more than the
    order holds), and the order's returned amount and total now."""
    statement = upsert(conn, order_returns).values(
        store_id=store_id, order_id=order_id, product_id=product_id, quantity=quantity, ts=ts
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["store_id", "order_id", "product_id"],
            set_={"quantity": statement.excluded.quantity, "ts": statement.excluded.ts},
        )
    )
    before = conn.execute(
        select(orders.c.ts, orders.c.visitor_id, orders.c.total).where(
            orders.c.store_id == store_id, orders.c.id == order_id
        )
    ).first()
    if before is None:
        return {"order_known": False, "applied": 0}
    settle(conn, store_id=store_id, order_id=order_id)
    forget_days(conn, store_id=store_id, days=[day_of(int(before.ts))])
    after = conn.execute(
        select(orders.c.total, orders.c.returned).where(
            orders.c.store_id == store_id, orders.c.id == order_id
        )
    ).one()
    applied = sum(
        conn.scalars(
            select(order_lines.c.returned).where(
                order_lines.c.store_id == store_id,
                order_lines.c.order_id == order_id,
                order_lines.c.product_id == product_id,
            )
        )
    )
    change = round(float(before.total) - float(after.total), 2)
    if change and before.visitor_id is not None:
        take_back_revenue(
            conn,
            store_id=store_id,
            day=day_of(int(before.ts)),
            visitor_id=before.visitor_id,
            amount=change,
        )
    return {
        "order_known": True,
        "applied": int(applied),
        "order_total": float(after.total),
        "order_returned": float(after.returned),
    }
