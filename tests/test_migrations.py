"""Migrations on a new database, and on one made by an earlier version with data in it
(4: price ranges, covering indexes; 8: co-purchases; 9: widget roll-ups keyed by a hash
of their labels), on both backends."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Boolean, Engine, Float, Integer, String, UniqueConstraint, inspect, text

from collector.services import Services
from collector.storage import migrations, partitions, rollups, schema
from collector.storage.catalogue import upsert_products
from collector.storage.tracking import record_event, record_sale

from .factories import StoreKeys, make_store, product, rows

TABLES = ("product_categories", "events", "order_lines", "rollup_widgets")


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """Here the migrations run from an empty database (the `services` fixture runs them),
    not from the test run's migrated template."""
    return empty_database_url


def indexes(engine: Engine, table: str) -> dict[str, list[str]]:
    return {ix["name"]: list(ix["column_names"]) for ix in inspect(engine).get_indexes(table)}


def defined_indexes(table: str) -> dict[str, list[str]]:
    return {
        str(ix.name): [c.name for c in ix.columns] for ix in schema.metadata.tables[table].indexes
    }


def columns(engine: Engine, table: str) -> dict[str, bool]:
    return {c["name"]: c["nullable"] for c in inspect(engine).get_columns(table)}


def assert_shape_of_schema_py(engine: Engine) -> None:
    for table in TABLES:
        assert indexes(engine, table) == defined_indexes(table), table
        defined = {c.name: c.nullable for c in schema.metadata.tables[table].columns}
        assert columns(engine, table) == defined, table
        key = inspect(engine).get_pk_constraint(table)["constrained_columns"]
        expected = [c.name for c in schema.metadata.tables[table].primary_key]
        if table == partitions.PARTITIONED and engine.dialect.name == "postgresql":
            expected = list(partitions.KEY)  # a partitioned table's key holds its partition key
        assert key == expected, table


def test_a_new_database_has_the_tables_and_indexes_schema_py_defines(services: Services):
    assert_shape_of_schema_py(services.storage.engine)


def test_upgrading_from_3_fills_the_copies_as_the_catalogue_writes_them(
    services: Services, store: StoreKeys
):
    items = [
        product(1, categories=["Mugs", "Gifts"], price=12.5),
        product(2, categories=["Mugs"], price=3.0, stock=0),
        product(3, price=7.0),
        product(4, categories=["Gifts", "Lamps", "Mugs"], price=99.0, stock=5),
        product(5, categories=["Lamps", "Lamps"], price=0.5, stock=-1),
    ]
    services.storage.run(upsert_products, store_id=store.id, items=items, now=0)
    services.storage.run(record_history, store_id=store.id)
    written = sorted(rows(services, "product_categories"), key=row_key)
    assert len(written) == 7 and {r["other_categories"] != 0 for r in written} == {True, False}

    engine = services.storage.engine
    with engine.begin() as conn:  # back to version 3, with its indexes
        conn.execute(text("DROP TABLE product_categories"))
        for name in ("ix_events_product_views", "ix_events_visitor_views"):
            conn.execute(text(f"DROP INDEX {name}"))
        for name in ("ix_order_lines_product_orders", "ix_order_lines_order_products"):
            conn.execute(text(f"DROP INDEX {name}"))
        conn.execute(
            text("CREATE INDEX ix_events_store_visitor ON events (store_id, visitor_id, ts)")
        )
        conn.execute(
            text("CREATE INDEX ix_events_store_product ON events (store_id, product_id, kind)")
        )
        conn.execute(
            text("CREATE INDEX ix_order_lines_product ON order_lines (store_id, product_id)")
        )
        conn.execute(text("DELETE FROM schema_migrations WHERE version IN (3, 4)"))
    assert "ix_events_store_product" in indexes(engine, "events")

    assert services.storage.migrate() == [3, 4]
    assert sorted(rows(services, "product_categories"), key=row_key) == written
    assert_shape_of_schema_py(engine)
    assert services.storage.migrate() == []


def row_key(row: dict[str, Any]) -> tuple[str, str]:
    return (row["product_id"], row["category"])


def record_history(conn: Any, *, store_id: int) -> None:
    for n, (visitor, pid) in enumerate([("a", "1"), ("b", "1"), ("a", "4")]):
        record_event(
            conn,
            store_id=store_id,
            ts=1_000 + n,
            kind="view",
            visitor_mode="persistent",
            visitor_id=visitor,
            session=None,
            product_id=pid,
        )
    record_sale(
        conn,
        store_id=store_id,
        ts=2_000,
        sale_id="O1",
        lines=[
            {"id": "1", "quantity": 1, "price": 12.5},
            {"id": "4", "quantity": 2, "price": 99.0},
        ],
        visitor_mode="persistent",
        visitor_id="a",
        session=None,
        email=None,
        customer=None,
    )


