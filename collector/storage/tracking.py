"""Tracking writes: events, sales, email links, baskets, visitor merges and erasure.

Each function takes a connection inside the writer's transaction and keyword
arguments that are already validated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, or_, select, update

from .attribution import attribute_orders, orders_of_email
from .engine import upsert
from .recommendations import add_co_purchases
from .schema import baskets, email_links, events, order_lines, orders
from .search import forget_searches


def event_row(
    *,
    store_id: int,
    ts: int,
    kind: str,
    visitor_mode: str,
    visitor_id: str | None,
    session: str | None,
    product_id: str | None = None,
    api: str | None = None,
    labels: Sequence[str] | None = None,
    position: int | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One row of `events`, ready for a (batched) INSERT."""
    return {
        "store_id": store_id,
        "ts": ts,
        "kind": kind,
        "visitor_mode": visitor_mode,
        "visitor_id": visitor_id,
        "session": session,
        "product_id": product_id,
        "api": api,
        "labels": None if labels is None else json.dumps(list(labels)),
        "position": position,
        "data": None if data is None else json.dumps(data),
    }


def record_event(conn: Connection, **fields: Any) -> None:
    conn.execute(events.insert(), [event_row(**fields)])


def record_sale(
    conn: Connection,
    *,
    store_id: int,
    ts: int,
    sale_id: str,
    lines: Sequence[dict[str, Any]],
    visitor_mode: str,
    visitor_id: str | None,
    session: str | None,
    email: str | None,
    customer: str | None,
    attribute: bool = True,
) -> bool:
    """Store an order once per sale id; return False when it was already there.

    With `attribute` (the default), its lines are attributed at once (see
    attribution.py); bulk importers pass False and attribute a whole batch.
    """
    total = round(sum(line["quantity"] * line["price"] for line in lines), 2)
    inserted = conn.execute(
        upsert(conn, orders)
        .values(
            store_id=store_id,
            id=sale_id,
            ts=ts,
            visitor_mode=visitor_mode,
            visitor_id=visitor_id,
            session=session,
            email=email,
            customer=customer,
            total=total,
        )
        .on_conflict_do_nothing(index_elements=["store_id", "id"])
        .returning(orders.c.id)
    ).first()
    if inserted is None:
        return False
    if lines:
        conn.execute(
            order_lines.insert(),
            [
                {
                    "store_id": store_id,
                    "order_id": sale_id,
                    "line": n,
                    "product_id": line["id"],
                    "quantity": line["quantity"],
                    "price": line["price"],
                }
                for n, line in enumerate(lines)
            ],
        )
        add_co_purchases(conn, store_id=store_id, lines=[line["id"] for line in lines])
    relinked = False
    if email and visitor_id:
        # A new link re-attributes the email's orders, this one included.
        relinked = link_email(
            conn, store_id=store_id, email=email, visitor_id=visitor_id, ts=ts, attribute=attribute
        )
    if attribute and not relinked and (visitor_id or email):
        attribute_orders(conn, store_id=store_id, order_ids=[sale_id])
    return True


def link_email(
    conn: Connection, *, store_id: int, email: str, visitor_id: str, ts: int, attribute: bool = True
) -> bool:
    """Link a visitor id to an email; return True when the link is new.

    A new link can join a click history to orders made on another device, so the
    email's orders are attributed again (unless `attribute` is False).
    """
    known = conn.execute(
        select(email_links.c.first_seen).where(
            email_links.c.store_id == store_id,
            email_links.c.email == email,
            email_links.c.visitor_id == visitor_id,
        )
    ).first()
    statement = upsert(conn, email_links).values(
        store_id=store_id, email=email, visitor_id=visitor_id, first_seen=ts, last_seen=ts
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["store_id", "email", "visitor_id"],
            set_={"last_seen": statement.excluded.last_seen},
        )
    )
    if known is not None:
        return False
    if attribute:
        attribute_orders(
            conn, store_id=store_id, order_ids=orders_of_email(conn, store_id=store_id, email=email)
        )
    return True


