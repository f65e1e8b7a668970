"""A screen whose prompt asks follow-up questions, and reading back their answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.models import FollowUpAnswer, Screen
from tests.support.factories import DATA, make_screen

FOLLOW_UP_SLUG = "sample-follow-ups"
FIRST_QUESTION = (
    "Which assumption in your answer are you least sure of, and what would you measure "
    "first to test it?"
)
SECOND_QUESTION = "Name one option you rejected and what would make it the better choice."


async def make_follow_up_screen(db: AsyncSession, now: datetime, **options: object) -> Screen:
    """Two follow-ups: 3 minutes (the default), then 2 minutes; context only."""
    return await make_screen(
        db,
        now,
        prompts_dir=DATA / "follow_up_prompts",
        prompt_slug=FOLLOW_UP_SLUG,
        **options,
    )


async def follow_up_answers(db: AsyncSession, attempt_id: int) -> list[FollowUpAnswer]:
    return list(
        await db.scalars(
            select(FollowUpAnswer)
            .where(FollowUpAnswer.attempt_id == attempt_id)
            .order_by(FollowUpAnswer.position)
            .execution_options(populate_existing=True)
        )
    )
