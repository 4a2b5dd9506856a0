"""Retention: raw events, searches, baskets, email links and customer records (not sent
again by the shop) older than the period go, and orders older than it lose who placed them.

Orders stay, anonymised (no email, customer, visitor id or session: as `forget`
leaves them), with their lines, totals and attribution; so do the daily roll-ups,
which hold no identifiers: the dashboard's past figures do not change when the raw
events behind them expire. Days about to lose their events are rolled up first.

On PostgreSQL events are partitioned by month (storage/partitions.py): a month wholly
older than the cutoff is dropped, not deleted row by row (`event_partitions_dropped`;
its rows count in `events`), and the months ahead are made if missing.

Purge never holds the write lock for long, so tracking goes on while it runs: the
rows to go are found on a read connection (which takes no lock), then deleted or
anonymised a batch at a time, each batch a short transaction of its own that checks
again that its rows are old; on SQLite it pauses between batches, so that a waiting
writer (whose busy handler looks again at least every 100 ms) gets the lock.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    delete,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import OperationalError

from . import partitions, rollups
from .operations import record_run
from .schema import baskets, customers, email_links, events, orders, searches, stores

if TYPE_CHECKING:
    from . import Storage

BATCH_ROWS = 2000  # rows per short transaction
PAUSE_SECONDS = 0.1  # SQLite: at least this long, and as long as the batch took, between batches

# What anonymising an order clears (privacy/forget clears the same).
ANONYMISED = {"email": None, "customer": None, "visitor_id": None, "session": None}


def _targets(before_ms: int) -> dict[str, tuple[Table, ColumnElement[bool]]]:
    """Per count name: the table and what makes one of its rows old."""
    return {
        "events": (events, events.c.ts < before_ms),
        "searches": (searches, searches.c.ts < before_ms),
        "baskets": (baskets, baskets.c.updated_at < before_ms),
        "email_links": (email_links, email_links.c.last_seen < before_ms),
        # The shop's customer records it has not sent again within the period.
        "customers": (customers, customers.c.updated_at < before_ms),
        "orders_anonymised": (
            orders,
            and_(
                orders.c.ts < before_ms,
                or_(*(orders.c[name].is_not(None) for name in ANONYMISED)),
            ),
        ),
    }


def purge(
    storage: Storage,
    *,
    before_ms: int,
    now_ms: int,
    dry_run: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> dict[str, int]:
    """Delete what is older than `before_ms` in every store and anonymise the orders older
    than it; return the counts (with `dry_run`, count only: nothing is written)."""
    targets = _targets(before_ms)
    if dry_run:
        counts = {
            name: storage.read_sync(_count, table=table, old=old)
            for name, (table, old) in targets.items()
        }
        dropping = storage.read_sync(partitions.droppable, before_ms=before_ms)
        return counts | {"event_partitions_dropped": len(dropping)}
    last_day = rollups.day_of(before_ms)
    for store_id in storage.read_sync(lambda conn: list(conn.scalars(select(stores.c.id)))):
        rollups.roll_up(storage, store_id=store_id, now_ms=now_ms, last_day=last_day)
    partitions.keep_ahead(storage, now_ms=now_ms)
    counts = {"events": 0, "event_partitions_dropped": 0}
    # PostgreSQL: whole months past the cutoff go at once; the rows of the month that
    # straddles it (and of DEFAULT) are deleted below, as on SQLite.
    for partition in storage.read_sync(partitions.droppable, before_ms=before_ms):
        try:
            counts["events"] += storage.run(_drop_partition, partition=partition)
        except OperationalError as exc:
            if not partitions.is_lock_timeout(exc):
                raise
            continue  # events busy: its rows are deleted below, as for any other month
        counts["event_partitions_dropped"] += 1
    for name, (table, old) in targets.items():
        counts[name] = counts.get(name, 0)
        after: tuple[Any, ...] | None = None
        while True:
            keys = storage.read_sync(_old_keys, table=table, old=old, after=after, limit=batch_rows)
            if not keys:
                break
            started = time.monotonic()
            counts[name] += storage.run(_apply, table=table, old=old, keys=keys)
            if storage.backend == "sqlite":
                time.sleep(max(PAUSE_SECONDS, time.monotonic() - started))
            if len(keys) < batch_rows:
                break
            after = keys[-1]
    storage.run(record_run, name="purge", ran_at=now_ms, summary=counts)
    return counts


def _drop_partition(conn: Connection, *, partition: partitions.Partition) -> int:
    """Drop a partition wholly older than the cutoff; return the events it held."""
    held = partitions.count_rows(conn, partition)
    partitions.drop(conn, partition)
    return held


def _key(table: Table) -> Sequence[Any]:
    return list(table.primary_key.columns)


def _count(conn: Connection, *, table: Table, old: ColumnElement[bool]) -> int:
    return int(conn.scalar(select(func.count()).select_from(table).where(old)) or 0)


def _old_keys(
    conn: Connection,
    *,
    table: Table,
    old: ColumnElement[bool],
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[tuple[Any, ...]]:
    """The primary keys of the next `limit` old rows, in key order, after `after`: each
    batch goes on where the last stopped, so one purge reads each table once."""
    key = _key(table)
    query = select(*key).where(old).order_by(*key).limit(limit)
    if after is not None:
        query = query.where(tuple_(*key) > tuple_(*after) if len(key) > 1 else key[0] > after[0])
    return [tuple(row) for row in conn.execute(query)]


def _apply(
    conn: Connection, *, table: Table, old: ColumnElement[bool], keys: list[tuple[Any, ...]]
) -> int:
    """Delete these rows, or anonymise them (orders), if they are still old: a basket or
    an email link seen again since it was read is kept."""
    key = _key(table)
    chosen = tuple_(*key).in_(keys) if len(key) > 1 else key[0].in_([k[0] for k in keys])
    if table is orders:
        statement: Any = update(orders).where(chosen, old).values(**ANONYMISED)
    else:
        statement = delete(table).where(chosen, old)
    return int(conn.execute(statement).rowcount or 0)
