"""Near-copies found on submission and shown to reviewers as context, the other side anonymous."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.clock import FrozenClock
from screen.jobs import InProcessRunner
from screen.models import SimilarityMatch
from screen.settings import Settings
from tests.factories import make_screen, make_submitted, make_user
from tests.staff import post_form, sign_in
from tests.test_similarity import ANSWER_A, ANSWER_B, paraphrase


async def test_a_paraphrased_copy_is_flagged_and_an_independent_answer_is_not(
    app: Litestar,
    runner: InProcessRunner,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
) -> None:
    screen = await make_screen(db, clock.now())
    original = await make_submitted(
        db,
        settings,
        clock.now(),
        screen=screen,
        name="Orla Original",
        email="orla@example.com",
        answer=ANSWER_A,
    )
    copy = await make_submitted(
        db,
        settings,
        clock.now(),
        screen=screen,
        name="Cass Copier",
        email="cass@example.com",
        answer=paraphrase(ANSWER_A, 0.3, seed=7),
    )
    independent = await make_submitted(
        db,
        settings,
        clock.now(),
        screen=screen,
        name="Ivan Independent",
        email="ivan@example.com",
        answer=ANSWER_B,
    )
    await runner.tick()
    await runner.drain()

    matches = list(await db.scalars(select(SimilarityMatch)))
    pairs = {(m.attempt_id, m.other_attempt_id) for m in matches}
    a, b, c = (x.invitation.attempt.id for x in (original, copy, independent))
    assert (b, a) in pairs and (a, b) in pairs
    assert not any(c in pair for pair in pairs)

    reviewer = await make_user(db, clock.now(), "reviewer")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, reviewer.email)
        seen = {}
        for _ in range(3):
            response = await post_form(client, "/review/next")
            seen[response.url.path] = response.text

    flagged = [text for text in seen.values() if "Similar to other answers" in text]
    assert len(flagged) == 2  # the original and the copy, not the independent answer
    for text in flagged:
        assert "<mark>" in text
        assert "Orla" not in text and "Cass" not in text and "example.com" not in text
