r"""Clerk's filter language: parsed here, evaluated in Python here, in SQL by
storage/attributes.py.

This module is some 550 lines: the tokenizer, the parser and the Python evaluation
share one value model and one error type, and read best side by side.

A filter names product attributes (built-in `id name price list_price brand categories
stock created_at url image` and any custom attribute; not `description`) and compares
them with values: `brand = "Nike" and (price < 50 or categories in [12, 14])`.

Grammar (keywords case-insensitive; whitespace between tokens is free):

    expr       := or
    or         := and ("or" and)*
    and        := term ("and" term)*
    term       := "(" expr ")" | comparison
    comparison := NAME op value
                | NAME ["not"] "in" list
                | NAME "contains" value
    op         := "=" | "!=" | ">" | ">=" | "<" | "<="
    value      := STRING | NUMBER | "true" | "false"
    list       := "[" [value ("," value)*] "]"
    NAME       := [A-Za-z_][A-Za-z0-9_.]*   (but not "and", "or" or "not")
    STRING     := '...' | "..."   (backslash escapes: \\ \' \" \n \t \r \uXXXX;
                                   no control character but tab and line breaks)
    NUMBER     := -?digits[.digits][(e|E)[+-]digits]

`and` binds tighter than `or`. After `>`, `>=`, `<` and `<=` only a number may come.
A filter is at most FILTER_MAX characters, nests at most DEPTH_MAX parentheses and
holds at most COMPARISONS_MAX comparisons and LIST_MAX values in one list (what one
filter may cost the server).

The value model (one place, used by storage and by `evaluate`): every value of a
product's attribute, or each item of a list value, is a Value(text, number). text: the
string, "true"/"false" for booleans, the canonical number text for numbers ("12" for 12
and 12.0); number: the float of a number, or of a string that is a decimal number
("12.5"), else None. Null values and empty lists hold nothing. On a product whose
attribute `a` holds the values V:

| filter            | true when                                               |
|-------------------|---------------------------------------------------------|
| a = "s"           | some v.text == "s"                                      |
| a = 5             | some v.number == 5                                      |
| a = true          | some v.text == "true"                                   |
| a != x            | V is not empty and no v is `= x`                        |
| a > 5 (>=, <, <=) | some v.number > 5                                       |
| a in [x, y]       | some v is `= x` or `= y`                                |
| a not in [x, y]   | V is not empty and no v is `= x` or `= y`               |
| a contains "s"    | some v.text contains "s" (case-sensitive)               |
| a contains 5/true | as `a = 5` / `a = true`                                 |

A product without the attribute satisfies nothing (`!=` and `not in` included), so an
attribute no product has matches nothing (as Clerk).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import invalid
from .validation import described, type_name

FILTER_MAX = 2000
DEPTH_MAX = 16
COMPARISONS_MAX = 64
LIST_MAX = 200

Literal = str | float | bool
OPERATORS = ("=", "!=", ">", ">=", "<", "<=")
ORDERING = (">", ">=", "<", "<=")
NOT_FILTERABLE = frozenset({"description"})
RESERVED = frozenset({"and", "or", "not"})  # never an attribute's name


# ---------------------------------------------------------------- the AST


@dataclass(frozen=True)
class Compare:
    """`attribute op value`: op one of OPERATORS (an ordering takes a number only)."""

    attribute: str
    op: str
    value: Literal


@dataclass(frozen=True)
class In:
    """`attribute in [values]`, or `not in` when negated."""

    attribute: str
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Contains:
    attribute: str
    value: Literal


@dataclass(frozen=True)
class And:
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Expr, ...]


Expr = Compare | In | Contains | And | Or
Comparison = Compare | In | Contains


class FilterError(ValueError):
    """A filter that does not parse: where (0-based character offset) and what was expected."""

    def __init__(self, position: int, expected: str, found: str) -> None:
        super().__init__(f"at position {position}: expected {expected}, found {found}")
        self.position = position
        self.expected = expected
        self.found = found


# ---------------------------------------------------------------- tokens


class Token(NamedTuple):
    kind: str  # "name" | "string" | "number" | "op" | "punct" | "end"
    text: str  # as written (for a string: its value)
    position: int
    value: Any = None


_SPACE = re.compile(r"\s*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_OP = re.compile(r"!=|>=|<=|=|>|<")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
FOUND_MAX = 20  # characters of the offending text an error shows


def _shown(text: str) -> str:
    cut = text if len(text) <= FOUND_MAX else text[:FOUND_MAX] + "..."
    return json.dumps(cut, ensure_ascii=True).replace('"', "'")


# No stored text holds these (prose allows tab and line breaks only), and PostgreSQL
# takes no NUL nor either engine a lone surrogate: a string holding one does not parse.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _string(source: str, start: int) -> tuple[str, int]:
    quote = source[start]
    out: list[str] = []
    i = start + 1
    while i < len(source):
        c, at = source[i], i
        if c == quote:
            return "".join(out), i + 1
        if c == "\\":
            nxt = source[i + 1 : i + 2]
            if nxt in _ESCAPES and nxt:
                c = _ESCAPES[nxt]
                i += 2
            elif nxt == "u" and _HEX4.fullmatch(source[i + 2 : i + 6]):
                c = chr(int(source[i + 2 : i + 6], 16))
                i += 6
            else:
                found = _shown(source[i : i + 2]) if nxt else "the end of the filter"
                raise FilterError(i, "an escape (\\\\ \\' \\\" \\n \\t \\r \\uXXXX)", found)
        else:
            i += 1
        if _UNSTORABLE.match(c):
            raise FilterError(at, "a character other than a control character", _shown(c))
        out.append(c)
    raise FilterError(
        len(source), f"{quote} to close the string at {start}", "the end of the filter"
    )


def tokens(source: str) -> list[Token]:
    found: list[Token] = []
    i = _SPACE.match(source, 0).end()  # type: ignore[union-attr]
    while i < len(source):
        c = source[i]
        if c in "'\"":
            value, end = _string(source, i)
            found.append(Token("string", value, i))
        elif m := _NUMBER.match(source, i):
            number = float(m.group())
            if not math.isfinite(number):
                raise FilterError(i, "a finite number", _shown(m.group()))
            found.append(Token("number", m.group(), i, number))
            end = m.end()
        elif m := _NAME.match(source, i):
            found.append(Token("name", m.group(), i))
            end = m.end()
        elif m := _OP.match(source, i):
            found.append(Token("op", m.group(), i))
            end = m.end()
        elif c in "()[],":
            found.append(Token("punct", c, i))
            end = i + 1
        else:
            raise FilterError(i, "an attribute, operator, value or parenthesis", _shown(c))
        if end < len(source) and found[-1].kind in ("number", "name"):
            if _NAME.match(source, end) or source[end] in "'\"":
                raise FilterError(end, "a space or an operator", _shown(source[end]))
        i = _SPACE.match(source, end).end()  # type: ignore[union-attr]
    found.append(Token("end", "", len(source)))
    return found


# ---------------------------------------------------------------- the parser


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = tokens(source)
        self.at = 0
        self.comparisons = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def fail(self, expected: str) -> FilterError:
        token = self.token
        if token.kind == "end":
            found = "the end of the filter"
        elif token.kind == "string":
            found = "a string " + _shown(token.text)
        else:
            found = _shown(token.text)
        return FilterError(token.position, expected, found)

    def keyword(self, word: str) -> bool:
        if self.token.kind == "name" and self.token.text.lower() == word:
            self.at += 1
            return True
        return False

    def punct(self, c: str) -> bool:
        if self.token.kind == "punct" and self.token.text == c:
            self.at += 1
            return True
        return False

    def expr(self, depth: int) -> Expr:
        parts = [self.conjunction(depth)]
        while self.keyword("or"):
            parts.append(self.conjunction(depth))
        return parts[0] if len(parts) == 1 else Or(tuple(_flat(parts, Or)))

    def conjunction(self, depth: int) -> Expr:
        parts = [self.term(depth)]
        while self.keyword("and"):
            parts.append(self.term(depth))
        return parts[0] if len(parts) == 1 else And(tuple(_flat(parts, And)))

    def term(self, depth: int) -> Expr:
        if self.token.kind == "punct" and self.token.text == "(":
            if depth >= DEPTH_MAX:
                raise self.fail(f"at most {DEPTH_MAX} nested parentheses")
            self.at += 1
            inner = self.expr(depth + 1)
            if not self.punct(")"):
                raise self.fail("')' or 'and' or 'or'")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        if self.token.kind != "name" or self.token.text.lower() in RESERVED:
            raise self.fail("an attribute name or '('")
        if self.comparisons >= COMPARISONS_MAX:
            raise self.fail(f"at most {COMPARISONS_MAX} comparisons")
        self.comparisons += 1
        name = self.token.text
        self.at += 1
        if self.token.kind == "op":
            op = self.token.text
            self.at += 1
            if op in ORDERING:
                if self.token.kind != "number":
                    raise self.fail(f"a number after {op}")
                number: float = self.token.value
                self.at += 1
                return Compare(name, op, number)
            return Compare(name, op, self.value())
        if self.keyword("contains"):
            return Contains(name, self.value())
        negated = self.keyword("not")
        if not self.keyword("in"):
            raise self.fail(
                "'in'" if negated else "an operator (= != > >= < <= in, not in, contains)"
            )
        return In(name, self.list(), negated)

    def value(self) -> Literal:
        token = self.token
        if token.kind == "string":
            self.at += 1
            return token.text
        if token.kind == "number":
            self.at += 1
            number: float = token.value
            return number
        if token.kind == "name" and token.text.lower() in ("true", "false"):
            self.at += 1
            return token.text.lower() == "true"
        raise self.fail("a value (a string, number, true or false)")

    def list(self) -> tuple[Literal, ...]:
        if not self.punct("["):
            raise self.fail("'['")
        values: list[Literal] = []
        if self.punct("]"):
            return ()
        while True:
            if len(values) >= LIST_MAX:
                raise self.fail(f"at most {LIST_MAX} values in a list")
            values.append(self.value())
            if self.punct("]"):
                return tuple(values)
            if not self.punct(","):
                raise self.fail("',' or ']'")


def _flat(parts: Iterable[Expr], kind: type[And] | type[Or]) -> Iterable[Expr]:
    for part in parts:
        if isinstance(part, kind):
            yield from part.parts
        else:
            yield part


def parse(source: str) -> Expr:
    """The filter's AST, or FilterError (position, expected) when it does not parse."""
    if len(source) > FILTER_MAX:
        raise FilterError(FILTER_MAX, f"at most {FILTER_MAX} characters", "more")
    parser = _Parser(source)
    if parser.token.kind == "end":
        raise parser.fail("an attribute name or '('")
    expr = parser.expr(0)
    if parser.token.kind != "end":
        raise parser.fail("'and', 'or' or the end of the filter")
    return expr


