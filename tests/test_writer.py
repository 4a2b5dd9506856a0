"""The writer on its own thread and connection, its watchdog, and reads that cannot starve it."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.testclient import TestClient

from collector.app import create_app
from collector.services import Services
from collector.settings import Settings
from collector.storage.writer import WriterUnavailable

from .factories import Clock, StoreKeys, count, make_store

HANG = 20.0  # seconds after which a call that should answer is taken to hang


def within(seconds: float, fn: Callable[[], Any]) -> Any:
    """fn(), failing the test if it has not returned after `seconds` (a hang, not a timing)."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        return pool.submit(fn).result(timeout=seconds)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"no answer after {seconds} s: it hangs")
    finally:
        pool.shutdown(wait=False)


def post(client: TestClient, store: StoreKeys, endpoint: str, **body: Any) -> Any:
    return client.post(
        f"/v2/{endpoint}",
        content=json.dumps({"key": store.public_key, **body}),
        headers={"content-type": "text/plain"},
    )


def viewed(services: Services, product: str) -> int:
    with services.storage.engine.connect() as conn:
        return len(
            conn.exec_driver_sql(
                "SELECT id FROM events WHERE product_id = ?"
                if services.storage.backend == "sqlite"
                else "SELECT id FROM events WHERE product_id = %s",
                (product,),
            ).all()
        )


# ---------------------------------------------------------------- reads and the writer


def test_a_write_commits_while_sixty_slow_reads_hold_their_connections(client, services, store):
    """60 reads that each hold a connection until released: the reads beyond the read
    slots queue in the event loop, and a log/product meanwhile commits and answers 200."""
    storage = services.storage
    assert post(client, store, "log/product", visitor="warm", product="p0").status_code == 200
    release = threading.Event()
    lock = threading.Lock()
    busy = {"now": 0, "peak": 0, "done": 0}

    def slow_read(conn: Connection) -> int:
        conn.exec_driver_sql("SELECT 1")  # the connection is really checked out
        with lock:
            busy["now"] += 1
            busy["peak"] = max(busy["peak"], busy["now"])
        try:
            release.wait(60)
            return 1
        finally:
            with lock:
                busy["now"] -= 1
                busy["done"] += 1

    assert client.portal is not None
    reads = [client.portal.start_task_soon(partial(storage.read, slow_read)) for _ in range(60)]
    try:
        # Wait until every read slot is taken (a loop on the work done, not a clock).
        deadline = time.monotonic() + HANG
        while busy["now"] < storage.read_slots and time.monotonic() < deadline:
            time.sleep(0.01)
        assert busy["now"] == storage.read_slots
        answer = within(HANG, lambda: post(client, store, "log/product", visitor="v", product="p1"))
        assert answer.status_code == 200, answer.text
        assert viewed(services, "p1") == 1  # committed while the reads still run
        assert busy["done"] == 0
    finally:
        release.set()
    assert [read.result(timeout=HANG) for read in reads] == [1] * 60
    # Never more reads at once than the read slots, which leave the pool room to spare.
    assert busy["peak"] == storage.read_slots < storage.pool_capacity - 1


@pytest.fixture
def quick_pool(settings: Settings, clock: Clock) -> Iterator[Services]:
    """Services whose pool gives up on a checkout after 1 s (instead of 30)."""
    services = Services(dataclasses.replace(settings, database_pool_timeout=1), clock=clock)
    services.storage.migrate()
    yield services
    services.storage.dispose()


def test_an_exhausted_pool_answers_503_and_writes_still_commit(quick_pool):
    services = quick_pool
    store = make_store(services)
    with TestClient(create_app(services.settings, services=services)) as client:
        assert post(client, store, "log/product", visitor="v", product="p1").status_code == 200
        held = []
        try:
            while True:  # take every connection the pool will give
                try:
                    held.append(services.storage.engine.connect())
                except PoolTimeout:
                    break
            answer = within(HANG, lambda: post(client, store, "recommendations/new", limit=3))
            assert answer.status_code == 503, answer.text
            assert answer.json()["type"] == "storage_unavailable"
            assert answer.headers["retry-after"]
            # The writer has a connection of its own: tracking still commits.
            answer = within(
                HANG, lambda: post(client, store, "log/product", visitor="v", product="p2")
            )
            assert answer.status_code == 200, answer.text
        finally:
            for conn in held:
                conn.close()
        assert viewed(services, "p2") == 1


# ---------------------------------------------------------------- the watchdog


def test_a_dead_writer_fails_health_and_every_write_at_once(client, services, store):
    assert client.get("/healthz").status_code == 200
    before = count(services, "events")

    def fatal(conn: Connection) -> None:
        raise SystemExit("a fault inside the writer")  # not an Exception: the thread ends

    assert client.portal is not None
    with pytest.raises(WriterUnavailable):
        within(HANG, lambda: client.portal.call(services.storage.write, fatal))  # type: ignore[union-attr]
    health = within(HANG, lambda: client.get("/healthz"))
    assert health.status_code == 503
    assert health.json()["type"] == "writer_unavailable"
    assert "writer" in health.json()["message"]
    for n in range(3):
        answer = within(
            HANG, lambda n=n: post(client, store, "log/product", visitor="v", product=f"p{n}")
        )
        assert answer.status_code == 503, answer.text
        assert answer.json()["type"] == "storage_unavailable"
        assert answer.headers["retry-after"]
    assert count(services, "events") == before


