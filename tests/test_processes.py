"""Several collector processes on one database: one salt per period whoever asks first,
a day rolled up once however many processes roll it up at the same moment, and a
`serve` process killed (SIGKILL) under load loses no event it acknowledged."""

from __future__ import annotations

import collections
import dataclasses
import http.client
import json
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from starlette.testclient import TestClient

from collector.app import create_app
from collector.services import Services
from collector.settings import Settings
from collector.storage import rollups
from collector.storage.schema import events, rollup_products, rollup_visits, rollup_widgets, salts
from collector.storage.stores import salt_for_period

from .factories import Clock, StoreKeys, product
from .servers import Served
from .test_attribution import DAY, Shop
from .test_search import Shop as SearchShop
from .test_serve_logs import cli_env

DAY_MS = DAY * 1000
RACERS = 4


def race(fns: list[Callable[[], Any]]) -> list[Any]:
    """Run each function in a thread of its own, all let go at once; their results."""
    start = threading.Barrier(len(fns))
    results: list[Any] = [None] * len(fns)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = fns[i]()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def same(row: dict[str, Any]) -> str:
    """A row as text that sorts, its numbers alike whatever their type (0 and 0.0)."""
    numbers = {k: float(v) if isinstance(v, int | float) else v for k, v in row.items()}
    return json.dumps(numbers, sort_keys=True)


def processes(settings: Settings, clock: Clock, n: int = RACERS) -> list[Services]:
    """Services of their own, as each process has: an engine and a pool each."""
    return [Services(settings, clock=clock) for _ in range(n)]


def test_processes_asking_for_a_new_period_at_once_get_one_salt(
    services: Services, settings: Settings, clock: Clock
) -> None:
    racers = processes(settings, clock)
    try:
        for period in range(100, 110):

            def ask(s: Services, period: int = period) -> str:
                return s.storage.run(salt_for_period, period=period, expires_at=period + 1)

            answers = race([lambda s=s: ask(s) for s in racers])  # type: ignore[misc]
            assert len(set(answers)) == 1, period
            with services.storage.engine.connect() as conn:
                stored = conn.execute(select(salts.c.period, salts.c.salt)).all()
            assert stored == [(period, answers[0])]
    finally:
        for s in racers:
            s.storage.dispose()


def test_processes_rolling_up_the_same_day_at_once_count_it_once(
    client, services: Services, settings: Settings, store: StoreKeys, clock: Clock
) -> None:
    shop = Shop(client, store, clock)
    day = rollups.day_of(int(clock() * 1000))
    for n in range(6):
        shop.call("log/product", f"v{n}", product=f"p{n % 3}")
        shop.click(f"v{n}", f"p{n % 3}", "recommendations/popular", ["Bestsellers"])
    shop.sale("v1", "o1", [("p1", 2, 10.0)])
    shop.sale("v4", "o2", [("p1", 1, 5.0)])
    clock.advance(DAY)  # the day is over, and final once rolled up now
    now = int(clock() * 1000)
    expected = services.storage.read_sync(rollups.day_rollup, store_id=store.id, day=day)
    racers = processes(settings, clock)
    try:
        # Every process read the day before any saved it: one save, the others see it.
        saved = race(
            [
                lambda s=s: s.storage.run(  # type: ignore[misc]
                    rollups.save_rollup, store_id=store.id, day=day, rows=expected, now_ms=now
                )
                for s in racers
            ]
        )
        assert sorted(saved) == [False] * (RACERS - 1) + [True]
        # As housekeeping does it in each process, on a day not rolled up yet.
        services.storage.run(rollups.invalidate_rollups, store_id=store.id, start_ms=0, end_ms=now)
        done = race(
            [
                lambda s=s: rollups.roll_up(s.storage, store_id=store.id, now_ms=now)  # type: ignore[misc]
                for s in racers
            ]
        )
        # Each rolled the day up, or (its read came after another's save) found it final.
        assert max(done) == 1 and set(done) <= {0, 1}
    finally:
        for s in racers:
            s.storage.dispose()
    with services.storage.engine.connect() as conn:
        for table, part in (
            (rollup_visits, "visits"),
            (rollup_widgets, "widgets"),
            (rollup_products, "products"),
        ):
            stored = [
                {k: v for k, v in r.items() if k not in ("store_id", "day", "computed_at")}
                for r in conn.execute(
                    select(table).where(table.c.store_id == store.id, table.c.day == day)
                ).mappings()
            ]
            assert sorted(map(same, stored)) == sorted(map(same, expected[part])), part
    sums = services.storage.read_sync(
        rollups.rollup_sums,
        table=rollup_visits,
        keys=(),
        values=("revenue_clerk", "revenue_other", "orders_clerk", "orders_other"),
        store_id=store.id,
        start_ms=day * DAY_MS,
        end_ms=(day + 1) * DAY_MS,
    )
    assert sums[()] == {
        "revenue_clerk": 25.0,
        "revenue_other": 0,
        "orders_clerk": 2,
        "orders_other": 0,
    }


# ---------------------------------------------------------------- a process killed under load

LOAD_SECONDS = 1.5  # of load at least before the kill, and as long again after it
CLIENTS = 6
CALLS = 100  # acknowledged by each process before the kill, by the survivor after it


def until(condition: Callable[[], bool], lock: threading.Lock, limit: float = 120.0) -> None:
    """Wait until `condition` holds (checked under `lock`); fail after `limit` seconds
    (a hang, not a slow run)."""
    deadline = time.monotonic() + limit
    while True:
        with lock:
            if condition():
                return
        assert time.monotonic() < deadline, "the load made no progress"
        time.sleep(0.05)


