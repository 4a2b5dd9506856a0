"""A query's matches narrowed by a filter and ordered by an attribute, in memory: the
page of a search/search or search/predictive call with `filter` or `orderby`, and the
narrowed matches that facets count over (facets.py).

The matches are the query's match set (matchset.py: positions in ranking order); the
filter is decided over the store's columns (columns.py): each comparison once per
distinct list of values among the candidates (filters.holds, the same decision as
filters.evaluate and as SQL's attributes.matching), then the candidates kept by their
codes; `and` narrows part after part, `or` keeps what any part keeps. The order of the
matches is kept, so the narrowed matches are in relevance order.

Order: relevance (rank tier, then sales, views, id: the match set's order) unless
`orderby` names an attribute: then by that attribute's first value, numbers by number
(then text) before texts by text (the first VALUE_INDEXED characters, by code point, as
the database's `value` column sorts), ascending or descending; products without the
attribute after them; ties in relevance order (the sorts are stable). An attribute no
product has leaves relevance order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Any

from sqlalchemy import Connection

from ... import filters
from ...filters import And, Expr, Or
from ..schema import VALUE_INDEXED
from .columns import Columns


@dataclass(frozen=True)
class Order:
    attribute: str
    descending: bool = False


def narrow(conn: Connection, columns: Columns, candidates: list[int], expr: Expr) -> list[int]:
    """The candidates (positions) whose products satisfy the filter, in their order."""
    if not candidates:
        return candidates
    if isinstance(expr, And):
        for part in expr.parts:
            candidates = narrow(conn, columns, candidates, part)
        return candidates
    if isinstance(expr, Or):
        kept: set[int] = set()
        rest = candidates
        for part in expr.parts:
            hit = narrow(conn, columns, rest, part)
            if hit:
                kept.update(hit)
                rest = [p for p in rest if p not in kept]
        return [p for p in candidates if p in kept]
    column = columns.column(conn, expr.attribute)
    codes, values = column.codes, column.values
    present = set(map(codes.__getitem__, candidates))
    good = {code for code in present if filters.holds(expr, values[code])}
    if len(good) == len(present):
        return candidates
    return list(compress(candidates, map(good.__contains__, map(codes.__getitem__, candidates))))


def ordered(
    conn: Connection, columns: Columns, narrowed: list[int], order: Order | None
) -> list[int]:
    """The narrowed matches (in relevance order) in the order asked."""
    if order is None or not narrowed:
        return narrowed
    column = columns.column(conn, order.attribute)
    codes, values = column.codes, column.values
    keys: dict[int, Any] = {}
    numbers: list[int] = []
    texts: list[int] = []
    without: list[int] = []
    for p in narrowed:
        code = codes[p]
        if not code:
            without.append(p)
            continue
        key = keys.get(code)
        if key is None:
            first = values[code][0]
            text = first.text[:VALUE_INDEXED]
            key = keys[code] = text if first.number is None else (first.number, text)
        (texts if isinstance(key, str) else numbers).append(p)
    numbers.sort(key=lambda p: keys[codes[p]], reverse=order.descending)
    texts.sort(key=lambda p: keys[codes[p]], reverse=order.descending)
    return numbers + texts + without


def page(
    columns: Columns, found: list[int], limit: int, offset: int, exclude: Sequence[str]
) -> tuple[list[str], int]:
    """One page of product ids from the ordered, narrowed matches, and their number, the
    excluded products left out of both."""
    ids = columns.ids
    if exclude:
        position = columns.position
        skip = {position[pid] for pid in exclude if pid in position}
        if skip:
            found = [p for p in found if p not in skip]
    return [ids[p] for p in found[offset : offset + limit]], len(found)
