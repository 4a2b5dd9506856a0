"""The dashboard's own middleware: its session cookie and its security headers."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable

from itsdangerous import BadSignature, TimestampSigner
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE_NAME = "clerk_dashboard"
MAX_AGE = 12 * 3600  # seconds; a sign-in lasts a working day at most
SCOPE_KEY = "clerk.dashboard_session"
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)

# No script runs on any dashboard page, and nothing is loaded from elsewhere.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class Session:
    """A request's dashboard session: a random id, which the cookie carries signed.

    Who is signed in is kept server-side (storage/sessions.py), under `key`, a hash of the
    id; so signing out ends the session for every copy of the cookie. A visitor who is not
    signed in gets an id too when a page needs one (the sign-in form's CSRF token is made
    from it), with no row behind it. Sign-in gives a new id.
    """

    def __init__(self, secret: str, session_id: str | None) -> None:
        self.secret = secret
        self.id = session_id
        self.changed = False  # the cookie is to be set to the new id, or removed (None)

    @property
    def key(self) -> str | None:
        """What the database holds for this session (never the id itself)."""
        return None if self.id is None else hashlib.sha256(self.id.encode()).hexdigest()

    def ensure(self) -> str:
        return self.id if self.id is not None else self.renew()

    def renew(self) -> str:
        self.id = secrets.token_urlsafe(32)
        self.changed = True
        return self.id

    def end(self) -> None:
        self.id = None
        self.changed = True


def session_of(scope: Scope | HTTPConnection) -> Session:
    session: Session = (scope.scope if isinstance(scope, HTTPConnection) else scope)[SCOPE_KEY]
    return session


class DashboardSession:
    """The session cookie: a random session id signed with the collector's secret key
    (itsdangerous), scoped to the dashboard's path; `session_of(request)` is the Session.

    The cookie is HttpOnly and SameSite=Lax always, and Secure whenever the request
    came over https (the scheme as uvicorn's proxy headers report it behind a trusted
    proxy), so that no setting is needed for it.
    """

    def __init__(
        self, app: ASGIApp, *, secret_key: Callable[[], str], max_age: int = MAX_AGE
    ) -> None:
        self.app = app
        self.secret_key = secret_key
        self.max_age = max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secret = self.secret_key()
        signer = TimestampSigner(secret)
        session = Session(secret, self._session_id(signer, HTTPConnection(scope)))
        scope[SCOPE_KEY] = session
        # Inside the mount, root_path ends with the mount's path ("/dashboard").
        attributes = f"path={scope.get('root_path') or '/'}; httponly; samesite=lax"
        if scope.get("scheme") == "https":
            attributes += "; secure"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and session.changed:
                if session.id is None:
                    value = "; expires=Thu, 01 Jan 1970 00:00:00 GMT"
                else:
                    value = signer.sign(session.id).decode() + f"; max-age={self.max_age}"
                cookie = f"{COOKIE_NAME}={value}; {attributes}"
                MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _session_id(self, signer: TimestampSigner, connection: HTTPConnection) -> str | None:
        cookie = connection.cookies.get(COOKIE_NAME)
        if not cookie:
            return None
        try:
            session_id = signer.unsign(cookie, max_age=self.max_age).decode()
        except (BadSignature, UnicodeDecodeError):
            return None
        return session_id if _SESSION_ID.fullmatch(session_id) else None


class SecurityHeaders:
    """Headers every dashboard answer carries (unless the answer set its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
