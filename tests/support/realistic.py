"""Realistic data for the whole-product browser tour: the demo's own seed (about sixty
candidates in every state, four months of decisions, disputes, near-copies, outcomes) plus
what only integrations and time produce: a webhook endpoint with its deliveries, an API
key, a side effect that gave up, a shared report, and candidates at each step of the
candidate's pages."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from screen.accounts.api_keys import create_api_key
from screen.candidate import attempts, follow_ups
from screen.demo import DEMO_FOLLOW_UP_ANSWERS, DEMO_SCREEN_TITLE, load_exemplars, prepare_demo
from screen.pipeline.webhooks import EVENT_TYPES, create_endpoint
from screen.platform.models import (
    Attempt,
    AttemptState,
    Invitation,
    OutboxEvent,
    OutboxStatus,
    Screen,
    User,
)
from screen.platform.paths import PROMPTS_DIR
from screen.recruiting.invitations import invite
from screen.recruiting.screens import get_screen
from screen.report.shares import create_share
from screen.settings import Settings


@dataclass(frozen=True)
class Realistic:
    screen_id: int
    fresh_link: str
    started_link: str | None
    disputed_attempt_id: int
    decided_invitation_id: int
    share_token: str
    endpoint_id: int


async def seed_realistic(
    db: AsyncSession, settings: Settings, now: datetime, webhook_url: str
) -> Realistic:
    """The demo's data on the real prompt library (committed by the caller)."""
    settings = replace(settings, prompts_dir=PROMPTS_DIR)
    # Before the demo's decisions, so each of them is a delivery in the endpoint's log.
    endpoint, _ = await create_endpoint(
        db,
        url=webhook_url,
        events=list(EVENT_TYPES),
        now=now - timedelta(days=150),
        secret_key=settings.secret_key,
        description="Greenhouse bridge",
    )
    links = await prepare_demo(db, settings, now)
    admin = await db.scalar(select(User).where(User.email == "admin@demo.screen"))
    await create_api_key(db, "Greenhouse assessment partner", admin, now - timedelta(days=20))
    disputed = await db.scalar(
        select(Attempt.id)
        .join(Invitation, Attempt.invitation_id == Invitation.id)
        .where(
            Invitation.screen_id == links.screen_id,
            Attempt.state == AttemptState.NEEDS_ADJUDICATION,
        )
        .order_by(Attempt.id)
        .limit(1)
    )
    decided = await db.scalar(
        select(Invitation)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .where(Invitation.screen_id == links.screen_id, Attempt.state == AttemptState.PASSED)
        .order_by(Attempt.submitted_at.desc())
        .limit(1)
    )
    if disputed is None or decided is None:
        raise RuntimeError("the demo seeded no disputed or no decided answer")
    _, share_token = await create_share(
        db, decided, days=14, actor="recruiter@demo.screen", now=now - timedelta(days=1)
    )
    # One invitation email that gave up, as the admin's outbox shows it (the retry
    # schedule takes hours to give up for real).
    oldest = await db.scalar(select(func.min(OutboxEvent.id)))
    await db.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == oldest)
        .values(
            status=OutboxStatus.DEAD,
            tries=8,
            last_error="SMTPRecipientsRefused: 550 5.1.1 mailbox unavailable",
            done_at=now - timedelta(hours=3),
        )
    )
    return Realistic(
        screen_id=links.screen_id,
        fresh_link=links.fresh_link,
        started_link=links.started_link,
        disputed_attempt_id=disputed,
        decided_invitation_id=decided.id,
        share_token=share_token,
        endpoint_id=endpoint.id,
    )


async def submitted_candidate(
    db: AsyncSession, settings: Settings, now: datetime, *, answer_follow_ups: bool
) -> str:
    """A new candidate on the demo screen who wrote an exemplar and submitted it just now,
    waiting at the follow-up questions or past them: their link."""
    screen_id = await db.scalar(select(Screen.id).where(Screen.title == DEMO_SCREEN_TITLE))
    if screen_id is None:
        raise RuntimeError("seed_realistic first")
    screen = await get_screen(db, screen_id)
    count = await db.scalar(select(func.count(Invitation.id)))
    new = await invite(
        db,
        screen,
        name="Tour Candidate",
        email=f"tour.candidate{count}@example.com",
        now=now - timedelta(minutes=45),
        base_url=settings.base_url,
        secret_key=settings.secret_key,
        actor="demo",
    )
    begun = now - timedelta(minutes=30)
    await attempts.start(db, new.attempt, new.invitation, screen, begun)
    [exemplar, *_] = load_exemplars(PROMPTS_DIR, "rag-support-assistant")
    await attempts.submit(
        db,
        new.attempt.id,
        0,
        exemplar.answer,
        now,
        grace_seconds=settings.grace_seconds,
        max_bytes=settings.answer_max_bytes,
    )
    while answer_follow_ups and (question := await follow_ups.open_question(db, new.attempt.id)):
        await follow_ups.submit(
            db,
            new.attempt.id,
            question.position,
            question.revision,
            DEMO_FOLLOW_UP_ANSWERS[(question.position - 1) % len(DEMO_FOLLOW_UP_ANSWERS)],
            now,
            grace_seconds=settings.grace_seconds,
        )
    return new.link
