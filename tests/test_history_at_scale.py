"""Queries over all history answer past 32,767 rows on PostgreSQL.

PostgreSQL binds at most 32,767 parameters in one statement, so a query that passed one
parameter per id from a Python list failed once a prompt, a screen or a campaign had
more rows than that. These tests seed 40,000 candidates in the shape the product writes
them (one arranged through the real code, the rest copied in bulk) and call the real code
paths: the agreement page over HTTP and the job behind it, the similarity check and a
leak's check, the reminder sweep.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import Decision, ReminderSent
from screen.recruiting.reminders import send_due_reminders
from screen.review import similar_answers
from screen.settings import Settings
from tests.support.agreement import panel
from tests.support.bulk import copy_candidate
from tests.support.factories import (
    make_candidate,
    make_screen,
    make_submitted,
    score_next,
)
from tests.support.staff import agreement_page, sign_in

MANY = 40_000  # past PostgreSQL's 32,767 bound parameters per statement
ANSWER = (
    "We choose pgvector with an HNSW index because the p95 budget is 300 ms and the corpus "
    "is two million chunks; a hosted vector store would cost four times as much at our "
    "volume, and the recall we lose against exact search is under two percent on the "
    "evaluation set we built from last quarter's support tickets."
)
LEVELS = {"latency_vs_cost": 3, "accuracy_vs_speed": 3, "failure_modes": 2, "first_week": 4}


@pytest.fixture(autouse=True)
def _postgres_only(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the bound-parameter limit is PostgreSQL's")


async def test_the_agreement_page_and_the_similarity_check_answer_over_40k_attempts(
    app: Litestar,
    db: AsyncSession,
    settings: Settings,
    clock: FrozenClock,
    runner: InProcessRunner,
) -> None:
    screen, ana, ben, lead = await panel(db, clock.now())
    first = await make_submitted(db, settings, clock.now(), screen=screen, answer=ANSWER)
    attempt_id = first.invitation.attempt.id
    await score_next(db, ana, LEVELS, clock.now())
    await score_next(db, ben, LEVELS, clock.now())
    await similar_answers.check(db, attempt_id, clock.now())
    await db.commit()
    # Each copy: one submitted review (so it counts among the reviewed attempts without
    # making the bootstrap resample 40,000 pairs), a decision, the same similarity bands
    # (one is enough to make every copy a candidate to confirm) and an answer of its own
    # (so none matches).
    await copy_candidate(
        db,
        attempt_id,
        MANY,
        answer="'An answer of its own, number ' || p.id::text",
        reviews="t.slot = 1",
        bands="t.band = 0",
    )
    await db.commit()
    decided = await db.scalar(select(func.count()).select_from(Decision))
    assert decided == MANY + 1

    copied = await make_submitted(
        db, settings, clock.now(), screen=screen, name="Ria Copy", answer=ANSWER
    )
    found = await similar_answers.check(db, copied.invitation.attempt.id, clock.now())
    await similar_answers.add_leak(db, lead, "sample-decision", "a forum post", ANSWER, clock.now())
    await db.commit()
    assert found == 1  # the first answer, among 40,001 candidates sharing its bands
    flagged = await similar_answers.matches_for(db, attempt_id)
    assert {m.other_kind for m in flagged} == {"attempt", "leak"}

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, lead.email)
        # The figures come from the job; the decisions since, from the page itself.
        page = await agreement_page(client, runner, "/lead/agreement?prompt=sample-decision")
    assert page.status_code == 200, page.text[:500]
    assert f"of {MANY + 1} decisions" in page.text
    assert f"from {MANY + 1} decided answers" in page.text


async def test_the_reminder_sweep_answers_over_40k_waiting_candidates(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now(), reminder_hours=[24])
    candidate = await make_candidate(db, settings, clock.now(), screen=screen)
    # The copies wait too, but were invited after their reminder fell due (which the rule
    # skips): the sweep weighs all 40,001 and queues one email, the test stays quick.
    await copy_candidate(
        db,
        candidate.invitation.attempt.id,
        MANY,
        decision=False,
        invitation={"created_at": "t.expires_at - interval '1 hour'"},
    )
    await db.commit()
    now = candidate.invitation.invitation.expires_at - timedelta(hours=23)

    queued = await send_due_reminders(db, now)
    await db.commit()
    again = await send_due_reminders(db, now)

    assert queued == 1
    assert again == 0  # recorded as sent, so never twice
    assert await db.scalar(select(func.count()).select_from(ReminderSent)) == 1
