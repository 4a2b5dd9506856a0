"""CSRF protection: a token per session, sent back in a hidden field of every form.

A POST whose token is missing or differs from the session's is refused (403) before
anything else happens. The token is an HMAC of the session's id, so it changes when the
session does (at sign-in) and needs no storage of its own.
"""

from __future__ import annotations

import hashlib
import hmac

from .middleware import Session

FIELD = "csrf"


def token(session: Session) -> str:
    """The session's token (the session gets an id on first use: the sign-in form needs
    a token too)."""
    message = b"csrf\0" + session.ensure().encode()
    return hmac.new(session.secret.encode(), message, hashlib.sha256).hexdigest()


def valid(session: Session, submitted: object) -> bool:
    if session.id is None or not isinstance(submitted, str):
        return False
    return hmac.compare_digest(token(session).encode(), submitted.encode())
