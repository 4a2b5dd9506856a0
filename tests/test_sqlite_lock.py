"""SQLite: a write that finds another process's write under way waits for it with short
tries of its own (storage/engine.py, _begin_immediate), and gives up as before."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from collector.storage import Storage, engine
from collector.storage.stores import create_store


@pytest.fixture
def storage(tmp_path: Path):
    storage = Storage(f"sqlite:///{tmp_path / 'lock.db'}")
    storage.migrate()
    yield storage
    storage.dispose()


def hold_the_write_lock(storage: Storage) -> sqlite3.Connection:
    """Another process's write under way: a connection of its own in BEGIN IMMEDIATE."""
    other = sqlite3.connect(storage.engine.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (-1, 'x', 0)")
    return other


def busy_timeout(storage: Storage) -> int:
    with storage.engine.connect() as conn:
        return int(conn.scalar(text("PRAGMA busy_timeout")))


def test_a_write_waits_for_another_processes_and_then_commits(storage: Storage) -> None:
    other = hold_the_write_lock(storage)
    done: list[object] = []
    writing = threading.Thread(
        target=lambda: done.append(storage.run(create_store, name="S", origins=[], now=0))
    )
    writing.start()
    writing.join(0.3)
    assert writing.is_alive() and not done  # waiting for the lock, not failed
    other.execute("COMMIT")  # the other write ends: this one goes on
    writing.join(10)
    assert not writing.is_alive() and done
    other.close()
    with storage.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM stores")) == 1
        assert conn.scalar(text("SELECT count(*) FROM schema_migrations WHERE version = -1"))
    assert busy_timeout(storage) == engine.BUSY_TIMEOUT_MS  # as every statement waits


def test_a_write_gives_up_past_the_busy_timeout_and_writes_nothing(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "BUSY_TIMEOUT_MS", 300)
    other = hold_the_write_lock(storage)
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            storage.run(create_store, name="S", origins=[], now=0)
        with storage.engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with pytest.raises(OperationalError, match="database is locked"):
                conn.begin()
            conn.rollback()
            # The connection that gave up waits again as every statement does.
            assert conn.scalar(text("PRAGMA busy_timeout")) == 300
    finally:
        other.execute("ROLLBACK")
        other.close()
    with storage.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM stores")) == 0
    storage.run(create_store, name="S", origins=[], now=0)  # and it writes again
