"""Monthly partitions of events on PostgreSQL (storage/partitions.py, migration 20): made
ahead of time, fed from DEFAULT when made, dropped whole by retention; and the migration
of a database with events in it. SQLite has none, and the same calls do nothing there.

Migration 20 bounds the old table's partition by the month after the real one, so times
here are months after the real time, never the test clock's fixed day.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, text
from starlette.testclient import TestClient

from collector.app import create_app
from collector.housekeeping import keep_partitions_ahead
from collector.services import Services
from collector.storage import Storage, migrations, partitions
from collector.storage.retention import purge
from collector.storage.tracking import record_event

from .factories import StoreKeys
from .test_migrations import assert_shape_of_schema_py

DAY_MS = 86_400_000
ON_POSTGRESQL = pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def real_month(ahead: int) -> int:
    """The start of the month `ahead` months after the real current one."""
    year, month = partitions.month_of(int(time.time() * 1000))
    return partitions.month_start(year, month + ahead)


def add_events(storage: Storage, store_id: int, times: list[int]) -> None:
    def write(conn: Connection) -> None:
        for n, ts in enumerate(times):
            record_event(
                conn,
                store_id=store_id,
                ts=ts,
                kind="view",
                visitor_mode="persistent",
                visitor_id=f"v{n}",
                session=None,
                product_id="p1",
            )

    storage.run(write)


def events_in(storage: Storage, table: str = "events") -> list[tuple[int, int]]:
    """(id, ts) of the rows of events, or of one of its partitions, in id order."""
    with storage.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT id, ts FROM {table} ORDER BY id"))]


def partition_names(storage: Storage) -> set[str]:
    """The partitions of events, from the catalogue itself (pg_inherits, pg_class)."""
    with storage.engine.connect() as conn:
        return set(
            conn.scalars(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'events'::regclass"
                )
            )
        )


def table_exists(storage: Storage, name: str) -> bool:
    with storage.engine.connect() as conn:
        return conn.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is not None


def index_count(storage: Storage, table: str) -> int:
    with storage.engine.connect() as conn:
        return int(
            conn.scalar(text("SELECT count(*) FROM pg_indexes WHERE tablename = :t"), {"t": table})
            or 0
        )


def name_at(ms: int) -> str:
    return partitions.name_of(*partitions.month_of(ms))


@ON_POSTGRESQL
def test_after_migrate_the_next_months_have_partitions_with_the_indexes(services: Services):
    storage = services.storage
    names = partition_names(storage)
    ahead = {name_at(real_month(n)) for n in (1, 2, 3)}
    assert ahead | {"events_default", "events_legacy"} <= names
    for name in ahead | {"events_default", "events_legacy"}:
        assert index_count(storage, name) == 4, name  # the key and schema.py's three
    assert_shape_of_schema_py(storage.engine)


@ON_POSTGRESQL
def test_housekeeping_makes_the_months_ahead_and_moves_their_events_out_of_default(
    services: Services, store: StoreKeys, clock
):
    storage = services.storage
    later = real_month(12)
    months = [later, real_month(13), real_month(16)]  # the last stays beyond the 3 ahead
    add_events(
        storage, store.id, [months[0] + DAY_MS, months[0] + 2 * DAY_MS, months[1], months[2]]
    )
    before = events_in(storage)
    assert events_in(storage, "events_default") == before  # no month of theirs yet

    clock.now = (later + 5 * DAY_MS) / 1000
    made = keep_partitions_ahead(services)
    assert made == [name_at(real_month(n)) for n in (12, 13, 14, 15)]
    assert events_in(storage) == before  # every event kept, with its id
    assert events_in(storage, name_at(months[0])) == before[:2]
    assert events_in(storage, name_at(months[1])) == before[2:3]
    assert events_in(storage, "events_default") == before[3:]
    assert index_count(storage, name_at(months[0])) == 4
    assert keep_partitions_ahead(services) == []  # made once

    # The DEFAULT row's month is made later on, and takes it over.
    clock.now = months[2] / 1000
    assert name_at(months[2]) in keep_partitions_ahead(services)
    assert events_in(storage, "events_default") == []
    assert events_in(storage, name_at(months[2])) == before[3:]
    add_events(storage, store.id, [months[2] + DAY_MS])  # inserts go on, to the new month
    assert len(events_in(storage, name_at(months[2]))) == 2


@ON_POSTGRESQL
def test_the_app_makes_the_months_ahead_when_it_starts(services: Services, clock):
    clock.now = real_month(60) / 1000
    wanted = {name_at(real_month(n)) for n in (60, 61, 62, 63)}
    assert not wanted & partition_names(services.storage)
    with TestClient(create_app(services.settings, services=services)):
        deadline = time.monotonic() + 30  # housekeeping's first pass runs beside start-up
        while not wanted <= partition_names(services.storage) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert wanted <= partition_names(services.storage)


@ON_POSTGRESQL
def test_purge_drops_whole_old_months_and_deletes_the_rows_of_the_one_it_cuts(
    services: Services, store: StoreKeys
):
    storage = services.storage
    base = real_month(24)
    partitions.keep_ahead(storage, now_ms=base)  # base and the 3 months after it
    first, second, third = base, real_month(25), real_month(26)
    cutoff = third + 15 * DAY_MS
    add_events(storage, store.id, [first, first + DAY_MS, second + DAY_MS])
    add_events(storage, store.id, [third + DAY_MS, cutoff - 1, cutoff, cutoff + DAY_MS])
    add_events(storage, store.id, [real_month(27) + DAY_MS])
    everything = events_in(storage)
    kept = [(id_, ts) for id_, ts in everything if ts >= cutoff]
    assert len(kept) == 3
    ahead_of_cutoff = partition_names(storage)
    with storage.engine.connect() as conn:
        old_months = {p.name for p in partitions.droppable(conn, before_ms=cutoff)}
    assert {name_at(first), name_at(second), "events_legacy"} <= old_months
    assert name_at(third) not in old_months and "events_default" not in old_months

    dry = purge(storage, before_ms=cutoff, now_ms=cutoff, dry_run=True)
    assert (dry["events"], dry["event_partitions_dropped"]) == (5, len(old_months))
    assert events_in(storage) == everything

    counts = purge(storage, before_ms=cutoff, now_ms=cutoff)
    assert (counts["events"], counts["event_partitions_dropped"]) == (5, len(old_months))
    assert events_in(storage) == kept
    remaining = partition_names(storage)
    made_ahead = {name_at(real_month(28)), name_at(real_month(29))}  # purge keeps 3 ahead
    assert remaining == (ahead_of_cutoff - old_months) | made_ahead
    assert name_at(third) in remaining  # cut by the cutoff: its rows went one by one
    for name in old_months:
        assert not table_exists(storage, name), name  # dropped, not only detached
    # The ids' sequence went with no dropped table (events_legacy was the old events).
    add_events(storage, store.id, [cutoff + 2 * DAY_MS])
    new_id = events_in(storage)[-1][0]
    assert new_id > max(id_ for id_, _ in everything)
    assert purge(storage, before_ms=cutoff, now_ms=cutoff)["events"] == 0


@ON_POSTGRESQL
def test_workers_starting_together_make_each_month_once(services: Services):
    """Every worker's housekeeping runs keep_ahead at start, at the same moment."""
    later = real_month(40)
    start = threading.Barrier(4)
    made: list[list[str]] = []
    failed: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            made.append(partitions.keep_ahead(services.storage, now_ms=later))
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    assert sorted(name for names in made for name in names) == sorted(
        name_at(real_month(n)) for n in (40, 41, 42, 43)
    )


