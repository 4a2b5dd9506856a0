"""Which order lines were sold through Clerk, and which widget gets the credit.

A line is sold through Clerk when the order's shopper clicked that product in a
Clerk widget or search result (an event of kind "click" whose api starts with
"recommendations/" or "search/") before ordering it, within the attribution
window. The shopper is the order's visitor id together with every visitor id
linked to the same email (cross-device), including the order's own email. Orders
without a visitor id and without an email (null mode) are never attributed.

`attribute_orders` stores, per line, the LAST such click at any age; readers apply
the window (click_ts >= order_ts - window). The last click inside the window is the
last click overall when that one is inside, and there is none otherwise, so the
stored row answers every window.

A new email link only adds clicks to some orders' shoppers, so `attribute_link` updates
the stored rows incrementally (the last click of a larger set is the later of the stored
one and the best new one) instead of attributing the email's orders again: its work
follows the new visitor's clicks and orders, not the email's links or orders.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    union_all,
)

from .clerk import CLERK_APIS, is_clerk, source_of
from .engine import upsert
from .order_rollups import forget_days, forget_orders
from .rollups import day_of
from .schema import email_links, events, order_attribution, order_lines, orders

_CHUNK = 500  # orders per statement (bound parameters stay well under every limit)
# A new link credits the email's orders with at most this many of the visitor's latest
# Clerk clicks (a bounded read, whoever calls log/email; a real shopper's id has far
# fewer, and older clicks are further from any order the window would count).
LINK_CLICKS_READ = 1_000

Click = tuple[int, int, str, str]  # ts, event id, api, labels: ordered as "later"


def attribute_orders(
    conn: Connection,
    *,
    store_id: int,
    order_ids: Sequence[str] | None = None,
    forget_rollups: bool = True,
) -> int:
    """(Re)compute the attribution of these orders (all of the store's when None).

    Returns how many lines are attributed now. Idempotent. Works a chunk of orders
    at a time, each step an index lookup: the orders, their lines, the email links
    of their shoppers, then those visitors' clicks (events by store, visitor, ts).
    One order (a sale as it is recorded) takes `_attribute_one`'s few statements.
    The order roll-ups of their days are forgotten (but by migration 6, which comes
    before them).
    """
    if forget_rollups:
        if order_ids is None:
            forget_days(conn, store_id=store_id, days=None)
        else:
            forget_orders(conn, store_id=store_id, order_ids=order_ids)
    if order_ids is not None and len(set(order_ids)) == 1:
        conn.execute(
            delete(order_attribution).where(
                order_attribution.c.store_id == store_id,
                order_attribution.c.order_id == order_ids[0],
            )
        )
        rows = _attribute_one(conn, store_id, order_ids[0])
        if rows:
            conn.execute(insert(order_attribution), rows)
        return len(rows)
    if order_ids is None:
        conn.execute(delete(order_attribution).where(order_attribution.c.store_id == store_id))
        ids: list[str] = list(
            conn.scalars(
                select(orders.c.id).where(
                    orders.c.store_id == store_id,
                    or_(orders.c.visitor_id.is_not(None), orders.c.email.is_not(None)),
                )
            )
        )
    else:
        ids = list(dict.fromkeys(order_ids))
    done = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        if order_ids is not None:
            conn.execute(
                delete(order_attribution).where(
                    order_attribution.c.store_id == store_id,
                    order_attribution.c.order_id.in_(chunk),
                )
            )
        rows = _attribute(conn, store_id, chunk)
        if rows:
            conn.execute(insert(order_attribution), rows)
        done += len(rows)
    return done


def _attribute(conn: Connection, store_id: int, order_ids: list[str]) -> list[dict[str, Any]]:
    """The attribution rows of these orders (at most _CHUNK of them)."""
    found = conn.execute(
        select(orders.c.id, orders.c.ts, orders.c.visitor_id, orders.c.email).where(
            orders.c.store_id == store_id, orders.c.id.in_(order_ids)
        )
    ).all()
    found = [o for o in found if o.visitor_id is not None or o.email is not None]
    if not found:
        return []
    # Who each order's shopper is: its visitor id, and every id linked to an email
    # that is linked to that id or is the order's own.
    own_ids = {o.visitor_id for o in found if o.visitor_id is not None}
    emails_of: dict[str, set[str]] = defaultdict(set)
    if own_ids:
        for email, visitor in conn.execute(
            select(email_links.c.email, email_links.c.visitor_id).where(
                email_links.c.store_id == store_id, email_links.c.visitor_id.in_(own_ids)
            )
        ):
            emails_of[visitor].add(email)
    wanted = {e for es in emails_of.values() for e in es} | {
        o.email for o in found if o.email is not None
    }
    visitors_of: dict[str, set[str]] = defaultdict(set)
    for start in range(0, len(wanted), _CHUNK):
        for email, visitor in conn.execute(
            select(email_links.c.email, email_links.c.visitor_id).where(
                email_links.c.store_id == store_id,
                email_links.c.email.in_(sorted(wanted)[start : start + _CHUNK]),
            )
        ):
            visitors_of[email].add(visitor)
    shopper: dict[str, set[str]] = {}
    for o in found:
        ids = {o.visitor_id} if o.visitor_id is not None else set()
        for email in emails_of.get(o.visitor_id, set()) | ({o.email} if o.email else set()):
            ids |= visitors_of.get(email, set())
        shopper[o.id] = ids
    lines: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for order_id, line, product_id in conn.execute(
        select(order_lines.c.order_id, order_lines.c.line, order_lines.c.product_id).where(
            order_lines.c.store_id == store_id, order_lines.c.order_id.in_([o.id for o in found])
        )
    ):
        lines[order_id].append((line, product_id))
    # Their Clerk clicks, newest first per (visitor, product).
    everyone = sorted({v for ids in shopper.values() for v in ids})
    clicks: dict[tuple[str, str], list[tuple[int, int, str, str]]] = defaultdict(list)
    for start in range(0, len(everyone), _CHUNK):
        for visitor, product_id, ts, id_, api, labels in conn.execute(
            select(
                events.c.visitor_id,
                events.c.product_id,
                events.c.ts,
                events.c.id,
                events.c.api,
                events.c.labels,
            ).where(
                events.c.store_id == store_id,
                events.c.visitor_id.in_(everyone[start : start + _CHUNK]),
                events.c.kind == "click",
            )
        ):
            if api and api.startswith(CLERK_APIS) and product_id is not None:
                clicks[(visitor, product_id)].append((ts, id_, api, labels or "[]"))
    rows = []
    for o in found:
        for line, product_id in lines.get(o.id, []):
            before = [
                click
                for visitor in shopper[o.id]
                for click in clicks.get((visitor, product_id), ())
                if click[0] <= o.ts
            ]
            if before:
                rows.append(_row(store_id, o.id, o.ts, line, product_id, max(before)))
    return rows


def _row(
    store_id: int, order_id: str, order_ts: int, line: int, product_id: str, click: Click
) -> dict[str, Any]:
    ts, _, api, labels = click
    return {
        "store_id": store_id,
        "order_id": order_id,
        "line": line,
        "product_id": product_id,
        "order_ts": order_ts,
        "click_ts": ts,
        "api": api,
        "labels": labels,
        "source": source_of(api),
    }


def _attribute_one(conn: Connection, store_id: int, order_id: str) -> list[dict[str, Any]]:
    """The attribution rows of one order, as `_attribute` computes them, in statements
    whose number and rows do not depend on how many visitors its shopper has: the
    shopper's clicks are read only for the order's products, through the links of the
    order's emails (its own and its visitor's) joined to the events in the database."""
    order = conn.execute(
        select(orders.c.ts, orders.c.visitor_id, orders.c.email).where(
            orders.c.store_id == store_id, orders.c.id == order_id
        )
    ).first()
    if order is None or (order.visitor_id is None and order.email is None):
        return []
    lines = conn.execute(
        select(order_lines.c.line, order_lines.c.product_id).where(
            order_lines.c.store_id == store_id, order_lines.c.order_id == order_id
        )
    ).all()
    if not lines:
        return []
    clicks = _clicks(
        conn,
        store_id,
        visitor_id=order.visitor_id,
        emails=_emails_of(conn, store_id, order.visitor_id, order.email),
        products={p for _, p in lines},
        until=order.ts,
    )
    return [
        _row(store_id, order_id, order.ts, line, product_id, clicks[product_id][0])
        for line, product_id in lines
        if clicks.get(product_id)
    ]


def _emails_of(
    conn: Connection, store_id: int, visitor_id: str | None, email: str | None
) -> set[str]:
    """The emails whose visitors make an order's shopper: its own and its visitor's."""
    found = {email} if email else set()
    if visitor_id is not None:
        found.update(
            conn.scalars(
                select(email_links.c.email).where(
                    email_links.c.store_id == store_id, email_links.c.visitor_id == visitor_id
                )
            )
        )
    return found


def _clicks(
    conn: Connection,
    store_id: int,
    *,
    visitor_id: str | None,
    emails: set[str],
    products: set[str],
    until: int,
    besides: str | None = None,
) -> dict[str, list[Click]]:
    """Per product, newest first, the Clerk clicks at or before `until` by this visitor
    or anyone linked to one of these emails (but `besides`): one statement."""
    clicked = [
        events.c.store_id == store_id,
        events.c.kind == "click",
        # Read by visitor (store, visitor, ts): a visitor's events are few, a product's
        # clicks may be very many, and SQLite (no statistics) would otherwise take the
        # product index, whose prefix matches more columns. `|| ''` keeps it from it.
        events.c.product_id.concat(literal_column("''")).in_(sorted(products)),
        events.c.ts <= until,
    ]
    columns = (events.c.product_id, events.c.ts, events.c.id, events.c.api, events.c.labels)
    parts = []
    if visitor_id is not None:
        parts.append(select(*columns).where(*clicked, events.c.visitor_id == visitor_id))
    if emails:
        # An email's visitors are bounded (tracking.MAX_LINKS_PER_EMAIL) and found by
        # index, and only their clicks on these products leave the database.
        linked: list[ColumnElement[bool]] = [
            email_links.c.store_id == store_id,
            email_links.c.email.in_(sorted(emails)),
        ]
        if besides is not None:
            linked.append(email_links.c.visitor_id != besides)
        visitors = select(email_links.c.visitor_id).where(*linked)
        parts.append(select(*columns).where(*clicked, events.c.visitor_id.in_(visitors)))
    found: dict[str, list[Click]] = defaultdict(list)
    if not parts or not products:
        return found
    query = parts[0] if len(parts) == 1 else union_all(*parts)
    for product_id, ts, id_, api, labels in conn.execute(query):
        if is_clerk(api):
            found[product_id].append((ts, id_, api, labels or "[]"))
    for listed in found.values():
        listed.sort(reverse=True)
    return found


def _last_before(clicks: list[Click], ts: int) -> Click | None:
    """The first click at or before ts of a newest-first list."""
    return next((click for click in clicks if click[0] <= ts), None)


def attribute_link(conn: Connection, *, store_id: int, email: str, visitor_id: str) -> int:
    """Bring the stored attribution up to date after the new link (email, visitor_id).

    The link adds the visitor to the shopper of the email's orders (those with this
    email, or whose visitor is linked to it), and the email's other visitors to the
    shopper of the visitor's own orders. A line's last click over a larger shopper is
    the later of its stored click and the best new one, so only lines with a new click
    are read and written: the email's lines of products the visitor clicked (its latest
    LINK_CLICKS_READ Clerk clicks, and only orders placed after the oldest of them), and
    the visitor's own lines. When a new click has the stored one's very time (the ids
    that would break the tie are not stored), that order is attributed afresh.
    Returns how many lines changed.
    """
    found: dict[tuple[str, int], tuple[int, str, Click]] = {}  # (order, line): ts, product

    def offer(order_id: str, order_ts: int, line: int, product_id: str, click: Click) -> None:
        key = (order_id, line)
        if key not in found or click > found[key][2]:
            found[key] = (order_ts, product_id, click)

    # 1. The email's orders gain the visitor's clicks.
    recent = conn.execute(
        select(events.c.product_id, events.c.ts, events.c.id, events.c.api, events.c.labels)
        .where(
            events.c.store_id == store_id,
            events.c.visitor_id == visitor_id,
            events.c.kind == "click",
            events.c.product_id.is_not(None),
            or_(
                func.substr(events.c.api, 1, len(CLERK_APIS[0])) == CLERK_APIS[0],
                func.substr(events.c.api, 1, len(CLERK_APIS[1])) == CLERK_APIS[1],
            ),
        )
        .order_by(events.c.ts.desc(), events.c.id.desc())
        .limit(LINK_CLICKS_READ)
    ).all()
    clicks: dict[str, list[Click]] = defaultdict(list)  # newest first
    for product_id, ts, id_, api, labels in recent:
        clicks[product_id].append((ts, id_, api, labels or "[]"))
    if clicks:
        others = select(email_links.c.visitor_id).where(
            email_links.c.store_id == store_id,
            email_links.c.email == email,
            email_links.c.visitor_id != visitor_id,
        )
        # The email's orders since the oldest click are found by email and time, and by
        # each linked visitor (both indexed), their lines by order, and only the lines of
        # the visitor's products leave the database. `+ 0` and `|| ''` keep SQLite (no
        # statistics) from reading every order of the store since that click, or every
        # line of the products, instead.
        oldest = min(row.ts for row in recent)
        placed = union_all(
            select(orders.c.id).where(
                orders.c.store_id == store_id,
                orders.c.email == email,
                orders.c.ts >= oldest,
                or_(orders.c.visitor_id.is_(None), orders.c.visitor_id != visitor_id),
            ),
            select(orders.c.id).where(
                orders.c.store_id == store_id,
                orders.c.visitor_id.in_(others),
                orders.c.ts + 0 >= oldest,
            ),
        )
        order_ts = (
            select(orders.c.ts)
            .where(orders.c.store_id == store_id, orders.c.id == order_lines.c.order_id)
            .scalar_subquery()
        )
        query = select(
            order_lines.c.order_id, order_ts, order_lines.c.line, order_lines.c.product_id
        ).where(
            order_lines.c.store_id == store_id,
            order_lines.c.order_id.in_(placed),
            order_lines.c.product_id.concat(literal_column("''")).in_(sorted(clicks)),
        )
        for order_id, ts, line, product_id in conn.execute(query):
            before = _last_before(clicks[product_id], ts)
            if before is not None:
                offer(order_id, ts, line, product_id, before)
    # 2. The visitor's own orders gain the email's other visitors' clicks.
    own: dict[str, int] = dict(
        conn.execute(
            select(orders.c.id, orders.c.ts).where(
                orders.c.store_id == store_id,
                orders.c.visitor_id == visitor_id,
                or_(orders.c.email.is_(None), orders.c.email != email),  # had them already
            )
        ).all()
    )
    if own:
        lines = _lines(conn, store_id, own)
        theirs = _clicks(
            conn,
            store_id,
            visitor_id=None,
            emails={email},
            products={product_id for *_, product_id in lines},
            until=max(own.values()),
            besides=visitor_id,
        )
        for order_id, line, product_id in lines:
            click = _last_before(theirs.get(product_id, []), own[order_id])
            if click is not None:
                offer(order_id, own[order_id], line, product_id, click)
    return _keep_later(conn, store_id, found)


def _keep_later(
    conn: Connection, store_id: int, found: dict[tuple[str, int], tuple[int, str, Click]]
) -> int:
    """Store each found click where it is later than the line's stored one."""
    stored: dict[tuple[str, int], int] = {}
    order_ids = sorted({order_id for order_id, _ in found})
    for start in range(0, len(order_ids), _CHUNK):
        for order_id, line, click_ts in conn.execute(
            select(
                order_attribution.c.order_id, order_attribution.c.line, order_attribution.c.click_ts
            ).where(
                order_attribution.c.store_id == store_id,
                order_attribution.c.order_id.in_(order_ids[start : start + _CHUNK]),
            )
        ):
            stored[(order_id, line)] = click_ts
    rows, again = [], set()
    for (order_id, line), (order_ts, product_id, click) in found.items():
        old = stored.get((order_id, line))
        if old is not None and click[0] == old:
            again.add(order_id)
        elif old is None or click[0] > old:
            rows.append(_row(store_id, order_id, order_ts, line, product_id, click))
    rows = [r for r in rows if r["order_id"] not in again]
    forget_days(conn, store_id=store_id, days={day_of(r["order_ts"]) for r in rows})
    if rows:
        statement = upsert(conn, order_attribution)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["store_id", "order_id", "line"],
                set_={
                    name: statement.excluded[name]
                    for name in ("order_ts", "click_ts", "api", "labels", "source")
                },
            ),
            rows,
        )
    for order_id in sorted(again):
        attribute_orders(conn, store_id=store_id, order_ids=[order_id])
    return len(rows) + len(again)


def _lines(conn: Connection, store_id: int, order_ids: Iterable[str]) -> list[tuple[str, int, str]]:
    """(order, line, product) of these orders' lines."""
    ids = sorted(order_ids)
    found: list[tuple[str, int, str]] = []
    for start in range(0, len(ids), _CHUNK):
        query = select(order_lines.c.order_id, order_lines.c.line, order_lines.c.product_id)
        where = [
            order_lines.c.store_id == store_id,
            order_lines.c.order_id.in_(ids[start : start + _CHUNK]),
        ]
        found.extend(tuple(row) for row in conn.execute(query.where(*where)))
    return found


def orders_of_email(conn: Connection, *, store_id: int, email: str) -> list[str]:
    """The orders whose shopper includes this email's visitors (to re-attribute on a new link)."""
    linked = select(email_links.c.visitor_id).where(
        email_links.c.store_id == store_id, email_links.c.email == email
    )
    return list(
        conn.scalars(
            select(orders.c.id).where(
                orders.c.store_id == store_id,
                or_(orders.c.email == email, orders.c.visitor_id.in_(linked)),
            )
        )
    )
