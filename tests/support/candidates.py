"""Driving a candidate's attempt through HTTP, and reading back what was stored."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.models import Attempt
from screen.recruiting.ai_policy import POLICY_VERSION
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


def start_form(policy: str = "no_ai") -> dict[str, str]:
    """The Start form of a candidate who ticked the box acknowledging the screen's AI-use
    policy (the landing page carries the policy it showed, with its wording version)."""
    return {"acknowledge": "yes", "ai_policy": f"{policy}:{POLICY_VERSION}"}


async def start(client: Client, candidate: Candidate, policy: str = "no_ai") -> None:
    response = await client.post(
        f"{candidate.path}/start", data=start_form(policy), follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{candidate.path}/attempt"
