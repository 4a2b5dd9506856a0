"""Schema migrations: an ordered list of steps, each applied once and recorded.

Each step takes a connection inside a transaction. A step that creates tables
names them; it creates them as schema.py defines them now, so a later step that
alters a table must come with a frozen copy of the old definition for the
earlier step (or the earlier step would create the new shape already).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    column,
    func,
    inspect,
    or_,
    select,
    table,
    text,
    true,
    update,
)
from sqlalchemy.sql import TableClause

from . import (
    attributes,
    attribution,
    catalogue,
    partitions,
    recommendations,
    rollups,
    schema,
    stores,
    tracking,
)
from .engine import upsert
from .search import migration as search_migration

Step = Callable[[Connection], None]


def create_tables(*names: str) -> Step:
    """A step that creates these tables of schema.py (as they are defined there)."""

    def step(conn: Connection) -> None:
        schema.metadata.create_all(conn, tables=[schema.metadata.tables[n] for n in names])

    return step


# product_categories as migration 3 created it (migration 4 adds the copied columns).
_product_categories_v3 = Table(
    "product_categories",
    MetaData(),
    Column("store_id", Integer, primary_key=True),
    Column("category", String(200), primary_key=True),
    Column("product_id", String(128), primary_key=True),
    Index("ix_product_categories_product", "store_id", "product_id"),
)


# stores, orders and email_links as migration 1 created them (migration 11 adds
# orders.source, email_links.seq and its index; migration 13 stores.slug).
_v1 = MetaData()
_stores_v1 = Table(
    "stores",
    _v1,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("public_key", String(64), nullable=False, unique=True),
    Column("private_key_hash", String(64), nullable=False),
    Column("origins", Text, nullable=False, default="[]"),
    Column("created_at", BigInteger, nullable=False),
)
_orders_v1 = Table(
    "orders",
    _v1,
    Column("store_id", Integer, primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("ts", BigInteger, nullable=False),
    Column("visitor_mode", String(12), nullable=False),
    Column("visitor_id", String(64)),
    Column("session", String(64)),
    Column("email", String(254)),
    Column("customer", String(128)),
    Column("total", Float, nullable=False),
    Index("ix_orders_store_ts", "store_id", "ts"),
    Index("ix_orders_store_visitor", "store_id", "visitor_id"),
    Index("ix_orders_store_email", "store_id", "email"),  # since migration 6 (IF NOT EXISTS)
)
_email_links_v1 = Table(
    "email_links",
    _v1,
    Column("store_id", Integer, primary_key=True),
    Column("email", String(254), primary_key=True),
    Column("visitor_id", String(64), primary_key=True),
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Index("ix_email_links_visitor", "store_id", "visitor_id"),
)
# order_lines as migration 1 creates it (with the indexes that migration 4 made;
# migration 14 adds order_lines.returned).
_order_lines_v1 = Table(
    "order_lines",
    _v1,
    Column("store_id", Integer, primary_key=True),
    Column("order_id", String(128), primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("product_id", String(128), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("price", Float, nullable=False),
    Index("ix_order_lines_product_orders", "store_id", "product_id", "order_id"),
    Index("ix_order_lines_order_products", "store_id", "order_id", "product_id"),
)


def _initial(conn: Connection) -> None:
    _stores_v1.create(conn)
    create_tables("admins", "salts", "products", "events")(conn)
    _orders_v1.create(conn)
    _order_lines_v1.create(conn)
    _email_links_v1.create(conn)
    create_tables("baskets")(conn)


def _recommendations(conn: Connection) -> None:
    _product_categories_v3.create(conn)
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


# rollup_widgets as migration 6 created it, keyed by the labels' text (migration 9 keys
# it by their hash).
rollup_widgets_v6 = Table(
    "rollup_widgets",
    MetaData(),
    Column("store_id", Integer, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("api", String(100), primary_key=True),
    Column("labels", Text, primary_key=True),
    Column("renders", Integer, nullable=False),
    Column("clicks", Integer, nullable=False),
)


def _analytics(conn: Connection) -> None:
    create_tables("order_attribution", "rollup_visits", "rollup_products")(conn)
    rollup_widgets_v6.create(conn)
    conn.execute(
        text("CREATE INDEX IF NOT EXISTS ix_orders_store_email ON orders (store_id, email)")
    )
    for store_id in conn.scalars(select(schema.stores.c.id)):
        # (rollup_orders comes with migration 21: nothing of it to forget yet.)
        attribution.attribute_orders(conn, store_id=store_id, forget_rollups=False)


def _dashboard(conn: Connection) -> None:
    create_tables("admin_stores", "login_failures")(conn)
    # Until now every admin saw every store: keep it so for the admins there are.
    conn.execute(
        text(
            "INSERT INTO admin_stores (admin_id, store_id) "
            "SELECT admins.id, stores.id FROM admins CROSS JOIN stores"
        )
    )


_INDEXES_V4 = {  # added by migration 4, as it made them
    "ix_product_categories_price": "product_categories "
    "(store_id, category, in_stock, price, product_id, other_categories)",
    "ix_events_product_views": "events (store_id, kind, product_id, ts, visitor_id)",
    "ix_events_visitor_views": "events (store_id, visitor_id, ts, id, kind, product_id)",
    "ix_order_lines_product_orders": "order_lines (store_id, product_id, order_id)",
    "ix_order_lines_order_products": "order_lines (store_id, order_id, product_id)",
}


def _table(spec: str) -> TableClause:
    """A table as a migration step knows it ("name column column ..."), not as it may be
    defined in schema.py later."""
    name, *columns = spec.split()
    return table(name, *(column(c) for c in columns))


def _price_ranges(conn: Connection) -> None:
    """Copies of price, stock and other categories' bits on the category rows (filled
    from products) and the index that reads price ranges from them; covering indexes on
    events and order_lines, instead of the (store, product, kind), (store, visitor, ts)
    and (store, product) ones they extend. A database that migration 1 made after
    these indexes entered schema.py has them already."""
    yes = "1" if conn.dialect.name == "sqlite" else "true"
    for added in (
        "price FLOAT",
        f"in_stock BOOLEAN DEFAULT {yes} NOT NULL",
        "other_categories BIGINT DEFAULT 0 NOT NULL",
    ):
        conn.execute(text(f"ALTER TABLE product_categories ADD COLUMN {added}"))
    rows = _table("product_categories store_id category product_id price in_stock other_categories")
    products = _table("products store_id id price stock categories")
    same = (products.c.store_id == rows.c.store_id) & (products.c.id == rows.c.product_id)
    stocked = or_(products.c.stock.is_(None), products.c.stock > 0)
    conn.execute(
        update(rows).values(
            price=select(products.c.price).where(same).scalar_subquery(),
            in_stock=func.coalesce(select(stocked).where(same).scalar_subquery(), true()),
        )
    )
    several = select(products.c.store_id, products.c.id, products.c.categories).where(
        products.c.categories.like("%,%")
    )
    bits = []
    for store_id, product_id, listed in conn.execute(several).all():
        names = list(dict.fromkeys(json.loads(listed)))
        for category in names if len(names) > 1 else []:
            others = catalogue.category_bits(c for c in names if c != category)
            bits.append({"s": store_id, "p": product_id, "c": category, "bits": others})
    if bits:
        conn.execute(
            update(rows)
            .where(
                rows.c.store_id == bindparam("s"),
                rows.c.category == bindparam("c"),
                rows.c.product_id == bindparam("p"),
            )
            .values(other_categories=bindparam("bits")),
            bits,
        )
    for name, on in _INDEXES_V4.items():
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {on}"))
    for replaced in (
        "ix_events_store_product",
        "ix_events_store_visitor",
        "ix_order_lines_product",
    ):
        conn.execute(text(f"DROP INDEX IF EXISTS {replaced}"))


def _co_purchases(conn: Connection) -> None:
    create_tables("co_purchases")(conn)
    recommendations.fill_co_purchases(conn)


_COPY_BATCH = 5000  # rows of rollup_widgets read and written at a time by migration 9


def _widget_keys(conn: Connection) -> None:
    """rollup_widgets keyed by a hash of the labels instead of their text (the longest
    labels did not fit a PostgreSQL index row): the table is made anew under its name
    and its rows copied, the labels put in canonical form beside their hash, a batch
    at a time."""
    conn.execute(text("ALTER TABLE rollup_widgets RENAME TO rollup_widgets_v8"))
    if conn.dialect.name == "postgresql":  # the new table's key takes the index's name
        conn.execute(text("ALTER INDEX rollup_widgets_pkey RENAME TO rollup_widgets_v8_pkey"))
    create_tables("rollup_widgets")(conn)
    old = _table("rollup_widgets_v8 store_id day api labels renders clicks")
    new = schema.rollup_widgets
    insert = upsert(conn, new)
    add = insert.on_conflict_do_update(  # two texts of the same labels are one widget
        index_elements=[c.name for c in new.primary_key],
        set_={
            "renders": new.c.renders + insert.excluded.renders,
            "clicks": new.c.clicks + insert.excluded.clicks,
        },
    )
    rows = conn.execute(select(old).execution_options(yield_per=_COPY_BATCH))
    for batch in rows.partitions():
        copied: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in batch:
            labels = rollups.canonical_labels(row.labels)
            key = (row.store_id, row.day, row.api, rollups.labels_hash(labels))
            if key in copied:  # one statement may not meet its own row twice (PostgreSQL)
                copied[key]["renders"] += row.renders
                copied[key]["clicks"] += row.clicks
            else:
                copied[key] = {**row._asdict(), "labels": labels, "labels_hash": key[3]}
        conn.execute(add, list(copied.values()))
    conn.execute(text("DROP TABLE rollup_widgets_v8"))


def _sessions(conn: Connection) -> None:
    create_tables("app_secrets", "dashboard_sessions")(conn)


def _sources_and_links(conn: Connection) -> None:
    """orders.source: imported orders (visitor mode "import") were recorded by the server;
    every other order counts as a browser's, because a log/sale with the private key left
    no mark until now (so the next private-key sale with such an id replaces it, which is
    what it would have done had it come first: the server's record is the one to keep).

    email_links.seq: each email's links numbered 1, 2, ... by first_seen (then visitor id),
    and the oldest beyond tracking.MAX_LINKS_PER_EMAIL dropped, as new links drop them;
    the index by visitor also holds the email, and the one by email the order time."""
    conn.execute(text("ALTER TABLE orders ADD COLUMN source VARCHAR(8) DEFAULT 'browser' NOT NULL"))
    orders = _table("orders visitor_mode source")
    conn.execute(update(orders).where(orders.c.visitor_mode == "import").values(source="server"))
    conn.execute(text("ALTER TABLE email_links ADD COLUMN seq BIGINT DEFAULT 0 NOT NULL"))
    links = _table("email_links store_id email visitor_id first_seen seq")
    query = select(links.c.store_id, links.c.email, links.c.visitor_id).order_by(
        links.c.store_id, links.c.email, links.c.first_seen, links.c.visitor_id
    )
    numbered: list[dict[str, object]] = []
    email: tuple[object, object] | None = None
    n = 0
    numbering = (
        update(links)
        .where(
            links.c.store_id == bindparam("s"),
            links.c.email == bindparam("e"),
            links.c.visitor_id == bindparam("v"),
        )
        .values(seq=bindparam("n"))
    )
    # Read before writing: the rows are numbered in a sort SQLite would otherwise redo.
    for store_id, address, visitor_id in conn.execute(query).all():
        n = n + 1 if (store_id, address) == email else 1
        email = (store_id, address)
        numbered.append({"s": store_id, "e": address, "v": visitor_id, "n": n})
        if len(numbered) >= 5000:
            conn.execute(numbering, numbered)
            numbered = []
    if numbered:
        conn.execute(numbering, numbered)
    conn.execute(
        text("CREATE INDEX IF NOT EXISTS ix_email_links_seq ON email_links (store_id, email, seq)")
    )
    # A visitor's emails from the index alone: without it SQLite reads the store's
    # every link by the primary key (which holds the email) rather than look them up.
    conn.execute(text("DROP INDEX IF EXISTS ix_orders_store_email"))
    conn.execute(text("CREATE INDEX ix_orders_store_email ON orders (store_id, email, ts)"))
    conn.execute(text("DROP INDEX IF EXISTS ix_email_links_visitor"))
    conn.execute(
        text("CREATE INDEX ix_email_links_visitor ON email_links (store_id, visitor_id, email)")
    )
    conn.execute(
        text(
            "DELETE FROM email_links WHERE seq <= (SELECT max(m.seq) FROM email_links m "
            "WHERE m.store_id = email_links.store_id AND m.email = email_links.email) - :cap"
        ),
        {"cap": tracking.MAX_LINKS_PER_EMAIL},
    )


def _site_data_and_slugs(conn: Connection) -> None:
    """Categories and pages (storage/sitedata.py); stores.slug, each store there is given
    one from its name as a new store would be ("Demo Shop" -> "demo-shop", then
    "demo-shop-2", ... in the order the stores were made)."""
    conn.execute(text("ALTER TABLE stores ADD COLUMN slug VARCHAR(64) DEFAULT '' NOT NULL"))
    rows = _table("stores id name slug")
    taken: set[str] = set()
    for store_id, name in conn.execute(select(rows.c.id, rows.c.name).order_by(rows.c.id)).all():
        slug = stores.slug_from_name(name, taken.__contains__)
        taken.add(slug)
        conn.execute(update(rows).where(rows.c.id == store_id).values(slug=slug))
    conn.execute(text("CREATE UNIQUE INDEX ux_stores_slug ON stores (slug)"))
    create_tables("categories", "pages")(conn)


def _returns(conn: Connection) -> None:
    """Returns (order_returns), the units returned of each line, and each order's returned
    and discount amounts. Orders until now had no returns and no negative prices (sale
    lines refused them), so 0 is right for every one of them."""
    create_tables("order_returns")(conn)
    conn.execute(text("ALTER TABLE orders ADD COLUMN returned FLOAT DEFAULT 0 NOT NULL"))
    conn.execute(text("ALTER TABLE orders ADD COLUMN discount FLOAT DEFAULT 0 NOT NULL"))
    conn.execute(text("ALTER TABLE order_lines ADD COLUMN returned INTEGER DEFAULT 0 NOT NULL"))


def _customers(conn: Connection) -> None:
    """Customers (storage/customers.py), and orders by customer (the orders a customer's
    email is given to when the customer arrives after them)."""
    create_tables("customers")(conn)
    conn.execute(text("CREATE INDEX ix_orders_store_customer ON orders (store_id, customer)"))


def _product_values(conn: Connection) -> None:
    """Products' filterable values (storage/attributes.py), filled from the products there
    are, a batch at a time, read as this step knows the table."""
    create_tables("product_values")(conn)
    names = "name price list_price url image brand stock created_at".split()
    products = _table(f"products store_id id categories attributes {' '.join(names)}")
    rows = conn.execute(select(products).execution_options(yield_per=_COPY_BATCH))
    for batch in rows.partitions():
        by_store: dict[int, list[dict[str, Any]]] = {}
        for row in batch:
            item: dict[str, Any] = {"id": row.id}
            item.update({n: getattr(row, n) for n in names if getattr(row, n) is not None})
            item["categories"] = json.loads(row.categories or "[]")
            item.update(json.loads(row.attributes or "{}"))
            by_store.setdefault(row.store_id, []).append(item)
        for store_id, items in by_store.items():
            attributes.write_values(conn, store_id=store_id, items=items)


def _partitions(conn: Connection) -> None:
    """PostgreSQL: events partitioned by month (storage/partitions.py). SQLite: nothing."""
    if conn.dialect.name == "postgresql":
        partitions.partition_events(conn, now_ms=int(time.time() * 1000))


MIGRATIONS: list[tuple[int, str, Step]] = [
    (1, "initial schema", _initial),
    (2, "product search: index, vocabulary, popularity, searches log", search_migration.migrate),
    (3, "recommendations: category index, products by date", _recommendations),
    (4, "recommendations: price ranges, covering event indexes", _price_ranges),
    (5, "search: documents in ranking order, catalogue versions", search_migration.migrate_ranking),
    (6, "analytics: order attribution, daily roll-ups", _analytics),
    (7, "dashboard: admin stores, login throttling", _dashboard),
    (8, "recommendations: products bought together", _co_purchases),
    (9, "analytics: widget roll-ups keyed by a hash of their labels", _widget_keys),
    (10, "a generated secret key, server-side dashboard sessions", _sessions),
    (11, "sales: who recorded each order; email links numbered and capped", _sources_and_links),
    (12, "contents: named slots with an api, defaults and a design", create_tables("contents")),
    (13, "categories and pages; store slugs", _site_data_and_slugs),
    (14, "returns: returned units and amounts, discount lines", _returns),
    (15, "customers: the shop's customers, orders by customer", _customers),
    (16, "filters: products' filterable values", _product_values),
    (
        17,
        "suggestions: popular queries; versions of categories and pages",
        create_tables("search_phrases", "search_phrases_refreshed", "site_versions"),
    ),
    (18, "search: the products each catalogue version changed", create_tables("search_changes")),
    (19, "operations: the last run of each maintenance task", create_tables("maintenance_runs")),
    (20, "PostgreSQL: events partitioned by month", _partitions),
    (21, "analytics: daily roll-ups of orders", create_tables("rollup_orders")),
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
