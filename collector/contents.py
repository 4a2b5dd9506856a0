"""Contents: named slots a shop configures on the collector (Clerk's `data-template="@id"`).

A content is `{id, name, api, limit, labels, arguments, design}`: which list endpoint
(collector/lists.py) fills it, with what defaults, through which Liquid design (None: the
script's plain default design). Stored by collector/storage/contents.py.

- `POST /v2/contents {key, private_key, contents: [...]}` upserts, `GET /v2/contents`
  lists, `DELETE /v2/contents {ids}` deletes (private key). Every content of a call is
  checked before any is stored: a bad one is a 400 naming `contents[i].<field>`, and
  nothing is stored. A design is parsed with python-liquid (collector/liquid.py), so one
  that does not parse is refused naming its line and what was expected.
- `POST /v2/content {key, content: "<id>", <arguments of its api>}` is what clerk.js
  calls to render a content (public key): the content's arguments, limit and labels are
  defaults, the call's own arguments win, and the content's api serves it through its
  own handler, with its own fields, origin rule (a personal api stays personal) and
  limits. The answer is that api's, plus `content` {id, name, api, labels, limit,
  design}: `labels` are those the answer was recorded with (the content's, unless the
  call sent its own), which clerk.js logs clicks with. A content's `arguments.filter`
  and the call's `filter` are AND-ed (the page's facet choices narrow the content's
  selection).

`check_content` and `check_contents` are shared with the CLI and the dashboard, so the
three refuse the same contents with the same messages.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from . import caps, filters, liquid, lists, recommendations, search
from .api import COMMON, COUNT, RECORDS, Call, Target, answer, by_method, dispatch, endpoint
from .errors import ApiError, invalid
from .fields import labels_field
from .services import Services
from .storage import contents as stored
from .storage.stores import Store
from .validation import (
    REQUIRED,
    Fields,
    described,
    integer,
    list_of,
    object_schema,
    text,
    type_name,
    validate,
)

# The list endpoints, registered there by the modules that serve them.
LISTS = lists.REGISTRY
SERVING = (recommendations, search)

CONTENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Arguments a content does not take in `arguments`: its own fields, and the caller's.
NOT_ARGUMENTS = {"limit", "labels", *COMMON}


@described({"type": "string", "pattern": "^@?[A-Za-z0-9_-]{1,64}$"})
def content_id(name: str, value: Any, from_query: bool) -> str:
    """A content id; Clerk's `@` prefix (data-template="@id") is accepted and dropped."""
    if not isinstance(value, str):
        raise invalid(name, f"must be a content id (a string), not {type_name(value)}")
    clean = value[1:] if value.startswith("@") else value
    if not CONTENT_ID.fullmatch(clean):
        raise invalid(name, "must be 1-64 characters of A-Z a-z 0-9 _ -")
    return clean


@described({"enum": sorted(LISTS)})
def api_name(name: str, value: Any, from_query: bool) -> str:
    if not isinstance(value, str) or value not in LISTS:
        shown = value if isinstance(value, str) else type_name(value)
        raise invalid(
            name, f"{str(shown)[:100]} is not a list endpoint; one of {', '.join(sorted(LISTS))}"
        )
    return value


@described({"anyOf": [{"type": "null"}, {"type": "string"}], "description": "Liquid"})
def design(name: str, value: Any, from_query: bool) -> str | None:
    """Liquid source that python-liquid parses, or null (or empty): the default design."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(name, f"must be Liquid source (a string) or null, not {type_name(value)}")
    try:
        liquid.parse(value)
    except liquid.DesignError as exc:
        raise invalid(name, str(exc)) from None
    return value


@described({})
def _anything(name: str, value: Any, from_query: bool) -> Any:
    return value


CONTENT_FIELDS: Fields = {
    "id": (content_id, REQUIRED),
    "name": (text(caps.CONTENT_NAME_MAX), None),
    "api": (api_name, REQUIRED),
    "limit": (integer(1, 100), 10),
    "labels": (labels_field, []),
    "arguments": (_anything, {}),  # checked by the api's fields: _arguments
    "design": (design, None),
}


def _arguments(name: str, value: Any, api: lists.ListApi) -> dict[str, Any]:
    """Defaults for the api's own arguments, each checked by that api's field."""
    if not isinstance(value, dict):
        raise invalid(name, f"must be an object, not {type_name(value)}")
    takes = sorted(set(api.fields) - NOT_ARGUMENTS)
    clean = {}
    for key, given in value.items():
        if key in ("limit", "labels"):
            raise invalid(f"{name}.{key}", f"is the content's own {key}: set it there")
        if key not in takes:
            raise invalid(
                f"{name}.{key}",
                f"is not an argument of {api.name}; it takes {', '.join(takes) or 'none'}",
            )
        parser, _ = api.fields[key]
        clean[key] = parser(f"{name}.{key}", given, False)
        if key == "filter":  # kept as text (canonical), parsed again by each call
            clean[key] = None if clean[key] is None else filters.canonical(clean[key])
    return clean


@described(object_schema(CONTENT_FIELDS, additional=False))
def check_content(name: str, value: Any, from_query: bool = False) -> dict[str, Any]:
    """A content as stored: every field checked, its arguments by its api's fields."""
    if not isinstance(value, dict):
        raise invalid(name, f"must be an object, not {type_name(value)}")
    clean = validate(value, CONTENT_FIELDS, prefix=f"{name}.")
    clean["name"] = clean["name"] or clean["id"]
    clean["arguments"] = _arguments(f"{name}.arguments", clean["arguments"], LISTS[clean["api"]])
    return clean


