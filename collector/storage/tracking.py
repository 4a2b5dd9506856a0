"""Tracking writes: events, sales, email links, baskets, visitor merges and erasure.

Each function takes a connection inside the writer's transaction and keyword
arguments that are already validated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, and_, delete, func, or_, select, update

from .attribution import attribute_link, attribute_orders
from .engine import upsert
from .order_rollups import forget_days, forget_orders
from .recommendations import add_co_purchases, take_back_co_purchases
from .returns import amounts, settle
from .rollups import day_of
from .schema import (
    baskets,
    customers,
    email_links,
    events,
    order_attribution,
    order_lines,
    orders,
    stores,
)
from .searches import forget_searches
from .writer import InsertRow


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


def event(**fields: Any) -> InsertRow:
    """One event (the arguments of event_row) as a write for the group commit
    (`Storage.insert`), batched with its neighbours into one executemany."""
    return InsertRow(events, event_row(**fields))


def record_event(conn: Connection, **fields: Any) -> None:
    conn.execute(events.insert(), [event_row(**fields)])


def has_orders(conn: Connection, *, public_key: str) -> bool:
    """Whether the store of this public key has any order (the demo simulates a month of
    traffic on its first start, when it has none)."""
    found = conn.execute(
        select(orders.c.id)
        .join(stores, stores.c.id == orders.c.store_id)
        .where(stores.c.public_key == public_key)
        .limit(1)
    ).first()
    return found is not None


# Visitor ids kept per email: when a link beyond this is made, the email's oldest link
# (by when it was made) goes. One email gains a cookieless id per salt period (a day by
# default) on every visit it is given on, and the events behind links older than the
# retention period (13 months by default, email links included) are gone anyway, so a
# real shopper stays well below it. Dropping the oldest rather than refusing new ones
# means that anyone who knows an address (log/email takes the public key) cannot fill its
# quota and stop the real shopper's devices from linking; their next visit links again.
# A dropped link does not change attribution already stored; the cap bounds what every
# later read of the email's visitors (attribution of its orders, forget, customers) does.
MAX_LINKS_PER_EMAIL = 1_000

SaleOutcome = Literal["new", "replaced"]


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
    source: str = "browser",
) -> SaleOutcome | None:
    """Store an order once per sale id: "new", "replaced", or None when it was already there.

    `source` is "browser" (log/sale with the public key only) or "server" (log/sale with
    the private key, or the orders import). A server sale replaces an order with its id
    that a browser recorded: anyone can log a sale from a page, so a browser's record
    is only kept until the shop's own says otherwise (lines, total, time, visitor,
    email and customer as the server sends them, its co-purchase pairs taken back, its
    attribution computed again). A browser sale never replaces anything, and a server
    sale never replaces a server one (logging it twice counts it once).

    With `attribute` (the default), its lines are attributed at once (see
    attribution.py); bulk importers pass False and attribute a whole batch.

    Lines are kept as sent, negative prices (discount lines) included; the order's total
    is their sum, never below 0, less any returns already logged for it (returns.py).

    A server sale that names a `customer` but no `email` is given the email of that
    customer (storage/customers.py), when the store has it: stored, linked and
    attributed as if the sale had carried it. A browser sale is not: a page could name
    any customer id it guessed and so link its visitor to that customer's email.
    """
    if email is None and customer is not None and source == "server":
        email = conn.scalar(
            select(customers.c.email).where(
                customers.c.store_id == store_id, customers.c.id == customer
            )
        )
    order = {
        "ts": ts,
        "visitor_mode": visitor_mode,
        "visitor_id": visitor_id,
        "session": session,
        "email": email,
        "customer": customer,
        # total (never below 0: discount lines have negative prices), returned, discount
        **amounts((line["quantity"], line["price"], 0) for line in lines),
        "source": source,
    }
    outcome: SaleOutcome = "new"
    inserted = conn.execute(
        upsert(conn, orders)
        .values(store_id=store_id, id=sale_id, **order)
        .on_conflict_do_nothing(index_elements=["store_id", "id"])
        .returning(orders.c.id)
    ).first()
    if inserted is None:
        if source != "server":
            return None
        # The day it was on forgets its order roll-up (it may move to another day).
        forget_orders(conn, store_id=store_id, order_ids=[sale_id])
        # Take the browser's order over in one statement (a second server sale finds none).
        taken = conn.execute(
            update(orders)
            .where(orders.c.store_id == store_id, orders.c.id == sale_id)
            .where(orders.c.source != "server")
            .values(**order)
            .returning(orders.c.id)
        ).first()
        if taken is None:
            return None
        drop_lines(conn, store_id=store_id, order_id=sale_id)
        outcome = "replaced"
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
    # Returns the shop logged before the order arrived (storage/returns.py).
    settle(conn, store_id=store_id, order_id=sale_id)
    if email and visitor_id:
        # A new link updates the attribution of the email's other orders and of the
        # visitor's (see attribution.attribute_link); this one is attributed below.
        link_email(
            conn, store_id=store_id, email=email, visitor_id=visitor_id, ts=ts, attribute=attribute
        )
    if attribute and (visitor_id or email):
        # (Which forgets the order roll-up of its day too.)
        attribute_orders(conn, store_id=store_id, order_ids=[sale_id])
    else:  # a late order changes a day already rolled up
        forget_days(conn, store_id=store_id, days=[day_of(ts)])
    return outcome


def drop_lines(conn: Connection, *, store_id: int, order_id: str) -> None:
    """Remove an order's lines and what they counted (co-purchase pairs, attribution)."""
    old = conn.scalars(
        select(order_lines.c.product_id)
        .where(order_lines.c.store_id == store_id, order_lines.c.order_id == order_id)
        .order_by(order_lines.c.line)
    ).all()
    take_back_co_purchases(conn, store_id=store_id, lines=list(old))
    conn.execute(
        delete(order_lines).where(
            order_lines.c.store_id == store_id, order_lines.c.order_id == order_id
        )
    )
    conn.execute(
        delete(order_attribution).where(
            order_attribution.c.store_id == store_id, order_attribution.c.order_id == order_id
        )
    )


