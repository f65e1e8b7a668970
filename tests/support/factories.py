"""Plain factory functions that arrange data through the same domain code the app uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from screen.accounts.users import create_user
from screen.candidate import attempts
from screen.platform.models import Review, Screen, User
from screen.recruiting.invitations import NewInvitation, invite
from screen.recruiting.prompts import check_library, sync_library
from screen.recruiting.screens import create_screen
from screen.review import decisions, reviews
from screen.settings import Settings

DATA = Path(__file__).parents[1] / "data"
SAMPLE_SLUG = "sample-decision"

# The audit log's actor for what the tests arrange through the rules.
TEST_ACTOR = "test"


async def make_screen(
    db: AsyncSession, now: datetime, *, prompts_dir: Path = DATA / "prompts", **options: object
) -> Screen:
    library = check_library(prompts_dir)
    assert not library.problems, library.problems
    await sync_library(db, library.prompts, now)
    options.setdefault("prompt_slug", SAMPLE_SLUG)
    # Calibration has its own tests; elsewhere reviewers go straight to live submissions.
    options.setdefault("calibration_threshold", None)
    options.setdefault("title", "Backend engineer, autumn")
    return await create_screen(db, now=now, actor=TEST_ACTOR, **options)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Candidate:
    screen: Screen
    invitation: NewInvitation
    invitation_id: int

    @property
    def token(self) -> str:
        return self.invitation.link.rsplit("/", 1)[1]

    @property
    def path(self) -> str:
        return f"/s/{self.token}"


async def make_candidate(
    db: AsyncSession,
    settings: Settings,
    now: datetime,
    *,
    screen: Screen | None = None,
    name: str = "Dana Candidate",
    email: str | None = None,
    accommodation: float = 1.0,
    external_id: str | None = None,
) -> Candidate:
    """A committed screen + invitation, as `screen invite` would leave them."""
    screen = screen or await make_screen(db, now)
    new = await invite(
        db,
        screen,
        name=name,
        email=email or f"{name.split()[0].lower()}@example.com",
        now=now,
        base_url=settings.base_url,
        secret_key=settings.secret_key,
        accommodation=accommodation,
        external_id=external_id,
        actor=TEST_ACTOR,
    )
    await db.commit()
    return Candidate(screen, new, new.invitation.id)


PASSWORD = "correct horse battery"


async def make_user(
    db: AsyncSession, now: datetime, role: str, *, email: str | None = None, name: str | None = None
) -> User:
    user = await create_user(
        db,
        email=email
        or f"{role.replace(',', '-')}-{now.timestamp():.0f}-{id(db) % 9973}@staff.example",
        name=name or f"{role.replace(',', ' and ').title()} Person",
        roles=role,
        password=PASSWORD,
        now=now,
        actor=TEST_ACTOR,
    )
    await db.commit()
    return user


async def make_submitted(
    db: AsyncSession,
    settings: Settings,
    now: datetime,
    *,
    screen: Screen | None = None,
    name: str = "Sam Submitter",
    email: str | None = None,
    answer: str = "We choose pgvector with HNSW because the p95 budget is 300 ms.",
    external_id: str | None = None,
) -> Candidate:
    """A candidate who started and submitted, so the answer waits for review."""
    candidate = await make_candidate(
        db, settings, now, screen=screen, name=name, email=email, external_id=external_id
    )
    invitation = candidate.invitation.invitation
    attempt = candidate.invitation.attempt
    await attempts.start(db, attempt, invitation, candidate.screen, now)
    await attempts.submit(
        db, attempt.id, attempt.revision, answer, now, grace_seconds=60, max_bytes=65536
    )
    await db.commit()
    return candidate


async def score_next(
    db: AsyncSession, reviewer: User, levels: dict[str, int], now: datetime
) -> int:
    """Claim the reviewer's next slot, submit these levels with evidence, let the rule decide."""
    review_id = await reviews.claim_next(db, reviewer.id, now)
    assert review_id is not None, "nothing to claim"
    review = await db.get(Review, review_id)
    assert review is not None
    form = reviews.ScoreForm(
        levels=levels,
        evidence=dict.fromkeys(levels, "Evidence pointing at the answer's numbers."),
        recommendation="yes" if sum(levels.values()) >= 2.5 * len(levels) else "no",
    )
    rubric = await reviews.rubric_for_attempt(db, review.attempt_id)
    await reviews.submit(db, review, reviewer, rubric, form, now)
    await decisions.decide_if_ready(db, review.attempt_id, now)
    await db.commit()
    return review.attempt_id
