"""The collector's housekeeping: what runs every minute beside the requests.

`run` is the task the app's lifespan starts; `roll_up` is one pass of the daily
roll-ups, which tests and the simulator call to do what the app does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import anyio.to_thread

from .dashboard.middleware import MAX_AGE as SESSION_MAX_AGE
from .logs import describe
from .services import Services
from .storage import STORAGE_UNAVAILABLE, order_rollups, partitions, rollups
from .storage.search import warm
from .storage.sessions import delete_expired_sessions
from .storage.stores import store_ids

log = logging.getLogger("collector")

PARTITIONS_EVERY = 3600.0  # seconds between two looks at the months ahead


async def run(services: Services, stop: asyncio.Event, every: float = 60.0) -> None:
    """Salts are destroyed soon after their period ends, even if no traffic comes, the
    days that are over are rolled up for the dashboard, the searched stores' columns are
    read ahead of their shoppers (storage/search/warm.py), and (PostgreSQL) the monthly
    partitions of events are made ahead of time.

    Stopped by `stop`, never cancelled, so that a clean-up under way finishes (and
    gives its connection back) before the storage closes.
    """
    partitions_due = 0.0  # PostgreSQL: the months ahead, at start and then hourly
    while not stop.is_set():
        try:
            await services.visitors.destroy_expired()
            await anyio.to_thread.run_sync(_end_expired_sessions, services)
            await anyio.to_thread.run_sync(roll_up, services)
            await anyio.to_thread.run_sync(warm_searches, services)
            if time.monotonic() >= partitions_due:
                await anyio.to_thread.run_sync(keep_partitions_ahead, services)
                partitions_due = time.monotonic() + PARTITIONS_EVERY
        except STORAGE_UNAVAILABLE as exc:
            log.warning("housekeeping postponed: %s", describe(exc))
        except Exception:  # never let one bad run end the salt janitor for good
            log.exception("housekeeping failed; trying again in %s s", every)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


def keep_partitions_ahead(services: Services) -> list[str]:
    """PostgreSQL: make the monthly partitions of events for this month and the next
    ones if missing (storage/partitions.py); nothing on SQLite."""
    return partitions.keep_ahead(services.storage, now_ms=services.now_ms())


def _end_expired_sessions(services: Services) -> None:
    before = services.now_ms() - SESSION_MAX_AGE * 1000
    services.storage.run(delete_expired_sessions, before=before)


def roll_up(services: Services) -> None:
    """Roll up the days that are over (see rollups.roll_up: no long write), and their
    orders under the attribution window of the settings (order_rollups.roll_up)."""
    storage, now = services.storage, services.now_ms()
    window_ms = services.settings.attribution_window_days * rollups.DAY_MS
    for store_id in storage.read_sync(store_ids):
        try:
            rollups.roll_up(storage, store_id=store_id, now_ms=now)
            order_rollups.roll_up(storage, store_id=store_id, now_ms=now, window_ms=window_ms)
        except STORAGE_UNAVAILABLE:
            raise  # the database is away: every later store would fail too
        except Exception as exc:  # one store's bad day must not stop every later store's
            log.error("roll-up of store %s failed: %s", store_id, describe(exc))


def warm_searches(services: Services) -> list[int]:
    """Read the searched stores' columns and words ahead of their shoppers (see
    storage/search/warm.py); the stores warmed."""
    storage = services.storage
    warmed = []
    for store_id in storage.read_sync(warm.stores_to_warm, now_ms=services.now_ms()):
        try:
            if storage.read_sync(warm.warm, store_id=store_id):
                warmed.append(store_id)
        except STORAGE_UNAVAILABLE:
            raise
        except Exception as exc:  # one store's catalogue must not stop the others'
            log.error("warming the search of store %s failed: %s", store_id, describe(exc))
    return warmed
