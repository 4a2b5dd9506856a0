"""Retention: raw events, searches, baskets and email links older than the period go.

Orders stay (anonymised ones included), and so do the attribution and the daily
roll-ups, which hold no identifiers: the dashboard's past figures do not change
when the raw events behind them expire. Days about to lose their events are
rolled up first.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, select

from . import analytics
from .schema import baskets, email_links, events, stores
from .search import searches


def purge(
    conn: Connection, *, before_ms: int, now_ms: int, dry_run: bool = False
) -> dict[str, int]:
    """Delete what is older than `before_ms` in every store; return the counts."""
    for store_id in conn.scalars(select(stores.c.id)):
        analytics.refresh_rollups(
            conn,
            store_id=store_id,
            now_ms=now_ms,
            days=range(
                analytics.day_of(_oldest(conn, store_id) or before_ms),
                analytics.day_of(before_ms) + 1,
            ),
        )
    targets = {
        "events": (events, events.c.ts < before_ms),
        "searches": (searches, searches.c.ts < before_ms),
        "baskets": (baskets, baskets.c.updated_at < before_ms),
        "email_links": (email_links, email_links.c.last_seen < before_ms),
    }
    counts: dict[str, int] = {}
    for name, (table, old) in targets.items():
        if dry_run:
            counts[name] = int(conn.scalar(select(func.count()).select_from(table).where(old)) or 0)
        else:
            counts[name] = int(conn.execute(delete(table).where(old)).rowcount or 0)
    return counts


def _oldest(conn: Connection, store_id: int) -> int | None:
    value = conn.scalar(select(func.min(events.c.ts)).where(events.c.store_id == store_id))
    return None if value is None else int(value)
