"""Popularity: each document's units sold and product views, recounted from
order_lines and events (popularity_changes, a read) and saved with the time of the
recount (save_popularity); ranking orders matches by them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from ..engine import upsert
from ..schema import events, order_lines, search_documents, search_popularity


def popularity_changes(conn: Connection, *, store_id: int) -> list[dict[str, Any]]:
    """Documents whose units sold or views differ from the recorded ones (a read only)."""
    sold = (
        select(order_lines.c.product_id, func.sum(order_lines.c.quantity).label("n"))
        .where(order_lines.c.store_id == store_id)
        .group_by(order_lines.c.product_id)
        .subquery("sold")
    )
    seen = (
        select(events.c.product_id, func.count().label("n"))
        .where(events.c.store_id == store_id, events.c.kind == "view")
        .group_by(events.c.product_id)
        .subquery("seen")
    )
    d = search_documents
    sales, views = func.coalesce(sold.c.n, 0), func.coalesce(seen.c.n, 0)
    query = (
        select(d.c.doc_id, sales.label("sales"), views.label("views"))
        .outerjoin(sold, sold.c.product_id == d.c.product_id)
        .outerjoin(seen, seen.c.product_id == d.c.product_id)
        .where(d.c.store_id == store_id, (d.c.sales != sales) | (d.c.views != views))
    )
    return [
        {"b_doc_id": row.doc_id, "b_sales": int(row.sales), "b_views": int(row.views)}
        for row in conn.execute(query)
    ]


def save_popularity(
    conn: Connection, *, store_id: int, changes: Sequence[dict[str, Any]], now: int
) -> None:
    d = search_documents
    if changes:
        conn.execute(
            update(d)
            .where(d.c.doc_id == bindparam("b_doc_id"))
            .values(sales=bindparam("b_sales"), views=bindparam("b_views")),
            list(changes),
        )
    statement = upsert(conn, search_popularity).values(store_id=store_id, refreshed_at=now)
    conn.execute(
        statement.on_conflict_do_update(index_elements=["store_id"], set_={"refreshed_at": now})
    )


def popularity_refreshed_at(conn: Connection, *, store_id: int) -> int | None:
    p = search_popularity
    at = conn.execute(select(p.c.refreshed_at).where(p.c.store_id == store_id)).scalar()
    return None if at is None else int(at)
