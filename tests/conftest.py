"""Fixtures: every test gets a fresh app over an empty store, on SQLite and PostgreSQL.

Each test has a database of its own, already migrated: the schema is made once per test
run (per pytest-xdist worker) in a template, and copied for each test. SQLite copies the
file; PostgreSQL makes the test's database with CREATE DATABASE ... TEMPLATE (a copy of
the files, faster than running the migrations again) and drops it in the background
while the next test runs. Tests of the migrations themselves take `empty_database_url`.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from starlette.testclient import TestClient

from collector.app import create_app
from collector.services import Services
from collector.settings import Settings
from collector.storage import Storage

from .factories import Clock, StoreKeys, make_store

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# A streaming replica of that server (scripts/services makes one on port 5433).
POSTGRES_REPLICA_URL = os.environ.get(
    "TEST_POSTGRES_REPLICA_URL", "postgresql+psycopg://postgres@127.0.0.1:5433/postgres"
)
# Seconds a test waits for the replica to replay what the primary committed.
REPLICA_WAIT_SECONDS = 60.0


def _migrate(url: str) -> None:
    storage = Storage(url)
    try:
        storage.migrate()
        storage.checkpoint()  # SQLite: everything in the file itself, none in its log
    finally:
        storage.dispose()


# What a test may change in its database's schema, as one hash: a database whose hash is
# still the template's is cleaned and used again; any other is dropped.
SCHEMA_HASH = """
SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
  SELECT 'rel:' || c.relname || ':' || c.relkind::text || c.relpersistence::text || ':'
    || coalesce((
    SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' '
      || a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''), ','
      ORDER BY a.attnum)
    FROM pg_attribute AS a
    LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
    || coalesce(':' || pg_get_expr(c.relpartbound, c.oid), '')
    || CASE WHEN c.relkind IN ('v', 'm') THEN ':' || pg_get_viewdef(c.oid) ELSE '' END AS x
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
  WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  UNION ALL SELECT 'index:' || pg_get_indexdef(i.indexrelid) FROM pg_index AS i
    JOIN pg_class AS c ON c.oid = i.indexrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  UNION ALL SELECT 'constraint:' || conrelid::regclass::text || conname
    || pg_get_constraintdef(k.oid)
    FROM pg_constraint AS k JOIN pg_namespace AS n ON n.oid = k.connamespace
    WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  UNION ALL SELECT 'function:' || p.oid::regprocedure::text || md5(p.prosrc) FROM pg_proc AS p
    JOIN pg_namespace AS n ON n.oid = p.pronamespace
    WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  UNION ALL SELECT 'trigger:' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT 'extension:' || extname || extversion FROM pg_extension
  UNION ALL SELECT 'schema:' || nspname FROM pg_namespace
    WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'
) AS s
"""


def public_tables(conn: Connection) -> list[str]:
    """The schema's tables (partitions included, partitioned parents not)."""
    return list(
        conn.execute(
            text(
                "SELECT c.oid::regclass::text FROM pg_class AS c"
                " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1"
            )
        ).scalars()
    )


class _Template:
    """What a clean copy of the template holds: its schema's hash, the rows of the tables
    the migrations fill, and where each sequence stands."""

    def __init__(self, conn: Connection) -> None:
        self.schema = conn.scalar(text(SCHEMA_HASH))
        tables = public_tables(conn)
        self.filled: dict[str, str] = {}
        self.emptied: list[str] = []
        for table in tables:
            if conn.scalar(text(f"SELECT EXISTS (SELECT 1 FROM {table})")):
                self.filled[table] = self.rows_hash(conn, table)
            else:
                self.emptied.append(table)
        self.sequences = conn.execute(
            text(
                "SELECT format('%I.%I', schemaname, sequencename), last_value"
                " FROM pg_sequences WHERE schemaname = 'public'"
            )
        ).all()

    @staticmethod
    def rows_hash(conn: Connection, table: str) -> str:
        return str(
            conn.scalar(
                text(
                    f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                    f" FROM {table} AS t"
                )
            )
        )

    def reset(self, conn: Connection) -> bool:
        """Make a test's database a clean copy again, in one transaction; False if it
        cannot be (its schema or the migrations' rows changed: then it is dropped)."""
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        if conn.scalar(text(SCHEMA_HASH)) != self.schema:
            return False
        if any(self.rows_hash(conn, table) != rows for table, rows in self.filled.items()):
            return False
        # No foreign-key triggers while every table is emptied (any order will do).
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in self.emptied:
            conn.execute(text(f"DELETE FROM {table}"))
        for sequence, last_value in self.sequences:
            conn.execute(
                text("SELECT setval(:sequence, :value, :called)"),
                {"sequence": sequence, "value": last_value or 1, "called": last_value is not None},
            )
        conn.commit()
        return True


