"""The dashboard's own middleware: its session cookie and its security headers."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE_NAME = "clerk_dashboard"
MAX_AGE = 12 * 3600  # seconds; a sign-in lasts a working day at most

# No script runs on any dashboard page, and nothing is loaded from elsewhere.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class DashboardSession:
    """Starlette's signed-cookie session (itsdangerous), scoped to the dashboard's path.

    The cookie is HttpOnly and SameSite=Lax always, and Secure whenever the request
    came over https (the scheme as uvicorn's proxy headers report it behind a trusted
    proxy), so that no setting is needed for it.
    """

    def __init__(self, app: ASGIApp, *, secret_key: str, max_age: int = MAX_AGE) -> None:
        self.app = app
        self.secret_key = secret_key
        self.max_age = max_age
        self._variants: dict[tuple[bool, str], SessionMiddleware] = {}

    def _variant(self, secure: bool, path: str) -> SessionMiddleware:
        key = (secure, path)
        if key not in self._variants:
            if len(self._variants) > 16:
                self._variants.clear()
            self._variants[key] = SessionMiddleware(
                self.app,
                secret_key=self.secret_key,
                session_cookie=COOKIE_NAME,
                max_age=self.max_age,
                path=path,
                same_site="lax",
                https_only=secure,
            )
        return self._variants[key]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Inside the mount, root_path ends with the mount's path ("/dashboard").
        path = scope.get("root_path") or "/"
        await self._variant(scope.get("scheme") == "https", path)(scope, receive, send)


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