def post_product(url: str, public_key: str, visitor: str | None, product: str) -> int | None:
    """One log/product call as clerk.js sends it (without `visitor`: in auto mode, the
    visitor derived from the address and User-Agent): the answer's status, None without
    one."""
    body = {"key": public_key, "product": product}
    if visitor is not None:
        body["visitor"] = visitor
    request = urllib.request.Request(
        f"{url}/v2/log/product",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "text/plain",
            "X-Forwarded-For": "203.0.113.9",
            "User-Agent": "ProcessTest/1.0",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, http.client.HTTPException):
        return None  # no whole answer: refused, reset or cut off by the kill


def test_a_serve_process_killed_under_load_loses_no_acknowledged_event(
    services: Services, store: StoreKeys, database_url: str, tmp_path: Path
) -> None:
    env = cli_env(database_url, RATE_LIMIT_CLIENT="0", RATE_LIMIT_STORE="0")
    served = [Served(env, tmp_path, tmp_path / f"serve{i}.log") for i in range(2)]
    try:
        for s in served:
            s.wait_ready()
        doomed, survivor = served
        # One salt for both: the same shopper is the same visitor whichever one answers.
        for s in served:
            assert post_product(s.url, store.public_key, None, f"auto-{s.port}") == 200
        with services.storage.engine.connect() as conn:
            auto = conn.execute(
                select(events.c.visitor_mode, events.c.visitor_id).where(
                    events.c.product_id.in_([f"auto-{s.port}" for s in served])
                )
            ).all()
        assert len(auto) == 2 and auto[0] == auto[1] and auto[0][0] == "auto", auto
        acknowledged: list[str] = []
        served_urls = [doomed.url, survivor.url]
        answered: dict[str, list[int | None]] = {url: [] for url in served_urls}
        acknowledged_by = dict.fromkeys(served_urls, 0)
        lock, stop = threading.Lock(), threading.Event()

        def shopper(n: int) -> None:
            i = 0
            while not stop.is_set():
                url = (doomed, survivor)[i % 2].url
                product = f"c{n}-r{i}"  # one product id per request
                status = post_product(url, store.public_key, f"visitor{n}", product)
                with lock:
                    answered[url].append(status)
                    if status is not None and 200 <= status < 300:
                        acknowledged.append(product)
                        acknowledged_by[url] += 1
                i += 1

        threads = [threading.Thread(target=shopper, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        # Load for LOAD_SECONDS and until each process acknowledged some calls; then the
        # kill, and load on until the survivor answered as many again and calls to the
        # dead one went unanswered (counts, not times: a slow machine only waits longer).
        time.sleep(LOAD_SECONDS)
        until(lambda: min(map(acknowledged_by.get, served_urls)) >= CALLS, lock)
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait()
        with lock:
            served_before = len(answered[survivor.url])
        time.sleep(LOAD_SECONDS)
        until(
            lambda: (
                len(answered[survivor.url]) >= served_before + CALLS
                and answered[doomed.url].count(None) >= CLIENTS
            ),
            lock,
        )
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)

        statuses = collections.Counter(answered[survivor.url])
        assert set(statuses) == {200}, (statuses, survivor.log.read_text()[-3000:])
        with services.storage.engine.connect() as conn:
            stored = set(
                conn.scalars(
                    select(events.c.product_id).where(
                        events.c.store_id == store.id, events.c.kind == "view"
                    )
                )
            )
        missing = [p for p in acknowledged if p not in stored]
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged events lost"
        # The survivor still serves: a new event is taken and stored.
        assert post_product(survivor.url, store.public_key, "after", "after-kill") == 200
        with services.storage.engine.connect() as conn:
            after = conn.scalar(
                select(func.count()).where(
                    events.c.store_id == store.id, events.c.product_id == "after-kill"
                )
            )
        assert after == 1
    finally:
        for s in served:
            s.stop()


# ---------------------------------------------------------------- caches of several processes


def test_a_catalogue_change_made_through_one_process_shows_in_another_at_once(
    client: TestClient, services: Services, settings: Settings, store: StoreKeys, clock: Clock
) -> None:
    """Search answers are cached under the catalogue version read with every call, and
    recommendations check stock and deletions on every call, however long the other
    process keeps its rankings."""
    # The other process keeps rankings for an hour: only the per-call check can help.
    other = Services(dataclasses.replace(settings, recommendation_cache_seconds=3600), clock=clock)
    try:
        with TestClient(create_app(other.settings, services=other)) as other_client:
            here, there = SearchShop(client, store), SearchShop(other_client, store)
            here.catalogue(product(1, name="Blue jacket"), product(2, name="Lamp"))
            here.view("1", times=3)
            here.view("2")
            assert there.find("jacket") == ["1"]  # each answer now cached there
            assert there.find("jack", "predictive") == ["1"]
            assert popular(other_client, store) == ["1", "2"]

            here.catalogue(product(1, name="Green coat"), product(3, name="Red jacket"))
            assert there.find("jacket") == ["3"]
            assert there.find("jack", "predictive") == ["3"]
            assert there.find("coat") == ["1"]
            here.delete("1")
            assert there.find("coat") == []
            assert "1" not in popular(other_client, store)
    finally:
        other.storage.dispose()


def popular(client: TestClient, store: StoreKeys) -> list[str]:
    answer = client.post("/v2/recommendations/popular", json={"key": store.public_key, "limit": 10})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["result"])
