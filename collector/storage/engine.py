"""Engine creation: the backend is chosen once, by URL."""

from __future__ import annotations

import random
import sqlite3
import time
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import TableClause

BUSY_TIMEOUT_MS = 30_000
# A writer that finds another process's write under way tries again after this many
# seconds (at random within), until BUSY_TIMEOUT_MS: see _begin_immediate.
LOCK_RETRY_SECONDS = (0.0005, 0.002)
# How long a checkpoint waits for readers: it holds the write lock while it waits.
CHECKPOINT_WAIT_MS = 1_000


def normalise_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# Connections per process: POOL_SIZE kept open, up to POOL_OVERFLOW more when busy. The
# group-commit writer keeps one for itself; Storage.read lets fewer reads than the rest
# run at once, so that reads queue in the event loop rather than time out in the pool.
POOL_SIZE = 5
POOL_OVERFLOW = 10
POOL_CAPACITY = POOL_SIZE + POOL_OVERFLOW
POOL_TIMEOUT = 30.0  # seconds a checkout waits before sqlalchemy.exc.TimeoutError (a 503)


def make_engine(
    url: str, *, pool_timeout: float = POOL_TIMEOUT, connect_timeout: int | None = None
) -> Engine:
    """An engine whose errors never carry the statement's parameters (emails, ids): see
    collector/logs.py for what may reach a log. `connect_timeout` (PostgreSQL): seconds a
    new connection may take, unless the URL sets its own `connect_timeout`."""
    url = normalise_url(url)
    pool = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW, "pool_timeout": pool_timeout}
    if url.startswith("sqlite"):
        return _sqlite_engine(url, pool)
    connect: dict[str, Any] = {}
    if connect_timeout is not None and "connect_timeout=" not in url:
        connect["connect_timeout"] = connect_timeout
    return create_engine(
        url, pool_pre_ping=True, hide_parameters=True, connect_args=connect, **pool
    )


def _sqlite_engine(url: str, pool: dict[str, Any]) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False},
        hide_parameters=True,
        **pool,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin,
        # so that SAVEPOINT and BEGIN IMMEDIATE behave as documented.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed (acknowledged) transaction survives power loss too.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Deleted rows are overwritten with zeros, not left in the page's free space: a
        # destroyed salt or a forgotten email is gone from the file (checkpoint() below
        # empties the write-ahead log of their older copies).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: no deadlock between two processes
        # that both started reading and then want to write.
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        if immediate:
            _begin_immediate(conn)
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _begin_immediate(conn: Connection) -> None:
    """BEGIN IMMEDIATE, trying again every 0.5-2 ms while another process writes.

    SQLite's own busy handler sleeps longer the longer it waits (up to 100 ms between
    tries), so with several processes writing (serve --workers N) a waiting writer
    missed the moments the lock was free and waited seconds (p99 2.2-2.6 s at 2 and 4
    workers, docs/benchmarks.md). Here the wait stays short and fair. Past
    BUSY_TIMEOUT_MS it gives up as before, with SQLAlchemy's error for a locked
    database."""
    driver = conn.connection.driver_connection
    assert driver is not None
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    driver.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() >= deadline:
                    break
            time.sleep(random.uniform(*LOCK_RETRY_SECONDS))
        # The last try, through SQLAlchemy, which raises its error wrapped as any other.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def checkpoint(engine: Engine) -> bool:
    """SQLite: copy the write-ahead log into the database file and truncate it, so that
    the log keeps no copy of a page as it was before a deletion. True when done (and on
    PostgreSQL, which has no such file); False when readers kept it from completing
    within CHECKPOINT_WAIT_MS (try again later), so writers never wait long behind it."""
    if engine.dialect.name != "sqlite":
        return True
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        driver.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
        try:
            busy, _, _ = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        raw.close()
    return bool(busy == 0)


def ping(engine: Engine) -> None:
    """Ask the database for `SELECT 1` on a pooled connection of its own (/healthz)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def upsert(conn: Connection, table: TableClause) -> Any:
    """An INSERT with on_conflict_do_nothing/on_conflict_do_update on either backend.

    (sqlite.Insert or postgresql.Insert: the two share that API but not a type.)
    """
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


def advisory_xact_lock(
    conn: Connection, key: int, sub: int | None = None, *, shared: bool = False
) -> None:
    """PostgreSQL: wait for the transaction-level advisory lock `key` (with `sub`, the
    lock (key, sub) of a pair of 32-bit ints: one per store, say), held until the
    transaction ends; one transaction of any process holds it at a time. `shared`: any
    number of transactions may hold it shared at once, while none holds it exclusively.
    Nothing on SQLite, whose writes already go one at a time (BEGIN IMMEDIATE)."""
    if conn.dialect.name != "postgresql":
        return
    name = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    if sub is None:
        conn.execute(text(f"SELECT {name}(:key)"), {"key": key})
    else:
        conn.execute(text(f"SELECT {name}(:key, :sub)"), {"key": key, "sub": sub})
