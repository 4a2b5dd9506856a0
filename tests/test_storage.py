"""The storage layer on both backends: migrations, group commit, durability."""

from __future__ import annotations

import anyio
from sqlalchemy import inspect

from collector.storage import Storage, migrations
from collector.storage.tracking import record_event

from .factories import count, rows


def test_migrate_is_idempotent_and_records_versions(services):
    assert services.storage.migrate() == []
    assert migrations.is_current(services.storage.engine)
    names = set(inspect(services.storage.engine).get_table_names())
    assert {"stores", "events", "orders", "order_lines", "salts", "products"} <= names


def test_no_table_has_a_column_for_ip_or_user_agent(services):
    inspector = inspect(services.storage.engine)
    for table in inspector.get_table_names():
        for column in inspector.get_columns(table):
            assert not {"ip", "user_agent", "ua", "ip_address"} & {column["name"].lower()}


def _event(store_id: int, n: int) -> dict[str, object]:
    return dict(
        store_id=store_id,
        ts=n,
        kind="view",
        visitor_mode="none",
        visitor_id=None,
        session=None,
        product_id=str(n),
    )


def test_concurrent_writes_share_commits_and_all_are_durable(services, store, database_url):
    storage = services.storage

    async def burst() -> None:
        await storage.start()
        async with anyio.create_task_group() as group:
            for n in range(200):
                group.start_soon(lambda n=n: storage.write(record_event, **_event(store.id, n)))
        await storage.stop()

    anyio.run(burst)
    assert storage.writer.writes == 200
    assert storage.writer.batches < 200  # group commit: fewer commits than writes
    # Durable: a brand-new engine (another process, as it were) sees every row.
    other = Storage(database_url)
    try:
        assert count_rows(other) == 200
    finally:
        other.dispose()


def count_rows(storage: Storage) -> int:
    with storage.engine.connect() as conn:
        return len(conn.exec_driver_sql("SELECT id FROM events").all())


def test_a_failing_write_does_not_sink_the_rest_of_its_batch(services, store):
    storage = services.storage
    results: list[object] = []

    def broken(conn):
        raise ValueError("this write is broken")

    async def burst() -> None:
        await storage.start()

        async def run(write, **kwargs):
            try:
                results.append(await storage.write(write, **kwargs))
            except ValueError as exc:
                results.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(lambda: run(record_event, **_event(store.id, 1)))
            group.start_soon(lambda: run(broken))
            group.start_soon(lambda: run(record_event, **_event(store.id, 2)))
        await storage.stop()

    anyio.run(burst)
    assert sum(isinstance(r, ValueError) for r in results) == 1
    assert count(services, "events") == 2


def test_batched_inserts_keep_their_order_with_other_writes(services, store):
    """A merge between two views in one batch moves the first view, not the second."""
    from collector.storage.schema import events
    from collector.storage.tracking import event_row, merge_visitor
    from collector.storage.writer import InsertRow, run_writes

    def view(n: int) -> InsertRow:
        row = event_row(
            store_id=store.id,
            ts=n,
            kind="view",
            visitor_mode="auto",
            visitor_id="old",
            session=None,
            product_id=str(n),
        )
        return InsertRow(events, row)

    def merge(conn):
        return merge_visitor(conn, store_id=store.id, old_id="old", new_id="new", ts=5)

    with services.storage.engine.begin() as conn:
        results = run_writes(conn, [view(1), view(2), merge, view(3)])
    assert results == [None, None, 2, None]
    with services.storage.engine.connect() as conn:
        owners = conn.exec_driver_sql("SELECT product_id, visitor_id FROM events ORDER BY id").all()
    assert [tuple(r) for r in owners] == [("1", "new"), ("2", "new"), ("3", "old")]


def test_migration_3_backfills_category_membership_of_existing_products(services, store):
    from sqlalchemy import text

    from collector.storage.catalogue import upsert_products

    services.storage.run(
        upsert_products,
        store_id=store.id,
        items=[{"id": "1", "name": "A", "url": "/a", "price": 1.0, "categories": ["X", "Y"]}],
        now=0,
    )
    with services.storage.engine.begin() as conn:  # back to a schema before migration 3
        conn.execute(text("DROP TABLE product_categories"))
        conn.execute(text("DROP INDEX ix_products_store_created"))
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 3"))
    assert services.storage.migrate() == [3]
    members = sorted((r["category"], r["product_id"]) for r in rows(services, "product_categories"))
    assert members == [("X", "1"), ("Y", "1")]
