"""DATABASE_REPLICA_URL: reports, stats and store-wide rankings read a real streaming
replica (scripts/services makes one of the test server; without it these tests skip);
writes, and reads that must see their own writes, stay on the primary; a replica that
does not answer sends its reads to the primary; the setting is checked."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from starlette.testclient import TestClient

from collector import metrics
from collector import storage as storage_module
from collector.app import create_app
from collector.services import Services
from collector.settings import ConfigError, Settings

from .conftest import REPLICA_WAIT_SECONDS, Replica
from .factories import Clock, StoreKeys, make_store, product
from .servers import Relay
from .test_dashboard import make_admin, seed, sign_in, token

EMAIL = "buyer@shop.example"


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """A replica is a PostgreSQL feature: these tests run on PostgreSQL only."""
    return str(request.param)


@pytest.fixture
def settings(database_url: str, replica_url: str) -> Settings:
    """The test's database, and its copy on the replica."""
    return Settings(
        database_url=database_url,
        database_replica_url=replica_url,
        forwarded_allow_ips=["127.0.0.1"],
        recommendation_cache_seconds=0,
    )


class Statements:
    """The SQL each engine of a storage runs (SQLAlchemy's events on the real engines)."""

    def __init__(self, services: Services) -> None:
        assert services.storage.replica is not None
        self.engines: dict[str, Engine] = {
            "primary": services.storage.engine,
            "replica": services.storage.replica,
        }
        self.seen: dict[str, list[str]] = {name: [] for name in self.engines}
        self._listeners: list[tuple[Engine, Any]] = []

    def __enter__(self) -> Statements:
        for name, engine in self.engines.items():

            def listener(conn: Any, cursor: Any, statement: str, *_: Any, name: str = name) -> None:
                self.seen[name].append(" ".join(statement.split()))

            event.listen(engine, "before_cursor_execute", listener)
            self._listeners.append((engine, listener))
        return self

    def __exit__(self, *_: Any) -> None:
        for engine, listener in self._listeners:
            event.remove(engine, "before_cursor_execute", listener)

    def reading(self, name: str, table: str) -> list[str]:
        """The queries (not writes: a widget's answer records its render) of this engine
        that name the table."""
        return [
            s
            for s in self.seen[name]
            if s.startswith(("SELECT", "WITH")) and (f" {table} " in f"{s} " or f"{table}." in s)
        ]

    def clear(self) -> None:
        for statements in self.seen.values():
            statements.clear()


def stats(client: TestClient, store: StoreKeys, name: str, **body: Any) -> Any:
    answer = client.post(
        f"/v2/stats/{name}",
        json={"key": store.public_key, "private_key": store.private_key, **body},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def orders_counted(client: TestClient, store: StoreKeys) -> int:
    return int(stats(client, store, "overview")["orders"])


def sale(client: TestClient, store: StoreKeys, order: str, visitor: str, email: str) -> None:
    answer = client.post(
        "/v2/log/sale",
        json={
            "key": store.public_key,
            "sale": order,
            "products": [{"id": "1", "quantity": 1, "price": 10.0}],
            "email": email,
            "visitor": visitor,
        },
    )
    assert answer.status_code == 200, answer.text


# The advisory lock (on the primary) that one test process holds while it pauses the
# replica's replay: another pytest-xdist worker's pause waits instead of ending this one.
PAUSE_LOCK = 7_413_013


def replica_reads(ran_on: str) -> float:
    """clerk_replica_reads_total{ran_on=...} of this process."""
    return metrics.REGISTRY.get_sample_value("clerk_replica_reads_total", {"ran_on": ran_on}) or 0


@contextmanager
def replay_paused(replica: Replica) -> Iterator[None]:
    """The replica stops replaying the primary's commits (pg_wal_replay_pause) until the
    block ends: what the primary commits meanwhile is on the primary only."""
    with replica.primary.connect() as lock:
        lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PAUSE_LOCK})
        try:
            with _paused(replica):
                yield
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PAUSE_LOCK})


