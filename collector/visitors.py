"""Who a tracking call is from, as far as the shopper's consent allows.

| sent `visitor`     | mode         | stored visitor id                                  |
|--------------------|--------------|----------------------------------------------------|
| missing / "auto"   | auto         | HMAC(salt of the period, store key, IP, User-Agent) |
| an id string       | persistent   | that id, as is (cookie id or the shop's own id)    |
| null               | none         | nothing: no visitor, session, email or customer    |

A call with the store's private key comes from the shop's server, not a shopper: there
`auto` is mode `server`, with no visitor id (deriving one from the server's address would
put every customer on one visitor), and a sent id is used as sent (api.Call.visitor).

The salt is random, lives in the database (so every collector process derives
the same id) and is destroyed when its period ends, after which nobody can
recompute that period's ids. The IP and User-Agent are only ever hashed here.
"Destroyed" means gone from the disk too: SQLite connections zero deleted rows
(secure_delete) and, after a salt is deleted, the write-ahead log is checkpointed
and truncated, so neither clerk.db nor clerk.db-wal holds the old salt's bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread

from .storage import Storage
from .storage.stores import delete_expired_salts, salt_for_period

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Visitor:
    mode: str  # "auto" | "persistent" | "none"
    id: str | None
    session: str | None

    @property
    def anonymous(self) -> bool:
        return self.mode == "none"


NO_VISITOR = Visitor(mode="none", id=None, session=None)
# A shop server's call (private key) that names no visitor: its events have none.
SERVER_MODE = "server"


class VisitorResolver:
    def __init__(
        self,
        storage: Storage,
        *,
        rotation_days: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = storage
        self._period_ms = rotation_days * DAY_MS
        self._clock = clock
        self._salt: tuple[int, bytes] | None = None
        # Set once an older salt may have been deleted (by destroy_expired, or by
        # salt_for_period when this process loaded a new period's salt) and the
        # write-ahead log may still hold it; cleared by a checkpoint that completes.
        self._checkpoint_due = False

    def period(self) -> int:
        return int(self._clock() * 1000) // self._period_ms

    async def salt(self) -> bytes:
        period = self.period()
        if self._salt is None or self._salt[0] != period:
            # Drop the old period's salt from memory too, before anything else.
            self._salt = None
            hex_salt = await anyio.to_thread.run_sync(self._load_salt, period)
            self._salt = (period, bytes.fromhex(hex_salt))
        return self._salt[1]

    async def destroy_expired(self) -> int:
        """Delete salts whose period is over, from the database, its files and memory.

        Run by the app's housekeeping (never on a request's path: the checkpoint
        waits for readers)."""
        if self._salt is not None and self._salt[0] != self.period():
            self._salt = None
        now = int(self._clock() * 1000)
        destroyed = await anyio.to_thread.run_sync(
            lambda: self._storage.run(delete_expired_salts, now=now)
        )
        if destroyed or self._checkpoint_due:
            self._checkpoint_due = not await anyio.to_thread.run_sync(self._storage.checkpoint)
        return destroyed

    def _load_salt(self, period: int) -> str:
        expires_at = (period + 1) * self._period_ms
        salt = self._storage.run(salt_for_period, period=period, expires_at=expires_at)
        self._checkpoint_due = True  # it deleted any older salt
        return salt

    async def derive(self, *, store_key: str, ip: str, user_agent: str) -> str:
        message = "\n".join((store_key, ip, user_agent)).encode()
        # hmac.new, not hmac.digest: the one-shot digest lets go of the GIL around
        # OpenSSL's call, and under load the event loop then waits for the writer thread
        # to hand it back (about 7 µs of CPU a call instead of 1.6, and the wait).
        digest = hmac.new(await self.salt(), message, hashlib.sha256).digest()
        return "c-" + base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")

    async def resolve(
        self,
        *,
        sent: str | None,
        session: str | None,
        store_key: str,
        ip: str,
        user_agent: str,
        gpc: bool = False,
    ) -> Visitor:
        """The visitor of a call. `gpc` is a Global Privacy Control signal the shop honours."""
        if sent is None:
            return NO_VISITOR
        if sent == "auto" or gpc:
            derived = await self.derive(store_key=store_key, ip=ip, user_agent=user_agent)
            return Visitor(mode="auto", id=derived, session=session)
        return Visitor(mode="persistent", id=sent, session=session)
