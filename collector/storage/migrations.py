"""Schema migrations: an ordered list of steps, each applied once and recorded.

Each step takes a connection inside a transaction. A step that creates tables
names them; it creates them as schema.py defines them now, so a later step that
alters a table must come with a frozen copy of the old definition for the
earlier step (or the earlier step would create the new shape already).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, inspect, select, text

from . import attribution, schema, search

Step = Callable[[Connection], None]


def create_tables(*names: str) -> Step:
    """A step that creates these tables of schema.py (as they are defined there)."""

    def step(conn: Connection) -> None:
        schema.metadata.create_all(conn, tables=[schema.metadata.tables[n] for n in names])

    return step


def _recommendations(conn: Connection) -> None:
    create_tables("product_categories")(conn)
    conn.execute(
        text(
            "INSERT INTO product_categories (store_id, category, product_id) "
            + (
                "SELECT p.store_id, j.value, p.id FROM products p, json_each(p.categories) j"
                if conn.dialect.name == "sqlite"
                else "SELECT p.store_id, j, p.id FROM products p, "
                "json_array_elements_text(p.categories::json) j"
            )
            + " WHERE true ON CONFLICT DO NOTHING"  # WHERE: SQLite needs it before ON CONFLICT
        )
    )
    conn.execute(
        text(
            "CREATE INDEX IF NOT EXISTS ix_products_store_created "
            "ON products (store_id, created_at)"
        )
    )


def _analytics(conn: Connection) -> None:
    create_tables("order_attribution", "rollup_visits", "rollup_widgets", "rollup_products")(conn)
    conn.execute(
        text("CREATE INDEX IF NOT EXISTS ix_orders_store_email ON orders (store_id, email)")
    )
    for store_id in conn.scalars(select(schema.stores.c.id)):
        attribution.attribute_orders(conn, store_id=store_id)


def _dashboard(conn: Connection) -> None:
    create_tables("admin_stores", "login_failures")(conn)
    # Until now every admin saw every store: keep it so for the admins there are.
    conn.execute(
        text(
            "INSERT INTO admin_stores (admin_id, store_id) "
            "SELECT admins.id, stores.id FROM admins CROSS JOIN stores"
        )
    )


MIGRATIONS: list[tuple[int, str, Step]] = [
    (
        1,
        "initial schema",
        create_tables(
            "stores",
            "admins",
            "salts",
            "products",
            "events",
            "orders",
            "order_lines",
            "email_links",
            "baskets",
        ),
    ),
    (2, "product search: index, vocabulary, popularity, searches log", search.migrate),
    (3, "recommendations: category index, products by date", _recommendations),
    (5, "search: documents in ranking order, catalogue versions", search.migrate_ranking),
    (6, "analytics: order attribution, daily roll-ups", _analytics),
    (7, "dashboard: admin stores, login throttling", _dashboard),
]


def applied_versions(conn: Connection) -> set[int]:
    if not inspect(conn).has_table("schema_migrations"):
        return set()
    return set(conn.scalars(select(schema.schema_migrations.c.version)))


def migrate(engine: Engine) -> list[int]:
    """Bring the schema up to date; return the versions applied now."""
    with engine.begin() as conn:
        schema.schema_migrations.create(conn, checkfirst=True)
    done: list[int] = []
    for version, name, step in MIGRATIONS:
        with engine.begin() as conn:
            if version in applied_versions(conn):
                continue
            step(conn)
            conn.execute(
                schema.schema_migrations.insert().values(
                    version=version, name=name, applied_at=int(time.time() * 1000)
                )
            )
            done.append(version)
    return done


def is_current(engine: Engine) -> bool:
    with engine.connect() as conn:
        return applied_versions(conn) >= {v for v, _, _ in MIGRATIONS}
