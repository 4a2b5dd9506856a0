"""A per-process cache of rankings (derived data any process can recompute)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from . import metrics

log = logging.getLogger(__name__)

Key = tuple[Any, ...]


class RankingCache:
    """Rankings (lists of product ids), recomputed after `ttl` seconds.

    Stale while recomputing: once a ranking is older than `ttl`, the next request
    starts one recomputation in the background and, like every request until it is
    done, gets the previous ranking; only the first computation of a key is waited
    for (by every request that wants it meanwhile, sharing one computation). A `ttl`
    of 0 or less caches nothing: every request computes its own ranking. With
    `max_entries` or `max_ids`, the least recently used rankings go while there are
    more rankings, or more ids in all of them (the size of the cache), than that; the
    ranking computed last always stays.
    """

    def __init__(
        self,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int | None = None,
        max_ids: int | None = None,
        name: str = "rankings",
    ) -> None:
        self.ttl = ttl
        self._hits = metrics.CACHE_LOOKUPS.labels(name, "hit")
        self._misses = metrics.CACHE_LOOKUPS.labels(name, "miss")
        self.max_entries = max_entries
        self.max_ids = max_ids
        self._clock = clock
        self._entries: OrderedDict[Key, tuple[float, list[str]]] = OrderedDict()
        self.ids = 0  # in all the rankings kept
        self._running: dict[Key, asyncio.Task[list[str]]] = {}

    async def get(self, key: Key, compute: Callable[[], Awaitable[list[str]]]) -> list[str]:
        if self.ttl <= 0:
            return await compute()
        entry = self._entries.get(key)
        now = self._clock()
        # A hit: a ranking is answered without waiting (a stale one too, recomputed behind).
        (self._hits if entry else self._misses).inc()
        if entry:
            self._entries.move_to_end(key)
            if now - entry[0] < self.ttl:
                return entry[1]
        task = self._running.get(key)
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.get_running_loop().create_task(self._compute(key, compute, now))
            self._running[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        if entry:
            return entry[1]
        # The first computation: wait for it, but a request that goes away (a cancelled
        # call) must not cancel it for the others.
        return await asyncio.shield(task)

    async def wait(self) -> None:
        """Until the recomputations under way in this event loop are done (at shutdown:
        one still running holds a connection of the storage about to be closed)."""
        loop = asyncio.get_running_loop()
        running = [t for t in self._running.values() if t.get_loop() is loop]
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    async def _compute(
        self, key: Key, compute: Callable[[], Awaitable[list[str]]], started: float
    ) -> list[str]:
        ranked = await compute()
        previous = self._entries.get(key)
        self.ids += len(ranked) - (len(previous[1]) if previous else 0)
        self._entries[key] = (started, ranked)
        self._entries.move_to_end(key)
        while len(self._entries) > 1 and self._full():
            _, (_, dropped) = self._entries.popitem(last=False)
            self.ids -= len(dropped)
        return ranked

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[Key]:
        return list(self._entries)

    def _full(self) -> bool:
        return (self.max_entries is not None and len(self._entries) > self.max_entries) or (
            self.max_ids is not None and self.ids > self.max_ids
        )

    def _finished(self, key: Key, task: asyncio.Task[list[str]]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled() and task.exception() is not None and key in self._entries:
            # Nobody awaits a background recomputation: say why it failed (the previous
            # ranking stays, and the next request tries again).
            log.warning("recomputing ranking %r failed: %r", key, task.exception())
