"""Driving a candidate's attempt through HTTP, and reading back what was stored."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.models import Attempt
from tests.support.factories import Candidate

Client = AsyncTestClient[Litestar]


async def attempt_of(db: AsyncSession, candidate: Candidate) -> Attempt:
    attempt = await db.scalar(
        select(Attempt)
        .where(Attempt.invitation_id == candidate.invitation_id)
        .execution_options(populate_existing=True)
    )
    assert attempt is not None
    return attempt


async def start(client: Client, candidate: Candidate) -> None:
    response = await client.post(f"{candidate.path}/start", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{candidate.path}/attempt"