@contextmanager
def _paused(replica: Replica) -> Iterator[None]:
    with replica.engine.connect() as conn:
        conn.execute(text("SELECT pg_wal_replay_pause()"))
        conn.commit()
    try:
        deadline = time.monotonic() + REPLICA_WAIT_SECONDS
        while True:
            with replica.engine.connect() as conn:
                state = conn.scalar(text("SELECT pg_get_wal_replay_pause_state()"))
            if state == "paused":
                break
            assert time.monotonic() < deadline, f"replay did not pause ({state})"
            time.sleep(0.05)
        yield
    finally:
        with replica.engine.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
            conn.commit()
    replica.caught_up()


# ---------------------------------------------------------------- reads on the replica


def test_the_replica_engine_is_a_standby(services, store):
    assert services.storage.replica is not None
    with services.storage.replica.connect() as conn:
        assert conn.scalar(text("SELECT pg_is_in_recovery()")) is True
    with services.storage.engine.connect() as conn:
        assert conn.scalar(text("SELECT pg_is_in_recovery()")) is False


def test_stats_reports_and_rankings_read_the_replica(client, services, store, postgres_replica):
    seed(client, store)
    postgres_replica.caught_up()
    make_admin(services, stores=[store.public_key])
    assert sign_in(client).status_code == 303
    base = f"/dashboard/stores/{store.id}"
    calls = {
        **{
            f"stats/{name}": lambda name=name: stats(client, store, name)
            for name in ("overview", "widgets", "products", "searches")
        },
        **{
            f"dashboard {page}": lambda page=page: client.get(f"{base}/{page}")
            for page in ("overview", "widgets", "products", "searches", "privacy")
        },
        **{
            api: lambda api=api: client.get(
                f"/v2/{api}", params={"key": store.public_key, "products": '["1"]'}
            )
            for api in (
                "recommendations/popular",
                "recommendations/trending",
                "recommendations/complementary",
                "recommendations/substituting",
            )
        },
        "recommendations/category/popular": lambda: client.get(
            "/v2/recommendations/category/popular",
            params={"key": store.public_key, "category": "1"},
        ),
    }
    before = replica_reads("replica"), replica_reads("primary")
    with Statements(services) as seen:
        for name, call in calls.items():
            seen.clear()
            answer = call()
            assert getattr(answer, "status_code", 200) == 200, name
            assert seen.seen["replica"], f"{name}: nothing read on the replica"
            for table in ("events", "orders", "searches", "rollup_visits"):
                assert not seen.reading("primary", table), f"{name} read {table} on the primary"
    assert replica_reads("replica") >= before[0] + len(calls)
    assert replica_reads("primary") == before[1]


def test_a_replica_read_is_the_replicas_own_copy(client, services, store, postgres_replica):
    """While the replica replays nothing, the stats (replica) miss a new order, the
    customers (primary) have it; once it replays, both have it."""
    seed(client, store)
    postgres_replica.caught_up()
    assert orders_counted(client, store) == 1
    with replay_paused(postgres_replica):
        sale(client, store, "o2", "v2", "second@shop.example")
        assert orders_counted(client, store) == 1  # the replica's copy, a moment old
        emails = [r["email"] for r in stats(client, store, "customers")["rows"]]
        assert "second@shop.example" in emails  # customers: on the primary
    assert orders_counted(client, store) == 2


# ---------------------------------------------------------------- writes and their reads


