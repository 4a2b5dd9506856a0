"""What the dashboard and the stats/* endpoints show: one set of queries for both.

Every function takes a connection and a store, with a range of Unix milliseconds
(start inclusive, end exclusive), and answers plain rows (dicts whose key order is
the CSV column order). Days are UTC days.

Event counts come from the daily roll-ups (rollups.py: stored for days that are
over, live for the rest), so a range costs a row per past day, never a scan of its
events; so do the overview's and the widgets page's order figures (order_rollups.py).
The products page reads orders, order_lines and order_attribution directly: an
order's `total` is net of its returns and discounts, a line's amount is what it still
holds after returns (returns.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

from sqlalchemy import Connection, and_, case, func, select

from . import schema
from .order_rollups import attributed_lines, order_days
from .rollups import Row, rollup_sums
from .schema import (
    email_links,
    events,
    order_lines,
    orders,
    rollup_products,
    rollup_visits,
    rollup_widgets,
    salts,
)

# A search result click counts for the shopper's latest search up to this long before it.
SEARCH_CLICK_MS = 30 * 60_000


def _ratio(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def _money(value: float | None) -> float:
    return round(float(value or 0.0), 2)


def _labels(raw: str | None) -> str:
    """Labels as shown and exported: the widget's labels joined by ", "."""
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return str(raw)
    return ", ".join(str(label) for label in value) if isinstance(value, list) else str(value)


