"""Stores, dashboard admins (their stores, their failed sign-ins) and the visitor salts."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from .. import keys
from .engine import upsert
from .folding import fold
from .schema import admin_stores, admins, login_failures, salts, stores
from .sessions import end_sessions_of


class NotFound(LookupError):
    """An admin or a store named in a grant does not exist."""


class SlugTaken(ValueError):
    """Another store has this slug."""


# A store's slug names its own script, /<slug>.js (collector/script.py). Slugs starting
# with "clerk" are the collector's own (/clerk.js, /clerk-render.js and any later script).
SLUG_MAX = 64
SLUG_RE = re.compile(r"[a-z0-9-]{1,64}")
SLUG_RULE = "1 to 64 characters of a-z, 0-9 and -, not starting with clerk"


def valid_slug(slug: str) -> bool:
    return bool(SLUG_RE.fullmatch(slug)) and not slug.startswith("clerk")


def parse_slug(value: str) -> str:
    """A slug as typed (trimmed, lower case); ValueError saying the rule if it breaks it."""
    slug = value.strip().lower()
    if not valid_slug(slug):
        raise ValueError(f"A slug is {SLUG_RULE}.")
    return slug


def slug_from_name(name: str, taken: Callable[[str], bool]) -> str:
    """ "Demo Shop" -> "demo-shop"; "demo-shop-2", "-3", ... when `taken` says so."""
    base = re.sub(r"[^a-z0-9]+", "-", fold(name)).strip("-")[: SLUG_MAX - 8].strip("-")
    if not valid_slug(base):
        base = f"store-{base}".strip("-")
    slug, n = base, 1
    while taken(slug):
        n += 1
        slug = f"{base}-{n}"
    return slug


def _slug_taken(conn: Connection, slug: str, *, other_than: int | None = None) -> bool:
    query = select(stores.c.id).where(stores.c.slug == slug)
    if other_than is not None:
        query = query.where(stores.c.id != other_than)
    return conn.execute(query).first() is not None


@dataclass(frozen=True)
class Store:
    """A store as the API (call.store) and the dashboard (an admin's stores) both see it."""

    id: int
    name: str
    public_key: str
    private_key_hash: str
    origins: tuple[str, ...]
    created_at: int
    slug: str

    def private_key_matches(self, private_key: str) -> bool:
        return keys.private_key_matches(private_key, self.private_key_hash)


def create_store(
    conn: Connection,
    *,
    name: str,
    origins: list[str],
    now: int,
    admin_emails: Sequence[str] = (),
    admin_ids: Sequence[int] = (),
    slug: str | None = None,
) -> dict[str, str]:
    """A new store, granted to these admins (by email or id); its keys, shown once, and
    its slug (from its name unless given; SlugTaken if another store has the one given)."""
    ids = [*_admin_ids(conn, admin_emails), *admin_ids]
    if slug is None:
        slug = slug_from_name(name, lambda s: _slug_taken(conn, s))
    elif _slug_taken(conn, slug):
        raise SlugTaken(f"Another store has the slug {slug}.")
    public_key, private_key = keys.new_public_key(), keys.new_private_key()
    store_id = conn.execute(
        stores.insert()
        .values(
            name=name,
            public_key=public_key,
            private_key_hash=keys.hash_private_key(private_key),
            origins=json.dumps(origins),
            created_at=now,
            slug=slug,
        )
        .returning(stores.c.id)
    ).scalar_one()
    for admin_id in ids:
        grant_stores(conn, admin_id=admin_id, store_ids=[store_id])
    return {"name": name, "public_key": public_key, "private_key": private_key, "slug": slug}


def set_store_slug(conn: Connection, *, store_id: int, slug: str) -> None:
    """Give a store a new slug (checked by parse_slug beforehand); SlugTaken if another
    store has it. The old /<slug>.js answers 404 from then on."""
    if _slug_taken(conn, slug, other_than=store_id):
        raise SlugTaken(f"Another store has the slug {slug}.")
    conn.execute(update(stores).where(stores.c.id == store_id).values(slug=slug))


def rotate_private_key(conn: Connection, *, store_id: int) -> str:
    """Give a store a new private key (the old one stops working); return it, once."""
    private_key = keys.new_private_key()
    conn.execute(
        update(stores)
        .where(stores.c.id == store_id)
        .values(private_key_hash=keys.hash_private_key(private_key))
    )
    return private_key


def set_store_origins(conn: Connection, *, store_id: int, origins: Sequence[str]) -> None:
    """Replace a store's allowed origins (validated by origins.parse_origin beforehand)."""
    conn.execute(
        update(stores).where(stores.c.id == store_id).values(origins=json.dumps(list(origins)))
    )


def _store(row: Any) -> Store:
    return Store(
        id=row.id,
        name=row.name,
        public_key=row.public_key,
        private_key_hash=row.private_key_hash,
        origins=tuple(json.loads(row.origins)),
        created_at=row.created_at,
        slug=row.slug,
    )


def store_by_public_key(conn: Connection, public_key: str) -> Store | None:
    row = conn.execute(select(stores).where(stores.c.public_key == public_key)).first()
    return None if row is None else _store(row)


def store_by_slug(conn: Connection, slug: str) -> Store | None:
    row = conn.execute(select(stores).where(stores.c.slug == slug)).first()
    return None if row is None else _store(row)


def store_by_name(conn: Connection, name: str) -> Store | None:
    """A store of this name (names are not unique: any one of them)."""
    row = conn.execute(select(stores).where(stores.c.name == name)).first()
    return None if row is None else _store(row)


def list_stores(conn: Connection) -> list[Store]:
    return [_store(row) for row in conn.execute(select(stores).order_by(stores.c.id))]


def create_admin(
    conn: Connection,
    *,
    email: str,
    password: str,
    now: int,
    store_keys: Sequence[str] | None = None,
) -> int:
    """Add an admin (or set an existing one's password) and grant it stores.

    `store_keys` are public keys; None grants every store that exists now. Grants add
    up: stores granted before are kept. Returns the admin's id.
    """
    store_ids = _store_ids(conn, store_keys)
    statement = upsert(conn, admins).values(
        email=email, password_hash=keys.hash_password(password), created_at=now
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["email"], set_={"password_hash": statement.excluded.password_hash}
        )
    )
    admin_id = int(conn.execute(select(admins.c.id).where(admins.c.email == email)).scalar_one())
    end_sessions_of(conn, admin_id=admin_id)  # a new password ends the old one's sessions
    grant_stores(conn, admin_id=admin_id, store_ids=store_ids)
    return admin_id


