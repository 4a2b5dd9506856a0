"""The runner: the collector app in process, the planned visits day by day, and `simulate()`."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ..app import create_app
from ..services import Services
from ..settings import Settings
from ..storage import Storage
from ..storage.catalogue import product_summaries
from ..storage.stores import Store, delete_expired_salts, store_by_public_key
from .asgi import AsgiClient
from .clock import DAY_MS, HOUR_MS, SimulatedClock
from .outcome import BadArguments, Result, SimulationError
from .shoppers import Catalogue, Device, Product, VisitPlan, plan_people
from .visits import Visits

MAX_VISITORS = 1_000_000
MAX_DAYS = 366
DEFAULT_CONCURRENCY = 16


class Simulation(Visits):
    """One run: the planned visits, day by day, through the collector app in process."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store,
        products: list[Product],
        visitors: int,
        days: int,
        seed: int,
        now: float,
        concurrency: int,
        progress: Callable[[str], None] | None,
    ) -> None:
        # The simulation is the operator's own traffic, thousands of requests a second
        # from a few simulated addresses: rate limits would only cut it short.
        self.settings = replace(settings, rate_limit_client="0", rate_limit_store="0")
        self.store = store
        self.seed = seed
        self.days = days
        self.concurrency = concurrency
        self.progress = progress
        self.now_ms = int(now * 1000)
        rng = random.Random(f"{seed}/people")
        self.catalogue = Catalogue(products, rng)
        self.people, self.plans = plan_people(rng, visitors, days, self.now_ms)
        self.start_ms = self.now_ms // HOUR_MS * HOUR_MS - days * DAY_MS
        # Sale ids: unique per run (a later run's orders are new orders), fixed by the clock.
        self.run_tag = f"{self.now_ms // 1000:x}"
        # Where clerk.js runs: the shop's origin, as the browser sends it. A store without
        # a list serves personal calls to no page (collector/origins.py), so there the
        # simulated browser sends no Origin, as a same-origin or server call, and the
        # personal widgets still get their traffic.
        self.origin = store.origins[0] if store.origins else None
        self.clock = SimulatedClock(self.start_ms / 1000)
        self.result = Result(
            visitors=visitors,
            days=days,
            seed=seed,
            start_ms=self.start_ms,
            end_ms=self.now_ms // HOUR_MS * HOUR_MS,
        )
        for person in self.people:
            self.result.modes[person.mode] = self.result.modes.get(person.mode, 0) + 1
        self.client: AsgiClient | None = None

    async def send(
        self, api: str, payload: dict[str, Any], device: Device, at_ms: int
    ) -> dict[str, Any]:
        assert self.client is not None
        SimulatedClock.at(at_ms / 1000)
        headers = [
            ("content-type", "text/plain;charset=UTF-8"),
            ("user-agent", device.user_agent),
            ("accept", "*/*"),
        ]
        if self.origin:
            headers.append(("origin", self.origin))
        status, body = await self.client.request(
            "POST",
            f"/v2/{api}",
            body=json.dumps(payload, separators=(",", ":")).encode(),
            headers=headers,
            client=(device.ip, device.port),
        )
        self.result.requests += 1
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not 200 <= status < 300 or not isinstance(answer, dict) or answer.get("status") != "ok":
            shown = body[:300].decode("utf-8", "replace")
            raise SimulationError(f"POST /v2/{api} answered HTTP {status}: {shown}")
        self._count(api)
        return answer

    def _count(self, api: str) -> None:
        result = self.result
        if api.startswith(("recommendations/", "search/")):
            result.events += 1  # the render
            result.searches += api.startswith("search/")
        elif api in ("log/product", "log/click") or api.startswith("log/basket/"):
            result.events += 1
            result.views += api == "log/product"
            result.clicks += api == "log/click"
        elif api == "log/email":
            result.emails += 1

    # ---------------------------------------------------------------- running

    async def run(self) -> Result:
        started = time.monotonic()
        services = Services(self.settings, clock=self.clock)
        self.client = AsgiClient(create_app(self.settings, services=services))
        try:
            await self.client.startup()
            for day, plans in _by_day(self.plans):
                self.clock.now = plans[0].start_ms / 1000
                await self._run_day(plans)
                result = self.result
                result.visits += len(plans)
                if self.progress:
                    date = datetime.fromtimestamp(day * DAY_MS / 1000, UTC).date().isoformat()
                    self.progress(
                        f"{date}: {len(plans)} visits (so far {result.visits} of "
                        f"{len(self.plans)} visits, {result.requests} requests, "
                        f"{result.orders} orders)"
                    )
            self.clock.now = self.now_ms / 1000
        finally:
            try:
                await self.client.shutdown()
            finally:
                self.result.elapsed = time.monotonic() - started
                storage = services.storage
                if self.result.requests:
                    # The last simulated day's salt may be over by now: destroy it at once.
                    storage.run(delete_expired_salts, now=int(time.time() * 1000))
                    _invalidate_rollups(storage, self.store.id, self.start_ms, self.result.end_ms)
                storage.dispose()
        return self.result

    async def _run_day(self, plans: list[VisitPlan]) -> None:
        """The day's visits, `concurrency` at a time, in order of their start."""
        queue = iter(plans)

        async def worker() -> None:
            for plan in queue:
                await self.visit(plan)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.concurrency, len(plans))):
                    group.create_task(worker())
        except ExceptionGroup as failed:
            first = failed.exceptions[0]
            while isinstance(first, ExceptionGroup):
                first = first.exceptions[0]
            raise first from None


