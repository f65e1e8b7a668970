"""Outcome feedback: recruiters record what happened next; leads see it against pass/fail."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.models import AuditEvent, User
from screen.settings import Settings
from tests.support.factories import make_screen, make_submitted, make_user, score_next
from tests.support.staff import post_form, sign_in

KEYS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")


async def decide(db: AsyncSession, reviewers: list[User], level: int, clock: FrozenClock) -> None:
    for reviewer in reviewers:
        await score_next(db, reviewer, dict.fromkeys(KEYS, level), clock.now())


async def test_outcomes_are_recorded_and_compared_with_the_decision(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    screen = await make_screen(db, clock.now())
    await db.commit()
    first = await make_user(db, clock.now(), "reviewer", email="r1@staff.example")
    second = await make_user(db, clock.now(), "reviewer", email="r2@staff.example")
    recruiter = await make_user(db, clock.now(), "recruiter", email="rec@staff.example")
    lead = await make_user(db, clock.now(), "lead", email="lead@staff.example")
    passed = await make_submitted(
        db, settings, clock.now(), screen=screen, name="Pat Pass", email="pat@example.com"
    )
    await decide(db, [first, second], 4, clock)
    failed = await make_submitted(
        db, settings, clock.now(), screen=screen, name="Fay Fail", email="fay@example.com"
    )
    await decide(db, [first, second], 1, clock)
    undecided = await make_submitted(
        db, settings, clock.now(), screen=screen, name="Una Waiting", email="una@example.com"
    )

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, recruiter.email)
        await client.get(f"/recruiter/invitations/{passed.invitation_id}")
        ok = await post_form(
            client,
            f"/recruiter/invitations/{passed.invitation_id}/outcome",
            {"outcome": "hired", "note": "Joined the platform team"},
            follow_redirects=False,
        )
        await post_form(
            client,
            f"/recruiter/invitations/{failed.invitation_id}/outcome",
            {"outcome": "rejected_later"},
        )
        bad = await post_form(
            client,
            f"/recruiter/invitations/{failed.invitation_id}/outcome",
            {"outcome": "promoted"},
        )
        undecided_page = await client.get(f"/recruiter/invitations/{undecided.invitation_id}")
        too_early = await post_form(
            client,
            f"/recruiter/invitations/{undecided.invitation_id}/outcome",
            {"outcome": "hired"},
        )
        page = await client.get(f"/recruiter/invitations/{passed.invitation_id}")
    async with AsyncTestClient(
        app=app.state.make_app(), base_url="http://testserver.local"
    ) as client:
        await sign_in(client, lead.email)
        agreement = await client.get("/lead/agreement?prompt=sample-decision")

    assert ok.status_code == 303
    assert bad.status_code == 400
    assert too_early.status_code == 409
    assert "no pass or fail result yet" in too_early.text
    assert f'action="/recruiter/invitations/{undecided.invitation_id}/outcome"' not in (
        undecided_page.text
    )
    assert "Once the screen has a pass or fail result" in undecided_page.text
    assert "hired" in page.text and "Joined the platform team" in page.text
    assert "Screen decision and what happened next" in agreement.text
    assert "<td>100%</td>" in agreement.text  # the passed candidate was hired
    assert "<td>0%</td>" in agreement.text  # the failed one was rejected later
    events = list(
        await db.scalars(select(AuditEvent.action).where(AuditEvent.action == "outcome.recorded"))
    )
    assert len(events) == 2


async def test_the_ats_records_an_outcome_through_the_api(
    client: AsyncTestClient[Litestar], db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    from screen.accounts.api_keys import create_api_key

    admin = await make_user(db, clock.now(), "admin")
    reviewers = [
        await make_user(db, clock.now(), "reviewer", email=f"r{i}@staff.example") for i in (1, 2)
    ]
    _, raw_key = await create_api_key(db, "Greenhouse", admin, clock.now())
    await db.commit()
    candidate = await make_submitted(db, settings, clock.now())
    await decide(db, reviewers, 4, clock)  # an outcome needs a pass/fail to be set against
    url = "/api/ats/outcome"

    ok = await client.post(
        url,
        json={"partner_interview_id": str(candidate.invitation_id), "outcome": "offer"},
        auth=(raw_key, ""),
    )
    unknown = await client.post(
        url, json={"partner_interview_id": "999999", "outcome": "offer"}, auth=(raw_key, "")
    )
    bad = await client.post(
        url,
        json={"partner_interview_id": str(candidate.invitation_id), "outcome": "promoted"},
        auth=(raw_key, ""),
    )
    anonymous = await client.post(url, json={"partner_interview_id": "1", "outcome": "offer"})

    assert ok.status_code == 200
    assert ok.json() == {"partner_interview_id": str(candidate.invitation_id), "outcome": "offer"}
    assert unknown.status_code == 404
    assert bad.status_code == 400
    assert anonymous.status_code == 401
