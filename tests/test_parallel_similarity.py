"""Similarity checks of one prompt run side by side without losing a match.

The job indexes its answer and commits before it looks for the others, so of two checks
running at the same moment, whichever looks second sees the first's bands. Only the
best-ranked candidates are confirmed: an exact copy shares every band and ranks first.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import OutboxEvent, SimilarityMatch
from screen.platform.outbox import DoneMarker
from screen.review import similar_answers
from screen.settings import Settings
from tests.support.answers import ANSWER_A, ANSWER_B, ANSWER_C, paraphrase
from tests.support.factories import make_screen, make_submitted


async def _pairs(db: AsyncSession) -> list[tuple[int, int | None]]:
    rows = await db.execute(
        select(SimilarityMatch.attempt_id, SimilarityMatch.other_attempt_id)
        .where(SimilarityMatch.other_kind == "attempt")
        .execution_options(populate_existing=True)
    )
    return sorted((a, b) for a, b in rows)


async def test_two_checks_at_once_of_near_identical_answers_record_the_match_once(
    db: AsyncSession, settings: Settings, clock: FrozenClock, runner: InProcessRunner
) -> None:
    screen = await make_screen(db, clock.now())
    first = await make_submitted(
        db, settings, clock.now(), screen=screen, email="a@example.com", answer=ANSWER_A
    )
    second = await make_submitted(
        db,
        settings,
        clock.now(),
        screen=screen,
        email="b@example.com",
        answer=paraphrase(ANSWER_A, 0.1, seed=3),
    )
    a, b = (c.invitation.attempt.id for c in (first, second))
    ctx = runner.context
    assert ctx is not None

    async def job(attempt_id: int) -> None:
        event = OutboxEvent(id=0, kind=similar_answers.SIMILARITY_CHECK)
        event.payload = {"attempt_id": attempt_id}
        await similar_answers.run_check(ctx, event, DoneMarker(ctx, 0))

    await asyncio.gather(job(a), job(b))
    assert await _pairs(db) == sorted([(a, b), (b, a)])

    # Again, both at once: the same rows, not copies.
    await asyncio.gather(job(b), job(a))
    assert await _pairs(db) == sorted([(a, b), (b, a)])


async def test_the_best_ranked_candidates_are_the_ones_confirmed(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    answers = [ANSWER_A, ANSWER_B, ANSWER_C, paraphrase(ANSWER_B, 0.05, seed=1), ANSWER_A]
    ids = []
    for n, answer in enumerate(answers):
        candidate = await make_submitted(
            db, settings, clock.now(), screen=screen, email=f"c{n}@example.com", answer=answer
        )
        ids.append(candidate.invitation.attempt.id)
        assert await similar_answers.index_answer(db, ids[-1])
    await db.commit()

    ranked = await db.execute(
        similar_answers.ranked_candidates(screen.prompt.slug, ids[-1], limit=1)
    )
    assert [(other, shared) for other, shared in ranked] == [(ids[0], 64)]  # the exact copy

    found = await similar_answers.find_matches(db, ids[-1], clock.now())
    await db.commit()
    assert found == 1
    assert (ids[-1], ids[0]) in await _pairs(db)
