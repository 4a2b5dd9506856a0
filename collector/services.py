"""What a running collector holds: settings, storage, the visitor resolver and a key cache."""

from __future__ import annotations

import time
from collections.abc import Callable

from .rankings import RankingCache
from .settings import Settings
from .storage import Storage
from .storage.stores import Store, store_by_public_key
from .visitors import VisitorResolver

STORE_CACHE_SECONDS = 30.0
SEED_RANKINGS = 4096  # complements and substitutes kept per process, per set of seeds


class Services:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.storage = Storage(
            settings.database_url,
            batch_max_size=settings.batch_max_size,
            pool_timeout=settings.database_pool_timeout,
        )
        self.visitors = VisitorResolver(
            self.storage, rotation_days=settings.salt_rotation_days, clock=clock
        )
        self._stores: dict[str, tuple[float, Store]] = {}
        # Timed by the collector's clock, so a simulated clock ages the rankings too.
        self.rankings = RankingCache(settings.recommendation_cache_seconds, clock=clock)
        # Complements and substitutes of each set of seed products: many keys, so the
        # least recently used go (store-wide rankings above are few, and never go).
        self.seed_rankings = RankingCache(
            settings.recommendation_cache_seconds, clock=clock, max_entries=SEED_RANKINGS
        )

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def forget_store(self, public_key: str) -> None:
        """Drop a store from this process's cache (its keys changed here)."""
        self._stores.pop(public_key, None)

    async def store(self, public_key: str) -> Store | None:
        cached = self._stores.get(public_key)
        now = time.monotonic()
        if cached and now - cached[0] < STORE_CACHE_SECONDS:
            return cached[1]
        store = await self.storage.read(store_by_public_key, public_key=public_key)
        if store is None:
            self._stores.pop(public_key, None)
            return None
        if len(self._stores) > 10_000:
            self._stores.clear()
        self._stores[public_key] = (now, store)
        return store
