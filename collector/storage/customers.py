"""A store's customers (Clerk's `customers` data: /v2/customers, the customers import).

A customer is the shop's own record of a shopper: `id` (the shop's customer id, as
orders name it in `customer`), `name`, `email` and any other attributes (kept as
JSON, read back as sent). What the collector does with one: a sale that names the
customer but carries no email is given the customer's email (tracking.record_sale),
and when a customer arrives after their orders, those orders without an email are
given it here, their visitors linked to it and their attribution computed again, so
that attribution follows the shopper across devices as if the sale had carried the
email. Null-mode sales keep no customer, so they never get an email this way.

Customers are personal data: privacy/forget deletes an email's customers (and
anonymises their orders: tracking.forget), retention deletes those the shop has not
sent again within the period (retention.py), and no public-key call reads them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from .attribution import attribute_orders
from .engine import upsert
from .schema import customers, orders
from .tracking import link_email

COLUMNS = ("email", "name")


def _row(store_id: int, item: dict[str, Any], now: int) -> dict[str, Any]:
    return {
        "store_id": store_id,
        "id": item["id"],
        "email": item.get("email"),
        "name": item.get("name"),
        "attributes": json.dumps(
            {k: v for k, v in item.items() if k not in ("id", *COLUMNS)}, ensure_ascii=False
        ),
        "updated_at": now,
    }


def upsert_customers(
    conn: Connection, *, store_id: int, items: Sequence[dict[str, Any]], now: int
) -> int:
    """Insert or replace customers (validated dicts; the last of a repeated id wins), then
    give their email to their orders that have none. Return how many were written."""
    unique = {item["id"]: item for item in items}
    if not unique:
        return 0
    rows = [_row(store_id, item, now) for item in unique.values()]
    statement = upsert(conn, customers)
    replace = {c: statement.excluded[c] for c in rows[0] if c not in ("store_id", "id")}
    conn.execute(
        statement.on_conflict_do_update(index_elements=["store_id", "id"], set_=replace), rows
    )
    with_email = {row["id"]: row["email"] for row in rows if row["email"]}
    if with_email:
        _give_emails(conn, store_id, with_email, now)
    return len(rows)


def _give_emails(conn: Connection, store_id: int, emails: dict[str, str], now: int) -> None:
    """The shop's own orders (source "server") of these customers that have no email get
    the customer's: linked as a sale with that email would have linked it, and attributed
    again. A browser's order is left alone: a page could name any customer id it guessed
    and so link its own visitor to that customer's email."""
    ids = list(emails)
    waiting: list[Any] = []
    for start in range(0, len(ids), 500):
        waiting += conn.execute(
            select(orders.c.id, orders.c.customer, orders.c.visitor_id, orders.c.ts).where(
                orders.c.store_id == store_id,
                orders.c.customer.in_(ids[start : start + 500]),
                orders.c.email.is_(None),
                orders.c.source == "server",
            )
        ).all()
    if not waiting:
        return
    for order_id, customer, visitor_id, ts in waiting:
        email = emails[customer]
        conn.execute(
            update(orders)
            .where(orders.c.store_id == store_id, orders.c.id == order_id)
            .values(email=email)
        )
        if visitor_id:
            link_email(
                conn, store_id=store_id, email=email, visitor_id=visitor_id, ts=ts, attribute=False
            )
    attribute_orders(conn, store_id=store_id, order_ids=[row[0] for row in waiting])


def _item(row: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": row.id}
    for column in COLUMNS:
        value = getattr(row, column)
        if value is not None:
            item[column] = value
    item.update(json.loads(row.attributes))
    return item


def list_customers(
    conn: Connection,
    *,
    store_id: int,
    limit: int,
    offset: int,
    ids: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the store's customers by id, and how many match in all."""
    where = [customers.c.store_id == store_id]
    if ids is not None:
        where.append(customers.c.id.in_(list(ids)))
    total = conn.execute(select(func.count()).select_from(customers).where(*where)).scalar_one()
    rows = conn.execute(
        select(customers).where(*where).order_by(customers.c.id).limit(limit).offset(offset)
    )
    return [_item(row) for row in rows], int(total)


def delete_customers(conn: Connection, *, store_id: int, ids: Sequence[str]) -> int:
    """Delete these customers (their orders keep the email they were given)."""
    result = conn.execute(
        delete(customers).where(customers.c.store_id == store_id, customers.c.id.in_(set(ids)))
    )
    return int(result.rowcount)
