"""PostgreSQL: the raw events table partitioned by UTC month (migration 20).

`events` is PARTITION BY RANGE (ts) there: one partition per month, named events_pYYYY_MM,
a DEFAULT partition (events_default) so that an event whose month has no partition yet
(a timestamp far ahead, or before the first partition) is still stored, and, on a
database made before migration 20, the table that was, attached as events_legacy for
every time before the month the migration ran in is over. Its primary key is (id, ts):
a partitioned table's key must hold its partition key; ids stay unique, all drawn from
the one sequence.

`ensure` keeps partitions for the current month and the next MONTHS_AHEAD made ahead of
time (the housekeeping task and every purge call it); when a month's partition is made,
the events of that month that went to DEFAULT meanwhile are moved into it first, since
PostgreSQL refuses a partition whose range has rows in DEFAULT (a month never made, the
collector stopped for longer than that, keeps its events in DEFAULT). Retention
(storage/retention.py) drops whole months once the cutoff is past their end, instead of
deleting their rows (DEFAULT's it deletes row by row).

SQLite has no partitions: every function here does nothing there, and the same callers
run on both engines.
"""

from __future__ import annotations

import calendar
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from .engine import advisory_xact_lock
from .schema import events

if TYPE_CHECKING:
    from . import Storage

log = logging.getLogger("collector")

PARTITIONED = "events"
DEFAULT = f"{PARTITIONED}_default"
LEGACY = f"{PARTITIONED}_legacy"
ADVISORY_KEY = 0x636C65726B5F7031  # making partitions, one process at a time
KEY = ("id", "ts")  # its primary key on PostgreSQL (schema.py's is `id`: SQLite's)
MONTHS_AHEAD = 3
# How long making or dropping a partition waits for its lock before giving up until the
# next run: a waiting ACCESS EXCLUSIVE request would hold up every insert behind it.
LOCK_TIMEOUT = "5s"
# A check the operator may add and validate before upgrading (docs/DEPLOY.md), so that
# migration 20 need not scan the table under its lock: CHECK (ts < <a month's start>).
BOUND_CHECK = "events_partition_bound"
# A unique index on (id, ts) the operator may build CONCURRENTLY before upgrading, so that
# migration 20 need not build the new key under its lock.
KEY_INDEX = "events_id_ts"


@dataclass(frozen=True)
class Partition:
    name: str
    low: int | None  # None: MINVALUE (or the DEFAULT partition)
    high: int | None  # None: MAXVALUE (or the DEFAULT partition)
    is_default: bool = False


def month_start(year: int, month: int) -> int:
    """Milliseconds at 00:00 UTC on the first day of that month (month may run past 12)."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000


def month_of(ms: int) -> tuple[int, int]:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.year, moment.month


def name_of(year: int, month: int) -> str:
    return f"{PARTITIONED}_p{year:04d}_{month:02d}"


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    return (
        conn.execute(
            text("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(:t)"),
            {"t": PARTITIONED},
        ).first()
        is not None
    )


_RANGE = re.compile(r"FOR VALUES FROM \((.+?)\) TO \((.+?)\)")


def _bound(value: str) -> int | None:
    value = value.strip("'")
    return None if value in ("MINVALUE", "MAXVALUE") else int(value)


def partitions(conn: Connection) -> list[Partition]:
    """The partitions of events as they are now, lowest first (DEFAULT last)."""
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": PARTITIONED},
    )
    found: list[Partition] = []
    for name, bound in rows:
        if bound == "DEFAULT":
            found.append(Partition(name, None, None, is_default=True))
            continue
        match = _RANGE.fullmatch(bound)
        if match is None:
            raise RuntimeError(f"partition {name} of {PARTITIONED} has a bound not by range")
        found.append(Partition(name, _bound(match[1]), _bound(match[2])))
    minimum, maximum = -(2**63), 2**63
    return sorted(
        found,
        key=lambda p: (p.is_default, minimum if p.low is None else p.low, p.high or maximum),
    )


def _overlaps(existing: list[Partition], low: int, high: int) -> bool:
    for p in existing:
        if p.is_default:
            continue
        if (p.low is None or p.low < high) and (p.high is None or low < p.high):
            return True
    return False


def ensure(conn: Connection, *, now_ms: int, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Make the partitions of the month of `now_ms` and the next `months_ahead` that are
    missing (a month another partition already covers, such as events_legacy's, is left
    to it); return the names made. Nothing on SQLite, or before migration 20."""
    if not is_partitioned(conn):
        return []
    year, month = month_of(now_ms)
    made: list[str] = []
    existing = partitions(conn)
    for ahead in range(months_ahead + 1):
        low, high = month_start(year, month + ahead), month_start(year, month + ahead + 1)
        if _overlaps(existing, low, high):
            continue
        made.append(_make_month(conn, low, high))
        existing = partitions(conn)
    return made


