"""The log of searches: every search and predictive query, zero-result ones included,
as rows of `searches` (search_row, inserted by the search endpoints in batches), and
their erasure when a visitor is forgotten (forget_searches)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete

from .folding import normalise_query
from .schema import searches


def search_row(
    *,
    store_id: int,
    ts: int,
    api: str,
    query: str,
    hits: int,
    visitor_mode: str,
    visitor_id: str | None,
    session: str | None,
) -> dict[str, Any]:
    """One row of `searches`, ready for a (batched) INSERT."""
    return {
        "store_id": store_id,
        "ts": ts,
        "api": api,
        "query": query[:200],
        "normalised": normalise_query(query),
        "hits": hits,
        "visitor_mode": visitor_mode,
        "visitor_id": visitor_id,
        "session": session,
    }


def forget_searches(conn: Connection, *, store_id: int, visitor_ids: Sequence[str]) -> int:
    """Erase these visitors' searches (for privacy/forget, as their events are erased)."""
    if not visitor_ids:
        return 0
    erase = delete(searches).where(
        searches.c.store_id == store_id, searches.c.visitor_id.in_(list(visitor_ids))
    )
    return int(conn.execute(erase).rowcount)
