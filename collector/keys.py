"""Store keys and admin passwords."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def new_public_key() -> str:
    return "pk_" + secrets.token_urlsafe(18)


def new_private_key() -> str:
    return "sk_" + secrets.token_urlsafe(30)


def hash_private_key(private_key: str) -> str:
    # Private keys are 240 random bits: a plain digest cannot be brute-forced, and
    # it lets every request be checked without a slow KDF.
    return hashlib.sha256(private_key.encode()).hexdigest()


def private_key_matches(private_key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_private_key(private_key), stored_hash)


_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + f"{b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=int(r), p=int(p)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))
