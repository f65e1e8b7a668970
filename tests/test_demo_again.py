"""`screen demo` run again on its database prints a new candidate link, even after someone
trying the demo renamed its screen in the web (the README invites both)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from screen.demo import DEMO_SCREEN_TITLE, prepare_demo
from screen.platform.clock import FrozenClock
from screen.platform.models import Invitation, Screen, User
from screen.platform.paths import PROMPTS_DIR
from screen.settings import Settings


async def test_a_second_run_after_the_demo_screen_was_renamed_invites_to_it(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    settings = replace(settings, prompts_dir=PROMPTS_DIR)
    first = await prepare_demo(db, settings, clock.now())
    await db.commit()
    # What a recruiter's edit of the title writes.
    await db.execute(
        update(Screen).where(Screen.id == first.screen_id).values(title="Platform engineer, Q1")
    )
    await db.commit()
    users = await db.scalar(select(func.count()).select_from(User))
    screens = await db.scalar(select(func.count()).select_from(Screen))

    again = await prepare_demo(db, settings, clock.now())
    await db.commit()

    assert again.screen_id == first.screen_id
    assert again.fresh_link != first.fresh_link and again.started_link is None
    assert await db.scalar(select(func.count()).select_from(User)) == users
    assert await db.scalar(select(func.count()).select_from(Screen)) == screens
    newest = await db.scalar(select(Invitation).order_by(Invitation.id.desc()).limit(1))
    assert newest is not None and newest.screen_id == first.screen_id
    assert await db.scalar(select(Screen.id).where(Screen.title == DEMO_SCREEN_TITLE)) is None
