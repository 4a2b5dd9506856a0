"""The store's product attributes in memory, column by column: what a search with a
filter, facets or an order reads instead of product_values (narrowed.py, facets.py).

`columns_for(conn, store_id, version)` is the store's `Columns` at that catalogue
version: its products (every search document of the store, each at a position: 0, 1,
...), their ranking order (read again after a popularity recount), and, loaded the
first time a call names it, one `Column` per attribute: for each position the code of
the product's list of values (0: none), each distinct list held once (`values[code]`,
in the product's order). A column is one read of the attribute's rows of
product_values (covered by ix_product_values_value: product, position, text; the rare
texts longer than the index keeps read by key after); numbers are not read, as
filters.stored_value gives each text's. So a filter's comparison is decided once per
distinct list of values (filters.holds, as filters.evaluate decides it per product),
and facets count codes.

Shared by every call of the process (readers run in threads): one `Columns` per store,
in the "columns" cache, keyed by the store and the version read with each call (so a
change to the catalogue, here or in another process, is a new key; the older version's
entry is dropped when the newer is built), built once however many calls ask at the
same time (Cache.once), its columns each loaded once under its lock. The cache weighs an
entry by the bytes it holds (an estimate: `Columns.weight`) and keeps at most
COLUMNS_BYTES in all (the least recently used store goes first; within one store's
entry, its oldest columns). Data read after the
version can only be newer than it (never older): an entry is at worst as new as the
next version, for the calls that have not read that version yet.
"""

from __future__ import annotations

import itertools
import threading
from array import array
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, or_, select

from ... import filters
from ...filters import Value
from ..caches import Cache, cache_for
from ..schema import VALUE_INDEXED, product_values, search_documents

COLUMNS_STORES = 16
# What the kept columns of all stores may weigh, in bytes as estimated below from what
# tracemalloc counted at 100,000 products (docs/benchmarks.md): 25 MB for the products'
# positions (by id and by document) and ranking order, and per column 4 bytes a product
# (0.7 MB) plus about 200 a distinct value list (a brand: 10 lists, nothing; a name or
# an id: 100,000 lists, 20 MB).
COLUMNS_BYTES = 128_000_000
BYTES_PER_PRODUCT = 250
BYTES_PER_CODE = 4
BYTES_PER_LIST = 200
CHUNK = 500

_serials = itertools.count(1)


def _cache(engine: Engine) -> Cache:
    return cache_for(engine, "columns", entries=COLUMNS_STORES, seconds=None, weight=COLUMNS_BYTES)


class Column:
    """One attribute: per position the code of the product's values (`values[code]`;
    0 and () for none), whether every value of it in the store is a number, and the
    number of its rows."""

    __slots__ = ("codes", "values", "numbers_only", "rows")

    def __init__(
        self, codes: array[int], values: list[tuple[Value, ...]], numbers_only: bool, rows: int
    ) -> None:
        self.codes, self.values, self.numbers_only, self.rows = codes, values, numbers_only, rows


class Columns:
    """One store's products at one catalogue version (their ids and search documents by
    position), their ranking order, and the columns loaded so far."""

    def __init__(self, store_id: int, version: int, rows: Sequence[tuple[int, str]]) -> None:
        self.store_id, self.version = store_id, version
        self.ids = [pid for _, pid in rows]
        self.position = {pid: i for i, pid in enumerate(self.ids)}
        self.document = {doc: i for i, (doc, _) in enumerate(rows)}
        self.serial = next(_serials)  # what match sets (matchset.py) are positions of
        self.columns: dict[str, Column] = {}
        self._ranking: tuple[int, array[int], array[int]] | None = None
        self._lock = threading.Lock()
        self._cache: Cache | None = None

    def ranking(self, conn: Connection, popularity: int) -> tuple[array[int], array[int]]:
        """The products in stock in ranking order (sales, views, id: as paging._RANKING
        sorts them) as positions, and each position's place in that order (-1: out of
        stock); read again after a popularity recount (`popularity`: its time)."""
        found = self._ranking
        if found is None or found[0] != popularity:
            with self._lock:
                found = self._ranking
                if found is None or found[0] != popularity:
                    d = search_documents
                    query = (
                        select(d.c.doc_id)
                        .where(
                            d.c.store_id == self.store_id, or_(d.c.stock.is_(None), d.c.stock > 0)
                        )
                        .order_by(d.c.sales.desc(), d.c.views.desc(), d.c.product_id)
                    )
                    document = self.document
                    order = array(
                        "i", [p for p in map(document.get, conn.scalars(query)) if p is not None]
                    )
                    place = array("i", [-1]) * len(self.ids)
                    for i, p in enumerate(order):
                        place[p] = i
                    found = self._ranking = (popularity, order, place)
        return found[1], found[2]

    @property
    def weight(self) -> int:
        """About the bytes held (see COLUMNS_BYTES)."""
        products = len(self.ids)
        return BYTES_PER_PRODUCT * products + sum(
            BYTES_PER_CODE * products + BYTES_PER_LIST * len(c.values)
            for c in self.columns.values()
        )

    def column(self, conn: Connection, attribute: str) -> Column:
        """The attribute's column, loaded the first time."""
        found = self.columns.get(attribute)
        if found is None:
            with self._lock:
                found = self.columns.get(attribute)
                if found is None:
                    found = _load(conn, self, attribute)
                    self.columns[attribute] = found
                    # One store's entry stays in its cache however much it weighs (the
                    # entry put last always does), and a call may name any attribute: the
                    # bound holds within the entry too, the oldest columns going first (a
                    # call still holds those it read; a later call loads them again).
                    for older in [a for a in self.columns if a != attribute]:
                        if self.weight <= COLUMNS_BYTES:
                            break
                        del self.columns[older]
                    key = (self.store_id, self.version)
                    if self._cache is not None and self._cache.get(key) is self:  # weighed again
                        self._cache.put(key, self, weight=self.weight)
        return found


