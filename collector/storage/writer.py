"""Group commit: many tracking writes share one transaction and one fsync.

A request hands its write (a function of a connection) to the writer and waits.
The writer takes everything queued, runs it in one transaction, commits, and only
then answers each waiting request. So a 2xx answer means the write is on disk, and
a burst of N requests costs one commit, not N. If the shared transaction fails,
each write is retried in a transaction of its own, so one bad write cannot sink
the others.

The writer is a thread of its own with one long-lived connection of its own: it
never waits for a worker thread or a pool connection behind the reads, however
many there are. Requests wait on asyncio futures that the thread resolves through
the event loop (`call_soon_threadsafe`).

A watchdog, a thread of its own too, makes sure no write ever hangs: if the thread
ends (a fault it could not survive) the writer is dead, and if one batch runs longer
than `stall_seconds` it is stuck; either way every waiting and every new write fails
at once with `WriterUnavailable` (503) and /healthz fails. A stuck writer whose batch
ends after all is alive again; a dead one stays dead until the process restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from typing import Any, cast

import anyio.to_thread
from sqlalchemy import Connection, Engine, Table
from sqlalchemy.engine import Dialect

from .. import metrics

log = logging.getLogger(__name__)

Write = Callable[[Connection], Any]

# A batch running longer than this is stuck. Generous: a batch that waits for the
# SQLite write lock (busy_timeout, 30 s) and is then retried write by write may take
# a while without anything being wrong.
STALL_SECONDS = 120.0
WATCH_EVERY = 0.25  # seconds between the watchdog's looks


class WriterUnavailable(Exception):
    """The group-commit writer is dead or stuck: the write was not (or may not be) done."""


@dataclass(frozen=True)
class InsertRow:
    """A plain INSERT of one row. Neighbouring ones in a batch go out as one executemany."""

    table: Table
    row: dict[str, Any]

    def __call__(self, conn: Connection) -> None:
        conn.execute(self.table.insert(), [self.row])


def run_writes(conn: Connection, writes: list[Write]) -> list[Any]:
    """Run writes in order; a run of InsertRow into one table becomes one executemany."""
    results: list[Any] = []
    for key, run in groupby(writes, key=lambda w: w.table if isinstance(w, InsertRow) else w):
        batch = list(run)
        if isinstance(key, Table):
            insert_rows(conn, key, [cast(InsertRow, write).row for write in batch])
            results.extend([None] * len(batch))
        else:
            results.extend(write(conn) for write in batch)
    return results


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT rows with the driver's own executemany, in the connection's transaction: the
    statement is compiled once per table, columns and database, and the rows are sent
    as they are. Through SQLAlchemy's
    executemany when the rows name different columns or a column's type converts values."""
    columns = tuple(rows[0])
    statement = _insert_statement(conn.dialect, table, columns)
    if statement is None or any(tuple(row) != columns for row in rows):
        conn.execute(table.insert(), rows)
        return
    sql, order = statement
    params: list[Any] = [tuple(row[name] for name in order) for row in rows] if order else rows
    # As the driver's SQL: SQLAlchemy neither compiles it nor converts the values, and
    # still wraps the driver's errors (a lost connection, a locked database) as its own.
    conn.exec_driver_sql(sql, params)


