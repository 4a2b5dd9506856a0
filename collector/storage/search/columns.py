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
entry is dropped when the newer is built). A newer version is made from the older
entry when the versions between record which products they changed (search_changes,
written by index._touch): those products' documents and rows are read again, for the
columns loaded (`Columns.updated`), instead of everything; the ranking order is read
again when next needed. So a back office saving a product costs the next search the
changed rows, not the store's (1-2 s at 100,000 products). Each entry is built once
however many calls ask at the same time (Cache.once), its columns each loaded once
under its lock. The cache weighs an
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
from collections.abc import Iterator, Sequence
from itertools import repeat

from sqlalchemy import Connection, Engine, or_, select

from ... import filters
from ...filters import Value
from ..caches import Cache, cache_for
from ..schema import VALUE_INDEXED, product_values, search_changes, search_documents
from . import words
from .index import CHANGES_LISTED

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
UPDATED_VERSIONS = 200  # columns this many versions old or more are read again, not updated
FEW = 8  # an update of at most this many products finds their positions without `position`
UPDATED_CODES = 10_000  # a column updated with more new codes than this is read again

_serials = itertools.count(1)


def _cache(engine: Engine) -> Cache:
    return cache_for(engine, "columns", entries=COLUMNS_STORES, seconds=None, weight=COLUMNS_BYTES)


class Column:
    """One attribute: per position the code of the product's values (`values[code]`;
    0 and () for none), the number of its rows (of products with a position) and of
    those whose value is not a number, and the codes added by updates (see
    Columns.updated: an updated product's list is coded anew, not looked up)."""

    __slots__ = ("codes", "values", "rows", "others", "added")

    def __init__(
        self,
        codes: array[int],
        values: list[tuple[Value, ...]],
        rows: int,
        others: int,
        added: int = 0,
    ) -> None:
        self.codes, self.values, self.rows, self.others = codes, values, rows, others
        self.added = added

    @property
    def numbers_only(self) -> bool:
        """Whether every value of it in the store is a number (a range facet)."""
        return self.rows > 0 and self.others == 0