def test_writes_and_reads_of_own_writes_stay_on_the_primary(
    client, services, store, postgres_replica
):
    seed(client, store)
    make_admin(services, stores=[store.public_key])
    postgres_replica.caught_up()
    key = store.public_key
    base = f"/dashboard/stores/{store.id}"
    with Statements(services) as seen, replay_paused(postgres_replica):
        # Tracking, the catalogue, search: writes, and reads of what they wrote.
        answer = client.post(
            "/v2/products",
            json={"key": key, "private_key": store.private_key, "products": [product(3)]},
        )
        assert answer.status_code == 200
        view = {"key": key, "product": "3", "visitor": "v1"}
        assert client.post("/v2/log/product", json=view).status_code == 200
        history = client.get(
            "/v2/recommendations/visitor/history", params={"key": key, "visitor": "v1"}
        ).json()
        assert "3" in history["result"]  # the view just logged
        new = client.get("/v2/recommendations/new", params={"key": key}).json()
        assert "3" in new["result"]  # the product just sent
        assert client.post("/v2/search/search", json={"key": key, "query": "shoe"}).status_code
        # The dashboard: sign-in (throttle, sessions, CSRF), stores, contents, Forget.
        assert sign_in(client).status_code == 303
        for page in ("stores", f"stores/{store.id}/contents"):
            assert client.get(f"/dashboard/{page}").status_code == 200
        answer = client.post(f"{base}/forget", data={"csrf": token(client), "email": EMAIL})
        assert answer.status_code == 200
        assert EMAIL not in client.get(f"{base}/customers").text  # gone at once
        assert client.get(f"{base}/visitor", params={"id": "v1"}).status_code == 200
        assert seen.seen["primary"]
        assert seen.seen["replica"] == []


# ---------------------------------------------------------------- the replica down


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def down_services(database_url: str, clock: Clock) -> Iterator[Services]:
    """Services whose replica URL names a port nothing listens on."""
    name = database_url.rsplit("/", 1)[-1]
    replica = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/{name}"
    services = Services(
        Settings(database_url=database_url, database_replica_url=replica), clock=clock
    )
    yield services
    services.storage.dispose()


def test_reads_go_to_the_primary_while_the_replica_is_down(down_services, caplog):
    store = make_store(down_services)
    caplog.set_level(logging.WARNING, logger="collector.storage")

    def failures() -> list[str]:
        return [r.getMessage() for r in caplog.records if "read replica" in r.getMessage()]

    before = replica_reads("replica"), replica_reads("primary")
    with TestClient(create_app(down_services.settings, services=down_services)) as client:
        answer = client.post(
            "/v2/products",
            json={
                "key": store.public_key,
                "private_key": store.private_key,
                "products": [product(1)],
            },
        )
        assert answer.status_code == 200
        sale(client, store, "o1", "v1", EMAIL)
        down_services.storage.replica_retry_seconds = 0  # try the replica on every read
        assert orders_counted(client, store) == 1  # answered by the primary
        assert orders_counted(client, store) == 1
        assert len(failures()) == 2
        down_services.storage.replica_retry_seconds = 3600
        assert orders_counted(client, store) == 1  # tried, failed: an hour of primary
        popular = client.get("/v2/recommendations/popular", params={"key": store.public_key})
        assert popular.status_code == 200 and popular.json()["result"] == ["1"]
        assert orders_counted(client, store) == 1
    assert failures() == [
        "read replica failed (OperationalError); replica reads go to the primary for 0 s",
        "read replica failed (OperationalError); replica reads go to the primary for 0 s",
        "read replica failed (OperationalError); replica reads go to the primary for 3600 s",
    ]
    # Four stats reads and popular's two (sales, views), each on the primary.
    assert (replica_reads("replica"), replica_reads("primary")) == (before[0], before[1] + 6)
    logged = caplog.text
    for private in (EMAIL, "v1", store.public_key, down_services.settings.database_replica_url):
        assert private not in logged


def test_the_replica_is_used_again_once_it_is_back(database_url, replica_url, clock, caplog):
    """Through a relay to the real replica: cut, the reads go to the primary; joined
    again, the next try reads the replica."""
    host_port = replica_url.split("@", 1)[1].split("/", 1)[0]
    switch = Relay(int(host_port.rsplit(":", 1)[1]))
    settings = Settings(
        database_url=database_url,
        database_replica_url=replica_url.replace(host_port, f"127.0.0.1:{switch.port}"),
    )
    services = Services(settings, clock=clock)
    store = make_store(services)
    caplog.set_level(logging.WARNING, logger="collector.storage")
    try:
        with TestClient(create_app(settings, services=services)) as client:
            services.storage.replica_retry_seconds = 0  # try the replica on every read

            def ran_on() -> str:
                before = replica_reads("replica")
                assert orders_counted(client, store) == 0
                return "replica" if replica_reads("replica") > before else "primary"

            assert ran_on() == "replica"
            switch.cut()
            assert ran_on() == "primary"
            assert ran_on() == "primary"
            switch.up = True
            assert ran_on() == "replica"
            assert ran_on() == "replica"
    finally:
        switch.close()
        services.storage.dispose()
    assert len([r for r in caplog.records if "read replica failed" in r.getMessage()]) == 2