@described(
    {
        "anyOf": [{"type": "null"}, {"type": "string", "maxLength": FILTER_MAX}],
        "description": 'Clerk\'s filter language, e.g. brand = "Nike" and price < 50',
    }
)
def FILTER(name: str, value: Any, from_query: bool) -> Expr | None:  # noqa: N802 (a field)
    """The `filter` argument: a filter's text (empty or blank: no filter, None)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(name, f"must be a filter (a string), not {type_name(value)}")
    if len(value) > FILTER_MAX:
        raise invalid(name, f"is {len(value)} characters long; the limit is {FILTER_MAX}")
    if not value.strip():
        return None
    try:
        return parse(value)
    except FilterError as exc:
        raise invalid(name, f"does not parse {exc}") from None


# ---------------------------------------------------------------- canonical text


def _literal_text(value: Literal) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return number_text(value)
    out = []
    for c in value:
        if c in '\\"':
            out.append("\\" + c)
        elif c < " " or c == "\x7f":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def canonical(expr: Expr) -> str:
    """A normalised text of a parsed filter (keywords lower case, one space between
    tokens, strings double-quoted, numbers in canonical form, parentheses only where
    needed): equal for filters that parse to the same AST, and parses back to it."""
    return _canonical(expr, top=True)


def _canonical(expr: Expr, top: bool = False) -> str:
    if isinstance(expr, Compare):
        return f"{expr.attribute} {expr.op} {_literal_text(expr.value)}"
    if isinstance(expr, Contains):
        return f"{expr.attribute} contains {_literal_text(expr.value)}"
    if isinstance(expr, In):
        items = ", ".join(_literal_text(v) for v in expr.values)
        return f"{expr.attribute} {'not in' if expr.negated else 'in'} [{items}]"
    if isinstance(expr, And):
        return " and ".join(
            f"({_canonical(p)})" if isinstance(p, Or) else _canonical(p) for p in expr.parts
        )
    text = " or ".join(_canonical(p) for p in expr.parts)
    return text


def attributes_of(expr: Expr) -> set[str]:
    """The attribute names the filter compares."""
    if isinstance(expr, And | Or):
        return set().union(*(attributes_of(p) for p in expr.parts))
    return {expr.attribute}


def without(expr: Expr, attribute: str) -> Expr | None:
    """The filter less its top-level and-ed parts that name only `attribute` (a
    multiselect facet's own selection); None when nothing is left."""
    parts = expr.parts if isinstance(expr, And) else (expr,)
    kept = tuple(p for p in parts if attributes_of(p) != {attribute})
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else And(kept)


# ---------------------------------------------------------------- the value model


class Value(NamedTuple):
    text: str
    number: float | None


_DECIMAL = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def number_text(number: float) -> str:
    """The canonical text of a number: "12" for 12 and 12.0, else Python's repr."""
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)