def record_basket(
    conn: Connection,
    *,
    store_id: int,
    ts: int,
    visitor_mode: str,
    visitor_id: str | None,
    session: str | None,
    op: str,
    products: Sequence[str] = (),
    product: str | None = None,
) -> list[str]:
    """Log a basket change ("set", "add" or "remove") and apply it to the visitor's basket."""
    record_event(
        conn,
        store_id=store_id,
        ts=ts,
        kind="basket",
        visitor_mode=visitor_mode,
        visitor_id=visitor_id,
        session=session,
        product_id=product,
        data={"op": op, "products": list(products)} if op == "set" else {"op": op},
    )
    if visitor_id is None:
        return list(products) if op == "set" else []
    items = _basket(conn, store_id, visitor_id)
    if op == "set":
        items = list(dict.fromkeys(products))
    elif op == "add" and product not in items:
        items.append(str(product))
    elif op == "remove":
        items = [item for item in items if item != product]
    _save_basket(conn, store_id, visitor_id, items, ts)
    return items


def _basket(conn: Connection, store_id: int, visitor_id: str) -> list[str]:
    current = conn.execute(
        select(baskets.c.products).where(
            baskets.c.store_id == store_id, baskets.c.visitor_id == visitor_id
        )
    ).scalar()
    return json.loads(current) if current else []


def _save_basket(
    conn: Connection, store_id: int, visitor_id: str, items: list[str], ts: int
) -> None:
    statement = upsert(conn, baskets).values(
        store_id=store_id, visitor_id=visitor_id, products=json.dumps(items), updated_at=ts
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["store_id", "visitor_id"],
            set_={"products": statement.excluded.products, "updated_at": ts},
        )
    )


def merge_visitor(conn: Connection, *, store_id: int, old_id: str, new_id: str, ts: int) -> int:
    """Carry a visitor's history over to a new id (consent given mid-visit)."""
    if old_id == new_id:
        return 0
    moved = conn.execute(
        update(events)
        .where(events.c.store_id == store_id, events.c.visitor_id == old_id)
        .values(visitor_id=new_id)
    ).rowcount
    conn.execute(
        update(orders)
        .where(orders.c.store_id == store_id, orders.c.visitor_id == old_id)
        .values(visitor_id=new_id)
    )
    links = conn.execute(
        select(email_links.c.email, email_links.c.first_seen, email_links.c.last_seen).where(
            email_links.c.store_id == store_id, email_links.c.visitor_id == old_id
        )
    ).all()
    for email, _first_seen, last_seen in links:
        link_email(conn, store_id=store_id, email=email, visitor_id=new_id, ts=last_seen)
    conn.execute(
        delete(email_links).where(
            email_links.c.store_id == store_id, email_links.c.visitor_id == old_id
        )
    )
    old_basket = _basket(conn, store_id, old_id)
    if old_basket:
        merged = list(dict.fromkeys(_basket(conn, store_id, new_id) + old_basket))
        _save_basket(conn, store_id, new_id, merged, ts)
    conn.execute(
        delete(baskets).where(baskets.c.store_id == store_id, baskets.c.visitor_id == old_id)
    )
    return moved


def forget(
    conn: Connection, *, store_id: int, visitor_ids: Sequence[str] = (), email: str | None = None
) -> dict[str, int]:
    """Erase an email and/or visitors: links, events, searches and baskets go; orders stay,
    anonymised."""
    ids = set(visitor_ids)
    if email:
        ids.update(
            conn.scalars(
                select(email_links.c.visitor_id).where(
                    email_links.c.store_id == store_id, email_links.c.email == email
                )
            )
        )
    counts = {"visitors": len(ids), "events": 0, "orders": 0, "links": 0, "searches": 0}
    who: list[ColumnElement[bool]] = [orders.c.visitor_id.in_(ids)] if ids else []
    if email:
        who.append(orders.c.email == email)
    if who:
        counts["orders"] = conn.execute(
            update(orders)
            .where(and_(orders.c.store_id == store_id, or_(*who)))
            .values(visitor_id=None, session=None, email=None, customer=None)
        ).rowcount
    if ids:
        counts["events"] = conn.execute(
            delete(events).where(events.c.store_id == store_id, events.c.visitor_id.in_(ids))
        ).rowcount
        counts["links"] = conn.execute(
            delete(email_links).where(
                email_links.c.store_id == store_id, email_links.c.visitor_id.in_(ids)
            )
        ).rowcount
        conn.execute(
            delete(baskets).where(baskets.c.store_id == store_id, baskets.c.visitor_id.in_(ids))
        )
        counts["searches"] = forget_searches(conn, store_id=store_id, visitor_ids=list(ids))
    if email:
        counts["links"] += conn.execute(
            delete(email_links).where(
                email_links.c.store_id == store_id, email_links.c.email == email
            )
        ).rowcount
    return counts
