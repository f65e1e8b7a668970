"""Concurrent reviewers never hold the same slot, and every attempt is reviewed exactly N times."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screen.platform.clock import FrozenClock
from screen.platform.models import Review, ReviewStatus, Role, User
from screen.review import reviews
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted

REVIEWERS = 20
ATTEMPTS = 15


async def test_twenty_concurrent_claimers_share_the_queue_exactly(
    db: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    now = clock.now()
    screen = await make_screen(db, now)
    for index in range(ATTEMPTS):
        await make_submitted(
            db, settings, now, screen=screen, name=f"Cand {index}", email=f"c{index}@example.com"
        )
    staff = [
        User(
            email=f"r{index}@staff.example",
            name=f"Reviewer {index}",
            roles=frozenset({Role.REVIEWER}),
            password_hash="not-used-here",
            created_at=now,
            password_changed_at=now,
        )
        for index in range(REVIEWERS)
    ]
    db.add_all(staff)
    await db.commit()

    async def claimer(user: User) -> list[int]:
        mine = []
        while True:
            async with sessionmaker() as session, session.begin():
                review_id = await reviews.claim_next(session, user.id, now)
                if review_id is None:
                    return mine
                mine.append(review_id)
            await asyncio.sleep(0)

    results = await asyncio.gather(*(claimer(user) for user in staff))

    claimed = [review_id for ids in results for review_id in ids]
    rows = list(await db.scalars(select(Review).execution_options(populate_existing=True)))
    assert len(rows) == ATTEMPTS * screen.reviews_required
    assert sorted(claimed) == sorted(r.id for r in rows)  # every slot handed out exactly once
    assert all(r.status == ReviewStatus.CLAIMED for r in rows)
    per_attempt = Counter(r.attempt_id for r in rows)
    assert set(per_attempt.values()) == {screen.reviews_required}
    pairs = Counter((r.attempt_id, r.reviewer_id) for r in rows)
    assert max(pairs.values()) == 1  # nobody holds two slots of one attempt
    assert sum(1 for ids in results if ids) > 1  # the work really was shared
