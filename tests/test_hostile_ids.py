"""Numbers typed in odd scripts and ids too large for the database get 4xx, never 500."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.settings import Settings
from tests.support.factories import make_candidate, make_user
from tests.support.staff import post_form, sign_in

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "path",
    [
        f"/recruiter/screens/{HUGE}",
        f"/recruiter/invitations/{HUGE}",
        f"/recruiter/screens/{HUGE}/export?format=csv",
        "/recruiter/screens/1?after=²",
        "/recruiter/screens/1?before=-1",
        f"/recruiter/screens/1?after={HUGE}",
        "/recruiter/screens/1?sort=score&before=1",
    ],
)
async def test_odd_numbers_in_urls_get_a_clear_answer(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock, path: str
) -> None:
    await make_candidate(db, settings, clock.now())
    recruiter = await make_user(db, clock.now(), "recruiter")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, recruiter.email)
        response = await client.get(path)

    assert response.status_code in (200, 400, 404), response.text[:300]


async def test_odd_numbers_in_forms_get_400(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())
    recruiter = await make_user(db, clock.now(), "recruiter")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await sign_in(client, recruiter.email)
        await client.get("/recruiter")
        extend = await post_form(
            client, f"/recruiter/invitations/{candidate.invitation_id}/extend", {"days": "²"}
        )
        screen = await post_form(
            client,
            "/recruiter/screens",
            {"prompt_id": "³", "title": "X", "duration_minutes": "①"},
        )

    assert extend.status_code == 400
    assert screen.status_code == 400


async def test_control_characters_and_non_ascii_addresses_are_handled(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    from screen.platform.errors import InputError

    candidate = await make_candidate(
        db, settings, clock.now(), name="\u202eRTL\x00 Name", email="rtl@example.com"
    )
    assert candidate.invitation.invitation.candidate_name == "RTL Name"
    with pytest.raises(InputError, match="plain ASCII"):
        await make_candidate(db, settings, clock.now(), name="U", email="üser@exämple.com")


async def test_a_withdrawn_candidate_cannot_be_decided_or_reopened(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    from sqlalchemy import select

    from screen.platform.errors import ConflictError
    from screen.platform.models import Decision, Review
    from screen.recruiting import invitations
    from screen.review import decisions
    from tests.support.factories import make_submitted

    candidate = await make_submitted(db, settings, clock.now())
    lead = await make_user(db, clock.now(), "lead")
    db.add(
        Decision(
            attempt_id=candidate.invitation.attempt.id,
            outcome="needs_adjudication",
            rule_outcome="needs_adjudication",
            weighted_score=2.5,
            dimension_means={},
            explanation="needs adjudication: test",
            rule_version="test",
            inputs={},
            decided_at=clock.now(),
        )
    )
    await db.commit()
    invitation = await invitations.get_invitation(db, candidate.invitation_id)
    await invitations.withdraw(db, invitation, clock.now(), reason="Test", actor="test")
    await db.commit()

    with pytest.raises(ConflictError, match="withdrawn"):
        await decisions.adjudicate(
            db, candidate.invitation.attempt.id, lead, "pass", "A reason long enough", clock.now()
        )
    await db.rollback()
    assert await db.scalar(select(Review.id).limit(1)) is None  # open slots closed