@ON_POSTGRESQL
def test_purge_deletes_the_rows_of_a_month_it_cannot_lock_now(
    services: Services, store: StoreKeys, monkeypatch: pytest.MonkeyPatch
):
    """A long read of events keeps the month from being dropped (the drop would hold
    up every insert behind it): purge gives up on the drop and deletes its rows."""
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "50ms")
    storage = services.storage
    base = real_month(50)
    partitions.keep_ahead(storage, now_ms=base)
    add_events(storage, store.id, [base + DAY_MS, real_month(51) + DAY_MS])
    kept = events_in(storage)[1:]
    cutoff = real_month(51)
    with storage.engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM events"))  # its transaction stays open
        counts = purge(storage, before_ms=cutoff, now_ms=cutoff)
    assert counts["event_partitions_dropped"] == 0 and counts["events"] == 1
    assert events_in(storage) == kept
    assert name_at(base) in partition_names(storage)
    assert events_in(storage, name_at(base)) == []
    counts = purge(storage, before_ms=cutoff, now_ms=cutoff)  # the read is over
    assert counts["event_partitions_dropped"] >= 1 and counts["events"] == 0
    assert name_at(base) not in partition_names(storage)


def test_on_sqlite_and_postgresql_the_same_calls_run_and_purge_keeps_its_counts(
    services: Services, store: StoreKeys, clock
):
    """The calls run on both engines; SQLite has no partition to make or drop."""
    now = int(clock() * 1000)
    add_events(services.storage, store.id, [now - 40 * DAY_MS, now - DAY_MS])
    assert keep_partitions_ahead(services) == []  # SQLite; PostgreSQL: in events_legacy
    counts = purge(services.storage, before_ms=now - 10 * DAY_MS, now_ms=now)
    assert counts["events"] == 1
    assert counts["event_partitions_dropped"] == 0  # the test clock's months are in legacy
    assert [ts for _, ts in events_in(services.storage)] == [now - DAY_MS]


