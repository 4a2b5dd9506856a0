"""The API's OpenAPI 3.1 document (/v2/openapi.json) and its offline page (/v2/api.html).

Derived from the declarations, never written by hand: each /v2 route's endpoint carries
its Declaration (collector/api.py: fields, which key, personal, answer), and each field's
parser its JSON Schema (collector/validation.py `describe`). A route whose endpoint
declares nothing is a plain route (the scripts, /healthz) and must be named in `plain`,
so that a route can never be left out silently (tests/test_openapi.py checks that every
route of the app is in the document, and fuzzes the API from it with schemathesis).

How calls are described: a public endpoint's GET takes its arguments in the query string
(lists and objects as JSON); a POST or DELETE, and a private endpoint's GET (the private
key never travels in a query string), take them as a JSON object in the body. The body
may also be sent as text/plain (clerk.js does, to avoid a preflight) or form-encoded with
PHP's brackets (collector/payload.py); the document names JSON only. Arguments an
endpoint does not know are ignored and named in the answer's `warnings`, so every body
allows additional properties.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from starlette.routing import BaseRoute, Route

from .api import COMMON, DECLARED, METHODS, Declaration
from .validation import REQUIRED, JsonSchema, field_schema, object_schema

ERROR_SCHEMA: JsonSchema = {
    "type": "object",
    "properties": {
        "status": {"const": "error"},
        "type": {"type": "string", "description": "what went wrong, e.g. invalid_field"},
        "message": {"type": "string", "description": "names the argument at fault"},
    },
    "required": ["status", "type", "message"],
    "additionalProperties": False,
}
ERRORS = {
    "400": "Malformed or invalid arguments (the message names the argument)",
    "403": "Unknown key, wrong or missing private key, or an origin the store does not allow",
    "413": "Body or query string larger than the limit",
    "415": "A multipart body (send JSON or form-encoded)",
    "429": "Rate limited",
    "503": "Storage unavailable; try again later",
}


@dataclass(frozen=True)
class Plain:
    """A route that is not an API call: what it answers, and as which media type."""

    summary: str
    media_type: str = "application/json"


def document(routes: Iterable[BaseRoute], plain: Mapping[str, Plain]) -> dict[str, Any]:
    """The OpenAPI document of these routes (a Starlette app's); `plain` describes the
    routes that declare nothing, by path. Raises ValueError for a route neither declared
    nor in `plain`."""
    paths: dict[str, Any] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue  # the dashboard's Mount: HTML pages behind a login, not the API
        methods = sorted((route.methods or {"GET"}) - {"HEAD"})
        handlers = _handlers(route.endpoint, methods)
        if handlers:
            paths[route.path] = {
                m.lower(): _operation(route.path, m, DECLARED[e]) for m, e in handlers.items()
            }
        elif route.path in plain:
            paths[route.path] = {m.lower(): _plain(route.path, plain[route.path]) for m in methods}
        else:
            raise ValueError(f"{route.path} declares nothing for the API's document")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Clerk collector API",
            "version": _version(),
            "description": __doc__.split("\n\n", 2)[2].strip() if __doc__ else "",
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "responses": {
                code: {
                    "description": text,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
                for code, text in {**ERRORS, "404": "No such content"}.items()
            },
        },
    }


def _handlers(endpoint: Callable[..., Any], methods: list[str]) -> dict[str, Callable[..., Any]]:
    by_method = METHODS.get(endpoint)
    if by_method is not None:
        return {m: by_method[m] for m in methods if m in by_method and by_method[m] in DECLARED}
    if endpoint in DECLARED:
        return dict.fromkeys(methods, endpoint)
    return {}


def _version() -> str:
    try:
        return importlib.metadata.version("clerk-collector")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _operation(path: str, method: str, declared: Declaration) -> dict[str, Any]:
    fields = {**COMMON, **declared.fields}
    keys = ["key", "private_key"] if declared.private else ["key"]
    operation: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "tags": [path.split("/")[2]],
        "summary": declared.summary or f"{method} {path}",
        "x-keys": keys,
        "x-personal": declared.personal,
    }
    if method == "GET" and not declared.private:
        operation["parameters"] = [
            _parameter(name, parser, default)
            for name, (parser, default) in fields.items()
            if name != "private_key"
        ]
    else:
        body = object_schema(fields)
        if declared.private:
            body["required"] = [*body.get("required", []), "private_key"]
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    answer: JsonSchema = {
        "type": "object",
        "properties": {
            "status": {"const": "ok"},
            "warnings": {
                "type": "array",
                "items": {"type": "string"},
                "description": "arguments the endpoint does not know, ignored",
            },
        },
        "required": ["status"],
    }
    if declared.answer is not None:
        answer = {"allOf": [answer, declared.answer]}
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": answer}}}
    }
    for code in (*ERRORS, *(["404"] if declared.open else [])):
        responses[code] = {"$ref": f"#/components/responses/{code}"}
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _parameter(name: str, parser: Any, default: Any) -> dict[str, Any]:
    schema = field_schema(parser, default)
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": default is REQUIRED}
    if _structured(schema):
        # Lists and objects travel in a query string as JSON text (validation.py).
        parameter["content"] = {"application/json": {"schema": schema}}
    else:
        parameter["schema"] = schema
    return parameter


def _structured(schema: JsonSchema) -> bool:
    kinds = [schema.get("type"), *(s.get("type") for s in schema.get("anyOf", []))]
    return "array" in kinds or "object" in kinds


def _plain(path: str, plain: Plain) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _operation_id("GET", path),
        "tags": ["service"],
        "summary": plain.summary,
        "responses": {
            "200": {"description": "OK", "content": {plain.media_type: {"schema": {}}}},
            "404": {"description": "Not found"},
        },
    }
    if "{" in path:
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"\{(\w+)", path)
        ]
    return operation


def _operation_id(method: str, path: str) -> str:
    return method.lower() + "_" + (re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "index")


_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("collector.dashboard", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def html(doc: Mapping[str, Any]) -> str:
    """The document as one self-contained HTML page: every operation with its arguments
    (type, limits, default, required), keys and answers. No script, no outside address."""
    operations = []
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            arguments = [
                _argument(
                    p["name"],
                    p.get("schema") or p["content"]["application/json"]["schema"],
                    p["required"],
                )
                for p in operation.get("parameters", [])
                if p["in"] == "query"
            ]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                schema = body["schema"]
                required = set(schema.get("required", []))
                arguments = [
                    _argument(name, sub, name in required)
                    for name, sub in schema["properties"].items()
                ]
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "id": operation["operationId"],
                    "summary": operation["summary"],
                    "needs": operation.get("x-keys", []),
                    "personal": operation.get("x-personal", False),
                    "where": "query string" if "parameters" in operation else "JSON body",
                    "arguments": arguments,
                    "responses": sorted(operation["responses"]),
                }
            )
    return _templates.get_template("api_reference.html").render(doc=doc, operations=operations)


def _argument(name: str, schema: JsonSchema, required: bool) -> dict[str, Any]:
    return {
        "name": name,
        "type": type_text(schema),
        "required": required,
        "default": schema.get("default"),
        "description": schema.get("description", ""),
    }


def type_text(schema: JsonSchema) -> str:
    """A schema in a few words: `integer 1..100 | string /^[-+]?[0-9]{1,15}$/`."""
    if "anyOf" in schema:
        return " | ".join(type_text(s) for s in schema["anyOf"])
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind is None:
        return "any"
    words = [str(kind)]
    if "minimum" in schema or "maximum" in schema:
        words.append(f"{schema.get('minimum', '')}..{schema.get('maximum', '')}")
    if "maxLength" in schema:
        words.append(f"≤ {schema['maxLength']} chars")
    if kind == "array":
        words = [f"list (≤ {schema.get('maxItems', '')}) of {type_text(schema.get('items', {}))}"]
    if kind == "object":
        inner = ", ".join(schema.get("properties", {}))
        words = [f"object {{{inner}}}" if inner else "object"]
    return " ".join(words)
