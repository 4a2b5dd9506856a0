"""The test databases themselves: a PostgreSQL database given back after a test is used
again only as a clean copy of the template (conftest.PostgresDatabases)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from collector.services import Services
from collector.settings import Settings
from collector.storage.catalogue import upsert_products

from .conftest import POSTGRES_ADMIN_URL, PostgresDatabases, public_tables
from .factories import Clock, make_store, product

pytestmark = pytest.mark.postgres


@pytest.fixture
def databases():
    """A set of databases of its own (not the run's, which other tests are using)."""
    databases = PostgresDatabases(POSTGRES_ADMIN_URL)
    try:
        yield databases
    finally:
        databases.close()


def _given_back(databases: PostgresDatabases, name: str) -> str | None:
    """Give the database back; the next database made once its clean-up is done, or None
    if none is ready to be used again."""
    databases.drop_later(name, migrated=True)
    deadline = time.monotonic() + 30
    while databases.done.unfinished_tasks:
        assert time.monotonic() < deadline, "the clean-up did not end"
        time.sleep(0.02)
    return None if databases.ready.empty() else databases.create(migrated=True)


def _state(conn: Connection) -> dict[str, object]:
    tables = public_tables(conn)
    state: dict[str, object] = {
        table: conn.scalar(text(f"SELECT count(*) FROM {table}")) for table in tables
    }
    for name, last in conn.execute(
        text("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'")
    ):
        state[f"sequence {name}"] = last
    return state


def _fill(url: str) -> None:
    """Rows in many tables (stores, keys, products, categories, search...), sequences moved."""
    services = Services(Settings(database_url=url), clock=Clock())
    try:
        keys = make_store(services)
        items = [product(i, brand="Acme", color="red") for i in range(1, 4)]
        services.storage.run(upsert_products, store_id=keys.id, items=items, now=1)
    finally:
        services.storage.dispose()


def test_a_database_given_back_is_used_again_as_a_clean_copy(databases: PostgresDatabases):
    name = databases.create(migrated=True)
    engine = create_engine(databases.url(name), poolclass=NullPool)
    with engine.connect() as conn:
        clean = _state(conn)
    engine.dispose()
    _fill(databases.url(name))
    engine = create_engine(databases.url(name), poolclass=NullPool)
    with engine.connect() as conn:
        filled = _state(conn)
    engine.dispose()
    assert [k for k in clean if filled[k] != clean[k]]  # (the test changes something)
    # A connection the test left open does not keep the database from being cleaned.
    left_open = create_engine(databases.url(name), poolclass=NullPool).connect()
    left_open.execute(text("SELECT 1"))

    try:
        again = _given_back(databases, name)
    finally:
        left_open.invalidate()  # closed (its server side is gone), not left to the GC
        left_open.close()
    assert again == name
    engine = create_engine(databases.url(name), poolclass=NullPool)
    with engine.connect() as conn:
        assert _state(conn) == clean
    engine.dispose()


def test_a_database_whose_schema_changed_is_dropped_not_used_again(
    databases: PostgresDatabases,
):
    name = databases.create(migrated=True)
    engine = create_engine(databases.url(name), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("CREATE INDEX extra ON products (name)"))
    engine.dispose()
    assert _given_back(databases, name) is None
    admin = create_engine(POSTGRES_ADMIN_URL, poolclass=NullPool)
    with admin.connect() as conn:
        made = conn.scalar(text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name})
    assert made == 0
    admin.dispose()


def test_a_database_whose_migration_rows_changed_is_dropped(databases: PostgresDatabases):
    name = databases.create(migrated=True)
    engine = create_engine(databases.url(name), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(
            text(
                "DELETE FROM schema_migrations"
                " WHERE version = (SELECT max(version) FROM schema_migrations)"
            )
        )
    engine.dispose()
    assert _given_back(databases, name) is None
