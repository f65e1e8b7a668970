"""An answer waiting for adjudication is the humans' disagreement, not their decision: a
model's figures, the validity rule's count and the admin's page leave it out until a
lead decides it, and then count it without waiting for another decision."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import Decision
from screen.review import agreement_snapshots, decisions
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted, make_user, score_next
from tests.support.model_server import ChatPeer, rating
from tests.support.staff import agreement_page, sign_in

Client = AsyncTestClient[Litestar]
KEYS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")


async def test_a_model_counts_an_answer_only_once_its_adjudication_decides_it(
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    client: Client,
) -> None:
    async with ChatPeer(default=rating(3)) as peer:
        assert runner.context is not None
        runner.context.settings = settings.with_overrides(model_url=peer.url, model_name="peer-7b")
        screen = await make_screen(db, clock.now(), calibration_threshold=None)
        await make_submitted(db, settings, clock.now(), screen=screen, email="c@example.com")
        for _ in range(3):
            await runner.tick()
            await runner.drain()
    # One reviewer fails it everywhere, the other passes it everywhere: the rule asks a lead.
    first = await make_user(db, clock.now(), "reviewer", email="h1@staff.example")
    second = await make_user(db, clock.now(), "reviewer", email="h2@staff.example")
    attempt_id = await score_next(db, first, dict.fromkeys(KEYS, 1), clock.now())
    await score_next(db, second, dict.fromkeys(KEYS, 4), clock.now())
    decision = await db.scalar(select(Decision).where(Decision.attempt_id == attempt_id))
    assert decision is not None and decision.outcome == "needs_adjudication"

    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    admin = await make_user(db, clock.now(), "admin", email="admin@staff.example")
    await sign_in(client, lead.email)
    page = (await agreement_page(client, runner, "/lead/agreement?prompt=sample-decision")).text
    assert "Model rater: peer-7b" in page
    assert "0 human-decided answers rated by the model; at least 50 are needed" in page
    await sign_in(client, admin.email)
    assert "Human-decided answers it rated: 0." in (await client.get("/admin/model-rater")).text

    clock.advance(minutes=5)
    await decisions.adjudicate(
        db, attempt_id, lead, "pass", "The stronger review reads the trade-offs right.", clock.now()
    )
    await db.commit()
    # No decision since the snapshot, yet the model has one more decided answer: the
    # hourly refresh sees it and recomputes.
    clock.advance(hours=2)
    assert await agreement_snapshots.refresh_due(db, clock.now()) == 1
    await db.commit()
    await runner.tick()
    await runner.drain()
    await sign_in(client, admin.email)  # two hours on: signed in afresh
    assert "Human-decided answers it rated: 1." in (await client.get("/admin/model-rater")).text
    await sign_in(client, lead.email)
    page = (await client.get("/lead/agreement?prompt=sample-decision")).text
    assert "1 human-decided answers rated by the model; at least 50 are needed" in page
