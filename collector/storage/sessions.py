"""The generated secret key, and the dashboard's server-side sessions.

The key: with SECRET_KEY unset, the first process to start stores a random one
(insert-if-absent) and every process reads back the same row, so that sessions and
sign-in throttling agree across processes and restarts.

A session row exists from sign-in to sign-out (which deletes it) or to the end of its
lifetime (12 hours from sign-in; expired rows are deleted at sign-in and by the app's
housekeeping). Rows are keyed by a hash of the cookie's session id; see schema.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select, update

from .engine import upsert
from .schema import admins, app_secrets, dashboard_sessions

SECRET_KEY = "secret_key"


def stored_secret_key(conn: Connection, *, candidate: str, now: int) -> str:
    """The stored key; `candidate` becomes it if there is none yet (the first insert wins
    when several processes start at once)."""
    conn.execute(
        upsert(conn, app_secrets)
        .values(name=SECRET_KEY, value=candidate, created_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    value = conn.execute(select(app_secrets.c.value).where(app_secrets.c.name == SECRET_KEY))
    return str(value.scalar_one())


def start_session(
    conn: Connection, *, key: str, admin_id: int, now: int, expired_before: int
) -> None:
    delete_expired_sessions(conn, before=expired_before)
    conn.execute(
        dashboard_sessions.insert().values(id=key, admin_id=admin_id, created_at=now, last_seen=now)
    )


def session_admin(
    conn: Connection, *, key: str, now: int, started_after: int
) -> dict[str, Any] | None:
    """The admin (id, email) of a live session, with the session's last_seen; None if the
    session ended, expired or never existed."""
    row = conn.execute(
        select(admins.c.id, admins.c.email, dashboard_sessions.c.last_seen)
        .join(admins, admins.c.id == dashboard_sessions.c.admin_id)
        .where(
            dashboard_sessions.c.id == key,
            dashboard_sessions.c.created_at > started_after,
            dashboard_sessions.c.created_at <= now,
        )
    ).first()
    return None if row is None else dict(row._mapping)


def touch_session(conn: Connection, *, key: str, now: int) -> None:
    conn.execute(
        update(dashboard_sessions).where(dashboard_sessions.c.id == key).values(last_seen=now)
    )


def end_session(conn: Connection, *, key: str) -> None:
    conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.id == key))


def end_sessions_of(conn: Connection, *, admin_id: int) -> None:
    conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.admin_id == admin_id))


def delete_expired_sessions(conn: Connection, *, before: int) -> int:
    expired = delete(dashboard_sessions).where(dashboard_sessions.c.created_at <= before)
    return int(conn.execute(expired).rowcount)
