"""Reading a call's arguments: a JSON body (application/json or text/plain), a form-encoded
body (application/x-www-form-urlencoded), or a query string; the last two may use PHP's
bracket notation (collector/forms.py)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

from . import forms
from .errors import ApiError

# Said when json.loads runs out of stack: lists or objects nested about a thousand deep
# (Python's recursion limit). Nothing the API takes nests more than a few levels.
TOO_DEEP = "nested too deeply (lists or objects inside each other)"


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# What json.loads(text, parse_constant=_no_constants) makes on every call, made once.
_DECODER = json.JSONDecoder(parse_constant=_no_constants)


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    # Straight from the ASGI messages: Request.stream()'s async generator costs a tracking
    # call more than the rest of reading its body.
    body = b""
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk: bytes = message.get("body", b"")
            body += chunk
            if len(body) > max_bytes:
                raise too_large(max_bytes)
            if not message.get("more_body", False):
                return body
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


def too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "body_too_large", f"request body is larger than {max_bytes} bytes")


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "malformed_json", f"body is not UTF-8 (byte {exc.start})") from None
    try:
        if text.startswith("\ufeff"):  # as json.loads refuses it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        data = _DECODER.decode(text)
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
    """The call's arguments and whether they are all strings (a query string or a form).

    A GET (and so a HEAD) may carry a body too: a private key never travels in a query
    string, so that is how a shop's server lists its catalogue (GET /v2/products) with it.
    A body is JSON unless it is declared form-encoded and is not a JSON object: PHP's curl
    declares every body it posts form-encoded, JSON included (Magento's and PrestaShop's
    plugins post JSON so). Multipart bodies (file uploads) are refused.
    """
    if request.method in ("GET", "HEAD", "POST", "PUT", "DELETE"):
        body = await read_body(request, max_bytes)
        if body.strip():
            media_type = media_type_of(request)
            if media_type == "multipart/form-data":
                raise ApiError(
                    415,
                    "unsupported_media_type",
                    "multipart/form-data bodies are not accepted: send the arguments as JSON "
                    "or as application/x-www-form-urlencoded",
                )
            if media_type == FORM and not body.lstrip().startswith((b"{", b"[")):
                return forms.parse(_text(body)), True
            return parse_json_object(body), False
    if len(request.url.query) > max_bytes:
        raise too_large(max_bytes)
    return forms.parse(request.url.query), True


FORM = "application/x-www-form-urlencoded"


def media_type_of(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_form", f"body is not UTF-8 (byte {exc.start})") from None