def columns_for(conn: Connection, store_id: int, version: int) -> Columns:
    """The store's Columns at this catalogue version (see above)."""
    cache = _cache(conn.engine)

    def build() -> tuple[Columns, int]:
        for key in cache.keys():
            if isinstance(key, tuple) and key[0] == store_id and key[1] < version:
                cache.discard(key)
        d = search_documents
        rows = conn.execute(select(d.c.doc_id, d.c.product_id).where(d.c.store_id == store_id))
        built = Columns(store_id, version, [(int(doc), pid) for doc, pid in rows])
        built._cache = cache
        return built, built.weight

    found: Columns = cache.once((store_id, version), build)
    return found


def _load(conn: Connection, columns: Columns, attribute: str) -> Column:
    pv = product_values
    own = (pv.c.store_id == columns.store_id, pv.c.attribute == attribute)
    query = select(pv.c.product_id, pv.c.position, pv.c.value).where(*own)
    rows: Sequence[tuple[str, int, str]] = conn.execute(query).all()
    cut = [pid for pid, _, text in rows if len(text) == VALUE_INDEXED]
    longer: dict[tuple[str, int], str] = {}
    for start in range(0, len(cut), CHUNK):
        long = select(pv.c.product_id, pv.c.position, pv.c.long_value).where(
            *own, pv.c.product_id.in_(cut[start : start + CHUNK]), pv.c.long_value.is_not(None)
        )
        longer.update(((r.product_id, r.position), r.long_value) for r in conn.execute(long))
    if longer:
        rows = [(pid, at, longer.get((pid, at), text)) for pid, at, text in rows]
    return column_of(columns.position, rows)


def column_of(position: dict[str, int], rows: Sequence[tuple[str, int, str]]) -> Column:
    """A column from rows (product id, position of the value, text), in any order;
    products without a position are left out (but count for `numbers_only`). Most
    products hold one value: those are coded by their text in one pass (a list's code
    per text, all made up front), the others per list of values."""
    distinct = {text for _, _, text in rows}
    texts = {text: filters.stored_value(text) for text in distinct}
    values: list[tuple[Value, ...]] = [()]
    values += [(value,) for value in texts.values()]
    code_of = {text: code for code, text in enumerate(texts, 1)}
    several = {pid for pid, at, _ in rows if at}
    codes = array("i", [0]) * len(position)
    none = len(codes)  # a product without a position: written past the end, dropped
    single = [
        (position.get(pid, none), code_of[text])
        for pid, at, text in rows
        if not at and pid not in several
    ]
    codes.append(0)
    for where, code in single:
        codes[where] = code
    codes.pop()
    if several:
        held: dict[str, list[tuple[int, str]]] = {pid: [] for pid in several}
        for pid, at, text in rows:
            if pid in held:
                held[pid].append((at, text))
        known = {value: code for code, value in enumerate(values)}
        for pid, items in held.items():
            if pid not in position:
                continue
            key = tuple(texts[text] for _, text in sorted(items))
            if key not in known:
                known[key] = len(values)
                values.append(key)
            codes[position[pid]] = known[key]
    numbers_only = bool(texts) and all(v.number is not None for v in texts.values())
    return Column(codes, values, numbers_only, len(rows))
