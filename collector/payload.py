"""Reading a call's arguments: a JSON body (application/json or text/plain) or a query string."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .errors import ApiError

# Said when json.loads runs out of stack: lists or objects nested about a thousand deep
# (Python's recursion limit). Nothing the API takes nests more than a few levels.
TOO_DEEP = "nested too deeply (lists or objects inside each other)"


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_large(max_bytes)
    return bytes(body)


def too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "body_too_large", f"request body is larger than {max_bytes} bytes")


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "malformed_json", f"body is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "malformed_json",
            f"malformed JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
        ) from None
    except ValueError as exc:
        raise ApiError(400, "malformed_json", f"malformed JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "malformed_json", f"malformed JSON: {TOO_DEEP}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json", "body must be a JSON object")
    return data


async def read_arguments(request: Request, max_bytes: int) -> tuple[dict[str, Any], bool]:
    """The call's arguments and whether they came from a query string (all strings).

    A GET (and so a HEAD) may carry a JSON body too: a private key never travels in a query
    string, so that is how a shop's server lists its catalogue (GET /v2/products) with it.
    """
    if request.method in ("GET", "HEAD", "POST", "PUT", "DELETE"):
        body = await read_body(request, max_bytes)
        if body.strip():
            return parse_json_object(body), False
    if len(request.url.query) > max_bytes:
        raise too_large(max_bytes)
    return dict(request.query_params), True