def test_a_stuck_writer_fails_writes_until_it_comes_back(client, services, store):
    writer = services.storage.writer
    writer.stall_seconds = 0.5
    stuck, unstick = threading.Event(), threading.Event()

    def slow(conn: Connection) -> str:
        stuck.set()
        unstick.wait(HANG)
        return "late"

    assert client.portal is not None
    first = client.portal.start_task_soon(partial(services.storage.write, slow))
    assert stuck.wait(HANG)
    try:
        deadline = time.monotonic() + HANG  # the watchdog looks every second or so
        while client.get("/healthz").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        health = client.get("/healthz")
        assert health.status_code == 503 and "stuck" in health.json()["message"]
        answer = within(HANG, lambda: post(client, store, "log/product", visitor="v", product="p1"))
        assert answer.status_code == 503
        with pytest.raises(WriterUnavailable):
            first.result(timeout=HANG)
    finally:
        unstick.set()
    deadline = time.monotonic() + HANG
    while client.get("/healthz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("/healthz").status_code == 200
    answer = post(client, store, "log/product", visitor="v", product="p2")
    assert answer.status_code == 200
    assert viewed(services, "p1") == 0 and viewed(services, "p2") == 1


def test_the_writer_reconnects_after_its_connection_is_lost(client, services, store):
    """The writer's own connection breaks for real (its server process ends, or its
    SQLite handle is closed): that batch fails, the next one runs on a new connection."""
    storage = services.storage

    def dbapi(conn: Connection) -> Any:
        return conn.connection.dbapi_connection

    def lose(conn: Connection) -> None:
        if conn.dialect.name == "sqlite":
            conn.connection.dbapi_connection.close()  # type: ignore[union-attr]
        else:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with storage.engine.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")  # type: ignore[arg-type]

    assert client.portal is not None
    first = client.portal.call(storage.write, dbapi)
    assert client.portal.call(storage.write, dbapi) is first  # one long-lived connection
    with pytest.raises(Exception):  # noqa: B017 (the driver's error, whichever it is)
        client.portal.call(storage.write, lose)
    answer = within(HANG, lambda: post(client, store, "log/product", visitor="v", product="p1"))
    assert answer.status_code == 200, answer.text
    assert client.portal.call(storage.write, dbapi) is not first
    assert viewed(services, "p1") == 1
    assert client.get("/healthz").status_code == 200


# ---------------------------------------------------------------- answering a batch


def test_a_batch_is_answered_write_by_write_with_one_wake_up_of_the_loop(services):
    """Each waiter gets its own write's result (or exception) after the commit, and the
    writer wakes the waiting event loop once per batch, not once per write."""
    import asyncio

    from sqlalchemy import text

    async def main() -> tuple[list[Any], int, int]:
        loop = asyncio.get_running_loop()
        wake_ups = 0
        plain = loop.call_soon_threadsafe

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal wake_ups
            wake_ups += 1
            return plain(*args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        writer = services.storage.writer
        await writer.start()
        try:

            def write(n: int, conn: Connection) -> int:
                if n == 7:
                    raise ValueError("write 7 fails")
                committed = conn.execute(text("SELECT count(*) FROM stores")).scalar_one()
                return n * 1000 + committed

            batches = writer.batches
            results = await asyncio.gather(
                *(writer.submit(partial(write, n)) for n in range(40)), return_exceptions=True
            )
            return results, wake_ups, writer.batches - batches
        finally:
            await writer.stop()
            loop.call_soon_threadsafe = plain  # type: ignore[method-assign]

    results, wake_ups, batches = within(HANG, lambda: __import__("asyncio").run(main()))
    assert [r for n, r in enumerate(results) if n != 7] == [n * 1000 for n in range(40) if n != 7]
    assert isinstance(results[7], ValueError)
    # A failed batch is retried write by write, in batches of one: each answers at once.
    assert 1 <= batches < 40 and wake_ups <= batches


def test_inserted_rows_through_the_driver_are_those_sqlalchemy_inserts(services, store):
    """run_writes sends a run of InsertRow through the driver's executemany: the rows stored
    are those SQLAlchemy's own INSERT stores (NULLs, big numbers, text, JSON text)."""
    from sqlalchemy import select

    from collector.storage.schema import events
    from collector.storage.tracking import event, record_event
    from collector.storage.writer import run_writes

    def fields(n: int, base: int) -> dict[str, Any]:
        return {
            "store_id": store.id,
            "ts": 2**53 + base + n,
            "kind": "click" if n % 2 else "view",
            "visitor_mode": "auto",
            "visitor_id": None if n % 3 else f"v{n}",
            "session": "s",
            "product_id": f"p{n}é",
            "labels": ["a", "ü"] if n % 2 else None,
            "position": n if n % 2 else None,
        }

    def stored(kinds: tuple[int, int]) -> list[tuple[Any, ...]]:
        with services.storage.engine.connect() as conn:
            rows = conn.execute(
                select(events).where(events.c.ts.between(2**53 + kinds[0], 2**53 + kinds[1]))
            ).all()
        return sorted(tuple(row)[1:] for row in rows)  # all but the id

    with services.storage.engine.begin() as conn:
        run_writes(conn, [event(**fields(n, 0)) for n in range(10)])
        for n in range(10):
            record_event(conn, **fields(n, 200))

    through_driver = stored((0, 9))
    assert len(through_driver) == 10
    expected = [(row[0], row[1] - 200, *row[2:]) for row in stored((200, 209))]
    assert [(row[0], row[1], *row[2:]) for row in through_driver] == expected
