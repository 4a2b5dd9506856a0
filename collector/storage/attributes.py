"""Products' filterable values (product_values) and filters compiled to SQL over them.

`write_values` and `delete_values` keep product_values in step with the catalogue
(called by catalogue.py in the same transaction, as the search index is); migration 16
filled it for the products there were (`fill`).

`matching(expr, store_id)` is a SELECT of the product ids of the store that satisfy a
parsed filter (collector/filters.py), with the same meaning as filters.evaluate: each
comparison is a range of one index of product_values (by text or by number), `and`
their INTERSECT, `or` their UNION, `!=` and `not in` the attribute's products EXCEPT
those equal. `condition(expr, store_id, id_column)` is `id_column IN (matching ...)`,
for another query's WHERE. Values are always bound parameters, never SQL text.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Connection,
    Select,
    and_,
    delete,
    except_,
    false,
    intersect,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer

from .. import filters
from ..filters import And, Compare, Comparison, Contains, Expr, In, Literal, Or, Value
from .schema import VALUE_INDEXED, product_values

CHUNK = 500


# ---------------------------------------------------------------- keeping in step


def rows_of(
    store_id: int, product_id: str, values: Mapping[str, list[Value]]
) -> list[dict[str, Any]]:
    """The product_values rows of one product's values (filters.values_of)."""
    rows = []
    for attribute, held in values.items():
        for position, value in enumerate(held):
            long = len(value.text) > VALUE_INDEXED
            rows.append(
                {
                    "store_id": store_id,
                    "product_id": product_id,
                    "attribute": attribute,
                    "position": position,
                    "value": value.text[:VALUE_INDEXED],
                    "long_value": value.text if long else None,
                    "number": value.number,
                }
            )
    return rows


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def delete_values(conn: Connection, *, store_id: int, ids: Sequence[str]) -> None:
    pv = product_values
    for chunk in _chunks(list(ids)):
        conn.execute(delete(pv).where(pv.c.store_id == store_id, pv.c.product_id.in_(chunk)))


def _stored(conn: Connection, store_id: int, ids: Sequence[str]) -> dict[str, set[tuple[Any, ...]]]:
    """The rows these products have now, as comparable tuples, by product."""
    pv = product_values
    found: dict[str, set[tuple[Any, ...]]] = {}
    for chunk in _chunks(list(ids)):
        query = select(*(pv.c[name] for name in _ROW)).where(
            pv.c.store_id == store_id, pv.c.product_id.in_(chunk)
        )
        for row in conn.execute(query):
            found.setdefault(row.product_id, set()).add(tuple(row))
    return found


_ROW = ("product_id", "attribute", "position", "value", "long_value", "number")


