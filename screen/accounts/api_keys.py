"""API keys for the ATS partner API: create, revoke, authenticate.

A key is `sk_screen_` + 256 random bits. Only its SHA-256 is stored, with the
first 18 characters (`sk_screen_` and eight random ones) as a prefix so an admin can
tell keys apart; the raw key is shown once, on the page that creates it. A key is
checked on every API call, so `last_used_at` is written at most once a minute rather
than on every call.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform import audit
from screen.platform.errors import InputError, NotFoundError
from screen.platform.models import ApiKey, User
from screen.platform.text import one_line
from screen.platform.tokens import hash_token

KEY_PREFIX = "sk_screen_"
# `sk_screen_` and eight random characters (48 bits): enough to tell keys apart at a
# glance, far too little to help guess the other 35.
PREFIX_CHARS = len(KEY_PREFIX) + 8
MAX_KEY_CHARS = 200
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Shown once: never let a browser or a proxy keep a copy of the page.


def _clean_name(name: str) -> str:
    name = one_line(name)
    if not 1 <= len(name) <= 200:
        raise InputError(
            "Name the key after who uses it (e.g. “Greenhouse production”), 1 to 200 characters.",
            field="name",
        )
    return name


async def create_api_key(
    db: AsyncSession, name: str, user: User | None, now: datetime
) -> tuple[ApiKey, str]:
    """The new key row and the raw key, which exists nowhere else once this returns."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=_clean_name(name),
        prefix=raw[:PREFIX_CHARS],
        key_hash=hash_token(raw),
        created_at=now,
        created_by_id=user.id if user else None,
    )
    db.add(key)
    await db.flush()
    audit.record(
        db,
        actor=audit.actor_of(user),
        action="api_key.created",
        subject_type="api_key",
        subject_id=key.id,
        now=now,
        after={"name": key.name, "prefix": key.prefix},
    )
    return key, raw


async def revoke(db: AsyncSession, key_id: int, user: User | None, now: datetime) -> ApiKey:
    key = await db.get(ApiKey, key_id)
    if key is None:
        raise NotFoundError(f"No API key with id {key_id}.")
    if key.revoked_at is not None:
        return key  # a second click on Revoke changes nothing and is no error
    key.revoked_at = now
    audit.record(
        db,
        actor=audit.actor_of(user),
        action="api_key.revoked",
        subject_type="api_key",
        subject_id=key.id,
        now=now,
        before={"name": key.name, "prefix": key.prefix, "revoked_at": None},
        after={"name": key.name, "prefix": key.prefix, "revoked_at": now.isoformat()},
    )
    return key


def looks_like_key(raw: str) -> bool:
    # Cheap shape check before hashing and a database round trip.
    return raw.startswith(KEY_PREFIX) and len(raw) <= MAX_KEY_CHARS


async def authenticate(db: AsyncSession, raw: str, now: datetime) -> ApiKey | None:
    """The active key behind `raw`, or None. The lookup is by SHA-256 of a 256-bit
    secret, so comparing hashes in the database leaks nothing useful by timing."""
    if not looks_like_key(raw):
        return None
    key = await db.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_token(raw), ApiKey.revoked_at.is_(None))
    )
    if key is None:
        return None
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
    return key


async def list_keys(db: AsyncSession) -> list[ApiKey]:
    return list(
        await db.scalars(select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id))
    )
