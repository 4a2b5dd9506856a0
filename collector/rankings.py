"""A per-process cache of store-wide rankings (derived data any process can recompute)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any


class RankingCache:
    """Store-wide rankings (lists of product ids), recomputed after `ttl` seconds."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[tuple[Any, ...], tuple[float, list[str]]] = {}

    async def get(
        self, key: tuple[Any, ...], compute: Callable[[], Awaitable[list[str]]]
    ) -> list[str]:
        entry = self._entries.get(key)
        now = self._clock()
        if entry and now - entry[0] < self.ttl:
            return entry[1]
        ranked: list[str] = await compute()
        if self.ttl > 0:
            self._entries[key] = (now, ranked)
        return ranked