def grant_stores(conn: Connection, *, admin_id: int, store_ids: Sequence[int]) -> None:
    if store_ids:
        conn.execute(
            upsert(conn, admin_stores)
            .values([{"admin_id": admin_id, "store_id": s} for s in store_ids])
            .on_conflict_do_nothing(index_elements=["admin_id", "store_id"])
        )


def store_ids(conn: Connection) -> list[int]:
    """Every store's id, in order."""
    return list(conn.scalars(select(stores.c.id).order_by(stores.c.id)))


def _store_ids(conn: Connection, public_keys: Sequence[str] | None) -> list[int]:
    if public_keys is None:
        return store_ids(conn)
    return _ids(
        conn, stores.c.public_key, stores.c.id, public_keys, "no store with public key {!r}"
    )


def _admin_ids(conn: Connection, emails: Sequence[str]) -> list[int]:
    return _ids(conn, admins.c.email, admins.c.id, emails, "no admin {!r} (create-admin adds one)")


def _ids(conn: Connection, key: Any, id_: Any, wanted: Sequence[str], missing: str) -> list[int]:
    """The ids of the rows whose `key` is each of `wanted` (once each, in that order);
    NotFound naming the first that is not there."""
    found: dict[str, int] = dict(
        tuple(row) for row in conn.execute(select(key, id_).where(key.in_(wanted)))
    )
    for value in wanted:
        if value not in found:
            raise NotFound(missing.format(value))
    return [found[value] for value in dict.fromkeys(wanted)]


def admin_by_email(conn: Connection, email: str) -> dict[str, Any] | None:
    row = conn.execute(select(admins).where(admins.c.email == email)).first()
    return None if row is None else dict(row._mapping)


def admin_by_id(conn: Connection, admin_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(admins).where(admins.c.id == admin_id)).first()
    return None if row is None else dict(row._mapping)


def stores_of_admin(conn: Connection, *, admin_id: int) -> list[Store]:
    """The stores an admin may see, oldest first."""
    rows = conn.execute(
        select(stores)
        .join(admin_stores, admin_stores.c.store_id == stores.c.id)
        .where(admin_stores.c.admin_id == admin_id)
        .order_by(stores.c.id)
    )
    return [_store(row) for row in rows]


def record_login_attempt(
    conn: Connection, *, throttle_keys: Sequence[str], now: int, prune_before: int
) -> list[int]:
    """Count a sign-in attempt against these (hashed) keys; return the rows' ids.

    An attempt counts from before its password is checked, so that parallel guesses
    cannot all slip under the limit; it is taken back when it succeeds.
    """
    conn.execute(delete(login_failures).where(login_failures.c.ts < prune_before))
    insert = login_failures.insert().returning(login_failures.c.id)
    return [int(conn.execute(insert.values(key=key, ts=now)).scalar_one()) for key in throttle_keys]


def login_failures_since(conn: Connection, *, throttle_keys: Sequence[str], since: int) -> int:
    """The most failures (attempts under way included) of any of these keys since then."""
    counts = conn.execute(
        select(func.count())
        .select_from(login_failures)
        .where(login_failures.c.key.in_(throttle_keys), login_failures.c.ts >= since)
        .group_by(login_failures.c.key)
    ).scalars()
    return max(counts, default=0)


def forget_login_attempts(conn: Connection, *, ids: Sequence[int]) -> None:
    conn.execute(delete(login_failures).where(login_failures.c.id.in_(ids)))


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
