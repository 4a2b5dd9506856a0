"""Group commit: many tracking writes share one transaction and one fsync.

A request hands its write (a function of a connection) to the writer and waits.
The writer takes everything queued, runs it in one transaction in a worker
thread, commits, and only then answers each waiting request. So a 2xx answer
means the write is on disk, and a burst of N requests costs one commit, not N.
If the shared transaction fails, each write is retried in a transaction of its
own, so one bad write cannot sink the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from typing import Any, cast

import anyio.to_thread
from sqlalchemy import Connection, Engine, Table

log = logging.getLogger(__name__)

Write = Callable[[Connection], Any]


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
            conn.execute(key.insert(), [cast(InsertRow, write).row for write in batch])
            results.extend([None] * len(batch))
        else:
            results.extend(write(conn) for write in batch)
    return results


class Writer:
    def __init__(self, engine: Engine, *, max_batch: int = 512) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._pending: list[tuple[Write, asyncio.Future[Any]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0
        self.writes = 0

    async def start(self) -> None:
        self._closing = False
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        """Commit everything queued, then stop. A batch under way is never cut short."""
        if self._task is None or self._wake is None:
            return
        self._closing = True
        self._wake.set()
        await self._task
        self._task = None

    async def submit(self, write: Write) -> Any:
        if self._task is None or self._wake is None or self._closing:
            # No running writer (a script, or shutting down): commit directly.
            return await anyio.to_thread.run_sync(self._commit_one, write)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await self._flush()
            if self._closing:
                return

    async def _flush(self) -> None:
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        writes = [write for write, _ in batch]
        try:
            results = await anyio.to_thread.run_sync(self._commit_batch, writes)
        except Exception as exc:  # every waiter must hear of it
            results = [exc] * len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _commit_batch(self, writes: list[Write]) -> list[Any]:
        self.batches += 1
        self.writes += len(writes)
        try:
            with self._engine.connect() as conn:
                conn = conn.execution_options(sqlite_immediate=True)
                with conn.begin():
                    return run_writes(conn, writes)
        except Exception:
            if len(writes) == 1:
                raise
            log.warning("group commit of %d writes failed; retrying one by one", len(writes))
        results: list[Any] = []
        for write in writes:
            try:
                results.append(self._commit_one(write))
            except Exception as exc:
                results.append(exc)
        return results

    def _commit_one(self, write: Write) -> Any:
        with self._engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                return write(conn)
