"""The storage layer: one API over SQLite and PostgreSQL, chosen by DATABASE_URL.

Reads run in a worker thread on a connection of their own, at most `read_slots` at
once (the others queue in the event loop); tracking writes go through the
group-commit writer, a thread with a connection of its own; command-line tools use
`run` directly. Reads that may be a little stale (reports, stats, store-wide rankings)
use `read_replica`: on PostgreSQL with DATABASE_REPLICA_URL, they run on the streaming
replica, and on the primary while the replica cannot answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .. import metrics
from . import migrations
from .engine import POOL_CAPACITY, POOL_TIMEOUT, checkpoint, make_engine, normalise_url, ping
from .writer import InsertRow, Writer, WriterUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)


# Pool connections left for what is neither a read nor the writer: /healthz, the
# housekeeping task, loading a salt, writes committed directly.
SPARE_CONNECTIONS = 3

# What makes the storage unavailable for a while (answered 503 with Retry-After): the
# database is down or locked, no pool connection came in time, the writer is down.
STORAGE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout, WriterUnavailable)

# What sends a replica read to the primary instead: the replica is down or unreachable,
# no connection came in time, or it cancelled the query (a conflict with recovery).
REPLICA_FAILURES = (OperationalError, InterfaceError, PoolTimeout)
# After a replica failure, replica reads go to the primary for this long, then try it again.
REPLICA_RETRY_SECONDS = 30.0
# Seconds a new replica connection may take (unless its URL sets connect_timeout): an
# unreachable replica costs a read this much once, then REPLICA_RETRY_SECONDS of none.
REPLICA_CONNECT_TIMEOUT = 3
# How often (seconds) a process asks the replica how far behind it is.
REPLICA_LAG_CHECK_SECONDS = 1.0
# The replica's lag in seconds: 0 when it has replayed all it received from a running
# WAL receiver, else the age of the last commit it replayed; NULL (unknown: no WAL
# receiver, so nothing tells how old its copy is) when it is not streaming.
REPLICA_LAG = """
SELECT CASE
  WHEN NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN NULL
  WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
  ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())