class PostgresDatabases:
    """This run's databases on the PostgreSQL server: a migrated template, and one
    database per test, made from it (or empty). A migrated one is emptied once its test
    is done and given to a later test (CREATE DATABASE and DROP DATABASE cost the server
    0.1-0.3 s each, and the replica as much again); one whose schema the test changed, or
    an empty one, is dropped. Both happen in a thread of their own while the next test
    runs."""

    def __init__(self, admin_url: str) -> None:
        self.admin: Engine = create_engine(
            admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        self.server = admin_url.rsplit("/", 1)[0]
        self.prefix = f"clerk_test_{uuid.uuid4().hex[:10]}"
        self.made = 0
        self.template: str | None = None
        self.clean: _Template | None = None
        self.errors: list[BaseException] = []
        self.ready: queue.SimpleQueue[str] = queue.SimpleQueue()  # clean, migrated
        self.done: queue.Queue[tuple[str, bool] | None] = queue.Queue()
        self.cleaner = threading.Thread(target=self._clean_done, daemon=True)
        self.cleaner.start()

    def url(self, name: str) -> str:
        return f"{self.server}/{name}"

    def _execute(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def _new_name(self) -> str:
        self.made += 1
        return f"{self.prefix}_{self.made}"

    def create(self, *, migrated: bool) -> str:
        name = self._new_name()
        if not migrated:
            self._execute(f'CREATE DATABASE "{name}"')
            return name
        if self.template is None:
            template = f"{self.prefix}_template"
            self._execute(f'CREATE DATABASE "{template}"')
            _migrate(self.url(template))
            engine = create_engine(self.url(template), poolclass=NullPool)
            with engine.connect() as conn:
                self.clean = _Template(conn)
            engine.dispose()
            self.template = template
        try:
            return self.ready.get_nowait()
        except queue.Empty:
            pass
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop_later(self, name: str, *, migrated: bool = False) -> None:
        """The test is done with the database: dropped, or (migrated) emptied for another."""
        self.done.put((name, migrated))

    def _drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _reset(self, name: str) -> bool:
        assert self.clean is not None
        engine = create_engine(self.url(name), poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return self.clean.reset(conn)
        finally:
            engine.dispose()

    def _clean_done(self) -> None:
        while (done := self.done.get()) is not None:
            name, migrated = done
            try:
                reset = migrated and self._reset(name)
            except Exception:  # (a role that may not set session_replication_role...)
                reset = False
            try:
                if reset:
                    self.ready.put(name)
                else:
                    self._drop(name)
            except Exception as exc:  # raised again in close(), in the main thread
                self.errors.append(exc)
            finally:
                self.done.task_done()

    def close(self) -> None:
        self.done.put(None)
        self.cleaner.join()
        while True:
            try:
                self._drop(self.ready.get_nowait())
            except queue.Empty:
                break
        if self.template is not None:
            self._drop(self.template)
        self.admin.dispose()
        if self.errors:
            raise self.errors[0]


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    if os.environ.get("SKIP_POSTGRES") == "1":
        pytest.skip("SKIP_POSTGRES=1")
    databases = PostgresDatabases(POSTGRES_ADMIN_URL)
    try:
        yield databases
    finally:
        databases.close()


class Replica:
    """The test server's streaming replica: the same databases, read-only, a moment later."""

    def __init__(self, url: str, primary: Engine) -> None:
        self.server = url.rsplit("/", 1)[0]
        self.engine: Engine = create_engine(
            url, poolclass=NullPool, connect_args={"connect_timeout": 3}
        )
        self.primary = primary

    def problem(self) -> str | None:
        """Why this is not a replica of the test server (None: it is one)."""
        try:
            with self.engine.connect() as conn:
                standby = conn.scalar(text("SELECT pg_is_in_recovery()"))
                system = conn.scalar(text("SELECT system_identifier FROM pg_control_system()"))
        except OperationalError as exc:
            return f"it does not answer ({type(exc.orig).__name__})"
        if not standby:
            return "it is not in recovery (not a standby)"
        with self.primary.connect() as conn:
            if system != conn.scalar(text("SELECT system_identifier FROM pg_control_system()")):
                return "it is a copy of another server"
        return None

    def url(self, name: str) -> str:
        return f"{self.server}/{name}"

    def caught_up(self) -> None:
        """Wait until the replica has replayed everything the primary has committed."""
        with self.primary.connect() as conn:
            lsn = conn.scalar(text("SELECT pg_current_wal_lsn()::text"))
        deadline = time.monotonic() + REPLICA_WAIT_SECONDS
        while True:
            with self.engine.connect() as conn:
                replayed = conn.scalar(
                    text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)"), {"lsn": lsn}
                )
            if replayed:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the replica did not replay {lsn} in time")
            time.sleep(0.05)

    def dispose(self) -> None:
        self.engine.dispose()


@pytest.fixture(scope="session")
def postgres_replica(postgres_databases: PostgresDatabases) -> Iterator[Replica]:
    """The streaming replica at TEST_POSTGRES_REPLICA_URL, or a skip that says why not."""
    replica = Replica(POSTGRES_REPLICA_URL, postgres_databases.admin)
    problem = replica.problem()
    if problem is not None:
        replica.dispose()
        pytest.skip(
            f"no streaming replica of the test server at TEST_POSTGRES_REPLICA_URL "
            f"({POSTGRES_REPLICA_URL.rsplit('@', 1)[-1]}): {problem}; scripts/services "
            "makes one where it can (it says why not)"
        )
    yield replica
    replica.dispose()


@pytest.fixture
def replica_url(database_url: str, postgres_replica: Replica) -> str:
    """The test's own database on the replica, once the replica has it."""
    postgres_replica.caught_up()
    return postgres_replica.url(database_url.rsplit("/", 1)[-1])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, made once per run; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "clerk.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The database server a test runs on: every storage test runs on both."""
    return str(request.param)


def _database(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, *, migrated: bool
) -> str:
    path = tmp_path / "clerk.db"
    if backend == "sqlite":
        if migrated:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.create(migrated=migrated)
    request.addfinalizer(lambda: databases.drop_later(name, migrated=migrated))
    return databases.url(name)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of the test's own with the current schema and no data."""
    return _database(backend, request, tmp_path, migrated=True)


@pytest.fixture
def empty_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of the test's own with nothing in it, not even the schema."""
    return _database(backend, request, tmp_path, migrated=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        forwarded_allow_ips=["127.0.0.1"],
        recommendation_cache_seconds=0,  # every request sees the history as it is now
    )


@pytest.fixture
def services(settings: Settings, clock: Clock) -> Iterator[Services]:
    services = Services(settings, clock=clock)
    services.storage.migrate()  # a no-op on a copy of the template; not on an empty one
    yield services
    services.storage.dispose()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services.settings, services=services)) as client:
        yield client


@pytest.fixture
def store(services: Services) -> StoreKeys:
    return make_store(services)
