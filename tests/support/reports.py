"""Arranging candidate reports: decided candidates with reviewers' probes, adjudications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.models import Review, Screen, User
from screen.review import decisions, reviews
from screen.settings import Settings
from tests.support.factories import Candidate, make_screen, make_submitted, make_user

KEYS = ("latency_vs_cost", "accuracy_vs_speed", "failure_modes", "first_week")


async def score(
    db: AsyncSession,
    reviewer: User,
    levels: dict[str, int],
    now: datetime,
    *,
    probe: str | None = None,
    recommendation: str | None = None,
    evidence: str = "Evidence pointing at the answer's numbers.",
) -> int:
    """Like `score_next`, with the reviewer's recommendation and interview probe."""
    review_id = await reviews.claim_next(db, reviewer.id, now)
    assert review_id is not None, "nothing to claim"
    review = await db.get(Review, review_id)
    assert review is not None
    mean = sum(levels.values()) / len(levels)
    form = reviews.ScoreForm(
        levels=levels,
        evidence=dict.fromkeys(levels, evidence),
        recommendation=recommendation
        or ("strong_yes" if mean >= 3.5 else "yes" if mean >= 2.5 else "no"),
        probe=probe,
    )
    rubric = await reviews.rubric_for_attempt(db, review.attempt_id)
    await reviews.submit(db, review, reviewer, rubric, form, now)
    await decisions.decide_if_ready(db, review.attempt_id, now)
    await db.commit()
    return review.attempt_id


@dataclass
class Cast:
    screen: Screen
    first: User
    second: User
    lead: User
    recruiter: User
    manager: User


async def cast(db: AsyncSession, now: datetime) -> Cast:
    """A screen, two reviewers (named), a lead, a recruiter and an unassigned hiring manager."""
    screen = await make_screen(db, now)
    await db.commit()
    return Cast(
        screen=screen,
        first=await make_user(db, now, "reviewer", email="ada@staff.example", name="Ada Reviewer"),
        second=await make_user(db, now, "reviewer", email="bo@staff.example", name="Bo Reviewer"),
        lead=await make_user(db, now, "lead", email="lee@staff.example", name="Lee Lead"),
        recruiter=await make_user(db, now, "recruiter", email="rec@staff.example"),
        manager=await make_user(
            db, now, "hiring_manager", email="hm@staff.example", name="Hana Manager"
        ),
    )


async def decided(
    db: AsyncSession,
    settings: Settings,
    now: datetime,
    people: Cast,
    levels: tuple[dict[str, int], dict[str, int]],
    *,
    name: str,
    answer: str = "We choose pgvector with HNSW because the p95 budget is 300 ms.",
    probes: tuple[str | None, str | None] = (None, None),
) -> Candidate:
    candidate = await make_submitted(
        db, settings, now, screen=people.screen, name=name, answer=answer
    )
    await score(db, people.first, levels[0], now, probe=probes[0])
    await score(db, people.second, levels[1], now, probe=probes[1])
    return candidate


def same(level: int) -> dict[str, int]:
    return dict.fromkeys(KEYS, level)
