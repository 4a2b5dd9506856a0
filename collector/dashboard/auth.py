"""Signing in and out, who is signed in, and sign-in throttling shared by every process.

The session cookie (see middleware.py) holds the admin's id, a fingerprint of the
admin's password hash (so that setting a new password with create-admin ends every
session made with the old one), the time of sign-in and the CSRF token.
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
from ..storage.stores import (
    admin_by_email,
    admin_by_id,
    forget_login_attempts,
    login_failures_since,
    record_login_attempt,
    stores_of_admin,
)
from . import csrf
from .middleware import MAX_AGE
from .templating import error, render, url

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
    stores: list[dict[str, Any]]

    def store(self, store_id: int) -> dict[str, Any] | None:
        return next((s for s in self.stores if s["id"] == store_id), None)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _fingerprint(secret: str, password_hash: str) -> str:
    return hmac.new(secret.encode(), password_hash.encode(), hashlib.sha256).hexdigest()[:32]


def _admin_with_stores(conn: Connection, *, admin_id: int) -> dict[str, Any] | None:
    admin = admin_by_id(conn, admin_id)
    if admin is not None:
        admin["stores"] = stores_of_admin(conn, admin_id=admin_id)
    return admin


async def current_admin(request: Request) -> Admin:
    """The signed-in admin, or Halt with a redirect to the sign-in page."""
    services = services_of(request)
    session = request.session
    admin_id, signed_in = session.get("admin"), session.get("at")
    row = None
    if isinstance(admin_id, int) and isinstance(signed_in, int):
        if 0 <= services.now_ms() - signed_in <= MAX_AGE * 1000:
            row = await services.storage.read(_admin_with_stores, admin_id=admin_id)
    fingerprint = session.get("pw")
    if (
        row is None
        or not isinstance(fingerprint, str)
        or not hmac.compare_digest(
            fingerprint, _fingerprint(services.settings.secret_key, row["password_hash"])
        )
    ):
        if "admin" in session:
            session.clear()  # expired, forged with the secret, or made before a new password
        target = request.url.path if request.method == "GET" else url(request, "home")
        if request.url.query and request.method == "GET":
            target += "?" + request.url.query
        raise Halt(RedirectResponse(url(request, "login", {"next": target}), status_code=303))
    return Admin(id=row["id"], email=row["email"], stores=row["stores"])


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token is the session's; else Halt with a 403."""
    form = await request.form(max_files=0, max_fields=50)
    if not csrf.valid(request.session, form.get(csrf.FIELD)):
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
    throttle = _throttle_keys(services.settings.secret_key, email, address)
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
    # A new session: nothing from before sign-in carries over, and a new CSRF token.
    request.session.clear()
    request.session.update(
        admin=admin["id"],
        pw=_fingerprint(services.settings.secret_key, admin["password_hash"]),
        at=now,
        csrf=csrf.new_token(),
    )
    return RedirectResponse(_safe_next(request, target), status_code=303)


@page
async def logout(request: Request) -> Response:
    await checked_form(request)
    request.session.clear()
    return RedirectResponse(url(request, "login"), status_code=303)
