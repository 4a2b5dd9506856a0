"""The shopper's privacy choice and the tracker's visitor mode it selects.

The choice lives in the shop's own necessary cookie, ``demo_consent``. The
tracker is told the matching mode on every page load, and the shop's
script tells it again at once when the shopper changes their mind.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "demo_consent"
MAX_AGE = 365 * 86_400
TRACKER_COOKIE = "clerk_visitor"


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    visitor: str | None  # the tracker's `visitor` option; None renders as JS null


CHOICES: dict[str, Choice] = {
    "accept": Choice("accept", "Accept all", "persistent"),
    "necessary": Choice("necessary", "Only necessary", "auto"),
    "reject": Choice("reject", "Reject all", None),
}
UNDECIDED_LABEL = "Not chosen yet"
UNDECIDED_VISITOR = "auto"


def current(request: Request) -> Choice | None:
    return CHOICES.get(request.cookies.get(COOKIE, ""))


def visitor_mode(choice: Choice | None) -> str | None:
    return choice.visitor if choice else UNDECIDED_VISITOR


def remember(response: Response, choice: Choice, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        choice.value,
        max_age=MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    if choice.visitor != "persistent":
        # The tracker deletes its cookie itself when told the new mode, but it
        # may never load (collector down, script blocked): withdrawn consent
        # must not depend on that.
        response.delete_cookie(TRACKER_COOKIE, path="/", samesite="lax", secure=secure)


def wants_no_redirect(request: Request) -> bool:
    """True for the shop's own fetch() calls, which want a bare 204."""
    fetch = request.headers.get("x-requested-with", "").lower() == "fetch"
    return fetch or "application/json" in request.headers.get("accept", "")


def safe_next(request: Request, candidate: str | None) -> str:
    """Where to send a plain form post back to: a local path, never another site."""
    for target in (candidate, request.headers.get("referer")):
        if not target:
            continue
        parts = urlsplit(target)
        if parts.netloc and parts.netloc != request.headers.get("host"):
            continue
        path = parts.path or "/"
        if path.startswith("/") and not path.startswith("//") and "\\" not in path:
            return f"{path}?{parts.query}" if parts.query else path
    return "/"