def test_upgrading_from_7_counts_the_orders_there_are_as_sales_would(
    services: Services, store: StoreKeys
):
    services.storage.run(record_history, store_id=store.id)
    for n, products in enumerate([["1", "2", "3"], ["2", "3"], ["3", "1", "3"], ["9"]]):
        services.storage.run(
            record_sale,
            store_id=store.id,
            ts=3_000 + n,
            sale_id=f"S{n}",
            lines=[{"id": pid, "quantity": 1, "price": 1.0} for pid in products],
            visitor_mode="none",
            visitor_id=None,
            session=None,
            email=None,
            customer=None,
        )
    written = sorted(rows(services, "co_purchases"), key=str)
    assert {(r["product_id"], r["other_id"]): r["orders"] for r in written}[("3", "2")] == 2
    with services.storage.engine.begin() as conn:
        conn.execute(text("DROP TABLE co_purchases"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 8"))
    assert services.storage.migrate() == [8]
    assert sorted(rows(services, "co_purchases"), key=str) == written
    assert_shape_of_schema_py(services.storage.engine)


@pytest.mark.parametrize("batch", [2, 5000])
def test_upgrading_from_8_keeps_the_widget_roll_ups_keyed_by_a_hash_of_their_labels(
    services: Services, store: StoreKeys, monkeypatch: pytest.MonkeyPatch, batch: int
):
    monkeypatch.setattr(migrations, "_COPY_BATCH", batch)  # 2: rows copied over several batches
    other = make_store(services, "Other shop")
    old = [
        (store.id, 20600, "recommendations/popular", '["Home"]', 5, 2),
        (store.id, 20600, "recommendations/popular", "[]", 3, 0),
        (store.id, 20600, "search/predictive", '["Home"]', 7, 1),
        (store.id, 20601, "recommendations/popular", '["Home"]', 4, 4),
        (other.id, 20600, "recommendations/visitor/history", json.dumps(["Du så", "Hjem"]), 2, 1),
    ]
    same = [  # the same labels written two ways: one widget
        (other.id, 20601, "search/search", '["Søg"]', 1, 1),
        (other.id, 20601, "search/search", '[ "S\\u00f8g" ]', 2, 0),
    ]
    names = ("store_id", "day", "api", "labels", "renders", "clicks")
    engine = services.storage.engine
    with engine.begin() as conn:  # back to version 8, with its roll-ups
        conn.execute(text("DROP TABLE rollup_widgets"))
        migrations.rollup_widgets_v6.create(conn)
        conn.execute(
            migrations.rollup_widgets_v6.insert(),
            [dict(zip(names, r, strict=True)) for r in old + same],
        )
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 9"))

    assert services.storage.migrate() == [9]
    kept = rows(services, "rollup_widgets")
    merged = (other.id, 20601, "search/search", json.dumps(["Søg"]), 3, 1)
    assert sorted(tuple(r[n] for n in names) for r in kept) == sorted([*old, merged])
    assert all(r["labels_hash"] == rollups.labels_hash(r["labels"]) for r in kept)
    assert len({r["labels_hash"] for r in kept}) == 4
    assert_shape_of_schema_py(engine)
    assert services.storage.migrate() == []


# PostgreSQL's B-tree takes index rows of at most 2,704 bytes; a key column's text is
# at most 4 bytes a character (UTF-8) and a few bytes of header.
PG_INDEX_ROW_MAX = 2704


def widest_row(columns: list[Any]) -> int | None:
    """The most bytes a row of these columns can take in an index (None: unbounded)."""
    total = 8  # the index tuple's header
    for col in columns:
        kind = col.type
        if isinstance(kind, String) and kind.length is not None:
            total += 4 + 4 * kind.length
        elif isinstance(kind, Integer | Float | Boolean):
            total += 8
        else:
            return None  # Text, or a type this check does not know
    return total


def test_no_key_or_index_holds_unbounded_client_text():
    """Client text in a key (the labels in rollup_widgets' key) once made inserts fail on
    PostgreSQL past the index row limit: every key and index is of bounded columns."""
    too_wide = {}
    for table in schema.metadata.sorted_tables:
        keys = [("primary key", list(table.primary_key.columns))]
        keys += [(str(ix.name), list(ix.columns)) for ix in table.indexes]
        keys += [
            (str(c.name), list(c.columns))
            for c in table.constraints
            if isinstance(c, UniqueConstraint)
        ]
        for name, cols in keys:
            size = widest_row(cols)
            if size is None or size > PG_INDEX_ROW_MAX:
                too_wide[f"{table.name} {name}"] = [c.name for c in cols]
    assert too_wide == {}


def test_migration_10_adds_the_secret_key_and_session_tables(services: Services):
    engine = services.storage.engine
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE dashboard_sessions"))
        conn.execute(text("DROP TABLE app_secrets"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 10"))
    assert services.storage.migrate() == [10]
    for table in ("app_secrets", "dashboard_sessions"):
        assert indexes(engine, table) == defined_indexes(table), table
        defined = {c.name: c.nullable for c in schema.metadata.tables[table].columns}
        assert columns(engine, table) == defined, table
    assert services.secret_key  # the new table holds it
    assert services.storage.migrate() == []