# ------------------------------------------------------------------ migration 20


@pytest.fixture
def at_19(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Storage]:
    """A PostgreSQL database as the version before partitions made it."""
    storage = Storage(empty_database_url)
    with monkeypatch.context() as patched:
        patched.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:19])
        assert storage.migrate()[-1] == 19
    yield storage
    storage.dispose()


def a_store(storage: Storage) -> int:
    from collector.storage.stores import create_store

    storage.run(create_store, name="Shop", origins=[], now=0)
    with storage.engine.connect() as conn:
        return int(conn.scalar(text("SELECT max(id) FROM stores")) or 0)


def old_events(storage: Storage) -> tuple[int, list[tuple[int, int]]]:
    store_id = a_store(storage)
    now = int(time.time() * 1000)
    # Long ago, lately, and some far ahead (a clock ahead): the last go to their months.
    times = [1_000, now - 400 * DAY_MS, now - DAY_MS, now, real_month(2) + DAY_MS]
    add_events(storage, store_id, times + [real_month(30)])
    return store_id, events_in(storage)


def assert_partitioned(storage: Storage, before: list[tuple[int, int]], store_id: int) -> None:
    assert events_in(storage) == before  # every row, with its id
    with storage.engine.connect() as conn:
        ids = conn.execute(text("SELECT count(*), count(DISTINCT id) FROM events")).one()
    assert ids[0] == ids[1] == len(before)
    assert events_in(storage, "events_legacy") == before[:4]
    assert events_in(storage, name_at(real_month(2))) == before[4:5]
    assert events_in(storage, "events_default") == before[5:]
    for name in ("events_legacy", name_at(real_month(1)), "events_default"):
        assert index_count(storage, name) == 4, name
    assert_shape_of_schema_py(storage.engine)
    add_events(storage, store_id, [int(time.time() * 1000)])  # inserts go on
    after = events_in(storage)
    assert len(after) == len(before) + 1 and after[-1][0] > before[-1][0]


@ON_POSTGRESQL
def test_migration_20_makes_events_partitioned_keeping_every_row(at_19: Storage):
    store_id, before = old_events(at_19)
    assert at_19.migrate() == [20, 21]
    assert_partitioned(at_19, before, store_id)
    assert at_19.migrate() == []


def prepare(storage: Storage, bound: int) -> None:
    """What docs/DEPLOY.md tells the operator of a large table to run before upgrading."""
    with storage.engine.connect() as conn:
        autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
        for sql in (
            "CREATE UNIQUE INDEX CONCURRENTLY events_id_ts ON events (id, ts)",
            f"ALTER TABLE events ADD CONSTRAINT events_partition_bound CHECK (ts < {bound}) "
            "NOT VALID",
            "ALTER TABLE events VALIDATE CONSTRAINT events_partition_bound",
        ):
            autocommit.execute(text(sql))


@ON_POSTGRESQL
def test_migration_20_takes_the_key_and_check_made_beforehand(at_19: Storage):
    store_id = a_store(at_19)
    now = int(time.time() * 1000)
    add_events(at_19, store_id, [1_000, now - DAY_MS, now])
    before = events_in(at_19)
    prepare(at_19, real_month(1))
    with at_19.engine.connect() as conn:
        made_beforehand = conn.scalar(text("SELECT 'events_id_ts'::regclass::oid"))
    assert at_19.migrate() == [20, 21]
    assert events_in(at_19) == before == events_in(at_19, "events_legacy")
    with at_19.engine.connect() as conn:
        key_index = conn.scalar(
            text(
                "SELECT conindid FROM pg_constraint "
                "WHERE conrelid = 'events_legacy'::regclass AND contype = 'p'"
            )
        )
        checks: Any = list(
            conn.scalars(
                text("SELECT conname FROM pg_constraint WHERE conname = 'events_partition_bound'")
            )
        )
    assert key_index == made_beforehand  # the operator's index, not one built under the lock
    assert checks == []
    assert_shape_of_schema_py(at_19.engine)


@ON_POSTGRESQL
def test_migration_20_refuses_a_check_made_beforehand_that_is_not_a_month_start(
    at_19: Storage,
):
    prepare(at_19, real_month(1) + 1)
    with pytest.raises(RuntimeError, match="not the start of a UTC month"):
        at_19.migrate()
    with at_19.engine.connect() as conn:  # nothing done: still the table there was
        assert conn.scalar(text("SELECT to_regclass('events_legacy')")) is None
