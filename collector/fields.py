"""Field schemas that several endpoints and the importer share.

A sale line (log/sale, imported orders), a product (the products API, imported
products), a widget's labels (log/click, every product list) and the fields every
product list takes (recommendations, search). Each is built from the generic parsers
of validation.py; the sizes come from caps.py. A field used by one endpoint alone is
declared beside its handler.
"""

from __future__ import annotations

import math
import re
from typing import Any

from . import caps
from .errors import invalid
from .filters import FILTER
from .validation import (
    REQUIRED,
    Fields,
    Parser,
    describe,
    described,
    integer,
    list_of,
    number,
    object_schema,
    one_of,
    product_id,
    prose,
    record,
    schema_of,
    text,
    text_or_id,
    type_name,
    validate,
)

# A widget's labels (log/click, every product list): short names such as
# ["Home", "You previously saw"]; the caps are explained in caps.py.
labels_field = list_of(text(caps.LABEL_LENGTH_MAX), caps.LABELS_MAX)

ATTRIBUTE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
ATTRIBUTES_MAX = 50  # fields a list's product_data may be cut to


ATTRIBUTE_PATTERN = "^[a-z_][a-z0-9_]{0,63}$"


@described({"type": "string", "pattern": ATTRIBUTE_PATTERN})
def attribute_name(name: str, value: Any, from_query: bool) -> str:
    """A product attribute's name (a built-in field or a custom attribute)."""
    if not isinstance(value, str):
        raise invalid(name, f"must be an attribute name (a string), not {type_name(value)}")
    if not ATTRIBUTE_NAME.fullmatch(value):
        raise invalid(name, "attribute names are a-z, 0-9 and _ (64 at most)")
    return value


LIST_FIELDS: Fields = {
    "limit": (integer(1, 100), 10),
    "labels": (labels_field, []),
    "exclude": (list_of(product_id, caps.EXCLUDE_MAX), []),
    # Clerk's filter language (filters.py): a parsed filter, or None for none.
    "filter": (FILTER, None),
    # The fields product_data carries (with `id`); empty: every field.
    "attributes": (list_of(attribute_name, ATTRIBUTES_MAX), []),
}

# A sale line: an id, or {id, quantity, price}. A negative price is a discount line
# (PrestaShop sends its vouchers so): it lowers the order's total and is never
# credited to a widget (storage/tracking.py and storage/reports.py say how).
sale_line = one_of(
    product_id,
    record(
        {
            "id": (product_id, REQUIRED),
            "quantity": (integer(1, caps.QUANTITY_MAX), 1),
            "price": (number(-caps.PRICE_MAX, caps.PRICE_MAX), 0.0),
        }
    ),
)


def link(max_len: int) -> Parser:
    """An http(s) or site-relative URL: never javascript: or data:."""

    def parse(name: str, value: Any, from_query: bool) -> str:
        url: str = text(max_len)(name, value, from_query)
        if not url.startswith(("http://", "https://", "/")) or url.startswith("//"):
            raise invalid(name, "must be an http(s) URL or a path starting with /")
        return url

    chars = "[^\\x00-\\x1F\\x7F]"
    pattern = f"^(https?://{chars}*|/|/[^/\\x00-\\x1F\\x7F]{chars}*)$"
    return describe(parse, {"type": "string", "maxLength": max_len, "pattern": pattern})


PRODUCT_FIELDS = {
    "id": (product_id, REQUIRED),
    "name": (text(1000), REQUIRED),
    "url": (link(2000), REQUIRED),
    "price": (number(0, caps.PRICE_MAX), REQUIRED),
    "list_price": (number(0, caps.PRICE_MAX), None),
    "description": (prose(20_000), ""),
    "image": (link(2000), None),
    "brand": (text(200), None),
    "categories": (list_of(text_or_id(200), 50), []),
    "stock": (integer(-1_000_000, 1_000_000_000), None),
    "created_at": (integer(0, 10_000_000_000), None),
}


@described(
    {
        "anyOf": [
            schema_of(prose(1000)),
            {"type": "number"},
            {"type": "boolean"},
        ]
    }
)
def _scalar(name: str, value: Any, from_query: bool) -> Any:
    if isinstance(value, str):
        return prose(1000)(name, value, from_query)
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise invalid(name, f"must be a string, number or boolean, not {type_name(value)}")


def _attribute(name: str, value: Any) -> Any:
    """A custom attribute: free text (line breaks allowed: PrestaShop's description_long),
    a number, a boolean, null, or a list of these (PrestaShop's variant_prices)."""
    if isinstance(value, list):
        return list_of(_scalar, 100)(name, value, False)
    if value is None:
        return value
    if isinstance(value, str | bool | int | float):
        return _scalar(name, value, False)
    raise invalid(name, "custom attributes must be strings, numbers, booleans or lists of them")


def with_attributes(fields: Fields, required: str) -> Parser:
    """An object of these fields (checked by type) and custom attributes (kept as they
    are): a product, a category, a page. `required` names the fields it must have."""

    def parse(name: str, value: Any, from_query: bool) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise invalid(name, f"must be an object with at least {required}")
        known = {k: v for k, v in value.items() if k in fields}
        clean = validate(known, fields, prefix=f"{name}.")
        for key, attr in value.items():
            if key in fields:
                continue
            if not ATTRIBUTE_NAME.fullmatch(key):
                raise invalid(f"{name}.{key}", "attribute names are a-z, 0-9 and _ (64 at most)")
            clean[key] = _attribute(f"{name}.{key}", attr)
        return {k: v for k, v in clean.items() if v is not None}

    attribute = {
        "anyOf": [{"type": "null"}, schema_of(_scalar), schema_of(list_of(_scalar, 100))],
        "description": "a custom attribute",
    }
    names = {"anyOf": [{"enum": list(fields)}, {"pattern": ATTRIBUTE_PATTERN}]}
    return describe(parse, {**object_schema(fields, additional=attribute), "propertyNames": names})


# A product: the known fields checked by type, custom attributes kept as they are.
product = with_attributes(PRODUCT_FIELDS, "id, name, url and price")