def value_of(item: Any) -> Value | None:
    """One scalar as the model holds it (None: null, or not a scalar)."""
    if isinstance(item, bool):
        return Value("true" if item else "false", None)
    if isinstance(item, int | float):
        number = float(item)
        if not math.isfinite(number):
            return None
        return Value(number_text(number), number)
    if isinstance(item, str):
        return Value(item, _decimal(item))
    return None


def stored_value(text: str) -> Value:
    """The Value of a text as product_values stores it (its `value`, or `long_value` when
    longer): the number is a function of the text in this model (a number's text is its
    canonical text, which reads back to it; a string's number is its decimal reading;
    "true" and "false" have none), so a reader of the texts need not read the numbers."""
    return Value(text, _decimal(text))


def _decimal(text: str) -> float | None:
    if len(text) <= 400 and _DECIMAL.fullmatch(text):
        parsed = float(text)
        return parsed if math.isfinite(parsed) else None
    return None


def values_of(product: Mapping[str, Any]) -> dict[str, list[Value]]:
    """Each filterable attribute of a product (a product dict: catalogue.product_dict, or
    a validated product) and its values, without repeats, in order; attributes with no
    value left out."""
    found: dict[str, list[Value]] = {}
    for name, raw in product.items():
        if name in NOT_FILTERABLE:
            continue
        items = raw if isinstance(raw, list) else [raw]
        values = list(dict.fromkeys(v for v in map(value_of, items) if v is not None))
        if values:
            found[name] = values
    return found


