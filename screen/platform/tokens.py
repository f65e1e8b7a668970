"""Candidate link tokens and the sealing of secrets that must wait in the outbox.

A link token is 192 random bits; only its SHA-256 is stored. The invitation email
is sent later by a job, so the link travels to it sealed (Fernet, key derived
from SCREEN_SECRET_KEY) and is scrubbed once the email is delivered: a copy of
the database alone never yields a working link.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from cryptography.fernet import Fernet, InvalidToken

TOKEN_BYTES = 24


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# URL-safe base64, as `new_token` makes them (and as the staff and share links are made).
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,64}")


def looks_like_token(token: str) -> bool:
    # Cheap shape check before touching the database; forged tokens still get the same 404.
    # One regular expression: testing each character in Python cost twice as much as
    # hashing the token, on the page candidates reload.
    return _TOKEN_SHAPE.fullmatch(token) is not None


def _fernet(secret_key: str) -> Fernet:
    key = hashlib.sha256(b"screen-outbox-seal:" + secret_key.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret_key: str, text: str) -> str:
    return _fernet(secret_key).encrypt(text.encode("utf-8")).decode("ascii")


def unseal(secret_key: str, sealed: str) -> str | None:
    try:
        return _fernet(secret_key).decrypt(sealed.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError):
        return None
