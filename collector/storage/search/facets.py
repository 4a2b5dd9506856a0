"""Facet counts of a search: for each attribute asked, how many of the query's narrowed
matches (narrowed.narrow: in stock, the filter satisfied) hold each value, counted in
memory over the store's columns (columns.py): the matches' codes are counted (each
distinct list of values once, with its number of products), then each list's values.

Two kinds, as Clerk's facets:
- unit: a value and the number of matches that hold it, by count (most first), then
  value; at most UNIT_MAX values (categories: CATEGORY_ROWS kept, as they are sorted by
  their names after, which the collector reads from the categories data);
- range: for an attribute whose every value in the store is a number (categories
  excepted: their ids are names): buckets of round width (1, 2, 2.5 or 5 x 10^k) that
  cut the matches' span into at most about 7, each `min` to `max` where max is the next
  edge less one cent (less a hundredth of the width below 1), the bounds of the filter
  the page sends when a shopper picks the bucket. A bucket counts the products with a
  value in [min, max] (each product once; a value between max and the next edge counts
  in no bucket, as the filter finds it in none). Empty buckets are left out.

A multiselect facet is counted with the filter less its own part (filters.without), so
the other values of a chosen facet keep their counts; the others with the whole filter.
Each distinct filter narrows the matches once per call (the caller's `narrowed`).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import Connection

from ... import filters
from ...filters import Expr
from .columns import Column, Columns

UNIT_MAX = 50
CATEGORY_ROWS = 1000  # categories are sorted by name after: read more, cut after naming
BUCKETS = 6  # the span is cut in about this many buckets (5 to 8 with round edges)
NICE = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))
UNIT_ATTRIBUTES = frozenset({"categories", "id"})  # never ranges, even when numeric

Unit = tuple[str, int]  # value, count
Range = tuple[Decimal, Decimal, int]  # min, max, count
Counts = dict[str, tuple[str, list[Any]]]  # facet -> ("unit", [Unit]) | ("range", [Range])


def _text(value: Decimal) -> str:
    return filters.number_text(float(value))


def _plain(value: Decimal) -> int | float:
    number = float(value)
    return int(number) if number.is_integer() else number


def buckets(low: float, high: float) -> list[tuple[Decimal, Decimal]]:
    """Round-edged buckets (min, max) that hold every number from low to high."""
    lo, hi = Decimal(repr(low)), Decimal(repr(high))
    span = hi - lo
    raw = span / BUCKETS if span > 0 else max(abs(hi), Decimal(1)) / BUCKETS
    power = Decimal(10) ** math.floor(math.log10(float(raw)))
    step = next(m * power for m in NICE if m * power >= raw)
    less = Decimal("0.01") if step >= 1 else step / 100
    edge = (lo / step).to_integral_value(rounding=ROUND_FLOOR) * step
    found = []
    while edge <= hi:
        top = edge + step - less
        if float(top) >= float(edge + step):  # too large for a cent to show in a float
            top = Decimal(math.nextafter(float(edge + step), -math.inf))
        found.append((edge, top))
        edge += step
    return found


def range_name(low: Decimal, high: Decimal) -> str:
    """ "50 - 74" for 50 to 74.99; with the cents when the width is below 1."""
    shown = high if high - low < 1 else high.to_integral_value(rounding=ROUND_FLOOR)
    return f"{_text(low)} - {_text(shown)}"


def shaped_range(low: Decimal, high: Decimal, n: int) -> dict[str, Any]:
    return {
        "type": "range",
        "name": range_name(low, high),
        "min": _plain(low),
        "max": _plain(high),
        "count": n,
    }


def count_facets(
    conn: Connection,
    columns: Columns,
    narrowed: Callable[[Expr | None], list[int]],
    expr: Expr | None,
    names: Sequence[str],
    multiselect: Sequence[str],
) -> Counts:
    """Each facet's counts over the narrowed matches (`narrowed(filter)`: the positions of
    the matches that satisfy it)."""
    counts: Counts = {}
    for name in names:
        own = filters.without(expr, name) if expr is not None and name in multiselect else expr
        column = columns.column(conn, name)
        per_code = Counter(map(column.codes.__getitem__, narrowed(own)))
        per_code.pop(0, None)
        if column.numbers_only and name not in UNIT_ATTRIBUTES:
            counts[name] = ("range", _ranges(column, per_code))
            continue
        per_value: Counter[str] = Counter()
        for code, n in per_code.items():
            for value in column.values[code]:
                per_value[value.text] += n
        top = CATEGORY_ROWS if name == "categories" else UNIT_MAX
        counts[name] = ("unit", sorted(per_value.items(), key=lambda kv: (-kv[1], kv[0]))[:top])
    return counts


def _ranges(column: Column, per_code: Counter[int]) -> list[Range]:
    """A numeric column's buckets (every value has a number: numbers_only)."""
    numbers = {code: [v.number or 0.0 for v in column.values[code]] for code in per_code}
    held = [x for xs in numbers.values() for x in xs]
    if not held:
        return []
    edges = buckets(min(held), max(held))
    starts = [float(low) for low, _ in edges]
    ends = [float(high) for _, high in edges]
    found = [0] * len(edges)
    for code, n in per_code.items():
        hit = set()
        for x in numbers[code]:
            j = bisect_right(starts, x) - 1
            if j >= 0 and x <= ends[j]:
                hit.add(j)
        for j in hit:
            found[j] += n
    return [(low, high, found[j]) for j, (low, high) in enumerate(edges) if found[j]]


def shaped(counts: Counts, names_of: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Clerk's facets shape; `names_of`: the categories' names by id."""
    answer: dict[str, list[dict[str, Any]]] = {}
    for name, (kind, rows) in counts.items():
        if kind == "range":
            answer[name] = [shaped_range(a, b, n) for a, b, n in rows]
            continue
        named = [
            {
                "type": "unit",
                "name": names_of.get(value, value) if name == "categories" else value,
                "value": value,
                "count": n,
            }
            for value, n in rows
        ]
        named.sort(key=lambda item: (-item["count"], item["name"], item["value"]))
        answer[name] = named[:UNIT_MAX]
    return answer
