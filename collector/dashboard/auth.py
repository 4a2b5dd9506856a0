"""Signing in and out, who is signed in, and sign-in throttling shared by every process.

The session cookie (see middleware.py) holds only a signed random session id; the
session itself is a row (storage/sessions.py) made at sign-in and deleted at sign-out,
by a new password (create-admin) or 12 hours after sign-in. Every request checks it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from sqlalchemy import Connection
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .. import keys
from ..services import Services
from ..storage.sessions import end_session, session_admin, start_session, touch_session
from ..storage.stores import (
    Store,
    admin_by_email,
    forget_login_attempts,
    login_failures_since,
    record_login_attempt,
    stores_of_admin,
)
from . import csrf
from .middleware import MAX_AGE, session_of
from .templating import error, render, url

TOUCH_MS = 60_000  # a session's last_seen is written at most once a minute
FAILURE_LIMIT = 5
FAILURE_WINDOW_MS = 15 * 60_000
MAX_PASSWORD = 1024
WRONG = "Wrong email or password."
THROTTLED = (
    "Too many failed sign-ins for this account or from this address. "
    "Wait 15 minutes, then try again."
)


class Halt(Exception):
    """Stop handling the request and give this answer (a redirect, a 403, a 404)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


Endpoint = Callable[[Request], Awaitable[Response]]


def page(handler: Endpoint) -> Endpoint:
    """An endpoint whose helpers may answer early by raising Halt."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Halt as halt:
            return halt.response

    return endpoint


@dataclass(frozen=True)
class Admin:
    id: int
    email: str
    stores: list[Store]

    def store(self, store_id: int) -> Store | None:
        return next((s for s in self.stores if s.id == store_id), None)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _admin_with_stores(conn: Connection, *, key: str, now: int) -> dict[str, Any] | None:
    admin = session_admin(conn, key=key, now=now, started_after=now - MAX_AGE * 1000)
    if admin is not None:
        admin["stores"] = stores_of_admin(conn, admin_id=admin["id"])
    return admin


async def current_admin(request: Request) -> Admin:
    """The signed-in admin, or Halt with a redirect to the sign-in page."""
    services = services_of(request)
    key, now = session_of(request).key, services.now_ms()
    row = None
    if key is not None:
        row = await services.storage.read(_admin_with_stores, key=key, now=now)
    if row is None:  # never signed in, signed out, expired, or ended by a new password
        target = request.url.path if request.method == "GET" else url(request, "home")
        if request.url.query and request.method == "GET":
            target += "?" + request.url.query
        raise Halt(RedirectResponse(url(request, "login", {"next": target}), status_code=303))
    if now - row["last_seen"] >= TOUCH_MS:
        await services.storage.write(touch_session, key=key, now=now)
    return Admin(id=row["id"], email=row["email"], stores=row["stores"])


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token is the session's; else Halt with a 403."""
    form = await request.form(max_files=0, max_fields=50)
    if not csrf.valid(session_of(request), form.get(csrf.FIELD)):
        raise Halt(
            error(
                request,
                403,
                "Form expired",
                "This form was not sent from this dashboard session (or the session "
                "ended), so nothing was done. Go back, reload the page and try again.",
            )
        )
    return form


def _safe_next(request: Request, target: object) -> str:
    """Only a path inside the dashboard: never another site (open redirect)."""
    home = url(request, "home")
    if not isinstance(target, str) or not target.startswith(home):
        return home
    path = target.split("?", 1)[0]
    if "\\" in target or "//" in path or "/../" in path or path.endswith("/.."):
        return home
    return target


@page
async def login_form(request: Request) -> Response:
    context = {"email": "", "next": request.query_params.get("next"), "message": ""}
    return render(request, "login.html", context)


@functools.cache
def _dummy_hash() -> str:
    """Checked when the email is unknown, so that the answer takes as long as for a known one."""
    return keys.hash_password(secrets.token_urlsafe(16))


def _throttle_keys(secret: str, email: str, address: str) -> list[str]:
    """HMACs of the email and of the client's address: neither is written as it is."""

    def mac(kind: str, value: str) -> str:
        return hmac.new(secret.encode(), f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()

    return [mac("email", email), mac("address", address)]


@page
async def login(request: Request) -> Response:
    services = services_of(request)
    form = await checked_form(request)
    email = str(form.get("email") or "").strip().lower()[:254]
    password = str(form.get("password") or "")[:MAX_PASSWORD]
    target = form.get("next")
    address = request.client.host if request.client else "unknown"
    throttle = _throttle_keys(services.secret_key, email, address)
    now = services.now_ms()
    since = now - FAILURE_WINDOW_MS

    # The attempt counts before the password is checked, so that parallel guesses
    # (from any process or host) cannot all pass the limit; it is taken back below
    # when it turns out to be no failure.
    attempt = await services.storage.write(
        record_login_attempt, throttle_keys=throttle, now=now, prune_before=since
    )
    if await services.storage.read(login_failures_since, throttle_keys=throttle, since=since) > (
        FAILURE_LIMIT
    ):
        await services.storage.write(forget_login_attempts, ids=attempt)
        context = {"email": email, "next": target, "message": THROTTLED}
        return render(request, "login.html", context, status=429, headers={"Retry-After": "900"})
    admin = await services.storage.read(admin_by_email, email=email)
    stored = admin["password_hash"] if admin else _dummy_hash()
    ok = await anyio.to_thread.run_sync(keys.verify_password, password, stored)
    if admin is None or not ok:
        context = {"email": email, "next": target, "message": WRONG}
        return render(request, "login.html", context, status=400)
    await services.storage.write(forget_login_attempts, ids=attempt)
    # A new session id: nothing from before sign-in carries over, and a new CSRF token.
    session = session_of(request)
    session.renew()
    await services.storage.write(
        start_session,
        key=session.key,
        admin_id=admin["id"],
        now=now,
        expired_before=now - MAX_AGE * 1000,
    )
    return RedirectResponse(_safe_next(request, target), status_code=303)


@page
async def logout(request: Request) -> Response:
    """Ends the session server-side: a copy of the cookie signs nobody in afterwards."""
    await checked_form(request)
    session = session_of(request)
    if session.key is not None:
        await services_of(request).storage.write(end_session, key=session.key)
    session.end()
    return RedirectResponse(url(request, "login"), status_code=303)
