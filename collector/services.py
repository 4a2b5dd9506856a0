"""What a running collector holds: settings, storage, the visitor resolver and a key cache."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from .rankings import RankingCache
from .ratelimit import RateLimits
from .settings import Settings
from .storage import Storage
from .storage import contents as stored_contents
from .storage.sessions import stored_secret_key
from .storage.stores import Store, store_by_public_key, store_by_slug
from .visitors import VisitorResolver

STORE_CACHE_SECONDS = 30.0
# Each store's contents are kept as long as its keys; a change made in this process drops
# them at once (drop_cached_contents), one made by another process shows within this time.
# Bounded by the characters of their designs (about 2 bytes each): at most about 80 MB.
CONTENT_CACHE_CHARS = 40_000_000
# Rankings kept per process. Store-wide: popular and trending of each store, and one per
# category asked for (any text names a category, so a bound is needed). Per set of
# seeds: complements and substitutes. Each cache is bounded in rankings and in ids in
# all of them: an id costs about 70 bytes (a short str and its pointer), so 500,000 ids
# are about 35 MB (a 100,000-product store's popular ranking is 100,000 ids).
RANKINGS, RANKING_IDS = 1024, 500_000
SEED_RANKINGS, SEED_RANKING_IDS = 4096, 250_000


class Services:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.storage = Storage(
            settings.database_url,
            replica_url=settings.database_replica_url,
            replica_max_lag=settings.replica_max_lag_seconds,
            batch_max_size=settings.batch_max_size,
            pool_timeout=settings.database_pool_timeout,
        )
        self.visitors = VisitorResolver(
            self.storage, rotation_days=settings.salt_rotation_days, clock=clock
        )
        self.limits = RateLimits(client=settings.rate_limit_client, store=settings.rate_limit_store)
        self._stores: dict[str, tuple[float, Store]] = {}
        self._contents: dict[int, tuple[float, int, dict[str, dict[str, Any]]]] = {}
        self._content_chars = 0
        # By slug, for /<slug>.js; None: no store has it (also kept, so that probing
        # addresses costs no database read each).
        self._slugs: dict[str, tuple[float, Store | None]] = {}
        self._secret_key: str | None = settings.secret_key or None
        # Timed by the collector's clock, so a simulated clock ages the rankings too.
        self.rankings = RankingCache(
            settings.recommendation_cache_seconds,
            clock=clock,
            max_entries=RANKINGS,
            max_ids=RANKING_IDS,
        )
        self.seed_rankings = RankingCache(
            settings.recommendation_cache_seconds,
            clock=clock,
            max_entries=SEED_RANKINGS,
            max_ids=SEED_RANKING_IDS,
            name="seed_rankings",
        )

    @property
    def secret_key(self) -> str:
        """The one key that signs dashboard sessions and keys the sign-in throttle:
        SECRET_KEY, or, unset, the one generated and kept in the database (the same for
        every process). Read once (the app's start-up does it, off the event loop)."""
        if self._secret_key is None:
            self._secret_key = self.storage.run(
                stored_secret_key, candidate=secrets.token_urlsafe(32), now=self.now_ms()
            )
        return self._secret_key

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def drop_cached_store(self, public_key: str, *, slugs: tuple[str, ...] = ()) -> None:
        """Drop a store from this process's caches (its keys or slug changed here; `slugs`:
        the old and the new)."""
        self._stores.pop(public_key, None)
        for slug in slugs:
            self._slugs.pop(slug, None)

    async def store_by_slug(self, slug: str) -> Store | None:
        """The store whose script is /<slug>.js, kept STORE_CACHE_SECONDS as by key."""
        cached = self._slugs.get(slug)
        now = time.monotonic()
        if cached and now - cached[0] < STORE_CACHE_SECONDS:
            return cached[1]
        store = await self.storage.read(store_by_slug, slug=slug)
        if len(self._slugs) > 10_000:
            self._slugs.clear()
        self._slugs[slug] = (now, store)
        return store

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

    def drop_cached_contents(self, store_id: int) -> None:
        """Drop a store's contents from this process's cache (they changed here)."""
        dropped = self._contents.pop(store_id, None)
        if dropped is not None:
            self._content_chars -= dropped[1]

    async def contents(self, store_id: int) -> dict[str, dict[str, Any]]:
        """The store's contents by id (collector/storage/contents.py), cached."""
        cached = self._contents.get(store_id)
        now = time.monotonic()
        if cached and now - cached[0] < STORE_CACHE_SECONDS:
            return cached[2]
        self.drop_cached_contents(store_id)
        found = await self.storage.read(stored_contents.list_all, store_id=store_id)
        by_id = {content["id"]: content for content in found}
        chars = sum(len(c["design"] or "") + 1000 for c in found)
        while self._contents and self._content_chars + chars > CONTENT_CACHE_CHARS:
            self.drop_cached_contents(next(iter(self._contents)))  # the oldest first
        self._contents[store_id] = (now, chars, by_id)
        self._content_chars += chars
        return by_id
