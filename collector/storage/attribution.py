"""Which order lines were sold through Clerk, and which widget gets the credit.

A line is sold through Clerk when the order's shopper clicked that product in a
Clerk widget or search result (an event of kind "click" whose api starts with
"recommendations/" or "search/") before ordering it, within the attribution
window. The shopper is the order's visitor id together with every visitor id
linked to the same email (cross-device), including the order's own email. Orders
without a visitor id and without an email (null mode) are never attributed.

`attribute_orders` stores, per line, the LAST such click at any age; readers apply
the window (click_ts >= order_ts - window). The last click inside the window is the
last click overall when that one is inside, and there is none otherwise, so the
stored row answers every window.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select

from .schema import email_links, events, order_attribution, order_lines, orders

CLERK_APIS = ("recommendations/", "search/")
_CHUNK = 500  # orders per statement (bound parameters stay well under every limit)


def source_of(api: str) -> str:
    return "search" if api.startswith("search/") else "recommendations"


def attribute_orders(
    conn: Connection, *, store_id: int, order_ids: Sequence[str] | None = None
) -> int:
    """(Re)compute the attribution of these orders (all of the store's when None).

    Returns how many lines are attributed now. Idempotent. Works a chunk of orders
    at a time, each step an index lookup: the orders, their lines, the email links
    of their shoppers, then those visitors' clicks (events by store, visitor, ts).
    """
    if order_ids is None:
        conn.execute(delete(order_attribution).where(order_attribution.c.store_id == store_id))
        ids: list[str] = list(
            conn.scalars(
                select(orders.c.id).where(
                    orders.c.store_id == store_id,
                    or_(orders.c.visitor_id.is_not(None), orders.c.email.is_not(None)),
                )
            )
        )
    else:
        ids = list(dict.fromkeys(order_ids))
    done = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        if order_ids is not None:
            conn.execute(
                delete(order_attribution).where(
                    order_attribution.c.store_id == store_id,
                    order_attribution.c.order_id.in_(chunk),
                )
            )
        rows = _attribute(conn, store_id, chunk)
        if rows:
            conn.execute(insert(order_attribution), rows)
        done += len(rows)
    return done


def _attribute(conn: Connection, store_id: int, order_ids: list[str]) -> list[dict[str, Any]]:
    """The attribution rows of these orders (at most _CHUNK of them)."""
    found = conn.execute(
        select(orders.c.id, orders.c.ts, orders.c.visitor_id, orders.c.email).where(
            orders.c.store_id == store_id, orders.c.id.in_(order_ids)
        )
    ).all()
    found = [o for o in found if o.visitor_id is not None or o.email is not None]
    if not found:
        return []
    # Who each order's shopper is: its visitor id, and every id linked to an email
    # that is linked to that id or is the order's own.
    own_ids = {o.visitor_id for o in found if o.visitor_id is not None}
    emails_of: dict[str, set[str]] = defaultdict(set)
    if own_ids:
        for email, visitor in conn.execute(
            select(email_links.c.email, email_links.c.visitor_id).where(
                email_links.c.store_id == store_id, email_links.c.visitor_id.in_(own_ids)
            )
        ):
            emails_of[visitor].add(email)
    wanted = {e for es in emails_of.values() for e in es} | {
        o.email for o in found if o.email is not None
    }
    visitors_of: dict[str, set[str]] = defaultdict(set)
    for start in range(0, len(wanted), _CHUNK):
        for email, visitor in conn.execute(
            select(email_links.c.email, email_links.c.visitor_id).where(
                email_links.c.store_id == store_id,
                email_links.c.email.in_(sorted(wanted)[start : start + _CHUNK]),
            )
        ):
            visitors_of[email].add(visitor)
    shopper: dict[str, set[str]] = {}
    for o in found:
        ids = {o.visitor_id} if o.visitor_id is not None else set()
        for email in emails_of.get(o.visitor_id, set()) | ({o.email} if o.email else set()):
            ids |= visitors_of.get(email, set())
        shopper[o.id] = ids
    lines: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for order_id, line, product_id in conn.execute(
        select(order_lines.c.order_id, order_lines.c.line, order_lines.c.product_id).where(
            order_lines.c.store_id == store_id, order_lines.c.order_id.in_([o.id for o in found])
        )
    ):
        lines[order_id].append((line, product_id))
    # Their Clerk clicks, newest first per (visitor, product).
    everyone = sorted({v for ids in shopper.values() for v in ids})
    clicks: dict[tuple[str, str], list[tuple[int, int, str, str]]] = defaultdict(list)
    for start in range(0, len(everyone), _CHUNK):
        for visitor, product_id, ts, id_, api, labels in conn.execute(
            select(
                events.c.visitor_id,
                events.c.product_id,
                events.c.ts,
                events.c.id,
                events.c.api,
                events.c.labels,
            ).where(
                events.c.store_id == store_id,
                events.c.visitor_id.in_(everyone[start : start + _CHUNK]),
                events.c.kind == "click",
            )
        ):
            if api and api.startswith(CLERK_APIS) and product_id is not None:
                clicks[(visitor, product_id)].append((ts, id_, api, labels or "[]"))
    rows = []
    for o in found:
        for line, product_id in lines.get(o.id, []):
            before = [
                click
                for visitor in shopper[o.id]
                for click in clicks.get((visitor, product_id), ())
                if click[0] <= o.ts
            ]
            if not before:
                continue
            ts, _, api, labels = max(before)
            rows.append(
                {
                    "store_id": store_id,
                    "order_id": o.id,
                    "line": line,
                    "product_id": product_id,
                    "order_ts": o.ts,
                    "click_ts": ts,
                    "api": api,
                    "labels": labels,
                    "source": source_of(api),
                }
            )
    return rows


def orders_of_email(conn: Connection, *, store_id: int, email: str) -> list[str]:
    """The orders whose shopper includes this email's visitors (to re-attribute on a new link)."""
    linked = select(email_links.c.visitor_id).where(
        email_links.c.store_id == store_id, email_links.c.email == email
    )
    return list(
        conn.scalars(
            select(orders.c.id).where(
                orders.c.store_id == store_id,
                or_(orders.c.email == email, orders.c.visitor_id.in_(linked)),
            )
        )
    )
