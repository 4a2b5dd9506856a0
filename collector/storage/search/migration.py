"""The search schema's migration steps (2 and 5): the tables, each engine's full-text
index (FTS5 with triggers; stored tsvectors with a GIN index) and the products already
there, indexed by reindex_store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, literal, select

from .. import catalogue
from ..schema import (
    metadata,
    products,
    search_catalogue,
    search_documents,
    search_popularity,
    search_texts,
    search_vocabulary,
    searches,
)
from .index import CHUNK, _index


def reindex_store(conn: Connection, *, store_id: int) -> int:
    """Index every product of a store from the products table (for migration 2, which
    comes before the versions of migration 5: it counts the documents there are)."""
    done = 0
    query = select(products).where(products.c.store_id == store_id).order_by(products.c.id)
    batch: list[dict[str, Any]] = []
    for row in conn.execute(query):
        batch.append(catalogue.product_dict(row))
        if len(batch) == CHUNK:
            _index(conn, store_id, batch)
            done, batch = done + len(batch), []
    _index(conn, store_id, batch)
    return done + len(batch)


_FTS_COLUMNS = "name_terms, label_terms, body_terms"
_SQLITE_DDL = [
    f"CREATE VIRTUAL TABLE search_fts USING fts5({_FTS_COLUMNS}, "
    "content='search_texts', content_rowid='doc_id', "
    "tokenize='unicode61 remove_diacritics 2', prefix='2 3')",
    "CREATE TRIGGER search_texts_ai AFTER INSERT ON search_texts BEGIN "
    f"INSERT INTO search_fts (rowid, {_FTS_COLUMNS}) "
    "VALUES (new.doc_id, new.name_terms, new.label_terms, new.body_terms); END",
    "CREATE TRIGGER search_texts_ad AFTER DELETE ON search_texts BEGIN "
    f"INSERT INTO search_fts (search_fts, rowid, {_FTS_COLUMNS}) "
    "VALUES ('delete', old.doc_id, old.name_terms, old.label_terms, old.body_terms); END",
    f"CREATE TRIGGER search_texts_au AFTER UPDATE OF {_FTS_COLUMNS} ON search_texts BEGIN "
    f"INSERT INTO search_fts (search_fts, rowid, {_FTS_COLUMNS}) "
    "VALUES ('delete', old.doc_id, old.name_terms, old.label_terms, old.body_terms); "
    f"INSERT INTO search_fts (rowid, {_FTS_COLUMNS}) "
    "VALUES (new.doc_id, new.name_terms, new.label_terms, new.body_terms); END",
]


def _tsvector(expression: str, weight: str | None = None) -> str:
    vector = f"to_tsvector('simple'::regconfig, clerk_search_unaccent({expression}))"
    return f"setweight({vector}, '{weight}')" if weight else vector


def _postgres_ddl(conn: Connection) -> list[str]:
    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
    schema = conn.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'unaccent'"
    ).scalar_one()
    where = conn.dialect.identifier_preparer.quote(schema)
    head = f"{_tsvector('name_terms', 'A')} || {_tsvector('label_terms', 'B')}"
    everything = _tsvector("name_terms || ' ' || label_terms || ' ' || body_terms")
    return [
        # unaccent() is only STABLE (its dictionary could change); stored columns need
        # an IMMUTABLE function, and the rules do not change under a running index.
        "CREATE OR REPLACE FUNCTION clerk_search_unaccent(text) RETURNS text "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT "
        f"AS $$ SELECT {where}.unaccent('{where}.unaccent'::regdictionary, $1) $$",
        "ALTER TABLE search_texts "
        f"ADD COLUMN head_tsv tsvector GENERATED ALWAYS AS ({head}) STORED, "
        f"ADD COLUMN all_tsv tsvector GENERATED ALWAYS AS ({everything}) STORED",
        "CREATE INDEX ix_search_texts_all_tsv ON search_texts USING gin (all_tsv)",
    ]


def migrate(conn: Connection) -> None:
    """Migration step: the search tables, the engine's full-text index, existing products."""
    metadata.create_all(
        conn,
        tables=[search_documents, search_texts, search_vocabulary, search_popularity, searches],
    )
    ddl = _SQLITE_DDL if conn.dialect.name == "sqlite" else _postgres_ddl(conn)
    for statement in ddl:
        conn.exec_driver_sql(statement)
    for store_id in conn.scalars(select(products.c.store_id).distinct()).all():
        reindex_store(conn, store_id=store_id)


def migrate_ranking(conn: Connection) -> None:
    """Migration step 5: the documents in ranking order (for walks, see above) and the
    catalogue versions (for the caches), counted from the documents there are."""
    include = " INCLUDE (doc_id)" if conn.dialect.name == "postgresql" else ""
    conn.exec_driver_sql(
        "CREATE INDEX ix_search_documents_popularity ON search_documents "
        f"(store_id, sales DESC, views DESC, product_id, stock){include}"
    )
    metadata.create_all(conn, tables=[search_catalogue])
    conn.execute(
        search_catalogue.insert().from_select(
            ["store_id", "version", "documents"],
            select(
                search_documents.c.store_id, literal(1), func.count().label("documents")
            ).group_by(search_documents.c.store_id),
        )
    )
