"""Form-encoded arguments as PHP builds them: `application/x-www-form-urlencoded` bodies and
query strings, with PHP's bracket notation (what `http_build_query` writes).

Clerk's Magento 2 plugin posts `product/add` so, and every PHP plugin builds its query
strings so:

    products[0]=123                          -> {"products": ["123"]}
    products[]=1&products[]=2                -> {"products": ["1", "2"]}
    products[0][id]=1&products[0][name]=x    -> {"products": [{"id": "1", "name": "x"}]}

The result is what the same arguments sent as JSON would give, with every value a string
(the fields' parsers take numeric strings where a number goes, "1"/"0" where a boolean
does). A container whose keys are all indices (`[0]`, `[1]`, `[]`) is a list, in index
order; any other is an object. Names without brackets are plain arguments, the last one
sent winning, as before.

Bounded, so that no request makes the collector build something large: at most
FIELDS_MAX fields, DEPTH_MAX brackets in a name, indices up to INDEX_MAX (a list is
built from the indices sent, never allocated up to the largest: `products[999999999]=1`
is refused, not a list of a billion). A name that is not bracket notation, a name used
both as a value and as a list or object, or a body that is not UTF-8 is a 400 naming it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import ApiError

FIELDS_MAX = 20_000
DEPTH_MAX = 6
INDEX_MAX = 100_000
NAME_SHOWN_MAX = 64
_NAME = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")

Node = dict[str, Any]


def _error(name: str, problem: str) -> ApiError:
    shown = name[:NAME_SHOWN_MAX] + ("..." if len(name) > NAME_SHOWN_MAX else "")
    return ApiError(400, "invalid_form", f"{shown}: {problem}")


def parse(text: str) -> dict[str, Any]:
    """The arguments of a form-encoded body or query string (already decoded text)."""
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=FIELDS_MAX,
        )
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_form", "form data is not UTF-8 once decoded") from None
    except ValueError:
        raise ApiError(
            400, "invalid_form", f"form data has more than {FIELDS_MAX} fields"
        ) from None
    root: Node = {}
    following: dict[int, int] = {}  # id(container) -> the index `name[]` appends at
    for name, value in pairs:
        _put(root, name, value, following)
    return {key: _finish(key, value) for key, value in root.items()}


def _put(root: Node, name: str, value: str, following: dict[int, int]) -> None:
    if "[" not in name and "]" not in name:
        if not name:
            raise ApiError(400, "invalid_form", "form data has a field without a name")
        if isinstance(root.get(name), dict):
            raise _error(name, "is sent both as a value and as a list or object")
        root[name] = value
        return
    match = _NAME.fullmatch(name)
    if match is None:
        raise _error(name, "is not a name or bracket notation such as products[0][id]")
    base, rest = match.group(1), match.group(2)
    keys = _SEGMENT.findall(rest)
    if len(keys) > DEPTH_MAX:
        raise _error(name, f"is nested {len(keys)} deep; the limit is {DEPTH_MAX}")
    node, path = root, base
    for depth, key in enumerate([base, *keys]):
        last = depth == len(keys)
        if depth > 0:
            if key == "":
                key = str(following.get(id(node), 0))
            if _INDEX.fullmatch(key):
                if int(key) > INDEX_MAX:
                    raise _error(name, f"index {key} is larger than {INDEX_MAX}")
                # After the largest index so far, as PHP appends.
                following[id(node)] = max(following.get(id(node), 0), int(key) + 1)
            path = f"{path}[{key}]"
        if last:
            if isinstance(node.get(key), dict):
                raise _error(path, "is sent both as a value and as a list or object")
            node[key] = value
            return
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise _error(path, "is sent both as a value and as a list or object")
        node = child


def _finish(path: str, value: Any) -> Any:
    """Containers become lists (all keys indices) or objects, recursively."""
    if not isinstance(value, dict):
        return value
    if value and all(_INDEX.fullmatch(k) for k in value):
        return [_finish(f"{path}[{k}]", value[k]) for k in sorted(value, key=int)]
    return {k: _finish(f"{path}[{k}]", v) for k, v in value.items()}
