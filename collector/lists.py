"""The product list endpoints, in one registry: api name -> fields, handler, personal.

recommendations.py and search.py register each of their lists here (`register`), which
also makes its route; /v2/content (collector/contents.py) serves a content through the
same entry, so a list has one handler, one set of fields and one origin rule whether it
is called by its own name or through a content. Every list takes fields.LIST_FIELDS
(`limit`, `labels`, `exclude`) and answers widgets.answer_products' shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.routing import Route

from .api import Handler, endpoint
from .fields import LIST_FIELDS
from .validation import REQUIRED, Fields


@dataclass(frozen=True)
class ListApi:
    name: str  # as in its address: "recommendations/popular"
    fields: Fields  # beyond api.COMMON; LIST_FIELDS included
    handler: Handler
    # Reveals a visitor's data: from a page, served only to the store's own origins.
    personal: bool = False

    @property
    def required(self) -> list[str]:
        """The arguments a call must send (seed products, a category, a query)."""
        return [name for name, (_, default) in self.fields.items() if default is REQUIRED]


# What every list answers (widgets.answer_products), beside `status`.
LIST_ANSWER = {
    "type": "object",
    "properties": {
        "result": {"type": "array", "items": {"type": "string"}},
        "product_data": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": {"type": "string"}},
                "required": ["id"],
            },
        },
        "count": {"type": "integer", "minimum": 0},
    },
    "required": ["result", "product_data", "count"],
}

REGISTRY: dict[str, ListApi] = {}


def register(name: str, fields: Fields, handler: Handler, *, personal: bool = False) -> Route:
    """Enter a list endpoint in the registry; its route (GET and POST /v2/<name>)."""
    if name in REGISTRY:
        raise ValueError(f"list endpoint {name} registered twice")
    entry = ListApi(name, {**LIST_FIELDS, **fields}, handler, personal)
    REGISTRY[name] = entry
    return Route(
        f"/v2/{name}",
        endpoint(entry.fields, handler, personal=personal, answer=LIST_ANSWER),
        methods=["GET", "POST"],
    )