def _by_day(plans: list[VisitPlan]) -> Iterator[tuple[int, list[VisitPlan]]]:
    # Salt periods are whole days (UTC), so no day's visits straddle two periods.
    for day, group in itertools.groupby(plans, key=lambda plan: plan.start_ms // DAY_MS):
        yield day, list(group)


def _invalidate_rollups(storage: Storage, store_id: int, start_ms: int, end_ms: int) -> None:
    """The dashboard's daily roll-ups of the simulated days are stale now: events were
    written into the past."""
    from ..storage.rollups import invalidate_rollups

    storage.run(invalidate_rollups, store_id=store_id, start_ms=start_ms, end_ms=end_ms)


# ------------------------------------------------------------------ entry point


def _product(row: dict[str, Any]) -> Product:
    return Product(
        str(row["id"]),
        str(row["name"]),
        float(row["price"]),
        tuple(row["categories"]),
        row["in_stock"],
    )


def simulate(
    settings: Settings,
    *,
    store_key: str,
    visitors: int,
    days: int,
    seed: int = 1,
    concurrency: int = DEFAULT_CONCURRENCY,
    now: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> Result:
    """Send `visitors` shoppers' visits over the `days` days before `now` to the collector.

    Raises BadArguments (nothing written) for arguments it cannot run with, and
    SimulationError when the collector refuses a request.
    """
    if not 1 <= visitors <= MAX_VISITORS:
        raise BadArguments(f"--visitors must be from 1 to {MAX_VISITORS}, not {visitors}")
    if not 1 <= days <= MAX_DAYS:
        raise BadArguments(f"--days must be from 1 to {MAX_DAYS}, not {days}")
    if not 1 <= concurrency <= 256:
        raise BadArguments(f"--concurrency must be from 1 to 256, not {concurrency}")
    storage = Storage(settings.database_url)
    try:
        storage.migrate()
        store = storage.run(store_by_public_key, public_key=store_key)
        if store is None:
            raise BadArguments(f"--store: no store has the public key {store_key!r}")
        items = [_product(row) for row in storage.run(product_summaries, store_id=store.id)]
    finally:
        storage.dispose()
    if not items:
        raise BadArguments(f"--store: the store {store.name!r} has no products; import some first")
    if not any(p.in_stock for p in items):
        raise BadArguments(f"--store: every product of {store.name!r} is out of stock")
    simulation = Simulation(
        settings,
        store=store,
        products=items,
        visitors=visitors,
        days=days,
        seed=seed,
        now=time.time() if now is None else now,
        concurrency=concurrency,
        progress=progress,
    )
    return asyncio.run(simulation.run())
