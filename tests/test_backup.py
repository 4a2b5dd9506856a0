"""`clerk-collector backup`: an online SQLite backup that restores to the same database."""

from __future__ import annotations

import shutil
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from collector.app import create_app
from collector.cli import main
from collector.settings import Settings
from collector.storage import Storage
from collector.storage.schema import events
from collector.storage.stores import create_store
from collector.storage.tracking import record_event

from .factories import START


@pytest.fixture
def source(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A migrated SQLite database of the test's own, named by DATABASE_URL."""
    path = tmp_path / "live" / "clerk.db"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    return path


def add_event(storage: Storage, store_id: int, n: int) -> None:
    storage.run(
        record_event,
        store_id=store_id,
        ts=int(START * 1000) + n,
        kind="view",
        visitor_mode="persistent",
        visitor_id=f"v{n % 7}",
        session=None,
        product_id=str(n),
    )


def all_events(url: str) -> list[dict[str, Any]]:
    storage = Storage(url)
    try:
        return storage.read_sync(
            lambda conn: [dict(r._mapping) for r in conn.execute(select(events).order_by("id"))]
        )
    finally:
        storage.dispose()


class Writer(threading.Thread):
    """Inserts events one transaction each, as fast as it can, until stopped."""

    def __init__(self, storage: Storage, store_id: int) -> None:
        super().__init__(daemon=True)
        self.storage, self.store_id = storage, store_id
        self.committed = 0
        self.stop = threading.Event()
        self.progress = threading.Condition()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                add_event(self.storage, self.store_id, self.committed)
                with self.progress:
                    self.committed += 1
                    self.progress.notify_all()
        except BaseException as exc:
            self.error = exc
            with self.progress:
                self.progress.notify_all()

    def wait_for(self, count: int) -> None:
        with self.progress:
            assert self.progress.wait_for(
                lambda: self.committed >= count or self.error is not None, timeout=120
            )
        assert self.error is None, self.error


def test_backup_while_writing_then_restore_round_trips(source, tmp_path, capsys):
    url = f"sqlite:///{source}"
    storage = Storage(url)
    keys = storage.run(create_store, name="Shop", origins=[], now=0)
    store_id = storage.run(lambda conn: conn.exec_driver_sql("SELECT id FROM stores").scalar_one())
    writer = Writer(storage, store_id)
    writer.start()
    try:
        writer.wait_for(200)
        before = writer.committed
        target = tmp_path / "backups" / "clerk-1.db"
        target.parent.mkdir()
        assert main(["backup", str(target)]) == 0
        # The writer went on while the backup ran, and goes on after it.
        writer.wait_for(writer.committed + 50)
    finally:
        writer.stop.set()
        writer.join()
        storage.dispose()
    assert writer.error is None, writer.error
    out = capsys.readouterr().out
    assert f"to {target}" in out and "integrity_check ok" in out and "schema version" in out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # it holds personal data
    assert not list(target.parent.glob(".*partial"))

    # The copy is one self-contained file, whole, in rollback-journal mode.
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    copy.close()

    # Restore: the collector stopped, the copy put in the database's place.
    restored = tmp_path / "restored" / "clerk.db"
    restored.parent.mkdir()
    shutil.copyfile(target, restored)
    restored_url = f"sqlite:///{restored}"
    original, back = all_events(url), all_events(restored_url)
    # A consistent snapshot: every event acknowledged before the backup began, and the
    # rows exactly as the original has them, with no gap (each was its own commit).
    assert before <= len(back) < len(original)
    assert back == original[: len(back)]
    # The restored database serves: its schema is current and its store answers.
    restored_storage = Storage(restored_url)
    try:
        assert restored_storage.migrate() == []
    finally:
        restored_storage.dispose()
    settings = Settings(database_url=restored_url)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        answer = client.post(
            "/v2/log/product", json={"key": keys["public_key"], "product": "x", "visitor": "v1"}
        )
        assert answer.json() == {"status": "ok"}
    assert len(all_events(restored_url)) == len(back) + 1


def test_backup_refuses_a_target_that_exists(source, tmp_path, capsys):
    target = tmp_path / "there.db"
    target.write_bytes(b"keep me")
    assert main(["backup", str(target)]) == 2
    assert f"{target} already exists" in capsys.readouterr().err
    assert target.read_bytes() == b"keep me"


@pytest.mark.parametrize(
    "where, says",
    [
        ("missing/backup.db", "there is no directory"),
        ("a-file/backup.db", "is not a directory"),
    ],
)
def test_backup_names_a_target_directory_it_cannot_use(source, tmp_path, capsys, where, says):
    (tmp_path / "a-file").write_text("a file, not a directory")
    assert main(["backup", str(tmp_path / where)]) == 2
    assert says in capsys.readouterr().err


def test_backup_says_when_it_cannot_write_its_file(source, tmp_path, capsys):
    # Running as root, permissions do not stop a write; a directory where the backup's
    # temporary file must go does, in the same way.
    (tmp_path / ".b.db.partial").mkdir()
    assert main(["backup", str(tmp_path / "b.db")]) == 2
    assert f"cannot write .b.db.partial in {tmp_path}" in capsys.readouterr().err
    assert not (tmp_path / "b.db").exists()


def test_backup_of_a_file_that_is_not_sqlite(tmp_path, monkeypatch, capsys):
    path = tmp_path / "clerk.db"
    path.write_text("this is a text file, not a database\n" * 100)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    assert main(["backup", str(tmp_path / "b.db")]) == 2
    assert "is not an SQLite database" in capsys.readouterr().err
    assert not (tmp_path / "b.db").exists()
    assert not list(tmp_path.glob(".*partial"))


def test_backup_of_an_sqlite_file_that_is_not_the_collectors(tmp_path, monkeypatch, capsys):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    assert main(["backup", str(tmp_path / "b.db")]) == 2
    assert "not the collector's" in capsys.readouterr().err


def test_backup_of_a_database_that_does_not_exist_creates_nothing(tmp_path, monkeypatch, capsys):
    path = tmp_path / "nothing.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    assert main(["backup", str(tmp_path / "b.db")]) == 2
    assert f"no SQLite database at {path}" in capsys.readouterr().err
    assert not path.exists()


def test_backup_of_postgresql_names_pg_dump_and_no_password(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgresql://clerk:s3cret@db.internal:5433/clerk")
    assert main(["backup", str(tmp_path / "b.dump")]) == 2
    err = capsys.readouterr().err
    assert "pg_dump --format=custom" in err and "postgresql://clerk@db.internal:5433/clerk" in err
    assert "s3cret" not in err