def keep_ahead(storage: Storage, *, now_ms: int) -> list[str]:
    """`ensure`, each month in a short transaction of its own that waits for its locks at
    most LOCK_TIMEOUT (a month that cannot have them now is made on a later run): what
    the housekeeping task and every purge call."""
    if storage.backend != "postgresql" or not storage.read_sync(is_partitioned):
        return []
    made: list[str] = []
    year, month = month_of(now_ms)
    for ahead in range(MONTHS_AHEAD + 1):
        try:
            made += storage.run(_ensure_one, now_ms=month_start(year, month + ahead))
        except OperationalError as exc:
            if not is_lock_timeout(exc):
                raise
            log.warning("partition of events postponed: its lock was not free")
    return made


def _ensure_one(conn: Connection, *, now_ms: int) -> list[str]:
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    # Every worker of every host runs this at start: one at a time, each seeing what
    # the one before made (`ensure` reads the partitions after taking the lock).
    advisory_xact_lock(conn, ADVISORY_KEY)
    return ensure(conn, now_ms=now_ms, months_ahead=0)


def is_lock_timeout(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "55P03"  # lock_not_available


def _make_month(conn: Connection, low: int, high: int) -> str:
    """Make the partition [low, high) with the events of that range DEFAULT holds in it."""
    name = name_of(*month_of(low))
    conn.execute(text(f'CREATE TABLE "{name}" (LIKE {PARTITIONED} INCLUDING DEFAULTS)'))
    conn.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE ts >= :low AND ts < :high "
            f'RETURNING *) INSERT INTO "{name}" SELECT * FROM moved'
        ),
        {"low": low, "high": high},
    )
    # Its rows are known to fit: the check spares ATTACH a scan of them.
    conn.execute(
        text(
            f'ALTER TABLE "{name}" ADD CONSTRAINT "{name}_range" '
            f"CHECK (ts >= {low} AND ts < {high})"
        )
    )
    conn.execute(
        text(
            f'ALTER TABLE {PARTITIONED} ATTACH PARTITION "{name}" '
            f"FOR VALUES FROM ({low}) TO ({high})"
        )
    )
    conn.execute(text(f'ALTER TABLE "{name}" DROP CONSTRAINT "{name}_range"'))
    return name


def droppable(conn: Connection, *, before_ms: int) -> list[Partition]:
    """The range partitions that hold nothing at or after `before_ms` (their end is at or
    before it): retention drops them whole."""
    if not is_partitioned(conn):
        return []
    return [
        p
        for p in partitions(conn)
        if not p.is_default and p.high is not None and p.high <= before_ms
    ]


def count_rows(conn: Connection, partition: Partition) -> int:
    return int(conn.execute(text(f'SELECT count(*) FROM "{partition.name}"')).scalar_one())


def drop(conn: Connection, partition: Partition) -> None:
    """Drop a partition (conn in a transaction of its own: the drop takes a lock on events
    until it commits, and waits for it at most LOCK_TIMEOUT)."""
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    conn.execute(text(f'DROP TABLE "{partition.name}"'))


# ------------------------------------------------------------------ migration 20


def next_month_start(now_ms: int) -> int:
    year, month = month_of(now_ms)
    return month_start(year, month + 1)


