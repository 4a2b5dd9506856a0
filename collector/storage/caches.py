"""Per-process caches of derived answers, one set per database engine.

Entries are keyed by what they were computed from (a store's catalogue version, for
instance), so an entry is never used after its inputs changed; they may also expire
after some seconds, and the least recently used go when a cache is full. Reads run in
worker threads: a cache takes a lock.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable
from typing import Any

from sqlalchemy import Engine

from .. import metrics


class Cache:
    """At most `entries` entries, each kept for `seconds` (None: until it is the least
    recently used of a full cache); with `weight`, also at most that much in all the
    entries, each weighing what `put` says (the number of ids it holds, say): the least
    recently used go until it holds, but the entry put last always stays."""

    def __init__(
        self,
        *,
        entries: int,
        seconds: float | None = None,
        weight: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        name: str = "other",
    ) -> None:
        self.max_entries, self.seconds, self.max_weight = entries, seconds, weight
        self._hits = metrics.CACHE_LOOKUPS.labels(name, "hit")
        self._misses = metrics.CACHE_LOOKUPS.labels(name, "miss")
        self._clock = clock
        self.entries: OrderedDict[Hashable, tuple[float, Any, int]] = OrderedDict()
        self.weight = 0  # of all the entries
        self.lock = threading.Lock()
        self._building: dict[Hashable, list[Any]] = {}  # key -> [its lock, waiters]

    def get(self, key: Hashable) -> Any:
        """The value, or None (absent or expired); counted as a hit or a miss."""
        found = self._lookup(key)
        (self._misses if found is None else self._hits).inc()
        return found

    def _lookup(self, key: Hashable) -> Any:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return None
            if self.seconds is not None and self._clock() - entry[0] > self.seconds:
                self._drop(key)
                return None
            self.entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, value: Any, *, weight: int = 1) -> None:
        with self.lock:
            if key in self.entries:
                self._drop(key)
            self.entries[key] = (self._clock(), value, weight)
            self.weight += weight
            while len(self.entries) > 1 and (
                len(self.entries) > self.max_entries
                or (self.max_weight is not None and self.weight > self.max_weight)
            ):
                self._drop(next(iter(self.entries)))

    def once(self, key: Hashable, build: Callable[[], tuple[Any, int]]) -> Any:
        """The value of `key`, built by `build` (value, weight) and put when absent: once
        for all the threads that ask at the same time (the others wait for it)."""
        found = self.get(key)
        if found is not None:
            return found
        with self.lock:
            building = self._building.setdefault(key, [threading.Lock(), 0])
            building[1] += 1
        try:
            with building[0]:
                found = self._lookup(key)  # built meanwhile by another thread?
                if found is None:
                    found, weight = build()
                    self.put(key, found, weight=weight)
                return found
        finally:
            with self.lock:
                building[1] -= 1
                if not building[1]:
                    del self._building[key]

    def _drop(self, key: Hashable) -> None:
        self.weight -= self.entries.pop(key)[2]

    def keys(self) -> list[Hashable]:
        with self.lock:
            return list(self.entries)

    def discard(self, key: Hashable) -> None:
        with self.lock:
            if key in self.entries:
                self._drop(key)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.weight = 0


_caches: weakref.WeakKeyDictionary[Engine, dict[str, Cache]] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(
    engine: Engine, name: str, *, entries: int, seconds: float | None, weight: int | None = None
) -> Cache:
    """The engine's cache of this name (made with these limits the first time)."""
    with _caches_lock:
        named = _caches.setdefault(engine, {})
        if name not in named:
            named[name] = Cache(entries=entries, seconds=seconds, weight=weight, name=name)
        return named[name]


def clear_all(keep: Collection[str] = ()) -> None:
    """Empty every cache but those named in `keep` (benchmarks time answers computed
    afresh)."""
    with _caches_lock:
        for named in _caches.values():
            for name, cache in named.items():
                if name not in keep:
                    cache.clear()
