"""What every product list endpoint (recommendations, search) shares.

Each takes `limit`, `labels`, `exclude`, `filter` and `attributes` (fields.LIST_FIELDS: the
fields product_data carries, with `id`; none: all of them); answers `{"result": [ids],
"product_data": [...], "count": n}` with only products that exist and are in
stock; and records the render (an event of kind "render" with the api and
labels), so that widgets' click-through can be counted. The render is written
in the next group commit but not waited for: the answer never waits on a disk.
"""

from __future__ import annotations

from typing import Any

from .api import Call
from .storage import catalogue, tracking


async def answer_products(
    call: Call, api: str, ids: list[str], *, count: int | None = None
) -> dict[str, Any]:
    """Shape a product list answer from ranked ids (already limited), and record the render."""
    items = await call.services.storage.read(
        catalogue.available_products, store_id=call.store.id, ids=ids
    )
    kept = call.data.get("attributes")
    if kept:
        items = [{"id": item["id"], **{k: item[k] for k in kept if k in item}} for item in items]
    answer = {
        "result": [item["id"] for item in items],
        "product_data": items,
        "count": len(items) if count is None else count,
    }
    if call.preview:
        return answer
    visitor = await call.visitor()
    render = tracking.event(
        store_id=call.store.id,
        ts=call.services.now_ms(),
        kind="render",
        visitor_mode=visitor.mode,
        visitor_id=visitor.id,
        session=visitor.session,
        api=api,
        labels=call.data.get("labels") or [],
        data={"count": len(items)},
    )
    call.services.storage.insert_soon(render)
    return answer
