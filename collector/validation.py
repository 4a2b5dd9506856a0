"""Request validation: each endpoint declares its fields.

A field is a function that takes the raw value (from JSON, or a query-string
string when `from_query`) and returns the clean value or raises ApiError naming
the field. Query strings carry lists as JSON and `null` as the word null.

Arguments are taken as Clerk's plugins send them: numbers and integers as numbers
or numeric strings ("2", "24.5"; PrestaShop sends quantities as strings), in a body
as in a query string; ids as strings or integers. A known argument with a value that
is not one of these forms is a 400 naming it ("quantity": "two", "price": "9,5").

An argument an endpoint does not declare is ignored when the caller collects
warnings (`validate(..., warnings=[...])`, as every /v2 endpoint does, nested
records such as sale lines included): its name is added to the list, and the answer
carries it under `warnings`. Names only, never values, at most WARNINGS_MAX of them,
each cut to WARNING_NAME_MAX printable characters, so that a call cannot make its
answer larger than a few KB whatever it sends. Internal callers (the importer) pass
no list, and an unknown field stays an error there.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import math
import re
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import ApiError, invalid
from .payload import TOO_DEEP

Parser = Callable[[str, Any, bool], Any]
# An endpoint's (or a record's) fields: name -> (parser, default or REQUIRED).
Fields = dict[str, tuple[Parser, Any]]
REQUIRED = object()

ID_MAX = 128
# Ids are matched whole (fullmatch: `$` would let a trailing line break through).
VISITOR_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Exactly the ids visitors.derive() makes for cookieless visitors. Ids are bearer ids: a
# client sending one would be that cookieless visitor, so none may be sent.
DERIVED_ID = re.compile(r"c-[A-Za-z0-9_-]{22}")
EMAIL_RE = re.compile(r"^[^\s@<>\"',;]+@[^\s@<>\"',;]+\.[^\s@<>\"',;]+$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Numeric strings taken where a number goes: ASCII digits (Python's \d takes any script's)
# with an optional sign, fraction and exponent ("24.5", "-3", "1e3"); not "9,5", " 9",
# "0x10", "inf" or "nan".
INTEGER_TEXT = re.compile(r"[-+]?[0-9]{1,15}")
NUMBER_TEXT = re.compile(r"[-+]?([0-9]{1,20}(\.[0-9]{0,20})?|\.[0-9]{1,20})([eE][-+]?[0-9]{1,3})?")

# Warnings about ignored arguments (see the module's docstring).
WARNINGS_MAX = 20
WARNING_NAME_MAX = 64
_SHOWN_NAME = re.compile(r"[^A-Za-z0-9_.\-\[\]]")
# The warnings list of the call being validated, seen by nested records (sale lines).
_warnings: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "validation_warnings", default=None
)


# What each parser accepts, as JSON Schema (collector/openapi.py builds /v2/openapi.json
# from it): every parser is `described` where it is made, so that the document is derived
# from the declarations and cannot drift from them. A schema may accept more than its
# parser (a range check on a numeric string, the filter grammar), never less: whatever a
# parser takes, its schema takes too (tests/test_openapi.py fuzzes the API to hold it).
JsonSchema = dict[str, Any]
_SCHEMAS: weakref.WeakKeyDictionary[Callable[..., Any], JsonSchema] = weakref.WeakKeyDictionary()
P = TypeVar("P", bound=Callable[..., Any])

NO_CONTROL = "^[^\\x00-\\x1F\\x7F]*$"
INTEGER_PATTERN = "^[-+]?[0-9]{1,15}$"
NUMBER_PATTERN = "^[-+]?([0-9]{1,20}(\\.[0-9]{0,20})?|\\.[0-9]{1,20})([eE][-+]?[0-9]{1,3})?$"
ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"


def describe(parser: P, schema: JsonSchema) -> P:
    """Declare what `parser` accepts, as JSON Schema; returns the parser."""
    _SCHEMAS[parser] = schema
    return parser


def described(schema: JsonSchema) -> Callable[[P], P]:
    """`describe` as a decorator, for parsers defined with `def`."""

    def mark(parser: P) -> P:
        return describe(parser, schema)

    return mark


def schema_of(parser: Callable[..., Any]) -> JsonSchema:
    """The JSON Schema of a parser; KeyError for one never described (a declaration
    that the document would otherwise leave out)."""
    return _SCHEMAS[parser]


def text_schema(max_len: int) -> JsonSchema:
    return {"type": "string", "maxLength": max_len, "pattern": NO_CONTROL}


def _from_query_json(name: str, value: Any, from_query: bool) -> Any:
    if from_query and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise invalid(name, 'must be JSON in a query string, e.g. ["1","2"]') from None
        except RecursionError:
            raise invalid(name, f"is JSON {TOO_DEEP}") from None
    return value


def text(max_len: int) -> Parser:
    def parse(name: str, value: Any, from_query: bool) -> str:
        if not isinstance(value, str):
            raise invalid(name, f"must be a string, not {type_name(value)}")
        if len(value) > max_len:
            raise invalid(name, f"is {len(value)} characters long; the limit is {max_len}")
        if CONTROL_RE.search(value):
            raise invalid(name, "must not contain control characters")
        return value

    return describe(parse, text_schema(max_len))


_BREAKS = str.maketrans("\t\r\n", "   ")


def prose(max_len: int) -> Parser:
    """Text that may run over lines (a product's or category's description, a page's
    text, a custom attribute's value): tabs and line breaks allowed, other control
    characters not. Ids, names, keys and labels stay `text`: one line, no controls."""
    check = text(max_len)

    def parse(name: str, value: Any, from_query: bool) -> str:
        if isinstance(value, str):
            check(name, value.translate(_BREAKS), from_query)
            return value
        checked: str = check(name, value, from_query)  # not a string: says so
        return checked

    pattern = "^[^\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F]*$"
    return describe(parse, {"type": "string", "maxLength": max_len, "pattern": pattern})


@described(
    {
        "anyOf": [
            {"type": "string", "minLength": 1, "maxLength": ID_MAX, "pattern": NO_CONTROL},
            {"type": "integer"},
        ],
        "description": "an id: a string, or an integer taken as its decimal text",
    }
)
def product_id(name: str, value: Any, from_query: bool) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise invalid(name, f"must be a product id (string or integer), not {type_name(value)}")
    if not value:
        raise invalid(name, "must not be empty")
    clean: str = text(ID_MAX)(name, value, from_query)
    return clean


def text_or_id(max_len: int) -> Parser:
    """Text, or an integer taken as its decimal text (Clerk's categories are integers)."""

    def parse(name: str, value: Any, from_query: bool) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        clean: str = text(max_len)(name, value, from_query)
        return clean

    return describe(parse, {"anyOf": [text_schema(max_len), {"type": "integer"}]})


def integer(low: int, high: int) -> Parser:
    def parse(name: str, value: Any, from_query: bool) -> int:
        if isinstance(value, str) and INTEGER_TEXT.fullmatch(value):
            value = int(value)
        elif isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
            value = int(value)  # 2.0: a JSON number some clients write for 2
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid(name, f"must be an integer, not {_shown(value)}")
        if not low <= value <= high:
            raise invalid(name, f"must be between {low} and {high}, not {value}")
        return value

    return describe(
        parse,
        {
            "anyOf": [
                {"type": "integer", "minimum": low, "maximum": high},
                {"type": "string", "pattern": INTEGER_PATTERN},
            ],
            "description": f"an integer from {low} to {high}, or its decimal text",
        },
    )


def number(low: float, high: float) -> Parser:
    def parse(name: str, value: Any, from_query: bool) -> float:
        if isinstance(value, str) and NUMBER_TEXT.fullmatch(value):
            value = float(value)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise invalid(name, f"must be a number, not {_shown(value)}")
        if not math.isfinite(value) or not low <= value <= high:
            raise invalid(name, f"must be a number between {low:g} and {high:g}")
        return float(value)

    return describe(
        parse,
        {
            "anyOf": [
                {"type": "number", "minimum": low, "maximum": high},
                {"type": "string", "pattern": NUMBER_PATTERN},
            ],
            "description": f"a number from {low:g} to {high:g}, or its decimal text",
        },
    )


@described({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "format": "date"})
def date(name: str, value: Any, from_query: bool) -> datetime.date:
    """A calendar date as YYYY-MM-DD (a UTC day)."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise invalid(name, f"must be a date as YYYY-MM-DD, not {value!r:.40}")
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise invalid(name, f"{value} is not a calendar date") from None


@described({"anyOf": [{"type": "boolean"}, {"enum": ["true", "false", "1", "0"]}]})
def boolean(name: str, value: Any, from_query: bool) -> bool:
    if isinstance(value, str) and value in ("true", "false", "1", "0"):
        return value in ("true", "1")
    if not isinstance(value, bool):
        raise invalid(name, f"must be true or false, not {type_name(value)}")
    return value


# Looser than EMAIL_RE (surrounding spaces are stripped, JSON Schema's \s is not Python's).
EMAIL_SCHEMA: JsonSchema = {
    "type": "string",
    "maxLength": 254,
    "pattern": "^[^\\x00-\\x1F\\x7F@]+@[^\\x00-\\x1F\\x7F@]+\\.[^\\x00-\\x1F\\x7F@]+$",
    "description": "an email address",
}


@described(EMAIL_SCHEMA)
def email(name: str, value: Any, from_query: bool) -> str:
    address: str = text(254)(name, value, from_query).strip()
    if not EMAIL_RE.match(address):
        raise invalid(name, "is not an email address")
    return address.lower()


@described(
    {
        "anyOf": [{"type": "null"}, {"type": "string", "pattern": ID_PATTERN}],
        "description": 'null (no visitor), "auto" (cookieless, derived) or an id',
    }
)
def visitor(name: str, value: Any, from_query: bool) -> str | None:
    if value is None or (from_query and value == "null"):
        return None
    if not isinstance(value, str):
        raise invalid(name, f'must be null, "auto" or an id string, not {type_name(value)}')
    if value != "auto" and not VISITOR_RE.fullmatch(value):
        raise invalid(name, 'must be null, "auto" or 1-64 characters of A-Z a-z 0-9 _ -')
    refuse_derived(name, value)
    return value


def refuse_derived(name: str, value: str) -> None:
    if DERIVED_ID.fullmatch(value):
        raise invalid(
            name,
            "ids of c- and 22 more characters are the collector's own cookieless ids; "
            "choose another id",
        )


@described({"type": "string", "pattern": ID_PATTERN})
def session(name: str, value: Any, from_query: bool) -> str:
    if not isinstance(value, str) or not VISITOR_RE.fullmatch(value):
        raise invalid(name, "must be 1-64 characters of A-Z a-z 0-9 _ -")
    return value


def list_of(item: Parser, max_items: int) -> Parser:
    def parse(name: str, value: Any, from_query: bool) -> list[Any]:
        value = _from_query_json(name, value, from_query)
        if not isinstance(value, list):
            raise invalid(name, f"must be a list, not {type_name(value)}")
        if len(value) > max_items:
            raise invalid(name, f"has {len(value)} items; the limit is {max_items}")
        return [item(f"{name}[{i}]", v, False) for i, v in enumerate(value)]

    return describe(parse, {"type": "array", "maxItems": max_items, "items": schema_of(item)})


def record(fields: Fields) -> Parser:
    """A JSON object with exactly these fields (name -> (parser, default or REQUIRED))."""

    def parse(name: str, value: Any, from_query: bool) -> dict[str, Any]:
        value = _from_query_json(name, value, from_query)
        if not isinstance(value, dict):
            raise invalid(name, f"must be an object, not {type_name(value)}")
        return validate(value, fields, prefix=f"{name}.", warnings=_warnings.get())

    return describe(parse, object_schema(fields))


def one_of(*parsers: Parser) -> Parser:
    """The first parser that accepts the value's JSON type (by a dry run)."""

    def parse(name: str, value: Any, from_query: bool) -> Any:
        if isinstance(value, dict):
            return parsers[-1](name, value, from_query)
        return parsers[0](name, value, from_query)

    return describe(parse, {"anyOf": [schema_of(p) for p in parsers]})


def object_schema(fields: Fields, *, additional: bool | JsonSchema = True) -> JsonSchema:
    """An object of these fields; others are allowed (ignored with a warning) unless
    `additional` says otherwise."""
    schema: JsonSchema = {
        "type": "object",
        "properties": {
            name: field_schema(parser, default) for name, (parser, default) in fields.items()
        },
        "additionalProperties": additional,
    }
    required = [name for name, (_, default) in fields.items() if default is REQUIRED]
    if required:
        schema["required"] = required
    return schema


def field_schema(parser: Parser, default: Any) -> JsonSchema:
    """A field's schema, with its default where it has one that JSON can say."""
    schema = dict(schema_of(parser))
    if default is not REQUIRED and default is not None:
        schema["default"] = default
    return schema


def validate(
    data: dict[str, Any],
    fields: Fields,
    *,
    from_query: bool = False,
    prefix: str = "",
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """The clean values of `fields` (their defaults where not sent).

    An argument not in `fields` is an error, or, when `warnings` is a list, ignored and
    named in it (and so are unknown fields of nested records parsed meanwhile)."""
    unknown = sorted(data.keys() - fields.keys())
    if unknown and warnings is None:
        raise ApiError(
            400,
            "unknown_field",
            f"unknown field {prefix}{unknown[0]}; allowed: {', '.join(sorted(fields))}",
        )
    for name in unknown:
        warn(warnings, f"{prefix}{name}")
    clean: dict[str, Any] = {}
    token = _warnings.set(warnings)
    try:
        for name, (parser, default) in fields.items():
            if name not in data:
                if default is REQUIRED:
                    raise ApiError(400, "missing_field", f"{prefix}{name}: is required")
                clean[name] = default
                continue
            clean[name] = parser(prefix + name, data[name], from_query)
    finally:
        _warnings.reset(token)
    return clean


def warn(warnings: list[str] | None, name: str) -> None:
    """Add "<name>: unknown argument, ignored" to the list, within the caps."""
    if warnings is None:
        return
    if len(warnings) < WARNINGS_MAX:
        shown = _SHOWN_NAME.sub("?", name[:WARNING_NAME_MAX])
        cut = "..." if len(name) > WARNING_NAME_MAX else ""
        warnings.append(f"{shown}{cut}: unknown argument, ignored")
    elif len(warnings) == WARNINGS_MAX:
        warnings.append("more unknown arguments ignored")


def _shown(value: Any) -> str:
    """How a refused value is named in a message: its type, or a short string quoted."""
    if isinstance(value, str):
        return repr(value[:20] + ("..." if len(value) > 20 else ""))
    return type_name(value)


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
