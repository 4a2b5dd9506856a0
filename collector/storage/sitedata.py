"""A store's categories and content pages (Clerk's `categories` and `pages` data).

Each kind is a table keyed by (store, id) with the fields Clerk's API names as columns,
any other attribute kept as JSON, and the folded words of its searchable text beside it
(`*_terms`: storage/folding.py, single spaces), so a later search over categories or
pages reads ready words as product search does. HTML in a page's text (shops send their
CMS pages as they are) is reduced to its text before it is folded.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, delete, func, select

from .engine import upsert
from .folding import words
from .schema import categories, pages, site_versions

_TAG = re.compile(r"<[^>]*>")


class TooMany(ValueError):
    """An upsert would take the store past the number of items it may hold."""


@dataclass(frozen=True)
class Kind:
    name: str  # in site_versions
    table: Table
    columns: tuple[str, ...]  # stored as they are, besides id and attributes
    json_columns: tuple[str, ...]  # stored as JSON text
    optional: tuple[str, ...]  # left out of an item when NULL
    terms: dict[str, str]  # terms column -> the field whose words it holds
    kind_column: str | None = None  # a column a search may keep one value of (pages' type)


CATEGORIES = Kind(
    name="categories",
    table=categories,
    columns=("name", "url", "subcategories", "image", "description"),
    json_columns=("subcategories",),
    optional=("image",),
    terms={"name_terms": "name", "body_terms": "description"},
)
PAGES = Kind(
    name="pages",
    table=pages,
    columns=("type", "url", "title", "text", "image"),
    json_columns=(),
    optional=("image",),
    terms={"title_terms": "title", "text_terms": "text"},
    kind_column="type",
)


def search_terms(value: str) -> str:
    """The folded words of a text, markup and entities taken out: what a search matches."""
    if "<" in value or "&" in value:
        value = html.unescape(_TAG.sub(" ", value))
    return " ".join(words(value))


def _row(kind: Kind, store_id: int, item: dict[str, Any], now: int) -> dict[str, Any]:
    known = {"id", *kind.columns}
    row: dict[str, Any] = {"store_id": store_id, "id": item["id"], "updated_at": now}
    for column in kind.columns:
        value = item.get(column)
        if column in kind.json_columns:
            value = json.dumps(value or [])
        row[column] = value
    for column, field in kind.terms.items():
        row[column] = search_terms(item.get(field) or "")
    row["attributes"] = json.dumps({k: v for k, v in item.items() if k not in known})
    return row


def upsert_items(
    conn: Connection,
    kind: Kind,
    *,
    store_id: int,
    items: Sequence[dict[str, Any]],
    now: int,
    max_items: int,
) -> int:
    """Insert or replace items (validated dicts, the last of a repeated id wins); TooMany,
    with nothing written, if the store would then hold more than `max_items`."""
    unique = {item["id"]: item for item in items}
    if not unique:
        return 0
    table = kind.table
    mine = table.c.store_id == store_id
    held = conn.execute(select(func.count()).select_from(table).where(mine)).scalar_one()
    present = conn.execute(
        select(func.count()).select_from(table).where(mine, table.c.id.in_(list(unique)))
    ).scalar_one()
    total = held + len(unique) - present
    if total > max_items:
        raise TooMany(f"the store would hold {total}; the limit is {max_items}")
    rows = [_row(kind, store_id, item, now) for item in unique.values()]
    statement = upsert(conn, table)
    replace = {c: statement.excluded[c] for c in rows[0] if c not in ("store_id", "id")}
    conn.execute(
        statement.on_conflict_do_update(index_elements=["store_id", "id"], set_=replace), rows
    )
    _touch(conn, kind, store_id)
    return len(rows)


def _touch(conn: Connection, kind: Kind, store_id: int) -> None:
    """A new version of the store's items of this kind: what search/categories and
    search/pages keep per process (storage/site_search.py) is rebuilt after it."""
    v = site_versions
    statement = upsert(conn, v).values(store_id=store_id, kind=kind.name, version=1)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["store_id", "kind"], set_={"version": v.c.version + 1}
        )
    )


def version(conn: Connection, kind: Kind, *, store_id: int) -> int:
    """The store's version of this kind (0 before its first change)."""
    v = site_versions
    found = conn.execute(
        select(v.c.version).where(v.c.store_id == store_id, v.c.kind == kind.name)
    ).scalar()
    return int(found or 0)


def _item(kind: Kind, row: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": row.id}
    for column in kind.columns:
        value = getattr(row, column)
        if column in kind.json_columns:
            value = json.loads(value)
        if value is None and column in kind.optional:
            continue
        item[column] = value
    item.update(json.loads(row.attributes))
    return item


def list_items(
    conn: Connection,
    kind: Kind,
    *,
    store_id: int,
    limit: int,
    offset: int,
    ids: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the store's items by id, and how many match in all."""
    table = kind.table
    where = [table.c.store_id == store_id]
    if ids is not None:
        where.append(table.c.id.in_(list(ids)))
    total = conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
    rows = conn.execute(
        select(table).where(*where).order_by(table.c.id).limit(limit).offset(offset)
    )
    return [_item(kind, row) for row in rows], int(total)


def items_by_id(
    conn: Connection, kind: Kind, *, store_id: int, ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The store's items of these ids (those that exist), by id: one read."""
    table = kind.table
    mine = table.c.store_id == store_id
    rows = conn.execute(select(table).where(mine, table.c.id.in_(list(ids))))
    return {row.id: _item(kind, row) for row in rows}


def delete_items(conn: Connection, kind: Kind, *, store_id: int, ids: Sequence[str]) -> int:
    table = kind.table
    result = conn.execute(
        delete(table).where(table.c.store_id == store_id, table.c.id.in_(list(set(ids))))
    )
    if result.rowcount:
        _touch(conn, kind, store_id)
    return int(result.rowcount)


def category_names(conn: Connection, *, store_id: int, ids: Sequence[str]) -> dict[str, str]:
    """The names of these categories (those the store has), by id: search facets."""
    c = categories
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        query = select(c.c.id, c.c.name).where(c.c.store_id == store_id, c.c.id.in_(chunk))
        found.update({row.id: row.name for row in conn.execute(query)})
    return found