def _iso(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


# ---------------------------------------------------------------- pages


def overview(conn: Connection, *, store_id: int, start_ms: int, end_ms: int, window_ms: int) -> Row:
    """Orders, revenue and what Clerk did for them, with a row per day.

    A day's order figures come from its order roll-up (order_rollups.py) or are computed
    live alike; they are added up in day order, so both give the same answer."""
    daily: dict[int, Row] = {}
    by_source = {s: {"orders": 0, "revenue": 0.0} for s in ("recommendations", "search")}
    for d, rows in order_days(
        conn, store_id=store_id, start_ms=start_ms, end_ms=end_ms, window_ms=window_ms
    ).items():
        day, *widgets = rows
        entry = daily[d] = {
            "date": _iso(d),
            "orders": int(day["orders"]),
            "revenue": float(day["revenue"]),
            "impacted_orders": 0,
            "impacted_revenue": 0.0,
            "attributed_revenue": 0.0,
            "returned": float(day["returned"]),
        }
        for row in widgets:
            by_source[row["source"]]["orders"] += int(row["orders"])
            by_source[row["source"]]["revenue"] += float(row["attributed_revenue"])
            entry["impacted_orders"] += int(row["orders"])
            entry["impacted_revenue"] += float(row["revenue"])
            entry["attributed_revenue"] += float(row["attributed_revenue"])
    visits = rollup_sums(
        conn,
        rollup_visits,
        (),
        (
            "visits",
            "clerk_visits",
            "converted",
            "clerk_converted",
            "orders_clerk",
            "revenue_clerk",
            "orders_other",
            "revenue_other",
        ),
        store_id,
        start_ms,
        end_ms,
    ).get((), {})
    v = defaultdict(float, visits)
    total_orders = sum(e["orders"] for e in daily.values())
    revenue = sum(e["revenue"] for e in daily.values())
    impacted_revenue = sum(e["impacted_revenue"] for e in daily.values())
    attributed_revenue = sum(e["attributed_revenue"] for e in daily.values())
    returned = sum(e["returned"] for e in daily.values())
    impacted_orders = sum(e["impacted_orders"] for e in daily.values())
    for entry in daily.values():
        for key in ("revenue", "impacted_revenue", "attributed_revenue", "returned"):
            entry[key] = _money(entry[key])
    return {
        "orders": total_orders,
        "revenue": _money(revenue),
        "returned": _money(returned),
        "impacted_orders": impacted_orders,
        "impacted_revenue": _money(impacted_revenue),
        "attributed_revenue": _money(attributed_revenue),
        "share": _ratio(impacted_revenue, revenue),
        "by_source": {
            s: {"orders": x["orders"], "revenue": _money(x["revenue"])}
            for s, x in by_source.items()
        },
        "visits": int(v["visits"]),
        "clerk_visits": int(v["clerk_visits"]),
        "conversion_clerk": _ratio(v["clerk_converted"], v["clerk_visits"]),
        "conversion_other": _ratio(
            v["converted"] - v["clerk_converted"], v["visits"] - v["clerk_visits"]
        ),
        "aov_clerk": _money(v["revenue_clerk"] / v["orders_clerk"] if v["orders_clerk"] else 0),
        "aov_other": _money(v["revenue_other"] / v["orders_other"] if v["orders_other"] else 0),
        "daily": [daily[d] for d in sorted(daily)],
    }


def widgets(
    conn: Connection, *, store_id: int, start_ms: int, end_ms: int, window_ms: int
) -> list[Row]:
    """Per widget (api + labels): renders, clicks, click-through, orders credited, revenue."""
    counts = rollup_sums(
        conn, rollup_widgets, ("api", "labels"), ("renders", "clicks"), store_id, start_ms, end_ms
    )
    table: dict[tuple[str, str], Row] = {}

    def entry(api: str, labels: str) -> Row:
        key = (api, _labels(labels))
        if key not in table:
            table[key] = {
                "api": api,
                "labels": key[1],
                "renders": 0,
                "clicks": 0,
                "ctr": 0.0,
                "orders": 0,
                "revenue": 0.0,
            }
        return table[key]

    for (api, labels), sums in counts.items():
        row = entry(api, labels)
        row["renders"] += int(sums["renders"])
        row["clicks"] += int(sums["clicks"])
    # The orders' daily roll-ups (a row per day and widget: past days stored, the rest
    # computed live), in day order: the same figures as the attributed lines of the range.
    for day_rows in order_days(
        conn, store_id=store_id, start_ms=start_ms, end_ms=end_ms, window_ms=window_ms
    ).values():
        for found in day_rows[1:]:  # (the first is the day's own row)
            row = entry(found["api"], found["labels"])
            row["revenue"] += found["attributed_revenue"]
            row["orders"] += found["orders"]
    for row in table.values():
        row["ctr"] = _ratio(row["clicks"], row["renders"])
        row["revenue"] = _money(row["revenue"])
    return sorted(
        table.values(), key=lambda r: (-r["revenue"], -r["clicks"], r["api"], r["labels"])
    )


def products(
    conn: Connection,
    *,
    store_id: int,
    start_ms: int,
    end_ms: int,
    window_ms: int,
    limit: int = 100,
) -> list[Row]:
    """Per product: views, clicks, units sold, revenue and the part sold through Clerk.

    The `limit` best sellers by revenue; if fewer products sold, the most clicked
    and viewed of the others fill the list.
    """
    table: dict[str, Row] = {}

    def entry(product_id: str) -> Row:
        if product_id not in table:
            table[product_id] = {
                "product_id": product_id,
                "name": "",
                "views": 0,
                "clicks": 0,
                "units": 0,
                "revenue": 0.0,
                "attributed_revenue": 0.0,
            }
        return table[product_id]

    # What the lines still hold after returns; discount lines are no product sold.
    kept = order_lines.c.quantity - order_lines.c.returned
    revenue = func.sum(kept * order_lines.c.price)
    for product_id, units, sold in conn.execute(
        select(order_lines.c.product_id, func.sum(kept), revenue)
        .where(
            order_lines.c.store_id == store_id,
            order_lines.c.price >= 0,
            # A semi-join: SQLite reads the range's order ids once (a join there
            # looked an order up for every line).
            order_lines.c.order_id.in_(
                select(orders.c.id).where(
                    orders.c.store_id == store_id, orders.c.ts >= start_ms, orders.c.ts < end_ms
                )
            ),
        )
        .group_by(order_lines.c.product_id)
        .order_by(revenue.desc(), order_lines.c.product_id)
        .limit(limit)
    ):
        row = entry(product_id)
        row["units"], row["revenue"] = int(units or 0), float(sold or 0.0)
    counted = ("views", "clicks")
    if len(table) < limit:  # few sales: every product's counts, to rank the rest
        counts = rollup_sums(
            conn, rollup_products, ("product_id",), counted, store_id, start_ms, end_ms
        )
    else:
        counts = rollup_sums(
            conn, rollup_products, ("product_id",), counted, store_id, start_ms, end_ms, list(table)
        )
    for (product_id,), sums in counts.items():
        row = entry(product_id)
        row["views"], row["clicks"] = int(sums["views"]), int(sums["clicks"])
    ranked = sorted(
        table.values(),
        key=lambda r: (-r["revenue"], -r["clicks"], -r["views"], r["product_id"]),
    )[:limit]
    shown = {r["product_id"]: r for r in ranked}
    for line in attributed_lines(conn, store_id, start_ms, end_ms, window_ms):
        if line["product_id"] in shown:
            shown[line["product_id"]]["attributed_revenue"] += line["amount"]
    names = {
        id_: name
        for id_, name in conn.execute(
            select(schema.products.c.id, schema.products.c.name).where(
                schema.products.c.store_id == store_id,
                schema.products.c.id.in_([r["product_id"] for r in ranked]),
            )
        )
    }
    for row in ranked:
        row["name"] = names.get(row["product_id"], "")
        row["revenue"] = _money(row["revenue"])
        row["attributed_revenue"] = _money(row["attributed_revenue"])
    return ranked


def searches(
    conn: Connection, *, store_id: int, start_ms: int, end_ms: int, limit: int = 100
) -> dict[str, list[Row]]:
    """Top queries (with click-through) and zero-result queries: full searches
    (search/search) only. A search box's predictive calls (search/predictive, one per
    keystroke: "j", "ja", "jac", ...) are logged too, but they are prefixes the shopper
    was still typing, not searches: counted, they would fill both lists with fragments
    and call every half-typed word a search without results.

    A click on a search result counts for the shopper's latest search within 30
    minutes before it (same visitor id), when that latest one is a full search: a
    click after a predictive query (a live search box's result) is not a click-through
    of an earlier full search. Searches without a visitor (null mode) count as searches
    but can never be followed to a click.
    """
    in_range = and_(
        schema.searches.c.store_id == store_id,
        schema.searches.c.ts >= start_ms,
        schema.searches.c.ts < end_ms,
    )
    full = schema.searches.c.api == "search/search"
    stats: dict[str, Row] = {}
    for normalised, query, count, zero, last in conn.execute(
        select(
            schema.searches.c.normalised,
            func.min(schema.searches.c.query),
            func.count(),
            func.sum(case((schema.searches.c.hits == 0, 1), else_=0)),
            func.max(schema.searches.c.ts),
        )
        .where(in_range, full)
        .group_by(schema.searches.c.normalised)
    ):
        stats[normalised] = {
            "query": query,
            "searches": int(count),
            "zero_results": int(zero or 0),
            "clicks": 0,
            "ctr": 0.0,
            "last_seen": int(last),
        }
    # Follow clicks on results back to the latest search of the same visitor.
    clicks: dict[str, list[int]] = defaultdict(list)
    for visitor, ts in conn.execute(
        select(events.c.visitor_id, events.c.ts).where(
            events.c.store_id == store_id,
            events.c.ts >= start_ms,
            events.c.ts < end_ms + SEARCH_CLICK_MS,
            events.c.kind == "click",
            events.c.api.like("search/%"),
            events.c.visitor_id.is_not(None),
        )
    ):
        clicks[visitor].append(int(ts))
    if clicks:
        # (ts, is a full search, normalised): predictive queries only end the reach of
        # the full searches before them.
        history: dict[str, list[tuple[int, bool, str]]] = defaultdict(list)
        visitors = list(clicks)
        for start in range(0, len(visitors), 500):
            for visitor, ts, api, normalised in conn.execute(
                select(
                    schema.searches.c.visitor_id,
                    schema.searches.c.ts,
                    schema.searches.c.api,
                    schema.searches.c.normalised,
                ).where(in_range, schema.searches.c.visitor_id.in_(visitors[start : start + 500]))
            ):
                history[visitor].append((int(ts), api == "search/search", normalised))
        for visitor, times in clicks.items():
            searched = sorted(history.get(visitor, ()))
            followed: set[tuple[int, bool, str]] = set()
            for ts in sorted(times):
                before = [s for s in searched if s[0] <= ts and ts - s[0] <= SEARCH_CLICK_MS]
                latest = before[-1] if before else None
                if latest and latest[1] and latest not in followed:
                    followed.add(latest)  # one click-through per search
                    stats[latest[2]]["clicks"] += 1
    for row in stats.values():
        row["ctr"] = _ratio(row["clicks"], row["searches"])
    top = sorted(stats.values(), key=lambda r: (-r["searches"], r["query"]))[:limit]
    zero = sorted(
        (r for r in stats.values() if r["zero_results"]),
        key=lambda r: (-r["zero_results"], r["query"]),
    )[:limit]
    return {
        "top": [
            {k: r[k] for k in ("query", "searches", "zero_results", "clicks", "ctr")} for r in top
        ],
        "zero": [
            {"query": r["query"], "searches": r["zero_results"], "last_seen": r["last_seen"]}
            for r in zero
        ],
    }


def customers(
    conn: Connection,
    *,
    store_id: int,
    query: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Row]:
    """Customers by email: their visitor ids, orders (by email or linked ids), first/last seen."""
    links = select(
        email_links.c.email,
        func.min(email_links.c.first_seen).label("first_seen"),
        func.max(email_links.c.last_seen).label("last_seen"),
    ).where(email_links.c.store_id == store_id)
    ordered = select(
        orders.c.email,
        func.min(orders.c.ts).label("first_seen"),
        func.max(orders.c.ts).label("last_seen"),
    ).where(orders.c.store_id == store_id, orders.c.email.is_not(None))
    if query:
        pattern = (
            "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        links = links.where(func.lower(email_links.c.email).like(pattern, escape="\\"))
        ordered = ordered.where(func.lower(orders.c.email).like(pattern, escape="\\"))
    both = (
        links.group_by(email_links.c.email).union_all(ordered.group_by(orders.c.email)).subquery()
    )
    page = conn.execute(
        select(both.c.email, func.min(both.c.first_seen), func.max(both.c.last_seen))
        .group_by(both.c.email)
        .order_by(func.max(both.c.last_seen).desc(), both.c.email)
        .limit(limit)
        .offset(offset)
    ).all()
    emails = [row[0] for row in page]
    ids: dict[str, list[str]] = defaultdict(list)
    for email, visitor in conn.execute(
        select(email_links.c.email, email_links.c.visitor_id)
        .where(email_links.c.store_id == store_id, email_links.c.email.in_(emails))
        .order_by(email_links.c.email, email_links.c.first_seen, email_links.c.visitor_id)
    ):
        ids[email].append(visitor)
    # An email's orders: those placed with it, and those of its visitor ids.
    bought: dict[str, dict[str, float]] = defaultdict(dict)
    for order_id, email, total in conn.execute(
        select(orders.c.id, orders.c.email, orders.c.total).where(
            orders.c.store_id == store_id, orders.c.email.in_(emails)
        )
    ):
        bought[email][order_id] = total
    email_of = {visitor: email for email, visitors in ids.items() for visitor in visitors}
    visitors = list(email_of)
    for start in range(0, len(visitors), 500):
        for order_id, visitor, total in conn.execute(
            select(orders.c.id, orders.c.visitor_id, orders.c.total).where(
                orders.c.store_id == store_id,
                orders.c.visitor_id.in_(visitors[start : start + 500]),
            )
        ):
            bought[email_of[visitor]][order_id] = total
    return [
        {
            "email": email,
            "visitor_ids": ids.get(email, []),
            "orders": len(bought[email]),
            "revenue": _money(sum(bought[email].values())),
            "first_seen": int(first_seen),
            "last_seen": int(last_seen),
        }
        for email, first_seen, last_seen in page
    ]


def visitor_log(conn: Connection, *, store_id: int, visitor_id: str, limit: int = 500) -> list[Row]:
    """One visitor id's events, newest first."""
    return [
        {
            "ts": row.ts,
            "kind": row.kind,
            "visitor_mode": row.visitor_mode,
            "session": row.session,
            "product_id": row.product_id,
            "api": row.api,
            "labels": _labels(row.labels) if row.labels else "",
            "position": row.position,
        }
        for row in conn.execute(
            select(events)
            .where(events.c.store_id == store_id, events.c.visitor_id == visitor_id)
            .order_by(events.c.ts.desc(), events.c.id.desc())
            .limit(limit)
        )
    ]


def privacy(conn: Connection, *, store_id: int, start_ms: int, end_ms: int) -> Row:
    """What is stored by visitor mode, the live salts, and the oldest raw event."""
    return {
        "events_by_mode": [
            {"visitor_mode": mode, "events": int(count)}
            for mode, count in conn.execute(
                select(events.c.visitor_mode, func.count())
                .where(events.c.store_id == store_id, events.c.ts >= start_ms, events.c.ts < end_ms)
                .group_by(events.c.visitor_mode)
                .order_by(events.c.visitor_mode)
            )
        ],
        "orders_by_mode": [
            {"visitor_mode": mode, "orders": int(count), "revenue": _money(revenue)}
            for mode, count, revenue in conn.execute(
                select(orders.c.visitor_mode, func.count(), func.sum(orders.c.total))
                .where(orders.c.store_id == store_id, orders.c.ts >= start_ms, orders.c.ts < end_ms)
                .group_by(orders.c.visitor_mode)
                .order_by(orders.c.visitor_mode)
            )
        ],
        "salts": [
            {"period": period, "expires_at": expires}
            for period, expires in conn.execute(
                select(salts.c.period, salts.c.expires_at).order_by(salts.c.period)
            )
        ],
        "oldest_event": conn.scalar(
            select(func.min(events.c.ts)).where(events.c.store_id == store_id)
        ),
    }
