"""The tables, as SQLAlchemy Core metadata shared by the SQLite and PostgreSQL backends.

Times are integer Unix milliseconds so that date arithmetic is the same SQL on both
engines. No table has a column for an IP address or a User-Agent: the cookieless
visitor id is derived from them in memory and they are never written anywhere.

About 630 lines: every table in one place, each with why it has its keys and indexes.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
    true,
)

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("applied_at", BigInteger, nullable=False),
)

stores = Table(
    "stores",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("public_key", String(64), nullable=False, unique=True),
    # SHA-256 of the private key: the key itself is shown once and never stored.
    Column("private_key_hash", String(64), nullable=False),
    Column("origins", Text, nullable=False, default="[]"),
    Column("created_at", BigInteger, nullable=False),
    # The store's own script address, /<slug>.js (stores.make_slug; migration 13 added it
    # and gave the stores there were one from their names).
    Column("slug", String(64), nullable=False, server_default=""),
    Index("ux_stores_slug", "slug", unique=True),
)

admins = Table(
    "admins",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(400), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Which stores each dashboard admin may see. A store not granted is, to that admin,
# a store that does not exist.
admin_stores = Table(
    "admin_stores",
    metadata,
    Column("admin_id", Integer, ForeignKey("admins.id"), primary_key=True),
    Column("store_id", Integer, ForeignKey("stores.id"), primary_key=True),
    Index("ix_admin_stores_store", "store_id"),
)

# Failed dashboard sign-ins, shared by every collector process, for throttling.
# `key` is an HMAC (with SECRET_KEY) of the email or of the client's address, so
# the address itself is never written. Rows older than the window are pruned.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Index("ix_login_failures_key_ts", "key", "ts"),
    Index("ix_login_failures_ts", "ts"),
)

# Random salts of the cookieless visitor hash, one per rotation period. A period's
# salt is deleted as soon as the period is over, so its ids can never be recomputed.
salts = Table(
    "salts",
    metadata,
    Column("period", BigInteger, primary_key=True),
    Column("salt", String(64), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

# The generated SECRET_KEY (name "secret_key") when the setting is unset: made once by
# whichever process starts first, read by all (storage/sessions.py).
app_secrets = Table(
    "app_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Signed-in dashboard sessions. `id` is the SHA-256 of the random id that the cookie
# carries (signed), so a copy of this table signs nobody in. Sign-out deletes the row,
# and a request whose row is gone is signed out, wherever its cookie was copied to.
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("admin_id", Integer, ForeignKey("admins.id"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Index("ix_dashboard_sessions_admin", "admin_id"),
    Index("ix_dashboard_sessions_created", "created_at"),
)

products = Table(
    "products",
    metadata,
    Column("store_id", Integer, ForeignKey("stores.id"), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("price", Float, nullable=False),
    Column("list_price", Float),
    Column("url", Text, nullable=False),
    Column("image", Text),
    Column("brand", Text),
    Column("categories", Text, nullable=False, default="[]"),
    Column("stock", Integer),
    Column("created_at", BigInteger),
    Column("attributes", Text, nullable=False, default="{}"),
    Column("updated_at", BigInteger, nullable=False),
)

# Raw tracking events: views, clicks, basket changes, email captures. On PostgreSQL
# (migration 20) the table is partitioned by month of `ts` and its primary key is
# (id, ts): see storage/partitions.py. Ids stay unique (one sequence) and the code
# reads and writes it as defined here on both engines.
events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("store_id", Integer, ForeignKey("stores.id"), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("visitor_mode", String(12), nullable=False),
    Column("visitor_id", String(64)),
    Column("session", String(64)),
    Column("product_id", String(128)),
    Column("api", String(100)),
    Column("labels", Text),
    Column("position", Integer),
    Column("data", Text),
    Index("ix_events_store_ts", "store_id", "ts"),
    # Covering indexes for recommendations: a product's latest viewers, a visitor's
    # latest views, newest first, without reading the table. The first also counts
    # views per product in product order; the second, a visitor's events in time
    # order (then by id, as history() and the visitor log sort them), also serves
    # every other lookup by visitor (attribution, merges, erasure).
    Index("ix_events_product_views", "store_id", "kind", "product_id", "ts", "visitor_id"),
    Index("ix_events_visitor_views", "store_id", "visitor_id", "ts", "id", "kind", "product_id"),
)

orders = Table(
    "orders",
    metadata,
    Column("store_id", Integer, ForeignKey("stores.id"), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("ts", BigInteger, nullable=False),
    Column("visitor_mode", String(12), nullable=False),
    Column("visitor_id", String(64)),
    Column("session", String(64)),
    Column("email", String(254)),
    Column("customer", String(128)),
    # What the order counts for: its lines' quantity x price, less what was returned
    # (order_lines.returned), never below 0 (discount lines have negative prices).
    Column("total", Float, nullable=False),
    # Who recorded it (migration 11): "browser" (log/sale with the public key only) or
    # "server" (log/sale with the private key, or the orders import). A server sale
    # replaces a browser one with the same id, never the other way round.
    Column("source", String(8), nullable=False, server_default="browser"),
    # Migration 14: the amount its returns took off `total`, and the sum of its discount
    # lines (negative prices) as a positive amount: the share of the other lines that
    # the order's total is (reports.py) is total / (total + discount).
    Column("returned", Float, nullable=False, server_default=text("0")),
    Column("discount", Float, nullable=False, server_default=text("0")),
    Index("ix_orders_store_ts", "store_id", "ts"),
    Index("ix_orders_store_visitor", "store_id", "visitor_id"),
    # Migration 6 (customers, forget); `ts` since migration 11: an email's orders since a
    # time (the orders a new email link can credit with the visitor's clicks).
    Index("ix_orders_store_email", "store_id", "email", "ts"),
    # Migration 15: a customer's orders (the email a customer record gives them).
    Index("ix_orders_store_customer", "store_id", "customer"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("order_id", String(128), primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("product_id", String(128), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("price", Float, nullable=False),
    # Units of this line returned (migration 14; from order_returns, tracking.py).
    Column("returned", Integer, nullable=False, server_default=text("0")),
    # Covering indexes for products bought together: a product's orders, an order's
    # products (the first replaced a (store, product) index, its prefix).
    Index("ix_order_lines_product_orders", "store_id", "product_id", "order_id"),
    Index("ix_order_lines_order_products", "store_id", "order_id", "product_id"),
)

# Returns (log/returned, private key only): the units of a product of an order that
# came back, as the shop's server last said (a repeated call replaces the figure, so
# a retried call never counts twice). Kept for an order not recorded yet and applied
# when it is (tracking.record_sale); applied to the order's lines of that product in
# line order, never more than they hold (tracking.apply_returns).
order_returns = Table(
    "order_returns",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("order_id", String(128), primary_key=True),
    Column("product_id", String(128), primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("ts", BigInteger, nullable=False),
)

# Products bought together: for each ordered pair of different products, the number
# of orders that hold both (of each order's first PAIRED_LINES lines), all time. Kept
# in step when a sale is recorded (tracking.record_sale; migration 8 filled it from the
# orders there were), so that "bought together" reads a product's row range instead
# of counting its orders' lines on every request. No identifier: orders stay too.
co_purchases = Table(
    "co_purchases",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("product_id", String(128), primary_key=True),
    Column("other_id", String(128), primary_key=True),
    Column("orders", Integer, nullable=False),
    sqlite_with_rowid=False,  # the rows are their key: one B-tree, read in key order
)
PAIRED_LINES = 50

# One email holds many visitor ids (devices, browsers, cookieless days), at most
# tracking.MAX_LINKS_PER_EMAIL of them: `seq` numbers an email's links in the order
# they were made (migration 11), so the oldest beyond the cap go by an index range.
email_links = Table(
    "email_links",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("email", String(254), primary_key=True),
    Column("visitor_id", String(64), primary_key=True),
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False, server_default=text("0")),
    # A visitor's emails, read from the index alone (migration 11 added `email`).
    Index("ix_email_links_visitor", "store_id", "visitor_id", "email"),
    Index("ix_email_links_seq", "store_id", "email", "seq"),
)

baskets = Table(
    "baskets",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("visitor_id", String(64), primary_key=True),
    Column("products", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Category membership, kept in step with products.categories, for category
# bestsellers and similar products. Each row copies the product's price, whether it
# may be recommended (stock null or above 0) and the bits of its other categories
# (catalogue.category_bits, 0 for none), so that similar products are price ranges
# of categories read from one index with nothing else to look up.
product_categories = Table(
    "product_categories",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("category", String(200), primary_key=True),
    Column("product_id", String(128), primary_key=True),
    Column("price", Float),
    Column("in_stock", Boolean, nullable=False, server_default=true()),
    Column("other_categories", BigInteger, nullable=False, server_default=text("0")),
    Index("ix_product_categories_product", "store_id", "product_id"),
    Index(
        "ix_product_categories_price",
        *("store_id", "category", "in_stock", "price", "product_id", "other_categories"),
    ),
)

# Filterable values of products (storage/attributes.py, migration 16): one row per value
# of each attribute but `description` (each item of a list value: categories, custom
# lists), in the model of collector/filters.py: `value` the text (strings; "true"/"false";
# a number's canonical text), `number` the float of a number or of a decimal string.
# Kept in step by catalogue.py in the product's own transaction. A comparison is a range
# of one of the two indexes. Client text in an index is bounded: `value` holds the first
# VALUE_INDEXED characters and `long_value` the whole text when it is longer (NULL
# otherwise), so that equality on a long text is a lookup of its prefix then a check.
VALUE_INDEXED = 200
product_values = Table(
    "product_values",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("product_id", String(128), primary_key=True),
    Column("attribute", String(64), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("value", String(VALUE_INDEXED), nullable=False),
    Column("long_value", Text),
    Column("number", Float),
    Index("ix_product_values_value", "store_id", "attribute", "value", "product_id"),
    Index("ix_product_values_number", "store_id", "attribute", "number", "product_id"),
    sqlite_with_rowid=False,  # a product's rows together, in key order
)

# ------------------------------------------------------------------ analytics

# For each order line, the last click in a Clerk widget or search result on that
# product by the order's shopper (their visitor id, or another id linked to the same
# email) before the order, at any age: the attribution window is applied when
# reading (click_ts >= order_ts - window), so changing the setting needs no recompute.
# Written when a sale is recorded and when a new email link joins two histories.
# It holds no identifier, so it outlives the clicks (retention, forget).
order_attribution = Table(
    "order_attribution",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("order_id", String(128), primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("product_id", String(128), nullable=False),
    Column("order_ts", BigInteger, nullable=False),
    Column("click_ts", BigInteger, nullable=False),
    Column("api", String(100), nullable=False),
    Column("labels", Text, nullable=False),
    Column("source", String(16), nullable=False),  # "recommendations" | "search"
    Index("ix_order_attribution_store_ts", "store_id", "order_ts"),
)

# Daily roll-ups of the raw events (UTC days, numbered from the Unix epoch), so that
# dashboard ranges read a row per day instead of every event. A day's rows are kept
# once the day is over ("final"); the current day is always computed live. They hold
# no identifiers, so they outlive the events they summarise.
rollup_visits = Table(
    "rollup_visits",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("day", Integer, primary_key=True),
    # A visit is one visitor id on one day (cookieless ids change daily anyway).
    Column("visits", Integer, nullable=False),
    Column("clerk_visits", Integer, nullable=False),  # clicked a widget or search result
    Column("converted", Integer, nullable=False),
    Column("clerk_converted", Integer, nullable=False),
    Column("orders_clerk", Integer, nullable=False),
    Column("revenue_clerk", Float, nullable=False),
    Column("orders_other", Integer, nullable=False),
    Column("revenue_other", Float, nullable=False),
    Column("computed_at", BigInteger, nullable=False),
)

# Keyed by a hash of the labels (rollups.labels_hash), never their text: labels
# come from clients, and the longest a call may send (caps.py) run to 7.7 KB of JSON,
# past what a PostgreSQL index row holds (2,704 bytes). The text is kept for the
# dashboard. (Migration 6 made the table keyed by the text; migration 9 rebuilt it.)
rollup_widgets = Table(
    "rollup_widgets",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("api", String(100), primary_key=True),
    Column("labels_hash", String(32), primary_key=True),
    Column("labels", Text, nullable=False),
    Column("renders", Integer, nullable=False),
    Column("clicks", Integer, nullable=False),
)

rollup_products = Table(
    "rollup_products",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("product_id", String(128), primary_key=True),
    Column("views", Integer, nullable=False),
    Column("clicks", Integer, nullable=False),
    Index("ix_rollup_products_product", "store_id", "product_id", "day"),
)

# Daily roll-ups of the orders (order_rollups.py, migration 21), per attribution window:
# for each day, one row of the day's orders (api, labels_hash and source ""), and one row
# per widget (api + labels, keyed by their hash as in rollup_widgets) credited with
# orders or attributed lines that day. A day's rows are kept once the day is over and
# forgotten when one of its orders changes (a late order, a return, a deletion, a new
# attribution); the current day is always computed live.
rollup_orders = Table(
    "rollup_orders",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("window_ms", BigInteger, primary_key=True),
    Column("source", String(16), primary_key=True),  # "recommendations" | "search" | ""
    Column("api", String(100), primary_key=True),
    Column("labels_hash", String(32), primary_key=True),
    Column("labels", Text, nullable=False),
    # The day's row: its orders, their revenue and what returns took off it. A widget's
    # row: the orders credited to it (their last Clerk click was its), their revenue,
    # and the attributed revenue of its lines (returned 0).
    Column("orders", Integer, nullable=False),
    Column("revenue", Float, nullable=False),
    Column("returned", Float, nullable=False),
    Column("attributed_revenue", Float, nullable=False),
    Column("computed_at", BigInteger, nullable=False),
)

# ---------------------------------------------------------------- search (search/)

# The longest word the search vocabulary holds (search/typos.py tolerates typos below it).
VOCABULARY_MAX = 40

search_documents = Table(
    "search_documents",
    metadata,
    Column("doc_id", BigId, primary_key=True, autoincrement=True),
    Column("store_id", Integer, nullable=False),
    Column("product_id", String(128), nullable=False),
    Column("stock", Integer),  # as products.stock, so that catalogue.available() applies
    Column("sales", BigInteger, nullable=False, server_default="0"),
    Column("views", BigInteger, nullable=False, server_default="0"),
    Index("ux_search_documents_product", "store_id", "product_id", unique=True),
)

# The indexed text, apart from the rows above so that ranking never reads it.
search_texts = Table(
    "search_texts",
    metadata,
    Column(
        "doc_id",
        BigId,
        ForeignKey("search_documents.doc_id"),
        primary_key=True,
        autoincrement=False,
    ),
    # Folded words separated by single spaces.
    Column("name_terms", Text, nullable=False),
    Column("label_terms", Text, nullable=False),
    Column("body_terms", Text, nullable=False),
)

search_vocabulary = Table(
    "search_vocabulary",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("word", String(VOCABULARY_MAX), primary_key=True),
    Column("products", Integer, nullable=False),
)

# When each store's sales and views figures were last brought up to date.
search_popularity = Table(
    "search_popularity",
    metadata,
    Column("store_id", Integer, primary_key=True),
    Column("refreshed_at", BigInteger, nullable=False),
)

# Per store (migration 5): a counter that every change to the store's index bumps, so
# that answers, counts and corrections cached per process are only reused while it
# holds, and the number of indexed documents (how sparse a query's matches are).
search_catalogue = Table(
    "search_catalogue",
    metadata,
    Column("store_id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
    Column("documents", Integer, nullable=False),
)

# Which products each catalogue version changed (added, rewritten, restocked, deleted,
# or their filterable values), so that a process holding the store's columns at an
# older version updates them from these products alone (search/columns.py). A change
# of more than CHANGES_LISTED products is one row with product_id "" (every product).
# The last CHANGES_KEPT versions of a store are kept.
search_changes = Table(
    "search_changes",
    metadata,
    Column("store_id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("product_id", String(128), primary_key=True),
)

# Every search and predictive query, zero-result ones included (hits = 0).
searches = Table(
    "searches",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("store_id", Integer, ForeignKey("stores.id"), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("api", String(32), nullable=False),
    Column("query", String(200), nullable=False),  # as typed, trimmed
    Column("normalised", String(200), nullable=False),  # folded, single spaces
    Column("hits", Integer, nullable=False),
    Column("visitor_mode", String(12), nullable=False),
    Column("visitor_id", String(64)),
    Column("session", String(64)),
    Index("ix_searches_store_ts", "store_id", "ts"),
    Index("ix_searches_store_normalised", "store_id", "normalised"),
    Index("ix_searches_store_visitor", "store_id", "visitor_id"),  # for erasure
)

# ---------------------------------------------------------------- contents (migration 12)

# A store's contents: named slots (Clerk's `data-template="@id"`) with an api, its
# defaults and a Liquid design (NULL: the default design). Labels and arguments as JSON.
contents = Table(
    "contents",
    metadata,
    Column("store_id", Integer, ForeignKey("stores.id"), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("api", String(100), nullable=False),
    Column("limit", Integer, nullable=False),
    Column("labels", Text, nullable=False),
    Column("arguments", Text, nullable=False),
    Column("design", Text),
    Column("updated_at", BigInteger, nullable=False),
)

# ------------------------------------------------- site data (storage/sitedata.py)

# A store's categories and content pages as Clerk's API takes them (migration 13). The
# *_terms columns hold the folded words (storage/folding.py) of the text a search over
# them matches, so that search/categories and search/pages need no second pass.
categories = Table(
    "categories",
    metadata,
    Column("store_id", Integer, ForeignKey("stores.id"), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("name", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("subcategories", Text, nullable=False, default="[]"),  # JSON list of ids
    Column("image", Text),
    Column("description", Text, nullable=False, default=""),
    Column("attributes", Text, nullable=False, default="{}"),
    Column("name_terms", Text, nullable=False),
    Column("body_terms", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

pages = Table(
    "pages",
    metadata,
    Column("store_id", Integer, ForeignKey("stores.id"), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("image", Text),
    Column("attributes", Text, nullable=False, default="{}"),
    Column("title_terms", Text, nullable=False),
    Column("text_terms", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Per store and kind ("categories", "pages"): a counter every change to that site data
# bumps (storage/sitedata.py, same transaction), so that the per-process indexes that
# search/categories and search/pages match against are rebuilt after it (migration 17).
site_versions = Table(
    "site_versions",
    metadata,
    Column("store_id", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(16), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

# ---------------------------------------------- suggestions (storage/suggestions.py)

# Popular queries that search/suggestions may show to any shopper (migration 17): full
# searches with results by at least 3 distinct shoppers in the last 90 days, made only
# of the store's catalogue words, as their folded words (so no row names a shopper).
# Recounted from `searches` at most every few minutes (refreshed_at).
search_phrases = Table(
    "search_phrases",
    metadata,
    Column("store_id", Integer, primary_key=True, autoincrement=False),
    Column("phrase", String(200), primary_key=True),
    Column("shoppers", Integer, nullable=False),
)

search_phrases_refreshed = Table(
    "search_phrases_refreshed",
    metadata,
    Column("store_id", Integer, primary_key=True, autoincrement=False),
    Column("refreshed_at", BigInteger, nullable=False),
)

# ---------------------------------------------------- customers (storage/customers.py)

# A store's customers as the shop's server sends them (/v2/customers, the customers
# import; migration 15): Clerk's id, name and email, other attributes as JSON. What
# they are for: a sale that names a customer but no email gets the customer's email
# (tracking.record_sale), so attribution follows it across devices. Personal data:
# privacy/forget deletes an email's customers, retention those not sent again within
# the period (storage/retention.py).
customers = Table(
    "customers",
    metadata,
    Column("store_id", Integer, ForeignKey("stores.id"), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("email", String(254)),
    Column("name", Text),
    Column("attributes", Text, nullable=False, default="{}"),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_customers_store_email", "store_id", "email"),
    Index("ix_customers_store_updated", "store_id", "updated_at"),
)

# The last run of each maintenance task the operator schedules ("purge": retention), for
# the dashboard's About page: when it ran (began) and what it did (counts as JSON).
maintenance_runs = Table(
    "maintenance_runs",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("ran_at", BigInteger, nullable=False),
    Column("summary", Text, nullable=False, default="{}"),
)
