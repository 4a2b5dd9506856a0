"""The product catalogue of each store."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, select

from . import attributes
from .engine import upsert
from .schema import product_categories, products
from .search import index

COLUMNS = (
    "name",
    "description",
    "price",
    "list_price",
    "url",
    "image",
    "brand",
    "stock",
    "created_at",
)


def upsert_products(
    conn: Connection, *, store_id: int, items: Sequence[dict[str, Any]], now: int
) -> int:
    """Insert or replace products (validated dicts); extra fields go to attributes."""
    if not items:
        return 0
    rows = []
    for item in items:
        extra = {
            k: v for k, v in item.items() if k not in COLUMNS and k not in ("id", "categories")
        }
        rows.append(
            {
                "store_id": store_id,
                "id": item["id"],
                **{column: item.get(column) for column in COLUMNS},
                "description": item.get("description") or "",
                "categories": json.dumps(item.get("categories") or []),
                "attributes": json.dumps(extra),
                "updated_at": now,
            }
        )
    statement = upsert(conn, products)
    replace = {
        c: statement.excluded[c] for c in (*COLUMNS, "categories", "attributes", "updated_at")
    }
    conn.execute(
        statement.on_conflict_do_update(index_elements=["store_id", "id"], set_=replace), rows
    )
    _set_categories(conn, store_id, items)
    index.index_products(conn, store_id=store_id, items=items)
    changed = attributes.write_values(conn, store_id=store_id, items=items)
    if changed:
        # Search answers cached per catalogue version hold filtered results: a change of
        # filterable values alone (a colour) is a new version too.
        index._touch(conn, store_id, 0, changed)
    return len(rows)


def _set_categories(conn: Connection, store_id: int, items: Sequence[dict[str, Any]]) -> None:
    ids = [item["id"] for item in items]
    conn.execute(
        delete(product_categories).where(
            product_categories.c.store_id == store_id, product_categories.c.product_id.in_(ids)
        )
    )
    rows = []
    for item in items:
        categories = list(dict.fromkeys(item.get("categories") or []))
        # Copies for similar products' price ranges (see schema.product_categories).
        price = float(item["price"])
        in_stock = item.get("stock") is None or item["stock"] > 0
        rows += [
            {
                "store_id": store_id,
                "category": category,
                "product_id": item["id"],
                "price": price,
                "in_stock": in_stock,
                "other_categories": category_bits(c for c in categories if c != category),
            }
            for category in categories
        ]
    if rows:
        conn.execute(product_categories.insert(), rows)


def category_bits(categories: Iterable[str]) -> int:
    """A bit (of 63) for each category, by a hash of its name: a test against these bits
    may find a category that is not there (two names can share a bit), never miss one."""
    bits = 0
    for category in categories:
        bits |= 1 << (zlib.crc32(category.encode()) % 63)
    return bits


def product_dict(row: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": row.id}
    for column in COLUMNS:
        value = getattr(row, column)
        if value is not None:
            data[column] = value
    data["categories"] = json.loads(row.categories)
    data.update(json.loads(row.attributes))
    return data


def list_products(
    conn: Connection,
    *,
    store_id: int,
    limit: int,
    offset: int,
    ids: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    where = [products.c.store_id == store_id]
    if ids is not None:
        where.append(products.c.id.in_(list(ids)))
    total = conn.execute(select(func.count()).select_from(products).where(*where)).scalar_one()
    rows = conn.execute(
        select(products).where(*where).order_by(products.c.id).limit(limit).offset(offset)
    )
    return [product_dict(row) for row in rows], total


def delete_products(conn: Connection, *, store_id: int, ids: Sequence[str]) -> int:
    index.unindex_products(conn, store_id=store_id, ids=ids)
    attributes.delete_values(conn, store_id=store_id, ids=ids)
    conn.execute(
        delete(product_categories).where(
            product_categories.c.store_id == store_id, product_categories.c.product_id.in_(ids)
        )
    )
    result = conn.execute(
        delete(products).where(products.c.store_id == store_id, products.c.id.in_(list(ids)))
    )
    return result.rowcount


def available(table: Any = products) -> Any:
    """The condition for a product that may be recommended or found: not out of stock."""
    return (table.c.stock.is_(None)) | (table.c.stock > 0)


def available_products(
    conn: Connection, *, store_id: int, ids: Sequence[str]
) -> list[dict[str, Any]]:
    """The products with these ids that exist and are in stock, in the order given."""
    if not ids:
        return []
    rows = conn.execute(
        select(products).where(
            products.c.store_id == store_id, products.c.id.in_(list(ids)), available()
        )
    )
    by_id = {row.id: product_dict(row) for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def product_summaries(conn: Connection, *, store_id: int) -> list[dict[str, Any]]:
    """Every product of the store, by id, as a shopper sees it: id, name, price, categories
    and whether it is in stock (`clerk-collector simulate` shops from these)."""
    p = products
    rows = conn.execute(
        select(p.c.id, p.c.name, p.c.price, p.c.categories, p.c.stock)
        .where(p.c.store_id == store_id)
        .order_by(p.c.id)
    )
    return [
        {
            "id": row.id,
            "name": row.name,
            "price": row.price,
            "categories": json.loads(row.categories) or [],
            "in_stock": row.stock is None or row.stock > 0,
        }
        for row in rows
    ]