def link_email(
    conn: Connection, *, store_id: int, email: str, visitor_id: str, ts: int, attribute: bool = True
) -> bool:
    """Link a visitor id to an email; return True when the link is new.

    A new link can join a click history to orders made on another device: the
    attribution is brought up to date incrementally (attribution.attribute_link;
    unless `attribute` is False). The email keeps its MAX_LINKS_PER_EMAIL latest
    links. A handful of statements whatever the email holds already.
    """
    same = (
        (email_links.c.store_id == store_id)
        & (email_links.c.email == email)
        & (email_links.c.visitor_id == visitor_id)
    )
    known = conn.execute(select(email_links.c.first_seen).where(same)).first()
    if known is not None:
        conn.execute(update(email_links).where(same).values(last_seen=ts))
        return False
    newest = conn.scalar(
        select(func.max(email_links.c.seq)).where(
            email_links.c.store_id == store_id, email_links.c.email == email
        )
    )
    seq = int(newest or 0) + 1
    statement = upsert(conn, email_links).values(
        store_id=store_id, email=email, visitor_id=visitor_id, first_seen=ts, last_seen=ts, seq=seq
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["store_id", "email", "visitor_id"],
            set_={"last_seen": statement.excluded.last_seen},
        )
    )
    # Numbers are not reused, so this is an index range of (nearly always) one row.
    conn.execute(
        delete(email_links).where(
            email_links.c.store_id == store_id,
            email_links.c.email == email,
            email_links.c.seq <= seq - MAX_LINKS_PER_EMAIL,
        )
    )
    if attribute:
        attribute_link(conn, store_id=store_id, email=email, visitor_id=visitor_id)
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
    """Erase an email and/or visitors: links, events, searches, baskets and the email's
    customer records go; orders stay, anonymised (those of the email's customers too)."""
    ids = set(visitor_ids)
    if email:
        ids.update(
            conn.scalars(
                select(email_links.c.visitor_id).where(
                    email_links.c.store_id == store_id, email_links.c.email == email
                )
            )
        )
    counts = {
        "visitors": len(ids),
        "events": 0,
        "orders": 0,
        "links": 0,
        "searches": 0,
        "customers": 0,
    }
    who: list[ColumnElement[bool]] = [orders.c.visitor_id.in_(ids)] if ids else []
    customer_ids: list[str] = []
    if email:
        who.append(orders.c.email == email)
        mine = (customers.c.store_id == store_id) & (customers.c.email == email)
        customer_ids = list(conn.scalars(select(customers.c.id).where(mine)))
        if customer_ids:
            who.append(orders.c.customer.in_(customer_ids))
            counts["customers"] = conn.execute(delete(customers).where(mine)).rowcount
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