@described(
    {
        "type": "array",
        "maxItems": caps.CONTENTS_MAX,
        "items": object_schema(CONTENT_FIELDS, additional=False),
    }
)
def check_contents(name: str, value: Any, from_query: bool = False) -> list[dict[str, Any]]:
    """A list of contents, none repeating another's id."""
    items: list[dict[str, Any]] = list_of(check_content, caps.CONTENTS_MAX)(name, value, from_query)
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item["id"] in seen:
            raise invalid(f"{name}[{i}].id", f"repeats {name}[{seen[item['id']]}].id")
        seen[item["id"]] = i
    return items


async def save(services: Services, store_id: int, items: list[dict[str, Any]]) -> int:
    """Upsert checked contents (CLI, dashboard and API); 400 past CONTENTS_MAX."""
    try:
        saved = await services.storage.write(
            stored.upsert,
            store_id=store_id,
            contents=items,
            now=services.now_ms(),
            max_total=caps.CONTENTS_MAX,
        )
    except stored.TooManyContents as exc:
        raise invalid("contents", str(exc)) from None
    services.drop_cached_contents(store_id)
    return saved


async def remove(services: Services, store_id: int, ids: list[str]) -> int:
    deleted = await services.storage.write(stored.delete, store_id=store_id, ids=ids)
    services.drop_cached_contents(store_id)
    return deleted


def shown(content: dict[str, Any]) -> dict[str, Any]:
    """A content as the API lists it."""
    return {k: content[k] for k in (*CONTENT_FIELDS, "updated_at")}


async def list_contents(call: Call) -> dict[str, Any]:
    found = await call.services.storage.read(stored.list_all, store_id=call.store.id)
    return {"contents": [shown(c) for c in found], "count": len(found)}


async def upsert_contents(call: Call) -> dict[str, Any]:
    return {"count": await save(call.services, call.store.id, call.data["contents"])}


async def delete_contents(call: Call) -> dict[str, Any]:
    return {"count": await remove(call.services, call.store.id, call.data["ids"])}


contents_endpoint = by_method(
    {
        "GET": endpoint(
            {}, list_contents, private=True, answer=answer(contents=RECORDS, count=COUNT)
        ),
        "POST": endpoint(
            {"contents": (check_contents, REQUIRED)},
            upsert_contents,
            private=True,
            answer=answer(count=COUNT),
        ),
        "DELETE": endpoint(
            {"ids": (list_of(content_id, caps.CONTENTS_MAX), REQUIRED)},
            delete_contents,
            private=True,
            answer=answer(count=COUNT),
        ),
    }
)


# ---------------------------------------------------------------- /v2/content


def _unknown(raw: dict[str, Any], message: str) -> Target:
    """Takes whatever else was sent, so that the key, limits and origin are checked as for
    any call; then answers 404."""

    async def handler(call: Call) -> dict[str, Any]:
        raise ApiError(404, "unknown_content", f"content: {message}")

    return Target({k: (_anything, None) for k in raw if k not in COMMON}, handler)


def _served(content: dict[str, Any], api: lists.ListApi) -> Target:
    async def handler(call: Call) -> dict[str, Any]:
        answer = await api.handler(call)
        answer["content"] = {
            "id": content["id"],
            "name": content["name"],
            "api": content["api"],
            "labels": call.data["labels"],
            "limit": content["limit"],
            "design": content["design"],
        }
        return answer

    return Target({**api.fields, "content": (content_id, REQUIRED)}, handler, api.personal)


