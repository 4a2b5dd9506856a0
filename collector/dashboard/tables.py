"""What a report is: named tables (columns with a kind each, and rows), shown and exported.

The rows are the analytics queries' own dicts; the columns say how to show them
(their label and kind). The CSV export writes the rows' keys in their own order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text | int | money | ratio | ms

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "money", "ratio")


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    empty: str = "Nothing in this range."
    note: str = ""

    @property
    def kinds(self) -> dict[str, str]:
        return {c.key: c.kind for c in self.columns}


@dataclass
class Report:
    tables: dict[str, Table] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, table: Table) -> Table:
        self.tables[table.name] = table
        return table


def columns(*spec: tuple[str, str] | tuple[str, str, str]) -> list[Column]:
    return [Column(*item) for item in spec]


WIDGETS = columns(
    ("api", "Widget"),
    ("labels", "Labels"),
    ("renders", "Renders", "int"),
    ("clicks", "Clicks", "int"),
    ("ctr", "Click-through", "ratio"),
    ("orders", "Orders", "int"),
    ("revenue", "Revenue", "money"),
)
PRODUCTS = columns(
    ("product_id", "Id"),
    ("name", "Product"),
    ("views", "Views", "int"),
    ("clicks", "Clicks", "int"),
    ("units", "Units sold", "int"),
    ("revenue", "Revenue", "money"),
    ("attributed_revenue", "Through Clerk", "money"),
)
TOP_SEARCHES = columns(
    ("query", "Query"),
    ("searches", "Searches", "int"),
    ("zero_results", "Without results", "int"),
    ("clicks", "Clicks", "int"),
    ("ctr", "Click-through", "ratio"),
)
ZERO_SEARCHES = columns(
    ("query", "Query"),
    ("searches", "Searches", "int"),
    ("last_seen", "Last searched", "ms"),
)
CUSTOMERS = columns(
    ("email", "Email"),
    ("visitor_ids", "Visitor ids"),
    ("orders", "Orders", "int"),
    ("revenue", "Revenue", "money"),
    ("first_seen", "First seen", "ms"),
    ("last_seen", "Last seen", "ms"),
)
VISITOR_LOG = columns(
    ("ts", "Time", "ms"),
    ("kind", "Event"),
    ("visitor_mode", "Mode"),
    ("session", "Page view"),
    ("product_id", "Product"),
    ("api", "Widget"),
    ("labels", "Labels"),
    ("position", "Position", "int"),
)
SUMMARY = columns(
    ("orders", "Orders", "int"),
    ("revenue", "Revenue", "money"),
    ("returned", "Returned", "money"),
    ("impacted_orders", "Impacted orders", "int"),
    ("impacted_revenue", "Impacted revenue", "money"),
    ("share", "Share of revenue through Clerk", "ratio"),
    ("attributed_revenue", "Attributed revenue", "money"),
    ("visits", "Visits", "int"),
    ("clerk_visits", "Visits that used Clerk", "int"),
    ("conversion_clerk", "Conversion, used Clerk", "ratio"),
    ("conversion_other", "Conversion, did not", "ratio"),
    ("aov_clerk", "Order value, used Clerk", "money"),
    ("aov_other", "Order value, did not", "money"),
)
SOURCES = columns(
    ("source", "Source"),
    ("orders", "Impacted orders", "int"),
    ("revenue", "Attributed revenue", "money"),
)
VISIT_GROUPS = columns(
    ("visits", "Visits"),
    ("count", "Number", "int"),
    ("conversion", "Conversion rate", "ratio"),
    ("aov", "Average order value", "money"),
)
DAILY = columns(
    ("date", "Day"),
    ("orders", "Orders", "int"),
    ("revenue", "Revenue", "money"),
    ("impacted_orders", "Impacted orders", "int"),
    ("impacted_revenue", "Impacted revenue", "money"),
    ("attributed_revenue", "Attributed revenue", "money"),
    ("returned", "Returned", "money"),
)
EVENTS_BY_MODE = columns(("visitor_mode", "Visitor mode"), ("events", "Events", "int"))
ORDERS_BY_MODE = columns(
    ("visitor_mode", "Visitor mode"),
    ("orders", "Orders", "int"),
    ("revenue", "Revenue", "money"),
)
SALTS = columns(
    ("period", "Period"),
    ("valid_from", "Used from", "ms"),
    ("expires_at", "Destroyed at", "ms"),
)
STORES = columns(
    ("id", "Id", "int"),
    ("name", "Store"),
    ("public_key", "Public key"),
    ("slug", "Slug"),
    ("origins", "Origins"),
    ("created_at", "Created", "ms"),
)