def write_values(
    conn: Connection, *, store_id: int, items: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Bring these products' values (validated product dicts, or product_dict) in step;
    a product whose values are as stored is not rewritten (a shop sends its whole
    catalogue again and again). The ids of the products whose values changed."""
    latest = {item["id"]: item for item in items}  # an id given twice: the last one holds
    stored = _stored(conn, store_id, list(latest))
    changed: list[str] = []
    rows: list[dict[str, Any]] = []
    for pid, item in latest.items():
        new = rows_of(store_id, pid, filters.values_of(item))
        if {tuple(row[name] for name in _ROW) for row in new} != stored.get(pid, set()):
            changed.append(pid)
            rows += new
    delete_values(conn, store_id=store_id, ids=[pid for pid in changed if pid in stored])
    for start in range(0, len(rows), 5000):
        conn.execute(product_values.insert(), rows[start : start + 5000])
    return changed


# ---------------------------------------------------------------- compiling filters


class _Holds(FunctionElement[int]):
    """Whether a text holds another (case-sensitive): instr() on SQLite, strpos() on
    PostgreSQL (LIKE ignores case on SQLite, and would need its wildcards escaped)."""

    type = Integer()
    inherit_cache = True
    name = "holds"


@compiles(_Holds)
def _holds_default(element: _Holds, compiler: Any, **kw: Any) -> str:
    haystack, needle = list(element.clauses)
    return f"strpos({compiler.process(haystack, **kw)}, {compiler.process(needle, **kw)})"


@compiles(_Holds, "sqlite")
def _holds_sqlite(element: _Holds, compiler: Any, **kw: Any) -> str:
    haystack, needle = list(element.clauses)
    return f"instr({compiler.process(haystack, **kw)}, {compiler.process(needle, **kw)})"


Values = Any  # product_values, or an alias of it


def _text_is(t: Values, text: str) -> ColumnElement[bool]:
    """A row whose text is this. A text shorter than VALUE_INDEXED is its `value` (a
    longer one's `value` is exactly VALUE_INDEXED long): one covering index lookup,
    with no `long_value` to read (which, in the WHERE, makes SQLite's planner prefer
    the primary key)."""
    if len(text) < VALUE_INDEXED:
        result: ColumnElement[bool] = t.c.value == text
        return result
    if len(text) == VALUE_INDEXED:
        return and_(t.c.value == text, t.c.long_value.is_(None))
    return and_(t.c.value == text[:VALUE_INDEXED], t.c.long_value == text)


def _equal_to_any(t: Values, literals: Sequence[Literal]) -> ColumnElement[bool]:
    """A row whose value is `= x` for one of these (filters' `=` on one value)."""
    numbers = sorted({x for x in literals if isinstance(x, float) and not isinstance(x, bool)})
    texts = {("true" if x else "false") if isinstance(x, bool) else x for x in literals}
    short = sorted(x for x in texts if isinstance(x, str) and len(x) < VALUE_INDEXED)
    long = sorted(x for x in texts if isinstance(x, str) and len(x) >= VALUE_INDEXED)
    either: list[ColumnElement[bool]] = []
    if len(short) == 1:
        either.append(_text_is(t, short[0]))
    elif short:
        either.append(t.c.value.in_(short))
    either += [_text_is(t, x) for x in long]
    if len(numbers) == 1:
        either.append(t.c.number == numbers[0])
    elif numbers:
        either.append(t.c.number.in_(numbers))
    if not either:
        return false()
    return either[0] if len(either) == 1 else or_(*either)


def _ordered(t: Values, op: str, bound: float, per_product: bool) -> ColumnElement[bool]:
    # Per product, `number + 0`: a range of the number index would read the attribute's
    # every value above the bound for each product checked (SQLite's planner takes it
    # over the primary key's few rows of that product); `+ 0` leaves it the key.
    number = t.c.number + 0 if per_product else t.c.number
    result: ColumnElement[bool]
    if op == ">":
        result = number > bound
    elif op == ">=":
        result = number >= bound
    elif op == "<":
        result = number < bound
    else:
        result = number <= bound
    return result


def _row_test(
    t: Values, expr: Comparison, per_product: bool = False
) -> tuple[ColumnElement[bool], bool]:
    """What one value row of the attribute must be for the comparison, and whether the
    comparison is the negation of that (`!=`, `not in`: the product has the attribute
    and no such row). `per_product`: for rows of one product (condition)."""
    if isinstance(expr, Contains):
        if not isinstance(expr.value, str):
            return _equal_to_any(t, [expr.value]), False
        if expr.value == "":
            return true(), False
        # A long text's indexed prefix holding the needle: the whole holds it too.
        held = or_(_Holds(t.c.value, expr.value) > 0, _Holds(t.c.long_value, expr.value) > 0)
        return held, False
    if isinstance(expr, In):
        return _equal_to_any(t, expr.values), expr.negated
    if expr.op in filters.ORDERING:
        bound = expr.value
        assert isinstance(bound, float) and not isinstance(bound, bool)
        return _ordered(t, expr.op, bound, per_product), False
    return _equal_to_any(t, [expr.value]), expr.op == "!="


def _rows(store_id: int, attribute: str, where: ColumnElement[bool]) -> Select[str]:
    pv = product_values
    return select(pv.c.product_id).where(
        pv.c.store_id == store_id, pv.c.attribute == attribute, where
    )


Part = Select[str] | CompoundSelect[str]


def _is_lookup(expr: Expr) -> bool:
    """A comparison that is an index lookup of equal values (likely the fewest rows)."""
    if isinstance(expr, Compare):
        return expr.op == "="
    if isinstance(expr, In):
        return not expr.negated
    return isinstance(expr, Contains) and not isinstance(expr.value, str)


def _part(expr: Expr, store_id: int) -> Part:
    if isinstance(expr, And):
        lookup = next((p for p in expr.parts if _is_lookup(p)), None)
        if lookup is not None:
            # Driven by one lookup (`brand = "Acme"`: its rows by the value index), the
            # other parts checked on each of its products by their primary key rather
            # than every product of a range (`price < 250`) read and intersected.
            rest = [p for p in expr.parts if p is not lookup]
            driver = _part(lookup, store_id)
            assert isinstance(driver, Select)
            check = condition(
                rest[0] if len(rest) == 1 else And(tuple(rest)),
                store_id,
                product_values.c.product_id,
            )
            return driver.where(check)
    if isinstance(expr, And | Or):
        parts = [_operand(_part(p, store_id)) for p in expr.parts]
        return intersect(*parts) if isinstance(expr, And) else union(*parts)
    test, negated = _row_test(product_values, expr)
    rows = _rows(store_id, expr.attribute, test)
    if not negated:
        return rows
    return except_(_rows(store_id, expr.attribute, true()), rows)


def _operand(part: Part) -> Select[str]:
    """A part as one operand of a compound SELECT. SQLite takes no parenthesised compound
    inside another, and subqueries nested a dozen deep overflow its parser's stack: a
    nested compound is a common table expression of its own (all of them at the head of
    the statement, side by side), read by name."""
    if isinstance(part, CompoundSelect):
        inner = part.cte()
        return select(inner.c.product_id)
    return part


def matching(expr: Expr, store_id: int) -> Select[str]:
    """The ids (one column, `product_id`, each once) of the store's products that satisfy
    the filter: filters.evaluate's answer, in SQL."""
    part = _part(expr, store_id)
    if isinstance(part, CompoundSelect):  # UNION, INTERSECT and EXCEPT give each id once
        return _operand(part)
    return part.distinct()


def _per_row(query: Select[Any], t: Values) -> ColumnElement[bool]:
    """EXISTS (query), checked for each row of the outer query. OFFSET 0 keeps PostgreSQL
    from turning it into a semi-join, which, without statistics (a catalogue just
    loaded), it may plan as a read of the attribute's every value joined to the outer
    rows rather than a lookup of each row's few."""
    exists: ColumnElement[bool] = query.offset(0).correlate_except(t).exists()
    return exists


def condition(expr: Expr, store_id: int, id_column: Any) -> ColumnElement[bool]:
    """`id_column` (a product id column of another query) names a product of the store
    that satisfies the filter: for each comparison, whether that product has a value row
    that passes (EXISTS, by the primary key: a few rows of one product), combined with
    AND, OR and NOT. Checked per row of the other query, so its cost follows that
    query's rows, not the number of products the filter matches (`matching` is the
    other way round). Each EXISTS reads its own alias of product_values, so the other
    query may read product_values too."""
    if isinstance(expr, And):
        return and_(*(condition(p, store_id, id_column) for p in expr.parts))
    if isinstance(expr, Or):
        return or_(*(condition(p, store_id, id_column) for p in expr.parts))

    def some(where: ColumnElement[bool]) -> ColumnElement[bool]:
        t = product_values.alias()
        found = select(t.c.position).where(
            t.c.store_id == store_id,
            t.c.product_id == id_column,
            t.c.attribute == expr.attribute,
            where,
        )
        return _per_row(found, t)

    alias = product_values.alias()
    test, negated = _row_test(alias, expr, per_product=True)
    hit = select(alias.c.position).where(
        alias.c.store_id == store_id,
        alias.c.product_id == id_column,
        alias.c.attribute == expr.attribute,
        test,
    )
    exists = _per_row(hit, alias)
    if not negated:
        return exists
    return and_(some(true()), ~exists)


def matching_ids(conn: Connection, *, store_id: int, expr: Expr) -> set[str]:
    """The ids matching() selects, read."""
    return set(conn.scalars(matching(expr, store_id)).all())