END
"""


class ReplicaBehind(Exception):
    """The replica is further behind than the reads sent to it may be."""


Limiters = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter]


class Storage:
    def __init__(
        self,
        url: str,
        *,
        replica_url: str = "",
        replica_max_lag: float = 30.0,
        batch_max_size: int = 512,
        pool_timeout: float = POOL_TIMEOUT,
    ) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, pool_timeout=pool_timeout)
        # The streaming replica's engine (DATABASE_REPLICA_URL), or None: see read_replica.
        self.replica: Engine | None = None
        if replica_url:
            self.replica = make_engine(
                replica_url, pool_timeout=pool_timeout, connect_timeout=REPLICA_CONNECT_TIMEOUT
            )
        self.replica_retry_seconds = REPLICA_RETRY_SECONDS
        self._replica_down_until = 0.0
        # Replica reads go to the primary while the replica is more than this behind.
        self.replica_max_lag = replica_max_lag
        self._lag_checked_at = -REPLICA_LAG_CHECK_SECONDS
        self._lag_known_behind = False
        self.writer = Writer(self.engine, max_batch=batch_max_size)
        self.pool_capacity = POOL_CAPACITY
        # Reads at once: the pool less the writer's own connection and the spares.
        self.read_slots = max(1, POOL_CAPACITY - 1 - SPARE_CONNECTIONS)
        # One limiter per event loop (a limiter belongs to the loop that first used it).
        self._read_limiters: Limiters = weakref.WeakKeyDictionary()
        self._replica_limiters: Limiters = weakref.WeakKeyDictionary()
        self._background: set[asyncio.Task[None]] = set()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> list[int]:
        return migrations.migrate(self.engine)

    async def start(self) -> None:
        await self.writer.start()

    async def stop(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.writer.stop()

    def checkpoint(self) -> bool:
        """See engine.checkpoint: True once SQLite's write-ahead log holds nothing older."""
        return checkpoint(self.engine)

    def ping(self) -> None:
        """See engine.ping: the database answers a query."""
        ping(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
        if self.replica is not None:
            self.replica.dispose()

    def run(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Run fn(conn, **kwargs) in a transaction of its own, synchronously."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                return fn(conn, **kwargs)

    async def read(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """read_sync in a worker thread, once one of the read slots is free.

        The slots are fewer than the pool's connections, so a flood of reads waits here,
        in the event loop, instead of timing out in the pool; and reads do not use
        anyio's default worker threads, which the rest of the app shares."""
        return await anyio.to_thread.run_sync(
            partial(self.read_sync, fn, **kwargs), limiter=self._limiter(self._read_limiters)
        )

    def _limiter(self, limiters: Limiters) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        limiter = limiters.get(loop)
        if limiter is None:
            limiter = limiters[loop] = anyio.CapacityLimiter(self.read_slots)
        return limiter

    async def read_replica(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """`read`, on the streaming replica when there is one (DATABASE_REPLICA_URL): for
        reads that may be a little stale (the replica replays the primary's commits a
        moment later), never for one that must see what this request or process has
        just written (docs/ARCHITECTURE.md lists which reads use it).

        If the replica cannot answer, the read runs on the primary, and so do replica
        reads for the next `replica_retry_seconds`; then the replica is tried again."""
        if self.replica is None:
            return await self.read(fn, **kwargs)
        if time.monotonic() < self._replica_down_until:
            metrics.REPLICA_READS.labels("primary").inc()
            return await self.read(fn, **kwargs)
        try:
            found = await anyio.to_thread.run_sync(
                partial(self._on_replica, self.replica, fn, **kwargs),
                limiter=self._limiter(self._replica_limiters),
            )
            metrics.REPLICA_READS.labels("replica").inc()
            return found
        except ReplicaBehind:
            pass  # (said once by _replica_lag when it went behind)
        except REPLICA_FAILURES as exc:
            if time.monotonic() >= self._replica_down_until:  # once per failure, not per read
                log.warning(
                    "read replica failed (%s); replica reads go to the primary for %.0f s",
                    type(exc).__name__,
                    self.replica_retry_seconds,
                )
            self._replica_down_until = time.monotonic() + self.replica_retry_seconds
        metrics.REPLICA_READS.labels("primary").inc()
        return await self.read(fn, **kwargs)

    def _on_replica(self, replica: Engine, fn: Callable[..., T], /, **kwargs: Any) -> T:
        with replica.connect() as conn:
            self._replica_lag(conn)
            return fn(conn, **kwargs)

    def _replica_lag(self, conn: Connection) -> None:
        """Raise ReplicaBehind while the replica is more than `replica_max_lag` seconds
        behind (or not streaming), asked at most every REPLICA_LAG_CHECK_SECONDS; one log
        line when it goes behind and one when it has caught up."""
        now = time.monotonic()
        if now - self._lag_checked_at >= REPLICA_LAG_CHECK_SECONDS:
            lag = conn.execute(text(REPLICA_LAG)).scalar()
            conn.rollback()  # (the read that follows starts its own transaction)
            behind = lag is None or float(lag) > self.replica_max_lag
            if behind != self._lag_known_behind:
                if behind:
                    log.warning(
                        "read replica %s; replica reads go to the primary until it is "
                        "within %.0f s",
                        "is not streaming" if lag is None else f"is {float(lag):.0f} s behind",
                        self.replica_max_lag,
                    )
                else:
                    log.warning("read replica caught up; replica reads go to it again")
            self._lag_checked_at, self._lag_known_behind = now, behind
        if self._lag_known_behind:
            raise ReplicaBehind

    def read_sync(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Run fn(conn, **kwargs) on a connection of its own, outside any write transaction."""
        with self.engine.connect() as conn:
            return fn(conn, **kwargs)

    async def write(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Run fn(conn, **kwargs) in the next group commit; return once it is durable."""
        write: Callable[[Connection], T] = partial(fn, **kwargs)
        result: T = await self.writer.submit(write)
        return result

    async def insert(self, row: InsertRow) -> None:
        """INSERT one row in the next group commit (batched with its neighbours). The row
        comes from the storage module that owns its table (e.g. tracking.event)."""
        await self.writer.submit(row)

    def insert_soon(self, row: InsertRow) -> None:
        """INSERT one row in the next group commit without waiting for it (for
        bookkeeping such as widget renders, where the answer must not wait on a disk)."""
        task = asyncio.get_running_loop().create_task(self.insert(row))
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background insert failed: %s", task.exception())