HEAD: Fields = {"key": COMMON["key"], "content": (content_id, REQUIRED)}


async def resolve(
    services: Services, raw: dict[str, Any], from_query: bool
) -> tuple[dict[str, Any], Target]:
    """The content the call names: its api's target, with the content's defaults under the
    call's own arguments."""
    head = validate({k: raw[k] for k in HEAD if k in raw}, HEAD, from_query=from_query)
    store = await services.store(head["key"])
    content = None if store is None else (await services.contents(store.id)).get(head["content"])
    if content is None:
        return raw, _unknown(raw, f"this store has no content {head['content']}")
    api = LISTS.get(content["api"])
    if api is None:  # saved by a version that had this list
        return raw, _unknown(raw, f"{content['id']} uses {content['api']}, not a list endpoint")
    defaults = {**content["arguments"], "limit": content["limit"], "labels": content["labels"]}
    return {**defaults, **raw, **_both_filters(content, raw, from_query)}, _served(content, api)


def _both_filters(content: dict[str, Any], raw: dict[str, Any], from_query: bool) -> dict[str, Any]:
    """A content's own filter AND-ed with the call's (a page's facet choices narrow the
    content's selection, never widen it): {"filter": text}, or {} when not both."""
    own = content["arguments"].get("filter")
    if own is None or raw.get("filter") is None:
        return {}
    given = filters.FILTER("filter", raw["filter"], from_query)
    if given is None:
        return {"filter": own}
    both = filters.And((*_conjuncts(filters.parse(own)), *_conjuncts(given)))
    return {"filter": filters.canonical(both)}


def _conjuncts(expr: filters.Expr) -> tuple[filters.Expr, ...]:
    return expr.parts if isinstance(expr, filters.And) else (expr,)


content_endpoint = dispatch(
    resolve,
    fields={"content": (content_id, REQUIRED)},
    summary="Render a content: the answer of its list endpoint, plus `content`. Takes that "
    "endpoint's arguments (the content's own are defaults).",
    answer=lists.LIST_ANSWER,
)


# ---------------------------------------------------------------- the dashboard's preview

# A preview that needs seeds tries the most popular products one by one (each alone: an
# api never answers its own seeds), until one has an answer.
PREVIEW_CANDIDATES = 5


async def _preview_call(
    request: Request, services: Services, store: Store, api: lists.ListApi, raw: dict[str, Any]
) -> dict[str, Any]:
    raw = {k: v for k, v in raw.items() if k in api.fields}
    data = validate({"key": store.public_key, "visitor": None, **raw}, {**COMMON, **api.fields})
    call = Call(request, services, store, data, private=True, preview=True)
    return await api.handler(call)


def _seeded(raw: dict[str, Any], product: dict[str, Any]) -> dict[str, Any]:
    """The content's arguments, with what they lack taken from one product."""
    category = (product.get("categories") or ["-"])[0]
    query = (str(product.get("name") or "-").split() or ["-"])[0]
    return {"products": [product["id"]], "category": category, "query": query, **raw}


async def preview(
    request: Request, services: Services, store: Store, content: dict[str, Any]
) -> dict[str, Any]:
    """The Liquid context of a content's preview, from the store's own products: its api's
    answer (recorded nowhere), with the seeds (or category, or query) it needs taken from
    the most popular products; a personal api shows the most popular products, never a
    visitor's."""
    api = LISTS[content["api"]]
    popular = LISTS["recommendations/popular"]
    raw = {**content["arguments"], "limit": content["limit"], "labels": content["labels"]}
    if api.personal:
        api = popular
    answer: dict[str, Any] = {"product_data": [], "count": 0}
    if any(name not in raw for name in api.required):
        top = await _preview_call(request, services, store, popular, {"limit": PREVIEW_CANDIDATES})
        for product in top["product_data"]:
            answer = await _preview_call(request, services, store, api, _seeded(raw, product))
            if answer["product_data"]:
                raw = _seeded(raw, product)
                break
    else:
        answer = await _preview_call(request, services, store, api, raw)
    shown_content = {k: content[k] for k in ("id", "name", "api", "labels", "limit", "design")}
    return {
        "products": answer["product_data"],
        "content": shown_content,
        "globals": {},
        "count": answer["count"],
        "query": raw.get("query", "") if "query" in api.fields else "",
    }


routes = [
    Route("/v2/contents", contents_endpoint, methods=["GET", "POST", "DELETE"]),
    Route("/v2/content", content_endpoint, methods=["GET", "POST"]),
]
