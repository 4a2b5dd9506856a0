"""Facet counts of a search: for each attribute asked, how many of the query's narrowed
matches (narrowed.matches: in stock, the filter satisfied) hold each value, counted in
SQL (GROUP BY over product_values, joined to the match set), never by loading products.

Two kinds, as Clerk's facets:
- unit: a value and the number of matches that hold it, by count (most first), then
  value; at most UNIT_MAX values (categories: CATEGORY_ROWS read, as they are sorted by
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
Each distinct filter is one common table expression of the match set (read once however
many facets use it), and every facet's counts are one UNION ALL: one statement for all
unit facets and the spans of the range ones, and one more for the range buckets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import (
    CTE,
    Connection,
    Float,
    Integer,
    Text,
    and_,
    case,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
)

from ... import filters
from ...filters import Expr
from ..schema import product_values
from .narrowed import PRODUCT_ID, matches
from .paging import _Ranking

UNIT_MAX = 50
CATEGORY_ROWS = 1000  # categories are sorted by name after: read more, cut after naming
BUCKETS = 6  # the span is cut in about this many buckets (5 to 8 with round edges)
NICE = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))
UNIT_ATTRIBUTES = frozenset({"categories", "id"})  # never ranges, even when numeric

Unit = tuple[str, int]  # value, count
Range = tuple[float, float, int]  # min, max, count
Counts = dict[str, tuple[str, list[Any]]]  # facet -> ("unit", [Unit]) | ("range", [Range])


def numeric(conn: Connection, store_id: int, names: Sequence[str]) -> dict[str, bool]:
    """For each attribute, whether the store holds it and every value of it is a number
    (one index seek each, by ix_product_values_number, where text values sort together)."""
    pv = product_values
    columns = []
    for name in names:
        own = and_(pv.c.store_id == store_id, pv.c.attribute == name)
        columns.append(select(pv.c.position).where(own).limit(1).scalar_subquery())
        columns.append(
            select(pv.c.position).where(own, pv.c.number.is_(None)).limit(1).scalar_subquery()
        )
    if not columns:
        return {}
    row = conn.execute(select(*columns)).one()
    return {
        name: name not in UNIT_ATTRIBUTES and row[2 * i] is not None and row[2 * i + 1] is None
        for i, name in enumerate(names)
    }


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


def _joined(f: CTE, store_id: int, name: str, alias: str) -> tuple[Any, Any]:
    pv = product_values.alias(alias)
    on = and_(pv.c.store_id == store_id, pv.c.product_id == f.c.product_id, pv.c.attribute == name)
    return pv, f.join(pv, on)


def _tag(i: int) -> Any:
    return literal_column(str(i), Integer).label("facet")


def count_facets(
    ranking: _Ranking,
    expr: Expr | None,
    names: Sequence[str],
    multiselect: Sequence[str],
    kinds: dict[str, bool],
) -> Counts:
    """Each facet's counts over the narrowed matches (kinds: numeric() of the names)."""
    store_id = ranking.store_id
    sets: dict[str, CTE] = {}

    def match_set(name: str) -> CTE:
        own = filters.without(expr, name) if expr is not None and name in multiselect else expr
        key = "" if own is None else filters.canonical(own)
        if key not in sets:
            query = matches(ranking, own).add_columns(PRODUCT_ID.label("product_id"))
            sets[key] = query.cte(f"f{len(sets)}")
        return sets[key]

    members = []
    for i, name in enumerate(names):
        pv, joined = _joined(match_set(name), store_id, name, f"v{i}")
        if kinds[name]:
            members.append(
                select(
                    _tag(i),
                    cast(null(), Text).label("value"),
                    cast(null(), Text).label("long_value"),
                    func.count().label("n"),
                    func.min(pv.c.number).label("lo"),
                    func.max(pv.c.number).label("hi"),
                ).select_from(joined)
            )
            continue
        top = CATEGORY_ROWS if name == "categories" else UNIT_MAX
        n = func.count().label("n")
        inner = (
            select(pv.c.value, pv.c.long_value, n)
            .select_from(joined)
            .group_by(pv.c.value, pv.c.long_value)
            .order_by(n.desc(), pv.c.value, pv.c.long_value)
            .limit(top)
            .subquery(f"u{i}")
        )
        members.append(
            select(
                _tag(i),
                inner.c.value,
                inner.c.long_value,
                inner.c.n,
                cast(null(), Float).label("lo"),
                cast(null(), Float).label("hi"),
            )
        )
    counts: Counts = {name: ("range" if kinds[name] else "unit", []) for name in names}
    if not members:
        return counts
    spans: dict[int, tuple[float, float]] = {}
    for row in ranking.conn.execute(union_all(*members)).all():
        name = names[row.facet]
        if kinds[name]:
            if row.n:
                spans[row.facet] = (float(row.lo), float(row.hi))
        else:
            counts[name][1].append((row.long_value or row.value, int(row.n)))
    if spans:
        _count_ranges(ranking, store_id, names, spans, match_set, counts)
    return counts


def _count_ranges(
    ranking: _Ranking,
    store_id: int,
    names: Sequence[str],
    spans: dict[int, tuple[float, float]],
    match_set: Any,
    counts: Counts,
) -> None:
    members = []
    edges: dict[int, list[tuple[Decimal, Decimal]]] = {}
    for i, (low, high) in spans.items():
        edges[i] = buckets(low, high)
        pv, joined = _joined(match_set(names[i]), store_id, names[i], f"r{i}")
        bucket = case(
            *[
                (and_(pv.c.number >= float(a), pv.c.number <= float(b)), j)
                for j, (a, b) in enumerate(edges[i])
            ],
            else_=None,
        )
        inner = (
            select(bucket.label("bucket"), pv.c.product_id)
            .select_from(joined)
            .where(or_(*[pv.c.number.between(float(a), float(b)) for a, b in edges[i]]))
            .distinct()
            .subquery(f"b{i}")
        )
        members.append(
            select(_tag(i), inner.c.bucket, func.count().label("n")).group_by(inner.c.bucket)
        )
    found: dict[int, dict[int, int]] = {}
    for row in ranking.conn.execute(union_all(*members)).all():
        if row.bucket is not None:
            found.setdefault(row.facet, {})[int(row.bucket)] = int(row.n)
    for i, bounds in edges.items():
        got = found.get(i, {})
        counts[names[i]][1].extend(
            (bounds[j][0], bounds[j][1], got[j]) for j in range(len(bounds)) if got.get(j)
        )


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
