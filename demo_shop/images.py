"""Generated SVG placeholders for product images (no image files to ship)."""

from __future__ import annotations

import zlib
from string import Template
from typing import Any
from xml.sax.saxutils import escape

FONT = "system-ui,-apple-system,Segoe UI,Roboto,sans-serif"
SVG = Template(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 600" width="600" height="600"'
    ' role="img" aria-label="$label">'
    '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">'
    '<stop offset="0" stop-color="hsl($hue,45%,88%)"/>'
    '<stop offset="1" stop-color="hsl($hue2,40%,76%)"/></linearGradient></defs>'
    '<rect width="600" height="600" fill="url(#g)"/>'
    '<path d="M0 470 L150 330 L250 420 L380 260 L600 470 V600 H0 Z"'
    ' fill="hsl($hue,35%,62%)" opacity=".55"/>'
    '<circle cx="455" cy="150" r="48" fill="hsl($hue3,60%,95%)" opacity=".8"/>'
    '<text x="300" y="345" text-anchor="middle" font-family="$font" font-size="190"'
    ' font-weight="700" fill="hsl($hue,35%,28%)" opacity=".85">$initial</text>'
    '<text x="300" y="555" text-anchor="middle" font-family="$font" font-size="30"'
    ' letter-spacing="4" fill="hsl($hue,30%,22%)" opacity=".7">$caption</text>'
    "</svg>"
)


def product_svg(product: dict[str, Any]) -> str:
    """A soft two-tone tile with the product's category initial.

    The hue comes from the id, so each product keeps its colour everywhere.
    """
    hue = zlib.crc32(product["id"].encode()) % 360
    category = product["categories"][0] if product["categories"] else "Shop"
    return SVG.substitute(
        hue=hue,
        hue2=(hue + 25) % 360,
        hue3=(hue + 40) % 360,
        font=FONT,
        label=escape(category, {'"': "&quot;"}),
        initial=escape(category[:1].upper()),
        caption=escape(category.upper()),
    )
