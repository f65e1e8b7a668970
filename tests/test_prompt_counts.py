"""The prompt library's exposure figures (kept by triggers, migration 0033) say what
counting every attempt and every match would say: after candidates start, after
similarity checks (run again, too), after a leak is recorded, after erasures that take
an answer's only match with them, and when two checks flag one answer at once."""

from __future__ import annotations

import asyncio

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screen.candidate import attempts
from screen.operations import erasure
from screen.platform.clock import FrozenClock
from screen.platform.models import Prompt, SimilarityMatch
from screen.review import exposure, similar_answers
from screen.settings import Settings
from tests.support.answers import ANSWER_A, ANSWER_B, paraphrase
from tests.support.exposure import expected_exposure, library_rows
from tests.support.factories import (
    SAMPLE_SLUG,
    Candidate,
    make_candidate,
    make_screen,
    make_submitted,
    make_user,
)
from tests.support.staff import sign_in


async def _shown(app: Litestar, lead_email: str) -> list[str]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, lead_email)
        page = await client.get("/lead/prompts")
    assert page.status_code == 200
    return library_rows(page.text)[SAMPLE_SLUG]


async def _check(db: AsyncSession, candidate: Candidate, clock: FrozenClock) -> None:
    await similar_answers.check(db, candidate.invitation.attempt.id, clock.now())
    await db.commit()


async def test_the_library_shows_exact_exposure_through_checks_leaks_and_erasure(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    lead = await make_user(db, clock.now(), "lead")
    lead_email = lead.email
    answers = {
        "Ann Original": ANSWER_A,
        "Ben Paraphrase": paraphrase(ANSWER_A, 0.1, seed=3),
        "Cat Copy": ANSWER_A + " That is all.",
        "Dan Different": ANSWER_B,
    }
    submitted = {
        name: await make_submitted(
            db, settings, clock.now(), screen=screen, name=name, answer=answer
        )
        for name, answer in answers.items()
    }
    await make_candidate(db, settings, clock.now(), screen=screen, name="Eve Invited")
    writing = await make_candidate(db, settings, clock.now(), screen=screen, name="Fay Writing")
    invitation = writing.invitation.invitation
    await attempts.start(db, writing.invitation.attempt, invitation, screen, clock.now())
    await db.commit()

    async def agrees(seen: int, similar: int, leaked: int) -> None:
        expected = (await expected_exposure(db))[SAMPLE_SLUG]
        assert expected == (seen, similar, leaked)
        assert await _shown(app, lead_email) == [str(seen), str(similar), str(leaked)]

    # Five started (the invited one has not); no check has run yet.
    await agrees(5, 0, 0)
    for candidate in submitted.values():
        await _check(db, candidate, clock)
    # Ann, Ben and Cat match each other, each counted once however many matches it has.
    await agrees(5, 3, 0)
    # A check run again replaces the answer's matches: nothing is counted twice.
    await _check(db, submitted["Ann Original"], clock)
    await _check(db, submitted["Ben Paraphrase"], clock)
    await agrees(5, 3, 0)

    await similar_answers.add_leak(db, lead, SAMPLE_SLUG, "a forum post", ANSWER_A, clock.now())
    await db.commit()
    await agrees(5, 3, 3)

    # Erasing Cat deletes Cat's matches and the other side of each: Ann and Ben still
    # match each other. Erasing Ben then leaves Ann with no similar answer, only the leak.
    for name, figures in (("Cat Copy", (5, 2, 2)), ("Ben Paraphrase", (5, 0, 1))):
        await erasure.erase_candidate(
            db, submitted[name].invitation_id, actor="test", now=clock.now()
        )
        await db.commit()
        await agrees(*figures)


async def test_two_checks_flagging_one_answer_at_once_count_it_once(
    db: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time")
    screen = await make_screen(db, clock.now())
    one = await make_submitted(db, settings, clock.now(), screen=screen, name="Ann One")
    attempt_id = one.invitation.attempt.id

    def exemplar(key: str) -> SimilarityMatch:
        return SimilarityMatch(
            attempt_id=attempt_id,
            other_kind="exemplar",
            other_key=key,
            score=0.9,
            passages=[],
            found_at=clock.now(),
        )

    async with sessionmaker() as first, sessionmaker() as second:
        # Both write the answer's first match; the second waits on the first's row.
        first.add(exemplar("a"))
        await first.flush()
        second.add(exemplar("b"))
        waiting = asyncio.create_task(second.commit())
        await asyncio.sleep(0.2)
        await first.commit()
        await waiting
    assert (await expected_exposure(db))[SAMPLE_SLUG][1] == 1
    assert await _similar(db) == 1

    async def take_away(session: AsyncSession, key: str) -> None:
        await session.execute(
            delete(SimilarityMatch).where(
                SimilarityMatch.attempt_id == attempt_id, SimilarityMatch.other_key == key
            )
        )

    async with sessionmaker() as first, sessionmaker() as second:
        # Each takes away one of the two: the answer is no longer flagged.
        await take_away(first, "a")

        async def then_b() -> None:
            await take_away(second, "b")
            await second.commit()

        waiting = asyncio.create_task(then_b())
        await asyncio.sleep(0.2)
        await first.commit()
        await waiting
    assert await _similar(db) == 0


async def _similar(db: AsyncSession) -> int:
    """The similar figure as the library reads it (the counters), in a fresh snapshot."""
    await db.rollback()
    prompts = {p.id: p.slug for p in await db.scalars(select(Prompt))}
    figures = await exposure.by_prompt_id(db)
    return sum(e.similar for pid, e in figures.items() if prompts[pid] == SAMPLE_SLUG)
