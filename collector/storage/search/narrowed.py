"""A query's matches narrowed by a filter and ordered by an attribute: the page of a
search/search or search/predictive call with `filter` or `orderby`, and the filtered
match set that facets count over (facets.py).

Every match of the query (its rank tier as m.rank, its search_documents row as d) is
checked against the filter per row (attributes.condition: a few primary-key reads of the
product's own values), so the cost follows the query's matches, not the filter's. The
page is then one pass: all narrowed matches sorted, the page cut and the count taken by
a window in the same statement (a filter may leave few matches deep in the tiers, so the
tier-by-tier reading of paging.py would read far for a page).

Order: relevance (rank tier, then sales, views, id) unless `orderby` names an attribute:
then by that attribute's first value (position 0 in product_values), numbers by number
before texts by text, ascending or descending; products without the attribute after
them; ties in relevance order. An attribute no product has leaves relevance order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, TextClause, func, literal_column, select, text

from ...filters import Expr
from ..attributes import condition
from ..schema import product_values
from .paging import _AVAILABLE, _Ranking

PRODUCT_ID: ColumnElement[str] = literal_column("d.product_id")


@dataclass(frozen=True)
class Order:
    attribute: str
    descending: bool = False


def matches(ranking: _Ranking, expr: Expr | None, exclude: Sequence[str] = ()) -> Select[Any]:
    """The query's matches in stock that satisfy the filter (None: all of them), without
    the excluded: a SELECT over m and d (add columns, order, group as needed)."""
    where: list[ColumnElement[bool] | TextClause] = [
        literal_column("d.store_id") == ranking.store_id,
        text(_AVAILABLE),
    ]
    if exclude:
        where.append(PRODUCT_ID.not_in(list(exclude)))
    if expr is not None:
        where.append(condition(expr, ranking.store_id, PRODUCT_ID))
    return select().select_from(ranking.bound(ranking.match_from())).where(*where)


def _first_value(store_id: int, attribute: str, column: str) -> Any:
    o = product_values.alias("o")
    return (
        select(o.c[column])
        .where(
            o.c.store_id == store_id,
            o.c.product_id == PRODUCT_ID,
            o.c.attribute == attribute,
            o.c.position == 0,
        )
        .scalar_subquery()
    )


def _order_by(store_id: int, order: Order | None) -> list[Any]:
    relevance = [
        literal_column("m.rank"),
        literal_column("d.sales").desc(),
        literal_column("d.views").desc(),
        PRODUCT_ID,
    ]
    if order is None:
        return relevance
    value = _first_value(store_id, order.attribute, "value")
    number = _first_value(store_id, order.attribute, "number")
    keys = [number, value]
    if order.descending:
        keys = [number.desc(), value.desc()]
    # Missing first-value rows (no attribute) and texts (no number) after, on both
    # engines (SQLite sorts NULL first, PostgreSQL last).
    return [value.is_(None), number.is_(None), *keys, *relevance]


def page(
    ranking: _Ranking,
    expr: Expr | None,
    order: Order | None,
    limit: int,
    offset: int,
    exclude: Sequence[str] = (),
) -> tuple[list[str], int | None]:
    """One page of the narrowed, ordered matches and the number of all of them (None when
    the page is past the end and so counted nothing)."""
    statement = (
        matches(ranking, expr, exclude)
        .add_columns(PRODUCT_ID.label("product_id"), func.count().over().label("total"))
        .order_by(*_order_by(ranking.store_id, order))
        .limit(limit)
        .offset(offset)
    )
    rows = ranking.conn.execute(statement).all()
    if rows:
        return [r.product_id for r in rows], int(rows[0].total)
    return [], (None if offset else 0)


def count(ranking: _Ranking, expr: Expr | None, exclude: Sequence[str] = ()) -> int:
    statement = matches(ranking, expr, exclude).add_columns(func.count())
    return int(ranking.conn.execute(statement).scalar_one())
