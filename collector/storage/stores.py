"""Stores, dashboard admins and the cookieless visitor salts."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select

from .. import keys
from .engine import upsert
from .schema import admins, salts, stores


@dataclass(frozen=True)
class Store:
    id: int
    name: str
    public_key: str
    private_key_hash: str
    origins: tuple[str, ...]

    def private_key_matches(self, private_key: str) -> bool:
        return keys.private_key_matches(private_key, self.private_key_hash)


def create_store(conn: Connection, *, name: str, origins: list[str], now: int) -> dict[str, str]:
    public_key, private_key = keys.new_public_key(), keys.new_private_key()
    conn.execute(
        stores.insert().values(
            name=name,
            public_key=public_key,
            private_key_hash=keys.hash_private_key(private_key),
            origins=json.dumps(origins),
            created_at=now,
        )
    )
    return {"name": name, "public_key": public_key, "private_key": private_key}


def store_by_public_key(conn: Connection, public_key: str) -> Store | None:
    row = conn.execute(select(stores).where(stores.c.public_key == public_key)).first()
    if row is None:
        return None
    return Store(
        id=row.id,
        name=row.name,
        public_key=row.public_key,
        private_key_hash=row.private_key_hash,
        origins=tuple(json.loads(row.origins)),
    )


def list_stores(conn: Connection) -> list[dict[str, object]]:
    rows = conn.execute(
        select(stores.c.id, stores.c.name, stores.c.public_key).order_by(stores.c.id)
    )
    return [dict(row._mapping) for row in rows]


def create_admin(conn: Connection, *, email: str, password: str, now: int) -> None:
    statement = upsert(conn, admins).values(
        email=email, password_hash=keys.hash_password(password), created_at=now
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["email"], set_={"password_hash": statement.excluded.password_hash}
        )
    )


def salt_for_period(conn: Connection, *, period: int, expires_at: int) -> str:
    """The salt of a period, created at random on first use; older salts are destroyed.

    Safe with many processes: the first insert wins, everyone reads the same row.
    """
    conn.execute(delete(salts).where(salts.c.period < period))
    conn.execute(
        upsert(conn, salts)
        .values(period=period, salt=secrets.token_hex(32), expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["period"])
    )
    return str(conn.execute(select(salts.c.salt).where(salts.c.period == period)).scalar_one())


def delete_expired_salts(conn: Connection, *, now: int) -> int:
    return int(conn.execute(delete(salts).where(salts.c.expires_at <= now)).rowcount)
