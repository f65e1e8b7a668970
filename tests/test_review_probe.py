"""The "probe in the live interview" field: typed on the scoring page, kept with the
draft and the review, refused when too long, collected into the report's interview guide."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from screen.platform.clock import FrozenClock
from screen.platform.errors import InputError
from screen.platform.models import AuditEvent, Invitation, Review, Screen
from screen.report.reports import build_report
from screen.review import reviews
from screen.settings import Settings
from tests.support.factories import make_submitted, make_user
from tests.support.staff import post_form, sign_in

Client = AsyncTestClient[Litestar]
DIMENSIONS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")
EVIDENCE = "The answer says HNSW with ef_search 64 keeps p95 under 300 ms at 50 QPS."
LABEL = "Probe in the live interview"


def scores(level: int, **extra: str) -> dict[str, str]:
    form = {f"level.{key}": str(level) for key in DIMENSIONS}
    form.update({f"evidence.{key}": EVIDENCE for key in DIMENSIONS})
    form["recommendation"] = "yes"
    return {**form, **extra}


def new_client(app: Litestar) -> Client:
    return AsyncTestClient(app=app.state.make_app(), base_url="http://testserver.local")


async def review_next(client: Client) -> str:
    response = await post_form(client, "/review/next", follow_redirects=False)
    assert response.status_code == 303
    location: str = response.headers["location"]
    return location


async def stored(db: AsyncSession, reviewer_id: int) -> Review:
    review = await db.scalar(
        select(Review)
        .where(Review.reviewer_id == reviewer_id)
        .execution_options(populate_existing=True)
    )
    assert review is not None
    return review


async def test_a_probe_is_kept_with_the_draft_and_the_submitted_review(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer", email="probe@staff.example")
    await make_submitted(db, settings, clock.now())
    typed = "  Ask how ef_search was chosen.\r\nWhat breaks\x07 at\x00 10M documents?  "

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        page = await review_next(client)
        blank = await client.get(page)
        saved = await post_form(
            client, page, {"level.latency_vs_cost": "3", "probe": typed, "action": "save"}
        )
        draft = await client.get(page)
        draft_probe = (await stored(db, reviewer.id)).probe
        submitted = await post_form(
            client,
            page,
            scores(3, probe="Ask how ef_search was chosen.", action="submit"),
            follow_redirects=False,
        )

    assert LABEL in blank.text
    assert "the hiring manager sees them in the report" in blank.text
    assert saved.status_code == 200  # followed to the page after the 303
    # Cleaned as evidence notes are (multi_line): controls gone, lines kept, trimmed.
    assert draft_probe == "Ask how ef_search was chosen.\nWhat breaks at 10M documents?"
    assert "What breaks at 10M documents?</textarea>" in draft.text  # typed back into the form
    assert submitted.status_code == 303
    review = await stored(db, reviewer.id)
    assert review.status == "submitted"
    assert review.probe == "Ask how ef_search was chosen."
    audit = await db.scalar(
        select(AuditEvent.after).where(
            AuditEvent.action == "review.submitted", AuditEvent.subject_id == str(review.id)
        )
    )
    assert audit is not None
    assert audit["probe"] == "Ask how ef_search was chosen."


async def test_an_overlong_probe_is_refused_with_a_message_and_nothing_changes(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer", email="long@staff.example")
    await make_submitted(db, settings, clock.now())
    too_long = "Why? " * 500  # 2,500 characters, 2,499 once trimmed

    async with new_client(app) as client:
        await sign_in(client, reviewer.email)
        page = await review_next(client)
        await post_form(client, page, {"probe": "Kept from before.", "action": "save"})
        before = await stored(db, reviewer.id)
        saved_at = before.saved_at
        refused_draft = await post_form(client, page, {**scores(3), "probe": too_long})
        refused_submit = await post_form(
            client, page, scores(3, probe=too_long, action="submit"), follow_redirects=False
        )

    message = (
        "Probe in the live interview: the questions are 2,499 characters; "
        "shorten them to 2,000 or fewer."
    )
    for refused in (refused_draft, refused_submit):
        assert refused.status_code == 400
        assert message in refused.text
        assert too_long.strip() in refused.text  # handed back to be shortened
    review = await stored(db, reviewer.id)
    assert review.probe == "Kept from before."
    assert review.status == "claimed"
    assert review.scores is not None and review.scores["latency_vs_cost"]["level"] is None
    assert review.saved_at == saved_at


async def test_a_rule_caller_cannot_store_an_overlong_probe_either(
    db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    reviewer = await make_user(db, clock.now(), "reviewer", email="rule@staff.example")
    await make_submitted(db, settings, clock.now())
    review_id = await reviews.claim_next(db, reviewer.id, clock.now())
    assert review_id is not None
    review = await db.get(Review, review_id)
    assert review is not None
    rubric = await reviews.rubric_for_attempt(db, review.attempt_id)
    form = reviews.ScoreForm({}, {}, None, probe="x" * (reviews.MAX_PROBE_CHARS + 1))

    with pytest.raises(InputError, match="shorten them to 2,000 or fewer"):
        await reviews.save_draft(db, review, reviewer, rubric, form, clock.now())
    assert review.probe is None


async def test_the_report_collects_both_reviewers_probes_once_decided(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    first = await make_user(db, clock.now(), "reviewer", email="a@staff.example", name="Ada R")
    second = await make_user(db, clock.now(), "reviewer", email="b@staff.example", name="Bo R")
    candidate = await make_submitted(db, settings, clock.now())

    async def report_guide() -> list[tuple[str, str]]:
        invitation = await db.scalar(
            select(Invitation)
            .where(Invitation.id == candidate.invitation_id)
            .options(
                joinedload(Invitation.attempt),
                joinedload(Invitation.screen).joinedload(Screen.prompt),
                joinedload(Invitation.prompt),
            )
            .execution_options(populate_existing=True)
        )
        assert invitation is not None
        return (await build_report(db, invitation, clock.now())).interview_guide

    async with new_client(app) as alice, new_client(app) as bob:
        await sign_in(alice, first.email)
        await sign_in(bob, second.email)
        alice_page = await review_next(alice)
        bob_page = await review_next(bob)
        await post_form(alice, alice_page, scores(3, probe="Sizing at 10M?", action="submit"))
        guide_while_reviewing = await report_guide()
        await post_form(bob, bob_page, scores(4, probe="Recall drift plan?", action="submit"))
        guide = await report_guide()

    assert guide_while_reviewing == []  # nothing of the reviews shows before the decision
    assert guide == [("Ada R", "Sizing at 10M?"), ("Bo R", "Recall drift plan?")]


async def test_a_declined_slot_does_not_hand_a_draft_probe_to_the_next_reviewer(
    app: Litestar, db: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    first = await make_user(db, clock.now(), "reviewer", email="c@staff.example")
    await make_submitted(db, settings, clock.now())

    async with new_client(app) as client:
        await sign_in(client, first.email)
        page = await review_next(client)
        await post_form(client, page, {"probe": "My private draft question.", "action": "save"})
        await post_form(client, f"{page}/decline", {"reason": "I know the author."})

    review = await db.scalar(select(Review).execution_options(populate_existing=True))
    assert review is not None
    assert review.status == "open"
    assert review.probe is None
