"""Daily roll-ups of the orders: what the overview shows of a day's orders, kept once
the day is over.

The overview (reports.py) shows per day the orders, their revenue and returned amount,
and what Clerk did for them under an attribution window: the attributed revenue of the
lines sold through Clerk, and the orders credited to a widget (the one of the order's
last Clerk click). `day_figures` computes these, per day, from orders, order_lines and
order_attribution; the collector's housekeeping (`roll_up`) saves them in rollup_orders
for the days that are over, per window, and `order_days` reads stored days from there
and computes the others live (the current day, a day not rolled up yet, a day whose
rows were forgotten, a day the range only partly covers).

A stored day is final, as the visits' roll-ups (rollups.py): computed at least
FINAL_AFTER_MS after the day ended. Whatever changes a day's orders or their
attribution forgets its rows (`forget_days`, `forget_orders`): a late order, a return,
a deleted order, a new attribution or email link. It does so under a shared advisory
lock per store (PostgreSQL) that a save holds exclusively while it computes the day
inside its write, so a change is either in the saved rows or forgets them after.

The figures of a day are the same however they are reached, stored or live: amounts are
summed in a fixed order (lines by order and line, widgets by key, days in order), and
sums that SQL makes (the day's revenue and returns, amounts in cents) are rounded to
cents, so the overview answers the same with and without roll-ups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, func, insert, select

from .engine import advisory_xact_lock
from .rollups import (
    DAY_MS,
    FINAL_AFTER_MS,
    Row,
    _day_end,
    canonical_labels,
    day_of,
    days_in,
    labels_hash,
)
from .schema import order_attribution, order_lines, orders, rollup_orders

if TYPE_CHECKING:
    from . import Storage

# With a store id, the PostgreSQL advisory lock that a save of that store's order
# roll-ups holds exclusively and a change of its orders shared.
ADVISORY_KEY = 0x6F726472  # "ordr"
# The day's own row among its widgets' rows.
DAY_ROW = ("", "", "")
_CHUNK = 500
_KEYS = ("store_id", "day", "window_ms", "computed_at")  # a stored row's, not a day's figures


# ---------------------------------------------------------------- attributed lines


def attributed_lines(
    conn: Connection, store_id: int, start_ms: int, end_ms: int, window_ms: int
) -> list[Row]:
    """Lines of orders in the range sold through Clerk (click inside the window).

    A line's `amount` is what it still holds (quantity less returned units, times the
    price) times the share of the order's lines its total is after discounts (total /
    (total + discount)): a discount lowers every line of the order alike, so attributed
    revenue is never more than the order's total. Discount lines (negative prices) and
    lines returned whole are never credited: they are no product a widget sold."""
    a = order_attribution
    line = order_lines
    rows = []
    for row in conn.execute(
        select(
            a.c.order_id,
            a.c.line,
            a.c.product_id,
            a.c.order_ts,
            a.c.click_ts,
            a.c.api,
            a.c.labels,
            a.c.source,
            ((line.c.quantity - line.c.returned) * line.c.price).label("amount"),
            orders.c.total,
            orders.c.discount,
        )
        .select_from(
            a.join(
                line,
                and_(
                    line.c.store_id == a.c.store_id,
                    line.c.order_id == a.c.order_id,
                    line.c.line == a.c.line,
                ),
            ).join(orders, and_(orders.c.store_id == a.c.store_id, orders.c.id == a.c.order_id))
        )
        .where(
            a.c.store_id == store_id,
            a.c.order_ts >= start_ms,
            a.c.order_ts < end_ms,
            a.c.click_ts >= a.c.order_ts - window_ms,
            line.c.price >= 0,
            line.c.quantity > line.c.returned,
        )
    ).mappings():
        entry = dict(row)
        total, discount = float(entry["total"]), float(entry.pop("discount") or 0.0)
        if discount:
            entry["amount"] *= total / (total + discount) if total > 0 else 0.0
        rows.append(entry)
    return rows


def credited(lines: list[Row]) -> dict[str, Row]:
    """Per impacted order, the line whose click was the last: that widget gets the order."""
    last: dict[str, Row] = {}
    for row in lines:
        best = last.get(row["order_id"])
        if best is None or (row["click_ts"], -row["line"]) > (best["click_ts"], -best["line"]):
            last[row["order_id"]] = row
    return last


# ---------------------------------------------------------------- a day's figures


def _empty(source: str, api: str, labels: str) -> Row:
    return {
        "source": source,
        "api": api,
        "labels_hash": labels_hash(labels) if api else "",
        "labels": labels,
        "orders": 0,
        "revenue": 0.0,
        "returned": 0.0,
        "attributed_revenue": 0.0,
    }


def _key(row: Row) -> tuple[str, str, str]:
    return (row["source"], row["api"], row["labels_hash"])


def day_figures(
    conn: Connection, *, store_id: int, start_ms: int, end_ms: int, window_ms: int
) -> dict[int, list[Row]]:
    """Per day of the range (clipped to it), the day's row then its widgets' rows (sorted
    by key): what rollup_orders holds of a day, computed from the orders. Days without
    orders have a day row of zeros."""
    days: dict[int, list[Row]] = {}
    for d in days_in(start_ms, end_ms):
        days[d] = [_empty(*DAY_ROW)]
    day = (orders.c.ts // DAY_MS).label("day")
    for d, count, revenue, returned in conn.execute(
        select(day, func.count(), func.sum(orders.c.total), func.sum(orders.c.returned))
        .where(orders.c.store_id == store_id, orders.c.ts >= start_ms, orders.c.ts < end_ms)
        .group_by(day)
    ):
        row = days[int(d)][0]
        # Totals are whole cents: rounded, the sum is the same in any order of rows.
        row["orders"] = int(count)
        row["revenue"] = round(float(revenue or 0.0), 2)
        row["returned"] = round(float(returned or 0.0), 2)
    lines = attributed_lines(conn, store_id, start_ms, end_ms, window_ms)
    lines.sort(key=lambda r: (r["order_id"], r["line"]))
    widgets: dict[int, dict[tuple[str, str, str], Row]] = defaultdict(dict)

    def widget(row: Row) -> Row:
        labels = canonical_labels(row["labels"])
        found = _empty(row["source"], row["api"], labels)
        return widgets[day_of(row["order_ts"])].setdefault(_key(found), found)

    for row in lines:
        widget(row)["attributed_revenue"] += row["amount"]
    for order_id in sorted(last := credited(lines)):
        row = last[order_id]
        entry = widget(row)
        entry["orders"] += 1
        entry["revenue"] += float(row["total"])
    for d, found in widgets.items():
        days[d].extend(found[k] for k in sorted(found))
    return days


# ---------------------------------------------------------------- reading


def _final(row: Any) -> bool:
    return bool(row["computed_at"] >= (row["day"] + 1) * DAY_MS + FINAL_AFTER_MS)


def order_days(
    conn: Connection, *, store_id: int, start_ms: int, end_ms: int, window_ms: int
) -> dict[int, list[Row]]:
    """`day_figures` of the range: days that are whole in it and have a final roll-up
    under this window read from rollup_orders, the others computed live."""
    span = days_in(start_ms, end_ms)
    whole = [d for d in span if d * DAY_MS >= start_ms and (d + 1) * DAY_MS <= end_ms]
    stored: dict[int, list[Row]] = defaultdict(list)
    if whole:
        for row in conn.execute(
            select(rollup_orders).where(
                rollup_orders.c.store_id == store_id,
                rollup_orders.c.window_ms == window_ms,
                rollup_orders.c.day >= whole[0],
                rollup_orders.c.day <= whole[-1],
            )
        ).mappings():
            stored[int(row["day"])].append(dict(row))
    found: dict[int, list[Row]] = {}
    for d, rows in stored.items():
        rows.sort(key=_key)
        if rows[0]["api"] == "" and rows[0]["source"] == "" and _final(rows[0]):
            found[d] = [{k: v for k, v in r.items() if k not in _KEYS} for r in rows]
    live = [d for d in span if d not in found]
    # Consecutive days not stored are read in one pass.
    runs: list[list[int]] = []
    for d in live:
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    for run in runs:
        lo, hi = max(start_ms, run[0] * DAY_MS), min(end_ms, (run[-1] + 1) * DAY_MS)
        found.update(
            day_figures(conn, store_id=store_id, start_ms=lo, end_ms=hi, window_ms=window_ms)
        )
    return {d: found[d] for d in span}


# ---------------------------------------------------------------- saving


def days_to_roll_up(conn: Connection, *, store_id: int, now_ms: int, window_ms: int) -> list[int]:
    """Days that are over, since the store's first order, without a final roll-up of
    their orders under this window."""
    today = day_of(now_ms)
    first = conn.scalar(select(func.min(orders.c.ts)).where(orders.c.store_id == store_id))
    if first is None:
        return []
    final = set(
        conn.scalars(
            select(rollup_orders.c.day).where(
                rollup_orders.c.store_id == store_id,
                rollup_orders.c.window_ms == window_ms,
                rollup_orders.c.source == "",
                rollup_orders.c.api == "",
                rollup_orders.c.computed_at >= _day_end(rollup_orders.c.day) + FINAL_AFTER_MS,
            )
        )
    )
    return [d for d in range(day_of(int(first)), today) if d not in final]


def save_day(conn: Connection, *, store_id: int, day: int, window_ms: int, now_ms: int) -> bool:
    """Compute a day's figures and replace its stored rows, unless it has a final roll-up
    already (another process saved it): whether they were saved. Under the store's lock,
    held exclusively: no change of the day's orders is under way meanwhile, and one
    made after this write forgets what it saved."""
    advisory_xact_lock(conn, ADVISORY_KEY, store_id)
    kept = conn.scalar(
        select(rollup_orders.c.computed_at).where(
            rollup_orders.c.store_id == store_id,
            rollup_orders.c.day == day,
            rollup_orders.c.window_ms == window_ms,
            rollup_orders.c.source == "",
            rollup_orders.c.api == "",
            rollup_orders.c.labels_hash == "",
        )
    )
    if kept is not None and _final({"computed_at": kept, "day": day}):
        return False
    start, end = day * DAY_MS, (day + 1) * DAY_MS
    rows = day_figures(conn, store_id=store_id, start_ms=start, end_ms=end, window_ms=window_ms)[
        day
    ]
    conn.execute(
        delete(rollup_orders).where(
            rollup_orders.c.store_id == store_id,
            rollup_orders.c.day == day,
            rollup_orders.c.window_ms == window_ms,
        )
    )
    conn.execute(
        insert(rollup_orders),
        [
            {**r, "store_id": store_id, "day": day, "window_ms": window_ms, "computed_at": now_ms}
            for r in rows
        ],
    )
    return True


def roll_up(storage: Storage, *, store_id: int, now_ms: int, window_ms: int) -> int:
    """Roll up the orders of the store's days that are over and not final; how many were
    saved. Each day is its own short write (the housekeeping task, every minute)."""
    done = 0
    for day in storage.read_sync(
        days_to_roll_up, store_id=store_id, now_ms=now_ms, window_ms=window_ms
    ):
        if storage.run(save_day, store_id=store_id, day=day, window_ms=window_ms, now_ms=now_ms):
            done += 1
    if done:  # about once a day per store: after the day that ended is saved
        storage.run(forget_unused_windows, store_id=store_id, now_ms=now_ms, window_ms=window_ms)
    return done


# A window whose newest row is older than this is no process's: each process saves a row
# per day of its window as the day ends, so a window in use has one from the last day.
UNUSED_AFTER_MS = 3 * DAY_MS


def forget_unused_windows(
    conn: Connection, *, store_id: int, now_ms: int, window_ms: int
) -> list[int]:
    """Delete the store's rows of attribution windows no process rolls up any more (the
    setting was changed): they would be kept for ever, read by nothing. A window some
    process still uses (one with another setting, during a rolling restart) keeps its
    rows, and so does `window_ms`, this process's own. Returns the windows deleted."""
    newest = conn.execute(
        select(rollup_orders.c.window_ms, func.max(rollup_orders.c.computed_at))
        .where(rollup_orders.c.store_id == store_id, rollup_orders.c.window_ms != window_ms)
        .group_by(rollup_orders.c.window_ms)
    )
    unused = sorted(int(w) for w, at in newest if at is not None and at < now_ms - UNUSED_AFTER_MS)
    if unused:
        conn.execute(
            delete(rollup_orders).where(
                rollup_orders.c.store_id == store_id, rollup_orders.c.window_ms.in_(unused)
            )
        )
    return unused


# ---------------------------------------------------------------- forgetting


def forget_days(conn: Connection, *, store_id: int, days: Iterable[int] | None) -> None:
    """Forget the stored figures of these days (every day of the store with None): an
    order of theirs changed. Computed live until the housekeeping rolls them up again."""
    wanted = None if days is None else sorted(set(days))
    if wanted == []:
        return
    advisory_xact_lock(conn, ADVISORY_KEY, store_id, shared=True)
    which = [rollup_orders.c.store_id == store_id]
    if wanted is not None:
        which.append(rollup_orders.c.day.in_(wanted))
    conn.execute(delete(rollup_orders).where(*which))


def forget_orders(conn: Connection, *, store_id: int, order_ids: Sequence[str]) -> None:
    """Forget the stored figures of the days of these orders (as they are stored now)."""
    ids = sorted(set(order_ids))
    days: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        days.update(
            int(d)
            for d in conn.scalars(
                select(orders.c.ts // DAY_MS)
                .where(orders.c.store_id == store_id, orders.c.id.in_(ids[start : start + _CHUNK]))
                .distinct()
            )
        )
    forget_days(conn, store_id=store_id, days=days)
