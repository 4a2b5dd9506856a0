"""Liquid designs on the server: checking a content's design, and the dashboard's preview.

Designs are Liquid, Clerk's template language. The collector checks a design when it is
saved (a design that does not parse is refused, naming the line and what was expected) and
renders it for the dashboard's preview; shoppers' browsers render it with clerk-render.js.
Both render the cases in tests/fixtures/liquid_cases.json alike: python-liquid is the
reference the browser renderer is tested against.

The environment is python-liquid's with:
- output HTML-escaped (`autoescape`), so catalogue text never becomes markup;
- resource limits, so a design cannot make the server loop, nest or write without bound;
- Clerk's money filters (`money`: 1,234.50; `money_eu`: 1.234,50);
- unknown filters pass the value through (`strict_filters` off): a storefront's
  `config.formatters` are filters the server does not have.
"""

from __future__ import annotations

import html
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from html.parser import HTMLParser
from typing import Any

from liquid import BoundTemplate, Environment
from liquid.exceptions import LiquidError

from .caps import DESIGN_LENGTH_MAX

# A design is Liquid source of at most this many characters.
DESIGN_MAX = DESIGN_LENGTH_MAX


class DesignError(ValueError):
    """A design that does not parse or cannot render: the message says where and why."""


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return None


def money(value: Any) -> str:
    """A price as 1,234.50 (two decimals, comma thousands); not a number: as it is."""
    amount = _decimal(value)
    return str(value if value is not None else "") if amount is None else f"{amount:,.2f}"


def money_eu(value: Any) -> str:
    """A price as 1.234,50 (two decimals, dot thousands); not a number: as it is."""
    text = money(value)
    if _decimal(value) is None:
        return text
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


class DesignEnvironment(Environment):
    # Every loop of a design together: a list page of 100 products with a few nested loops.
    loop_iteration_limit = 100_000
    context_depth_limit = 30
    local_namespace_limit = 100_000
    output_stream_limit = 2_000_000
    block_nesting_limit = 30


ENV = DesignEnvironment(autoescape=True, strict_filters=False)
ENV.filters["money"] = money
ENV.filters["money_eu"] = money_eu


# Tags that open a block closed by end<tag> (for the line of one left open).
BLOCKS = {"for", "if", "unless", "case", "capture", "comment", "raw", "tablerow", "block"}
TAG = re.compile(r"{%-?\s*(\w+)")


def _unclosed(source: str) -> str | None:
    """Where the last block left open starts, and what closes it: "line 2, column 0: ..."."""
    stack: list[re.Match[str]] = []
    for tag in TAG.finditer(source):
        name = tag.group(1)
        if (
            stack
            and stack[-1].group(1) in ("raw", "comment")
            and name != "end" + stack[-1].group(1)
        ):
            continue  # anything inside raw and comment is text
        if name in BLOCKS:
            stack.append(tag)
        elif name.startswith("end") and stack and stack[-1].group(1) == name[3:]:
            stack.pop()
    if not stack:
        return None
    opened = stack[-1]
    row = source.count("\n", 0, opened.start()) + 1
    column = opened.start() - (source.rfind("\n", 0, opened.start()) + 1)
    name = opened.group(1)
    return f"line {row}, column {column}: {name} is never closed: expected tag end{name}"


def _explain(exc: LiquidError, source: str) -> str:
    """python-liquid's message without its source excerpt: where, then the first line."""
    lines = str(exc).splitlines()
    message = lines[0] if lines else type(exc).__name__
    where = next((line.split("' ")[-1] for line in lines[1:2] if "->" in line), "")
    if where and ":" in where:
        row, _, column = where.partition(":")
        return f"line {row}, column {column}: {message}"
    if message.startswith("expected tag end"):  # python-liquid says no more than that
        return _unclosed(source) or message
    return message


def parse(source: str) -> BoundTemplate:
    """The design's template, or DesignError naming the line and what was expected."""
    if len(source) > DESIGN_MAX:
        raise DesignError(f"is {len(source)} characters long; the limit is {DESIGN_MAX}")
    try:
        return ENV.from_string(source)
    except LiquidError as exc:
        raise DesignError(_explain(exc, source)) from None


def render(source: str, context: dict[str, Any]) -> str:
    """The design rendered over `context` (products, content, globals, count, query)."""
    template = parse(source)
    try:
        return template.render(**context)
    except LiquidError as exc:
        raise DesignError(_explain(exc, source)) from None


# What a content without a design shows: clerk.js's plain list of linked names.
DEFAULT_DESIGN = (
    '<ul class="clerk-default">{% for product in products %}'
    '<li><a href="{{ product.url }}">{{ product.name }}</a></li>{% endfor %}</ul>'
)

# Attributes whose value is a URL (srcset: a list of them), and the schemes kept there.
URL_ATTRIBUTES = {
    "href",
    "src",
    "srcset",
    "action",
    "formaction",
    "xlink:href",
    "poster",
    "background",
    "data",
    "cite",
    "longdesc",
    "ping",
    "manifest",
    "imagesrcset",
}
SAFE_SCHEMES = ("http", "https")
SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
# What browsers ignore in a URL before reading its scheme ("java\tscript:" is javascript:).
IGNORED_IN_URLS = re.compile(r"[\x00-\x20\x7f]")


def safe_url(value: str) -> bool:
    """An http(s) or relative URL: anything else (javascript:, data:, vbscript:) is not."""
    found = SCHEME.match(IGNORED_IN_URLS.sub("", value).lower())
    return found is None or found.group(1) in SAFE_SCHEMES


class _Sanitizer(HTMLParser):
    """Rewrites HTML keeping its markup, less every URL attribute that is not safe_url,
    every on* handler and every <script> (a preview is also sandboxed without scripts)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.raw: str | None = None  # inside <style> (kept as is) or <script> (dropped)

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]], close: str) -> None:
        if tag == "script":
            self.raw = "script" if not close else self.raw
            return
        kept = []
        for name, value in attrs:
            if name.startswith("on"):
                continue
            if name in URL_ATTRIBUTES and value is not None:
                urls = [part.strip().split(" ")[0] for part in value.split(",")]
                if not all(safe_url(u) for u in (urls if "srcset" in name else [value])):
                    continue
            kept.append(name if value is None else f'{name}="{html.escape(value)}"')
        self.out.append(f"<{' '.join([tag, *kept])}{close}>")
        if tag == "style" and not close:
            self.raw = "style"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, attrs, "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, attrs, " /")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.raw == tag:
            self.raw = None
            if tag == "script":
                return
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self.raw == "script":
            return
        self.out.append(data if self.raw == "style" else html.escape(data, quote=False))

    def handle_comment(self, data: str) -> None:
        pass  # a comment could close early and become markup: dropped

    def handle_decl(self, decl: str) -> None:
        pass


def sanitize(markup: str) -> str:
    """The rendered design, its unsafe URLs, handlers and scripts removed (for a preview)."""
    parser = _Sanitizer()
    parser.feed(markup)
    parser.close()
    return "".join(parser.out)