@functools.lru_cache(maxsize=256)
def _insert_statement(
    dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> tuple[str, tuple[str, ...] | None] | None:
    """The INSERT's SQL and, for a positional paramstyle, the order of its parameters;
    None where SQLAlchemy must convert a value (a type with a bind processor)."""
    if any(table.c[name].type.bind_processor(dialect) is not None for name in columns):
        return None
    compiled = table.insert().compile(
        dialect=dialect, column_keys=list(columns), for_executemany=True
    )
    if set(compiled.binds) != set(columns):
        return None
    order = tuple(compiled.positiontup or ()) if compiled.positional else None
    return compiled.string, order


@dataclass(eq=False)
class _Job:
    write: Write
    future: asyncio.Future[Any]


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    """Answer a waiter (on its event loop), unless it was answered or cancelled already."""
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _answer(job: _Job, result: Any) -> None:
    """Answer a waiter from any thread."""
    with contextlib.suppress(RuntimeError):  # its loop is closed: nobody is waiting
        job.future.get_loop().call_soon_threadsafe(_settle, job.future, result)


def _settle_all(answers: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, result in answers:
        _settle(future, result)


def _answer_all(jobs: list[_Job], results: list[Any]) -> None:
    """Answer the waiters of a batch from any thread: one wake-up of each event loop
    they wait on, not one per waiter (each wake-up is a write to the loop's socket)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for job, result in zip(jobs, results, strict=True):
        by_loop.setdefault(job.future.get_loop(), []).append((job.future, result))
    for loop, answers in by_loop.items():
        with contextlib.suppress(RuntimeError):  # its loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_settle_all, answers)


class Writer:
    """Invariants: `_queue`, `_batch`, `_started`, `_closing`, `_users` and `failure`
    change only under `_lock`; a job is in `_queue` or in `_batch` until it is answered,
    and every job is answered (a second answer to a done future is ignored).

    Apps that share one storage (tests) share its writer: it runs from the first start
    to the last stop."""

    def __init__(
        self, engine: Engine, *, max_batch: int = 512, stall_seconds: float = STALL_SECONDS
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self.stall_seconds = stall_seconds
        self._lock = threading.Condition(threading.RLock())
        self._queue: deque[_Job] = deque()
        self._batch: list[_Job] = []
        self._started: float | None = None  # time.monotonic() when the batch began
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None  # the thread's own; only it touches it
        self._closing = False
        self._dead = False
        self._users = 0
        # Why writes cannot be taken now (None: they can). Read by /healthz.
        self.failure: str | None = None
        self.batches = 0
        self.writes = 0

    @property
    def state(self) -> str:
        """ "running", "stuck" (a batch has run too long), "dead" (the thread ended on a
        fault) or "stopped" (not started, or stopping). Read by /readyz."""
        with self._lock:
            if self._dead:
                return "dead"
            if self.failure is not None:
                return "stuck"
            if self._thread is None or self._closing or not self._thread.is_alive():
                return "stopped"
            return "running"

    async def start(self) -> None:
        with self._lock:
            self._users += 1
            if self._thread is not None:
                return
            self._closing, self._dead, self.failure = False, False, None
            thread = self._thread = threading.Thread(
                target=self._run, name="group-commit", daemon=True
            )
        thread.start()
        threading.Thread(
            target=self._watch, args=(thread,), name="group-commit watchdog", daemon=True
        ).start()

    async def stop(self) -> None:
        """Commit everything queued, then stop. A batch under way is never cut short."""
        with self._lock:
            thread = self._thread
            if thread is None:
                return
            self._users -= 1
            if self._users > 0:
                return
            self._closing = True
            self._lock.notify_all()
        await anyio.to_thread.run_sync(thread.join)
        with self._lock:
            self._thread = None

    async def submit(self, write: Write) -> Any:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._thread is not None and self.failure is not None:
                raise WriterUnavailable(self.failure)
            job = None
            if self._thread is not None and not self._closing:
                job = _Job(write, loop.create_future())
                self._queue.append(job)
                self._lock.notify()
        if job is None:
            # No running writer (a script, or shutting down): commit directly.
            return await anyio.to_thread.run_sync(self._commit_one, write)
        return await job.future

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        try:
            try:
                self._connect()  # now, while the pool is idle: no write waits for one later
            except Exception as exc:  # the database is down: the first batch will try again
                log.warning("the writer could not connect yet: %s", exc)
            while True:
                with self._lock:
                    while not self._queue and not self._closing:
                        self._lock.wait()
                    if not self._queue:
                        return  # closing, and everything is committed
                    take = min(len(self._queue), self._max_batch)
                    metrics.WRITER_QUEUE.set(len(self._queue))
                    self._batch = [self._queue.popleft() for _ in range(take)]
                    self._started = time.monotonic()
                    batch = self._batch
                results = self._commit_batch([job.write for job in batch])
                with self._lock:
                    _answer_all(batch, results)
                    self._batch, self._started = [], None
                    metrics.WRITER_QUEUE.set(len(self._queue))
                    if not self._dead and self.failure is not None:
                        log.warning("the group-commit writer is running again")
                        self.failure = None  # it was stuck, and is not any more
        except BaseException as exc:  # a fault the thread cannot survive: no write may hang
            log.critical("the group-commit writer stopped: %r", exc, exc_info=exc)
            self._fail(f"the writer thread stopped ({type(exc).__name__})", dead=True)
        finally:
            self._disconnect()

    def _commit_batch(self, writes: list[Write]) -> list[Any]:
        """Each write's result or exception: never raises an Exception."""
        self.batches += 1
        self.writes += len(writes)
        metrics.WRITER_BATCH.observe(len(writes))
        started = time.perf_counter()
        try:
            return self._commit_or_retry(writes)
        finally:
            metrics.WRITER_COMMIT.observe(time.perf_counter() - started)

    def _commit_or_retry(self, writes: list[Write]) -> list[Any]:
        try:
            results: list[Any] = self._transaction(lambda conn: run_writes(conn, writes))
            return results
        except Exception as exc:
            if len(writes) == 1:
                return [exc]
            log.warning("group commit of %d writes failed; retrying one by one", len(writes))
        results = []
        for write in writes:
            try:
                results.append(self._transaction(write))
            except Exception as exc:
                results.append(exc)
        return results

    def _transaction(self, write: Write) -> Any:
        conn = self._connect()
        try:
            with conn.begin():
                return write(conn)
        finally:
            if conn.invalidated or conn.closed:
                # The connection broke (server gone, handle closed): drop it; the next
                # transaction opens a new one.
                log.warning("the writer's connection was lost; reconnecting")
                self._disconnect()

    def _connect(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(sqlite_immediate=True)
        return self._conn

    def _disconnect(self) -> None:
        """Close the writer's connection for good, not back into the pool: it is the
        writer's alone, and the pool it came from may have been disposed of meanwhile."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()

    # ------------------------------------------------------------ the watchdog

    def _watch(self, thread: threading.Thread) -> None:
        """A thread of its own, so that it looks even when no event loop runs."""
        while True:
            time.sleep(WATCH_EVERY)
            with self._lock:
                if self._thread is not thread:
                    return  # stopped (and maybe started again, with another watchdog)
                if not thread.is_alive():
                    if not self._closing:
                        self._fail("the writer thread is gone", dead=True)
                    return
                started = self._started
                if started is not None and time.monotonic() - started > self.stall_seconds:
                    self._fail(
                        f"the writer is stuck: a batch has run for over {self.stall_seconds:g} s",
                        dead=False,
                    )

    def _fail(self, reason: str, *, dead: bool) -> None:
        """Mark the writer unavailable and fail every write waiting for it."""
        with self._lock:
            if self.failure is None or (dead and not self._dead):
                log.error("group-commit writer unavailable: %s", reason)
                self.failure = reason  # the first reason, or the first that it is dead
            self._dead = self._dead or dead
            waiting = [*self._batch, *self._queue]
            self._queue.clear()
            for job in waiting:
                _answer(job, WriterUnavailable(reason))

    def _commit_one(self, write: Write) -> Any:
        with self._engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                return write(conn)
