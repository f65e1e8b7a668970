"""API keys through the admin pages: shown once, stored hashed, revoked at once."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from screen.accounts.api_keys import authenticate, create_api_key
from screen.platform.clock import FrozenClock
from screen.platform.models import ApiKey, AuditEvent
from tests.support.factories import make_user
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]
KEY_ON_PAGE = re.compile(r"data-secret>(sk_screen_[A-Za-z0-9_-]{43})<")


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


async def keys(db: AsyncSession) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.id).execution_options(populate_existing=True)
    return list(await db.scalars(query))


async def dump(db: AsyncSession, *tables: str) -> str:
    rows = []
    for table in tables:
        rows += [repr(tuple(row)) for row in await db.execute(text(f"SELECT * FROM {table}"))]
    return "\n".join(rows)


async def test_an_admin_creates_a_key_sees_it_once_and_revokes_it(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)
    empty = await client.get("/admin/api-keys")

    created = await post_form(client, "/admin/api-keys", {"name": "Greenhouse production"})
    match = KEY_ON_PAGE.search(created.text)
    assert match, created.text
    raw = match.group(1)
    listing = await client.get("/admin/api-keys")
    works = await client.get("/api/ats/list_tests", headers=basic(raw))
    [key] = await keys(db)
    last_used = key.last_used_at
    stored = await dump(db, "api_keys", "audit_events")

    revoked = await post_form(client, f"/admin/api-keys/{key.id}/revoke", follow_redirects=False)
    after = await client.get("/admin/api-keys")
    refused = await client.get("/api/ats/list_tests", headers=basic(raw))
    twice = await post_form(client, f"/admin/api-keys/{key.id}/revoke")

    assert "No API keys yet" in empty.text
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    assert raw not in listing.text  # shown once, never again
    assert key.prefix in listing.text and "Greenhouse production" in listing.text
    assert works.status_code == 200
    assert last_used == clock.now()
    assert key.prefix == raw[:18]  # sk_screen_ and eight random characters
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert key.created_by_id == admin.id
    assert raw not in stored
    assert revoked.status_code == 303
    assert "revoked" in after.text
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    assert twice.status_code == 200
    audits = list(
        await db.scalars(
            select(AuditEvent).where(AuditEvent.action.like("api_key.%")).order_by(AuditEvent.id)
        )
    )
    assert [(a.action, a.actor) for a in audits] == [
        ("api_key.created", f"user:{admin.id}:{admin.email}"),
        ("api_key.revoked", f"user:{admin.id}:{admin.email}"),
    ]
    assert raw not in json.dumps([a.after for a in audits])


async def test_a_key_needs_a_name(client: Client, db: AsyncSession, clock: FrozenClock) -> None:
    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)

    response = await post_form(client, "/admin/api-keys", {"name": "   "})
    missing = await post_form(client, "/admin/api-keys/9999/revoke")

    assert response.status_code == 400
    assert "Name the key" in response.text
    assert "sk_screen_" not in response.text
    assert await keys(db) == []
    assert missing.status_code == 404


async def test_only_admins_manage_keys(app: Litestar, db: AsyncSession, clock: FrozenClock) -> None:
    admin = await make_user(db, clock.now(), "admin")
    key, _ = await create_api_key(db, "Existing", admin, clock.now())
    await db.commit()
    results: dict[str, list[int]] = {}
    for role in ("recruiter", "reviewer", "lead"):
        user = await make_user(db, clock.now(), role)
        async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
            await sign_in(client, user.email)
            results[role] = [
                (await client.get("/admin/api-keys")).status_code,
                (await post_form(client, "/admin/api-keys", {"name": "Mine"})).status_code,
                (await post_form(client, f"/admin/api-keys/{key.id}/revoke")).status_code,
            ]

    assert results == {role: [403, 403, 403] for role in ("recruiter", "reviewer", "lead")}
    [unchanged] = await keys(db)
    assert unchanged.revoked_at is None


async def test_last_used_is_written_at_most_once_a_minute(
    db: AsyncSession, clock: FrozenClock
) -> None:
    _, raw = await create_api_key(db, "Poller", None, clock.now())
    await db.commit()
    seen: list[Any] = []

    for step in (0, 30, 30, 1):
        clock.advance(seconds=step)
        key = await authenticate(db, raw, clock.now())
        assert key is not None
        seen.append(key.last_used_at)
        await db.commit()

    start = seen[0]
    assert seen[1] == start  # 30 s later: not written
    assert (seen[2] - start).total_seconds() == 60  # a minute later: written
    assert seen[3] == seen[2]
    assert await authenticate(db, raw + "x", clock.now()) is None
    assert await authenticate(db, "not-a-key", clock.now()) is None