# ---------------------------------------------------------------- evaluation


def _is(value: Value, literal: Literal) -> bool:
    """`= literal` on one value."""
    if isinstance(literal, bool):
        return value.text == ("true" if literal else "false")
    if isinstance(literal, float):
        return value.number is not None and value.number == literal
    return value.text == literal


def _ordered(op: str, number: float | None, bound: float) -> bool:
    if number is None:
        return False
    if op == ">":
        return number > bound
    if op == ">=":
        return number >= bound
    if op == "<":
        return number < bound
    return number <= bound


def evaluate(expr: Expr, values: Mapping[str, Sequence[Value]]) -> bool:
    """Whether a product with these values (values_of) satisfies the filter."""
    if isinstance(expr, And):
        return all(evaluate(p, values) for p in expr.parts)
    if isinstance(expr, Or):
        return any(evaluate(p, values) for p in expr.parts)
    return holds(expr, values.get(expr.attribute) or ())


def holds(expr: Comparison, held: Sequence[Value]) -> bool:
    """Whether a product whose attribute (the comparison's) holds these values satisfies
    one comparison: the table above. `evaluate` asks it per product; the search's
    columns (storage/search/columns.py) once per distinct list of values."""
    if isinstance(expr, Contains):
        if isinstance(expr.value, str):
            needle = expr.value
            return any(needle in v.text for v in held)
        literal: Literal = expr.value
        return any(_is(v, literal) for v in held)
    if isinstance(expr, In):
        hit = any(_is(v, x) for v in held for x in expr.values)
        return bool(held) and (not hit if expr.negated else hit)
    if expr.op == "=":
        return any(_is(v, expr.value) for v in held)
    if expr.op == "!=":
        return bool(held) and not any(_is(v, expr.value) for v in held)
    bound = expr.value
    assert isinstance(bound, float) and not isinstance(bound, bool)
    return any(_ordered(expr.op, v.number, bound) for v in held)
