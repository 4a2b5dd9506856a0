"""PostgreSQL copies of the generated data set (bench/dataset.py) for the benchmarks.

`copy` makes a new database on the given server (BENCH_POSTGRES_URL), migrates it with
the collector's own migrations, copies rows from the SQLite file with COPY (every table
the collector has, or the ones named, in foreign-key order; the columns both hold),
sets every serial sequence past the largest id copied (so that the collector's own
inserts get new ids), then runs VACUUM ANALYZE. `drop` removes it again.

Events land where the collector's schema routes them: on a database made this month,
migration 20 makes `events_legacy` the partition for every time before the next month,
so the data set's 30 days are all in it (a database older than a month would hold them
in monthly partitions).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def database_url(server_url: str, name: str) -> str:
    return server_url.rsplit("/", 1)[0] + "/" + name


def create(server_url: str, prefix: str) -> tuple[str, str]:
    """A new, empty database on the server: (its URL, its name)."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return database_url(server_url, name), name


def drop(server_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def copy_rows(
    source: Path, engine: Any, tables: Iterable[str] | None = None, log: Any = None
) -> dict[str, int]:
    """COPY the rows of `tables` (default: every table of the collector's schema but
    schema_migrations) from the SQLite file into the migrated PostgreSQL database, in
    foreign-key order, the columns both have; then set every serial sequence. Returns
    the rows copied per table."""
    from collector.storage.schema import metadata

    wanted = set(tables) if tables is not None else None
    order = [
        t.name
        for t in metadata.sorted_tables
        if t.name != "schema_migrations" and (wanted is None or t.name in wanted)
    ]
    copied: dict[str, int] = {}
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as lite:
        raw = engine.raw_connection()
        try:
            cursor = raw.driver_connection.cursor()
            for table in order:
                have = [r[1] for r in lite.execute(f"PRAGMA table_info({table})")]
                if not have:
                    continue  # (a data set made by code from before the table existed)
                cursor.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name = %s",
                    (table,),
                )
                target = {row[0] for row in cursor.fetchall()}
                names = [n for n in have if n in target]
                mark, n = time.monotonic(), 0
                columns = ", ".join(f'"{n}"' for n in names)
                with cursor.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
                    for row in lite.execute(f'SELECT {columns} FROM "{table}"'):
                        copy.write_row(row)
                        n += 1
                copied[table] = n
                if log is not None and n >= 100_000:
                    log(f"  pg: {table}: {n:,} rows in {time.monotonic() - mark:.0f} s")
            set_sequences(cursor)
            raw.commit()
        finally:
            raw.close()
    return copied


def set_sequences(cursor: Any) -> dict[str, int]:
    """Every serial (or identity) sequence of the database set to the largest value its
    columns hold (the next id is the one after); a sequence of empty tables is left."""
    cursor.execute(
        "SELECT c.relname, a.attname, "
        "pg_get_serial_sequence(quote_ident(c.relname), a.attname) "
        "FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid "
        "WHERE s.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
        "AND a.attnum > 0 AND NOT a.attisdropped"
    )
    found = [(t, c, seq) for t, c, seq in cursor.fetchall() if seq]
    done: dict[str, int] = {}
    for table, column, sequence in found:
        cursor.execute(f'SELECT max("{column}") FROM "{table}"')
        top = cursor.fetchone()[0]
        if top is not None and top > done.get(sequence, 0):
            cursor.execute("SELECT setval(%s, %s)", (sequence, top))
            done[sequence] = int(top)
    return done


def vacuum_analyze(engine: Any) -> None:
    from sqlalchemy import text

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def copy(
    source: Path,
    server_url: str,
    log: Any,
    *,
    prefix: str = "clerk_bench",
    tables: Iterable[str] | None = None,
) -> tuple[Any, str, dict[str, Any]]:
    """A new database holding the rows of `source` (see `copy_rows`), migrated, vacuumed
    and analysed: its engine (the collector's make_engine), its name, and what it took."""
    from collector.storage.engine import make_engine
    from collector.storage.migrations import migrate

    url, name = create(server_url, prefix)
    engine = make_engine(url)
    try:
        started = time.monotonic()
        migrate(engine)
        copied = copy_rows(source, engine, tables, log)
        copy_s = time.monotonic() - started
        vacuum_analyze(engine)
    except BaseException:
        engine.dispose()
        drop(server_url, name)
        raise
    info = {
        "database": name,
        "rows": copied,
        "copy_seconds": round(copy_s, 1),
        "seconds": round(time.monotonic() - started, 1),
        "bytes": database_bytes(engine),
    }
    log(
        f"pg: copy {name} made in {info['seconds']:.0f} s "
        f"({sum(copied.values()):,} rows, {info['bytes'] / 2**20:.0f} MiB)"
    )
    return engine, name, info


def database_bytes(engine: Any) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())
