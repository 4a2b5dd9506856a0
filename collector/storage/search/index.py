"""The index: one narrow row per product (search_documents) and its folded text
(search_texts), the store's vocabulary (search_vocabulary) and its catalogue version
(search_catalogue), kept in step with the catalogue by index_products and
unindex_products (called by catalogue.py in the same transaction)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from ..engine import upsert
from ..folding import words
from ..schema import (
    VOCABULARY_MAX,
    search_catalogue,
    search_changes,
    search_documents,
    search_texts,
    search_vocabulary,
)
from .typos import VOCABULARY_MIN

CHUNK = 500
CHANGES_LISTED = 2_000  # a version that changed more products is recorded as "every product"
CHANGES_KEPT = 1_000  # versions of a store whose changes are kept
CHANGES_PRUNE = 100  # older changes are deleted every this many versions


@dataclass(frozen=True)
class Document:
    name: str
    labels: str
    body: str
    stock: int | None

    @property
    def fields(self) -> tuple[str, str, str]:
        return (self.name, self.labels, self.body)

    def vocabulary(self) -> set[str]:
        return {
            word
            for field in self.fields
            for word in field.split()
            if VOCABULARY_MIN <= len(word) <= VOCABULARY_MAX
        }


def document(item: dict[str, Any]) -> Document:
    """The searchable text of a product (a validated product dict)."""
    labels = [item.get("brand") or "", *(item.get("categories") or [])]
    return Document(
        name=" ".join(words(item["name"])),
        labels=" ".join(words(" ".join(labels))),
        body=" ".join(words(item.get("description") or "")),
        stock=item.get("stock"),
    )


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _indexed(
    conn: Connection, store_id: int, product_ids: Sequence[str]
) -> dict[str, tuple[int, Document]]:
    """The indexed documents of these products (two plain lookups: the same plan on any
    engine, with or without statistics)."""
    d, t = search_documents, search_texts
    found: dict[str, tuple[int, Document]] = {}
    for chunk in _chunks(product_ids):
        where = [d.c.store_id == store_id, d.c.product_id.in_(list(chunk))]
        rows = {
            r.doc_id: r
            for r in conn.execute(select(d.c.doc_id, d.c.product_id, d.c.stock).where(*where))
        }
        if not rows:
            continue
        texts = select(t.c.doc_id, *_text_columns()).where(t.c.doc_id.in_(list(rows)))
        for text_row in conn.execute(texts):
            row = rows[text_row.doc_id]
            fields = (text_row.name_terms, text_row.label_terms, text_row.body_terms)
            found[row.product_id] = (row.doc_id, Document(*fields, stock=row.stock))
    return found


def _text_columns() -> tuple[Any, ...]:
    t = search_texts
    return (t.c.name_terms, t.c.label_terms, t.c.body_terms)


def _text_row(doc_id: int, doc: Document) -> dict[str, Any]:
    return {
        "doc_id": doc_id,
        "name_terms": doc.name,
        "label_terms": doc.labels,
        "body_terms": doc.body,
    }


def index_products(conn: Connection, *, store_id: int, items: Sequence[dict[str, Any]]) -> None:
    """Bring the index in step with upserted products; unchanged text is not re-indexed."""
    changed, added = _index(conn, store_id, items)
    if changed:
        _touch(conn, store_id, added, changed)


def _index(
    conn: Connection, store_id: int, items: Sequence[dict[str, Any]]
) -> tuple[list[str], int]:
    """index_products without the version bump (the products changed, documents added)."""
    docs = {item["id"]: document(item) for item in items}
    known = _indexed(conn, store_id, list(docs))
    d, t = search_documents, search_texts
    counts: Counter[str] = Counter()
    new = [pid for pid in docs if pid not in known]
    if new:
        rows = [{"store_id": store_id, "product_id": pid, "stock": docs[pid].stock} for pid in new]
        created = conn.execute(d.insert().returning(d.c.doc_id, d.c.product_id), rows).all()
        conn.execute(t.insert(), [_text_row(row.doc_id, docs[row.product_id]) for row in created])
        for pid in new:
            counts.update(docs[pid].vocabulary())
    rewritten: list[dict[str, Any]] = []
    restocked: list[dict[str, Any]] = []
    for pid, (doc_id, old) in known.items():
        doc = docs[pid]
        if old.fields != doc.fields:
            rewritten.append({f"b_{k}": v for k, v in _text_row(doc_id, doc).items()})
            counts.update(doc.vocabulary())
            counts.subtract(old.vocabulary())
        if old.stock != doc.stock:
            restocked.append({"b_doc_id": doc_id, "b_stock": doc.stock})
    if rewritten:
        values: dict[str, Any] = {c.name: bindparam(f"b_{c.name}") for c in _text_columns()}
        conn.execute(update(t).where(t.c.doc_id == bindparam("b_doc_id")).values(values), rewritten)
    if restocked:
        conn.execute(
            update(d).where(d.c.doc_id == bindparam("b_doc_id")).values(stock=bindparam("b_stock")),
            restocked,
        )
    _count_words(conn, store_id, counts)
    changed = set(new)
    changed.update(pid for pid, (doc_id, old) in known.items() if old != docs[pid])
    return sorted(changed), len(new)


def unindex_products(conn: Connection, *, store_id: int, ids: Sequence[str]) -> None:
    known = _indexed(conn, store_id, list(ids))
    counts: Counter[str] = Counter()
    for _, old in known.values():
        counts.subtract(old.vocabulary())
    doc_ids = [doc_id for doc_id, _ in known.values()]
    for chunk in _chunks(doc_ids):
        conn.execute(delete(search_texts).where(search_texts.c.doc_id.in_(list(chunk))))
        conn.execute(delete(search_documents).where(search_documents.c.doc_id.in_(list(chunk))))
    _count_words(conn, store_id, counts)
    if known:
        _touch(conn, store_id, -len(known), sorted(known))


def _touch(conn: Connection, store_id: int, added: int, changed: Sequence[str]) -> None:
    """A new catalogue version for the store, with `added` documents more (or fewer),
    which changed these products (recorded in search_changes: see schema.py)."""
    c, ch = search_catalogue, search_changes
    statement = upsert(conn, c).values(store_id=store_id, version=1, documents=added)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["store_id"],
            set_={
                "version": c.c.version + 1,
                "documents": c.c.documents + statement.excluded.documents,
            },
        )
    )
    version = conn.scalar(select(c.c.version).where(c.c.store_id == store_id))
    listed = sorted(set(changed)) if len(set(changed)) <= CHANGES_LISTED else [""]
    conn.execute(
        ch.insert(),
        [{"store_id": store_id, "version": version, "product_id": pid} for pid in listed or [""]],
    )
    if version is not None and version % CHANGES_PRUNE == 0:
        conn.execute(
            delete(ch).where(ch.c.store_id == store_id, ch.c.version <= version - CHANGES_KEPT)
        )


def _count_words(conn: Connection, store_id: int, counts: Counter[str]) -> None:
    """Add these changes to the vocabulary's product counts; drop words no product holds."""
    changes = sorted((word, n) for word, n in counts.items() if n)  # sorted: no deadlocks
    if not changes:
        return
    v = search_vocabulary
    statement = upsert(conn, v)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["store_id", "word"],
            set_={"products": v.c.products + statement.excluded.products},
        ),
        [{"store_id": store_id, "word": word, "products": n} for word, n in changes],
    )
    fewer = [word for word, n in changes if n < 0]
    for chunk in _chunks(fewer):
        conn.execute(
            delete(v).where(v.c.store_id == store_id, v.c.word.in_(list(chunk)), v.c.products <= 0)
        )
