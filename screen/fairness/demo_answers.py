"""The demo's self-identification: answers for the candidates who submitted, so the
adverse-impact page has something to show (with its small groups and small-sample notes).

Drawn with a fixed seed, independently of how anyone scored: any gap the page shows is
chance, which is what small samples look like. Some candidates skip the questions, some
skip one, some prefer not to say, as real ones do.
"""

from __future__ import annotations

import random
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.fairness import answers, categories
from screen.platform.models import Attempt, AttemptState, SelfIdentification
from screen.settings import Settings

# How often each option is drawn, by category and option key; options not named (a
# deployment's own categories) are drawn evenly.
WEIGHTS = {
    "gender": {"woman": 38, "man": 52, "non_binary": 4, "another_gender": 1},
    "race_ethnicity": {
        "hispanic_latino": 12,
        "white": 40,
        "black": 11,
        "pacific_islander": 1,
        "asian": 30,
        "american_indian": 1,
        "two_or_more": 5,
    },
    "age_band": {"under_30": 35, "30_39": 40, "40_49": 17, "50_59": 6, "60_plus": 2},
    "disability": {"yes": 9, "no": 91},
}
ANSWERS_AT_ALL = 0.8
SKIPS_ONE = 0.08
PREFERS_NOT = 0.06


async def seed_demo_answers(db: AsyncSession, settings: Settings, now: datetime) -> int:
    """Answers for every submitted candidate who has none yet; how many were stored."""
    if not settings.self_id:
        return 0
    asked = categories.configured(settings)
    rows = await db.execute(
        select(Attempt.invitation_id)
        .outerjoin(SelfIdentification, SelfIdentification.invitation_id == Attempt.invitation_id)
        .where(
            Attempt.submitted_at.is_not(None),
            Attempt.state != AttemptState.WITHDRAWN,
            SelfIdentification.id.is_(None),
        )
        .order_by(Attempt.invitation_id)
    )
    stored = 0
    for (invitation_id,) in rows.all():
        # Each candidate's own draw: running the seeding again decides the same way.
        rng = random.Random(f"demo-self-id:{invitation_id}")  # noqa: S311 - demo data
        if rng.random() > ANSWERS_AT_ALL:
            continue
        chosen: dict[str, str] = {}
        for category in asked:
            if rng.random() < SKIPS_ONE:
                continue
            if rng.random() < PREFERS_NOT:
                chosen[category.key] = categories.PREFER_NOT
                continue
            weights = WEIGHTS.get(category.key, {})
            keys = [o.key for o in category.options]
            chosen[category.key] = rng.choices(keys, [weights.get(k, 1) for k in keys])[0]
        await answers.record(db, invitation_id, chosen, now)
        stored += 1
    return stored