def _prepared_bound(conn: Connection) -> int | None:
    """The bound of the operator's validated BOUND_CHECK, if there is one."""
    row = conn.execute(
        text(
            "SELECT pg_get_constraintdef(oid), convalidated FROM pg_constraint "
            "WHERE conrelid = to_regclass(:t) AND conname = :c"
        ),
        {"t": PARTITIONED, "c": BOUND_CHECK},
    ).first()
    if row is None:
        return None
    match = re.fullmatch(r"CHECK \(\(ts < '?(\d+)'?(::bigint)?\)\)", row[0])
    if match is None or not row[1]:
        raise RuntimeError(
            f"migration 20: the constraint {BOUND_CHECK} on events must be a validated "
            f"CHECK (ts < <milliseconds at the start of a UTC month>), not {row[0]}"
        )
    bound = int(match[1])
    if month_start(*month_of(bound)) != bound:
        raise RuntimeError(
            f"migration 20: {BOUND_CHECK} bounds ts by {bound}, which is not the start "
            "of a UTC month"
        )
    return bound


def _has_index(conn: Connection, name: str) -> bool:
    return conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is not None


def partition_events(conn: Connection, *, now_ms: int) -> None:
    """Migration 20 on PostgreSQL: events becomes partitioned by month, the table there was
    its partition events_legacy for every time before the next month (none is copied).

    One transaction, which holds events' ACCESS EXCLUSIVE lock throughout: what takes time
    is the check that no row of the old table is at or after the bound and the build of
    its (id, ts) key, unless the operator made both beforehand (BOUND_CHECK, KEY_INDEX).
    """
    conn.execute(text("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"))
    prepared = _prepared_bound(conn)
    bound = prepared if prepared is not None else next_month_start(now_ms)
    sequence = conn.execute(text("SELECT pg_get_serial_sequence('events', 'id')")).scalar()
    conn.execute(text(f"ALTER TABLE events RENAME TO {LEGACY}"))
    conn.execute(text(f"ALTER TABLE {LEGACY} RENAME CONSTRAINT events_pkey TO {LEGACY}_pkey"))
    for index in events.indexes:
        conn.execute(text(f"ALTER INDEX IF EXISTS {index.name} RENAME TO {index.name}_legacy"))
    conn.execute(
        text(
            f"CREATE TABLE events (LIKE {LEGACY} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
            "PARTITION BY RANGE (ts)"
        )
    )
    if sequence is not None:  # dropping events_legacy one day must not drop the ids' sequence
        conn.execute(text(f"ALTER SEQUENCE {sequence} OWNED BY events.id"))
    if prepared is not None:
        conn.execute(text(f"ALTER TABLE events DROP CONSTRAINT {BOUND_CHECK}"))
    key = ", ".join(KEY)
    conn.execute(text(f"ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY ({key})"))
    conn.execute(
        text(
            "ALTER TABLE events ADD CONSTRAINT events_store_id_fkey "
            "FOREIGN KEY (store_id) REFERENCES stores (id)"
        )
    )
    for index in events.indexes:
        index.create(conn)
    conn.execute(text(f"CREATE TABLE {DEFAULT} PARTITION OF events DEFAULT"))
    ensure(conn, now_ms=bound)
    if prepared is None:
        # Events at or after the bound (a clock ahead, an import) go to their months: by
        # the (store, ts) index, store by store. Then the check that none is left.
        conn.execute(
            text(
                f"WITH moved AS (DELETE FROM {LEGACY} WHERE store_id IN (SELECT id FROM stores) "
                "AND ts >= :bound RETURNING *) INSERT INTO events SELECT * FROM moved"
            ),
            {"bound": bound},
        )
        conn.execute(
            text(f"ALTER TABLE {LEGACY} ADD CONSTRAINT {BOUND_CHECK} CHECK (ts < {bound})")
        )
    conn.execute(text(f"ALTER TABLE {LEGACY} DROP CONSTRAINT {LEGACY}_pkey"))
    if _has_index(conn, KEY_INDEX):
        conn.execute(
            text(
                f"ALTER TABLE {LEGACY} ADD CONSTRAINT {LEGACY}_pkey "
                f"PRIMARY KEY USING INDEX {KEY_INDEX}"
            )
        )
    conn.execute(
        text(
            f"ALTER TABLE events ATTACH PARTITION {LEGACY} FOR VALUES FROM (MINVALUE) TO ({bound})"
        )
    )
    conn.execute(text(f"ALTER TABLE {LEGACY} DROP CONSTRAINT {BOUND_CHECK}"))
    ensure(conn, now_ms=now_ms)
