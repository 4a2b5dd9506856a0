"""The log of searches: every search and predictive query, zero-result ones included,
as rows of `searches` (search_row; `search` gives the endpoints the write, inserted in
batches by the group commit), and
their erasure when a visitor is forgotten (forget_searches)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete

from .folding import normalise_query
from .schema import searches
from .writer import InsertRow


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


def search(**fields: Any) -> InsertRow:
    """One search (the arguments of search_row) as a write for the group commit
    (`Storage.insert_soon`), batched with its neighbours into one executemany."""
    return InsertRow(searches, search_row(**fields))


def forget_searches(conn: Connection, *, store_id: int, visitor_ids: Sequence[str]) -> int:
    """Erase these visitors' searches (for privacy/forget, as their events are erased)."""
    if not visitor_ids:
        return 0
    erase = delete(searches).where(
        searches.c.store_id == store_id, searches.c.visitor_id.in_(list(visitor_ids))
    )
    return int(conn.execute(erase).rowcount)
