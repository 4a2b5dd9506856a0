"""CSRF protection: a random token per session, sent back in a hidden field of every form.

A POST whose token is missing or differs from the session's is refused (403) before
anything else happens. The token is replaced when the session is (at sign-in).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

FIELD = "csrf"
SESSION_KEY = "csrf"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token(session: dict[str, Any]) -> str:
    """The session's token, made on first use (the sign-in form needs one too)."""
    current = session.get(SESSION_KEY)
    if not isinstance(current, str) or not current:
        current = session[SESSION_KEY] = new_token()
    return current


def valid(session: dict[str, Any], submitted: object) -> bool:
    expected = session.get(SESSION_KEY)
    if not isinstance(expected, str) or not expected or not isinstance(submitted, str):
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())
