"""Schema migrations: an ordered list of steps, each applied once and recorded.

Each step takes a connection inside a transaction. Step 1 creates the tables as
schema.py defines them at that version; when a later step alters a table, step 1
must keep creating the old shape (freeze its table definitions in this module).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, inspect, select

from . import schema

Step = Callable[[Connection], None]


def _initial(conn: Connection) -> None:
    tables = [t for t in schema.metadata.sorted_tables if t.name != "schema_migrations"]
    schema.metadata.create_all(conn, tables=tables)


MIGRATIONS: list[tuple[int, str, Step]] = [
    (1, "initial schema", _initial),
]


def applied_versions(conn: Connection) -> set[int]:
    if not inspect(conn).has_table("schema_migrations"):
        return set()
    return set(conn.scalars(select(schema.schema_migrations.c.version)))


def migrate(engine: Engine) -> list[int]:
    """Bring the schema up to date; return the versions applied now."""
    with engine.begin() as conn:
        schema.schema_migrations.create(conn, checkfirst=True)
    done: list[int] = []
    for version, name, step in MIGRATIONS:
        with engine.begin() as conn:
            if version in applied_versions(conn):
                continue
            step(conn)
            conn.execute(
                schema.schema_migrations.insert().values(
                    version=version, name=name, applied_at=int(time.time() * 1000)
                )
            )
            done.append(version)
    return done


def is_current(engine: Engine) -> bool:
    with engine.connect() as conn:
        return applied_versions(conn) >= {v for v, _, _ in MIGRATIONS}