class Columns:
    """One store's products at one catalogue version (their ids and search documents by
    position), their ranking order, and the columns loaded so far."""

    def __init__(self, store_id: int, version: int, rows: Sequence[tuple[int, str]]) -> None:
        self.store_id, self.version = store_id, version
        self.ids = [pid for _, pid in rows]
        self.docs = [doc for doc, _ in rows]  # -1: the product was deleted since
        self._position: dict[str, int] | None = None
        self._document: dict[int, int] | None = None
        self.updated_from: int | None = None  # the version this was updated from (if so)
        self.changed: set[int] = set()  # ... and the positions of the products changed,
        self.changed_docs: set[int] = set()  # and their documents before and after
        self.serial = next(_serials)  # what match sets (matchset.py) are positions of
        self.columns: dict[str, Column] = {}
        self._ranking: tuple[int, array[int], dict[int, int]] | None = None
        self._words: words.Current | None = None  # the store's words (words.py), when read
        self._lock = threading.Lock()
        self._cache: Cache | None = None

    @property
    def position(self) -> dict[str, int]:
        """Each product's position (made when first asked: an update need not copy it)."""
        found = self._position
        if found is None:
            docs = self.docs
            found = self._position = {pid: at for at, pid in enumerate(self.ids) if docs[at] >= 0}
        return found

    @property
    def document(self) -> dict[int, int]:
        """Each search document's position (made when first asked, as `position`)."""
        found = self._document
        if found is None:
            found = self._document = {doc: at for at, doc in enumerate(self.docs) if doc >= 0}
        return found

    def ranking(self, conn: Connection, popularity: int) -> tuple[array[int], dict[int, int]]:
        """The products in stock in ranking order (sales, views, id: as paging._RANKING
        sorts them) as positions, and the place in that order of each of their search
        documents (by doc_id; out of stock: absent); read again after a popularity
        recount (`popularity`: its time)."""
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
                    docs = [doc for doc in conn.scalars(query) if doc in document]
                    order = array("i", map(document.__getitem__, docs))
                    found = self._ranking = (
                        popularity,
                        order,
                        {doc: i for i, doc in enumerate(docs)},
                    )
        return found[1], found[2]

    @property
    def weight(self) -> int:
        """About the bytes held (see COLUMNS_BYTES)."""
        products = len(self.ids)
        held = self._words.weight if self._words is not None else 0
        return (
            BYTES_PER_PRODUCT * products
            + held
            + sum(
                BYTES_PER_CODE * products + BYTES_PER_LIST * len(c.values)
                for c in self.columns.values()
            )
        )

    def word_index(self, conn: Connection) -> words.Current:
        """The store's words (words.py): read the first time, then carried over updates
        with the documents they changed, until there are too many of those."""
        found = self._words
        if found is None:
            with self._lock:
                found = self._words
                if found is None:
                    found = self._words = words.Current(words.read(conn, self.store_id))
                    self._weighed()
        return found

    def _weighed(self) -> None:
        """This entry weighed again by its cache (it grew)."""
        key = (self.store_id, self.version)
        if self._cache is not None and self._cache.get(key) is self:
            self._cache.put(key, self, weight=self.weight)

    def _positions_of(self, products: set[str]) -> dict[str, int]:
        """The positions of these products (those that have one), without making
        `position` for a few (a scan of `ids` per product, in C)."""
        if self._position is not None or len(products) > FEW:
            position = self.position
            return {pid: position[pid] for pid in products if pid in position}
        found: dict[str, int] = {}
        ids, docs = self.ids, self.docs
        for pid in products:
            start = 0
            while True:
                try:
                    at = ids.index(pid, start)
                except ValueError:
                    break
                if docs[at] >= 0:
                    found[pid] = at
                start = at + 1
        return found

    def updated(self, conn: Connection, version: int, changed: set[str]) -> Columns:
        """These columns at a later version, at which these products changed (added,
        rewritten, restocked, deleted, their values): their documents and the loaded
        columns' rows read again for them alone. A product added gets the next position;
        a deleted one's position is left empty (no document maps to it). The ranking
        order is kept when no changed product entered or left it (added, deleted,
        indexed anew, in or out of stock: a price or a name changed, say); else it is
        read again when next asked."""
        d = search_documents
        now: dict[str, int] = {}
        in_stock: set[int] = set()
        for chunk in _chunks(sorted(changed)):
            query = select(d.c.doc_id, d.c.product_id, d.c.stock).where(
                d.c.store_id == self.store_id, d.c.product_id.in_(chunk)
            )
            for doc, pid, stock in conn.execute(query):
                now[pid] = int(doc)
                if stock is None or stock > 0:
                    in_stock.add(int(doc))
        new = Columns(self.store_id, version, ())
        new.ids, new.docs = list(self.ids), list(self.docs)
        new.updated_from = self.version
        before = self._positions_of(changed)
        ranking = self._ranking
        if ranking is not None:
            place = ranking[2]
            for pid in changed:
                at = before.get(pid)
                was = self.docs[at] if at is not None else None
                ranked = was is not None and was in place
                if ranked != (now.get(pid) in in_stock) or (ranked and was != now.get(pid)):
                    ranking = None
                    break
        new._ranking = ranking
        new.changed = set(before.values())
        new.changed_docs = {self.docs[at] for at in new.changed} | set(now.values())
        held = self._words
        new._words = held.changed(new.changed_docs) if held is not None else None
        at_now: dict[str, int] = {}  # the changed products there are now, at their positions
        for pid in sorted(changed):
            at, doc = before.get(pid), now.get(pid)
            if at is not None:
                new.docs[at] = -1 if doc is None else doc  # deleted, or as indexed now
            elif doc is not None:
                at = len(new.ids)
                new.ids.append(pid)
                new.docs.append(doc)
            if at is not None and doc is not None:
                at_now[pid] = at
                new.changed.add(at)
        with self._lock:
            loaded = list(self.columns.items())
        kept = [(a, c) for a, c in loaded if c.added <= max(UPDATED_CODES, len(c.codes) // 4)]
        rows = _products_rows(conn, self.store_id, [a for a, _ in kept], sorted(at_now))
        for attribute, column in kept:
            new.columns[attribute] = _updated(new, at_now, rows[attribute], column)
        return new

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
                    self._weighed()
        return found


def columns_for(conn: Connection, store_id: int, version: int) -> Columns:
    """The store's Columns at this catalogue version (see above)."""
    cache = _cache(conn.engine)

    def build() -> tuple[Columns, int]:
        older: Columns | None = None
        for key in cache.keys():
            if isinstance(key, tuple) and key[0] == store_id and key[1] < version:
                found = cache.get(key)
                if isinstance(found, Columns) and (older is None or found.version > older.version):
                    older = found
                cache.discard(key)
        changed = None if older is None else _changes(conn, store_id, older.version, version)
        if older is not None and changed is not None:
            built = older.updated(conn, version, changed)
        else:
            d = search_documents
            query = select(d.c.doc_id, d.c.product_id).where(d.c.store_id == store_id)
            built = Columns(
                store_id, version, [(int(doc), pid) for doc, pid in conn.execute(query)]
            )
        built._cache = cache
        return built, built.weight

    found: Columns = cache.once((store_id, version), build)
    return found


def _changes(conn: Connection, store_id: int, since: int, until: int) -> set[str] | None:
    """The products that the versions after `since` up to `until` changed (None: not
    known, or too many to update rather than read again)."""
    if not 0 < until - since <= UPDATED_VERSIONS:
        return None
    ch = search_changes
    query = select(ch.c.version, ch.c.product_id).where(
        ch.c.store_id == store_id, ch.c.version > since, ch.c.version <= until
    )
    rows = conn.execute(query).all()
    if len({v for v, _ in rows}) != until - since:  # pruned, or from before migration 18
        return None
    ids = {pid for _, pid in rows}
    return None if "" in ids or len(ids) > CHANGES_LISTED else ids


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _rows(
    conn: Connection, store_id: int, attribute: str, products: list[str] | None = None
) -> list[tuple[str, int, str]]:
    """The attribute's rows (product id, position of the value, text), of these
    products only if given."""
    pv = product_values
    own = (pv.c.store_id == store_id, pv.c.attribute == attribute)
    rows: list[tuple[str, int, str]] = []
    for chunk in [None] if products is None else _chunks(products):
        query = select(pv.c.product_id, pv.c.position, pv.c.value).where(*own)
        if chunk is not None:
            query = query.where(pv.c.product_id.in_(chunk))
        rows += [(pid, at, text) for pid, at, text in conn.execute(query)]
    cut = [pid for pid, _, text in rows if len(text) == VALUE_INDEXED]
    longer: dict[tuple[str, int], str] = {}
    for chunk in _chunks(cut):
        long = select(pv.c.product_id, pv.c.position, pv.c.long_value).where(
            *own, pv.c.product_id.in_(chunk), pv.c.long_value.is_not(None)
        )
        longer.update(((r.product_id, r.position), r.long_value) for r in conn.execute(long))
    if longer:
        rows = [(pid, at, longer.get((pid, at), text)) for pid, at, text in rows]
    return rows


def _products_rows(
    conn: Connection, store_id: int, attributes: list[str], products: list[str]
) -> dict[str, list[tuple[str, int, str]]]:
    """These products' rows of these attributes (product id, position of the value,
    text) by attribute: one statement per CHUNK products (the table's key), long texts
    read after."""
    pv = product_values
    found: dict[str, list[tuple[str, int, str]]] = {a: [] for a in attributes}
    cut: list[tuple[str, str, int]] = []
    for chunk in _chunks(products):
        query = select(pv.c.attribute, pv.c.product_id, pv.c.position, pv.c.value).where(
            pv.c.store_id == store_id, pv.c.product_id.in_(chunk), pv.c.attribute.in_(attributes)
        )
        for attribute, pid, at, text in conn.execute(query):
            found[attribute].append((pid, at, text))
            if len(text) == VALUE_INDEXED:
                cut.append((attribute, pid, at))
    for attribute in {a for a, _, _ in cut}:
        longer = {
            (pid, at): text
            for pid, at, text in _rows(
                conn, store_id, attribute, sorted({p for a, p, _ in cut if a == attribute})
            )
        }
        found[attribute] = [(pid, at, longer.get((pid, at), t)) for pid, at, t in found[attribute]]
    return found


def _load(conn: Connection, columns: Columns, attribute: str) -> Column:
    return column_of(columns.position, len(columns.ids), _rows(conn, columns.store_id, attribute))


def _updated(
    columns: Columns,
    at_now: dict[str, int],
    rows_now: list[tuple[str, int, str]],
    column: Column,
) -> Column:
    """The column of `columns` (updated) from the same attribute's column before and the
    changed products' rows read again (`rows_now`; `at_now`: the changed products there
    are now, at their positions; `columns.changed`: the positions they and the deleted
    ones had)."""
    codes = array("i", column.codes)
    codes.extend(repeat(0, len(columns.ids) - len(codes)))
    values = list(column.values)
    rows, others = column.rows, column.others
    for at in columns.changed:
        if at < len(column.codes) and codes[at]:
            held = values[codes[at]]
            rows -= len(held)
            others -= sum(v.number is None for v in held)
            codes[at] = 0
    held_now: dict[str, list[tuple[int, str]]] = {}
    for pid, at, text in rows_now:
        held_now.setdefault(pid, []).append((at, text))
    known: dict[tuple[Value, ...], int] = {}
    for pid, items in held_now.items():
        key = tuple(filters.stored_value(text) for _, text in sorted(items))
        if key not in known:
            known[key] = len(values)
            values.append(key)
        codes[at_now[pid]] = known[key]
        rows += len(key)
        others += sum(v.number is None for v in key)
    return Column(codes, values, rows, others, column.added + len(known))


def column_of(
    position: dict[str, int], length: int, rows: Sequence[tuple[str, int, str]]
) -> Column:
    """A column from rows (product id, position of the value, text), in any order;
    products without a position are left out. Most products hold one value: those are
    coded by their text in one pass (a list's code per text, all made up front), the
    others per list of values."""
    rows = [row for row in rows if row[0] in position]
    distinct = {text for _, _, text in rows}
    texts = {text: filters.stored_value(text) for text in distinct}
    values: list[tuple[Value, ...]] = [()]
    values += [(value,) for value in texts.values()]
    code_of = {text: code for code, text in enumerate(texts, 1)}
    several = {pid for pid, at, _ in rows if at}
    codes = array("i", [0]) * length
    for pid, at, text in rows:
        if not at and pid not in several:
            codes[position[pid]] = code_of[text]
    if several:
        held: dict[str, list[tuple[int, str]]] = {pid: [] for pid in several}
        for pid, at, text in rows:
            if pid in held:
                held[pid].append((at, text))
        known = {value: code for code, value in enumerate(values)}
        for pid, items in held.items():
            key = tuple(texts[text] for _, text in sorted(items))
            if key not in known:
                known[key] = len(values)
                values.append(key)
            codes[position[pid]] = known[key]
    others = sum(texts[text].number is None for _, _, text in rows)
    return Column(codes, values, len(rows), others)
