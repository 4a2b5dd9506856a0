"""A store's contents: named slots with an api, its defaults (limit, labels, arguments) and
a Liquid design (None: the default design). Validated by collector/contents.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy import delete as delete_statement

from .engine import upsert as upsert_statement
from .schema import contents as table

COLUMNS = ("name", "api", "limit", "labels", "arguments", "design")


class TooManyContents(ValueError):
    """An upsert would leave the store with more contents than it may have."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"this store would have {count} contents; the limit is {limit}")
        self.count = count
        self.limit = limit


def upsert(
    conn: Connection,
    *,
    store_id: int,
    contents: Sequence[dict[str, Any]],
    now: int,
    max_total: int | None = None,
) -> int:
    """Insert or replace contents (validated dicts) by id; TooManyContents, and nothing
    written, when the store would then hold more than `max_total`."""
    if not contents:
        return 0
    ids = list(dict.fromkeys(c["id"] for c in contents))
    if max_total is not None:
        have = set(conn.scalars(select(table.c.id).where(table.c.store_id == store_id)))
        total = len(have | set(ids))
        if total > max_total:
            raise TooManyContents(total, max_total)
    rows = {
        c["id"]: {
            "store_id": store_id,
            "id": c["id"],
            "name": c["name"],
            "api": c["api"],
            "limit": c["limit"],
            "labels": json.dumps(c["labels"]),
            "arguments": json.dumps(c["arguments"]),
            "design": c["design"],
            "updated_at": now,
        }
        for c in contents  # the last of a repeated id wins
    }
    statement = upsert_statement(conn, table)
    replace = {c: statement.excluded[c] for c in (*COLUMNS, "updated_at")}
    conn.execute(
        statement.on_conflict_do_update(index_elements=["store_id", "id"], set_=replace),
        list(rows.values()),
    )
    return len(rows)


def _content(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "api": row.api,
        "limit": row.limit,
        "labels": json.loads(row.labels),
        "arguments": json.loads(row.arguments),
        "design": row.design,
        "updated_at": row.updated_at,
    }


def list_all(conn: Connection, *, store_id: int) -> list[dict[str, Any]]:
    """The store's contents by id."""
    query = select(table).where(table.c.store_id == store_id).order_by(table.c.id)
    return [_content(row) for row in conn.execute(query)]


def get(conn: Connection, *, store_id: int, content_id: str) -> dict[str, Any] | None:
    query = select(table).where(table.c.store_id == store_id, table.c.id == content_id)
    row = conn.execute(query).first()
    return None if row is None else _content(row)


def count(conn: Connection, *, store_id: int) -> int:
    query = select(func.count()).select_from(table).where(table.c.store_id == store_id)
    return int(conn.scalar(query) or 0)


def delete(conn: Connection, *, store_id: int, ids: Sequence[str]) -> int:
    """Delete these contents of the store; the number deleted."""
    if not ids:
        return 0
    where = (table.c.store_id == store_id, table.c.id.in_(list(ids)))
    return int(conn.execute(delete_statement(table).where(*where)).rowcount)
