"""Near-copies found on submission and shown to reviewers as context, the other side anonymous."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import SimilarityMatch
from screen.settings import Settings
from tests.support.answers import ANSWER_A, ANSWER_B, paraphrase
from tests.support.factories import make_screen, make_submitted, make_user
from tests.support.staff import post_form, sign_in


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


async def test_a_leaked_answer_added_by_a_lead_flags_existing_and_new_submissions(
    app: Litestar,
    runner: InProcessRunner,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
) -> None:
    screen = await make_screen(db, clock.now())
    early = await make_submitted(
        db,
        settings,
        clock.now(),
        screen=screen,
        name="Early Bird",
        email="early@example.com",
        answer=paraphrase(ANSWER_A, 0.2, seed=3),
    )
    await runner.tick()
    await runner.drain()
    lead = await make_user(db, clock.now(), "lead")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, lead.email)
        short = await post_form(
            client,
            "/lead/leaks",
            {"prompt": "sample-decision", "source": "forum", "text": "too short"},
        )
        added = await post_form(
            client,
            "/lead/leaks",
            {
                "prompt": "sample-decision",
                "source": "interview-prep forum thread",
                "text": ANSWER_A,
            },
            follow_redirects=False,
        )
        twice = await post_form(
            client,
            "/lead/leaks",
            {"prompt": "sample-decision", "source": "the same thread", "text": ANSWER_A},
        )
        page = await client.get("/lead/leaks")
    late = await make_submitted(
        db,
        settings,
        clock.now(),
        screen=screen,
        name="Late Comer",
        email="late@example.com",
        answer=paraphrase(ANSWER_A, 0.3, seed=11),
    )
    await runner.tick()
    await runner.drain()

    assert short.status_code == 400
    assert added.status_code == 303
    assert twice.status_code == 409
    assert "already recorded (found at: interview-prep forum thread)" in twice.text
    assert "interview-prep forum thread" in page.text
    leak_matches = {
        m.attempt_id
        for m in await db.scalars(
            select(SimilarityMatch)
            .where(SimilarityMatch.other_kind == "leak")
            .execution_options(populate_existing=True)
        )
    }
    assert leak_matches == {early.invitation.attempt.id, late.invitation.attempt.id}
    # The lead sees the match on the submission's page, as its reviewers do.
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, lead.email)
        lead_page = await client.get(f"/lead/attempts/{late.invitation.attempt.id}")
    assert "Similar to other answers" in lead_page.text
    assert "a known leaked answer (interview-prep forum thread)" in lead_page.text