def test_reads_go_to_the_primary_while_the_replica_is_behind(
    database_url, replica_url, clock, postgres_replica, monkeypatch, caplog
):
    """REPLICA_MAX_LAG_SECONDS=1: while the replica's replay is paused with a commit
    waiting, its copy grows older than that and the stats read the primary (the new
    order counted); once it has caught up they read the replica again."""
    monkeypatch.setattr(storage_module, "REPLICA_LAG_CHECK_SECONDS", 0.0)  # every read
    settings = Settings(
        database_url=database_url, database_replica_url=replica_url, replica_max_lag_seconds=1
    )
    services = Services(settings, clock=clock)
    store = make_store(services)
    caplog.set_level(logging.WARNING, logger="collector.storage")
    try:
        with TestClient(create_app(settings, services=services)) as client:

            def counted_on() -> tuple[int, str]:
                before = replica_reads("replica")
                counted = orders_counted(client, store)
                return counted, "replica" if replica_reads("replica") > before else "primary"

            seed(client, store)
            postgres_replica.caught_up()
            assert counted_on() == (1, "replica")
            with replay_paused(postgres_replica):
                sale(client, store, "o2", "v2", "second@shop.example")
                time.sleep(1.5)
                assert counted_on() == (2, "primary")
                assert counted_on() == (2, "primary")
            assert counted_on() == (2, "replica")
    finally:
        services.storage.dispose()
    said = [r.getMessage() for r in caplog.records if "read replica" in r.getMessage()]
    assert len(said) == 2, said
    assert "behind; replica reads go to the primary until it is within 1 s" in said[0]
    assert said[1] == "read replica caught up; replica reads go to it again"


# ---------------------------------------------------------------- the setting


@pytest.mark.parametrize(
    "env, message",
    [
        (
            {"DATABASE_URL": "postgresql://db/clerk", "DATABASE_REPLICA_URL": "sqlite:///r.db"},
            "DATABASE_REPLICA_URL must be a postgresql:// URL (a streaming replica of the "
            "PostgreSQL server of DATABASE_URL), not a sqlite:// URL",
        ),
        (
            {"DATABASE_URL": "postgresql://db/clerk", "DATABASE_REPLICA_URL": "replica:5433"},
            "not something that is not a URL",
        ),
        (
            {"DATABASE_URL": "sqlite:///clerk.db", "DATABASE_REPLICA_URL": "postgresql://r/c"},
            "DATABASE_REPLICA_URL is set but DATABASE_URL is not PostgreSQL",
        ),
        (
            {"DATABASE_REPLICA_URL": "postgresql://r/c"},  # DATABASE_URL's default: SQLite
            "DATABASE_REPLICA_URL is set but DATABASE_URL is not PostgreSQL",
        ),
    ],
)
def test_the_replica_url_is_checked(env, message):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "primary, replica",
    [
        ("postgresql://db/clerk", "postgresql://replica:5433/clerk"),
        ("postgres://db/clerk", "postgresql+psycopg://replica/clerk?connect_timeout=2"),
        ("sqlite:///clerk.db", ""),
        ("postgresql://db/clerk", "  "),
    ],
)
def test_a_good_replica_url_or_none_is_taken(primary, replica):
    settings = Settings.from_env({"DATABASE_URL": primary, "DATABASE_REPLICA_URL": replica})
    assert settings.database_replica_url == replica.strip()
