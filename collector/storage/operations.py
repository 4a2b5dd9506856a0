"""What the dashboard's About page tells the operator about this install: the database's
size, recent events per day, the last run of each maintenance task, the current salt."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, func, select, text

from .engine import upsert
from .schema import events, maintenance_runs, salts


def record_run(conn: Connection, *, name: str, ran_at: int, summary: dict[str, Any]) -> None:
    """Note that a maintenance task ran (replacing its previous run)."""
    values = {"ran_at": ran_at, "summary": json.dumps(summary, sort_keys=True)}
    conn.execute(
        upsert(conn, maintenance_runs)
        .values(name=name, **values)
        .on_conflict_do_update(index_elements=["name"], set_=values)
    )


def last_run(conn: Connection, *, name: str) -> dict[str, Any] | None:
    """The task's last run: {"ran_at": ms, "summary": {...}}, or None if it never ran."""
    row = conn.execute(
        select(maintenance_runs.c.ran_at, maintenance_runs.c.summary).where(
            maintenance_runs.c.name == name
        )
    ).first()
    if row is None:
        return None
    return {"ran_at": int(row.ran_at), "summary": json.loads(row.summary)}


def database_size(conn: Connection) -> int:
    """Bytes the database takes: SQLite's pages (the main file; the write-ahead log comes
    and goes), or PostgreSQL's pg_database_size."""
    if conn.dialect.name == "sqlite":
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        return int(pages) * int(size)
    return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def events_between(conn: Connection, *, store_ids: list[int], start: int, end: int) -> int:
    """Events of these stores from `start` to before `end` (ms), by their (store, time)
    index."""
    if not store_ids:
        return 0
    query = (
        select(func.count())
        .select_from(events)
        .where(events.c.store_id.in_(store_ids), events.c.ts >= start, events.c.ts < end)
    )
    return int(conn.scalar(query) or 0)


def current_salt_expiry(conn: Connection) -> int | None:
    """When the cookieless salt in use is destroyed (ms), or None if none is made yet."""
    found = conn.scalar(select(func.max(salts.c.expires_at)))
    return None if found is None else int(found)
