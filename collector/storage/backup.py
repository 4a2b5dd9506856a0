"""`clerk-collector backup TARGET`: an online copy of the SQLite database.

SQLite's online backup API (`sqlite3.Connection.backup`) copies the database page by
page inside one read transaction. In WAL mode a reader never blocks the writers, so the
collector goes on tracking while it runs, and the copy is the database exactly as it
was at one commit: every acknowledged event up to that moment, none half written. It is
done in one step on purpose: a backup in several steps starts again whenever another
connection writes in between, which on a busy collector may be forever.

The copy is written beside TARGET under a temporary name, checked (`PRAGMA
integrity_check`), switched from WAL to a plain rollback journal (one self-contained
file; the collector switches it back when it opens it), flushed to disk and only then
renamed to TARGET, so TARGET is either a whole, checked backup or absent. It is created
readable by its owner only: a backup holds what the database holds (emails, visitor
ids). TARGET must not exist yet.

PostgreSQL is backed up with its own tools (`pg_dump`, which must match the server's
major version and takes its credentials from the environment or ~/.pgpass):
`backup` says which command to run rather than running it. docs/DEPLOY.md has both and
how to restore them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .engine import normalise_url


class BackupError(Exception):
    """The backup cannot be made; the message says why. exit_code: 2 for what the user
    asked (a target that exists, not SQLite), 1 for a copy that failed."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class BackupResult:
    source: Path
    target: Path
    bytes: int
    schema_version: int

    def summary(self) -> str:
        return (
            f"backed up {self.source} to {self.target} ({self.bytes:,} bytes, "
            f"schema version {self.schema_version}, integrity_check ok)"
        )


def sqlite_path(database_url: str) -> Path:
    """The database file that DATABASE_URL names; BackupError when it is not SQLite."""
    url_text = normalise_url(database_url)
    try:
        url = make_url(url_text)
    except ArgumentError:
        raise BackupError("DATABASE_URL is not a database URL") from None
    if url.get_backend_name() == "postgresql":
        host = url.host or "localhost"
        port = f":{url.port}" if url.port else ""
        user = f"{url.username}@" if url.username else ""
        raise BackupError(
            "DATABASE_URL is PostgreSQL: back it up with PostgreSQL's own pg_dump, e.g. "
            f"pg_dump --format=custom --file=TARGET 'postgresql://{user}{host}{port}/"
            f"{url.database or ''}' (password from PGPASSWORD or ~/.pgpass; restore "
            "with pg_restore, see docs/DEPLOY.md)"
        )
    if url.get_backend_name() != "sqlite":
        raise BackupError(f"backup knows SQLite and PostgreSQL, not {url.get_backend_name()}")
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError("DATABASE_URL names no SQLite file to back up")
    return Path(url.database)


def backup(database_url: str, target: Path) -> BackupResult:
    """Copy the SQLite database of database_url to target (see the module's docstring)."""
    source = sqlite_path(database_url)
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source} (DATABASE_URL)")
    if target.exists() or target.is_symlink():
        raise BackupError(f"{target} already exists: give a new file name")
    folder = target.parent
    if not folder.exists():
        raise BackupError(f"there is no directory {folder}: make it first")
    if not folder.is_dir():
        raise BackupError(f"{folder} is not a directory")
    partial = folder / f".{target.name}.partial"
    try:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()  # left by a backup that was killed
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise BackupError(f"cannot write {partial.name} in {folder}: {exc.strerror}") from None
    try:
        version = _copy(source, partial)
        _flush(partial)
        os.replace(partial, target)
        _flush(folder)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return BackupResult(source, target, target.stat().st_size, version)


def _copy(source: Path, partial: Path) -> int:
    """Back source up into partial and check the copy; the copy's schema version."""
    try:
        # mode=ro: never create or change the source (a wrong path must not become an
        # empty database).
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {source}: {exc}") from None
    try:
        try:
            ours = src.execute(
                "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} is not an SQLite database ({exc})") from None
        if ours is None:
            raise BackupError(
                f"{source} is an SQLite database but not the collector's (it has no "
                "schema_migrations table): check DATABASE_URL"
            )
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # one step: one consistent snapshot (see above)
            problems = [row[0] for row in dst.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"the copy failed integrity_check: {'; '.join(problems[:5])}", 1)
            dst.execute("PRAGMA journal_mode=DELETE")
            return int(dst.execute("SELECT max(version) FROM schema_migrations").fetchone()[0])
        except sqlite3.Error as exc:
            raise BackupError(f"the backup failed: {exc}", 1) from None
        finally:
            dst.close()
    finally:
        src.close()


def _flush(path: Path) -> None:
    """fsync a file or a directory (so a rename in it survives a crash)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
