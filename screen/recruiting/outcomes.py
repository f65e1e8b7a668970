"""Outcome feedback: what happened to candidates after the screen, and how the screen's
signal relates to it (the numbers behind every rate are shown)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform import audit
from screen.platform.errors import ConflictError, InputError
from screen.platform.models import (
    Attempt,
    AttemptState,
    CandidateOutcome,
    Decision,
    Invitation,
    Prompt,
)
from screen.platform.text import one_line

OUTCOMES = ("advanced", "offer", "hired", "rejected_later", "withdrew")
POSITIVE = ("advanced", "offer", "hired")
DECIDED = (AttemptState.PASSED, AttemptState.FAILED)


def can_record(invitation: Invitation) -> bool:
    """An outcome is feedback on the screen's pass/fail (the agreement page sets one against
    the other). Before a decision there is nothing to set it against, and an outcome known
    before the decision would later count as if it had followed it."""
    return invitation.attempt.state in DECIDED


async def record_outcome(
    db: AsyncSession, invitation: Invitation, outcome: str, note: str, actor: str, now: datetime
) -> CandidateOutcome:
    if outcome not in OUTCOMES:
        raise InputError(f"Outcome must be one of {', '.join(OUTCOMES)}.", field="outcome")
    if not can_record(invitation):
        raise ConflictError(
            "This candidate has no pass or fail result yet; record what happened next once "
            "the screen is decided."
        )
    cleaned = one_line(note)[:1000] or None
    row = CandidateOutcome(
        invitation_id=invitation.id, outcome=outcome, note=cleaned, recorded_by=actor, at=now
    )
    db.add(row)
    audit.record(
        db,
        actor=actor,
        action="outcome.recorded",
        subject_type="invitation",
        subject_id=invitation.id,
        now=now,
        after={"outcome": outcome, "note": cleaned},
    )
    await db.flush()
    return row


async def latest_outcome(db: AsyncSession, invitation_id: int) -> CandidateOutcome | None:
    return await db.scalar(
        select(CandidateOutcome)
        .where(CandidateOutcome.invitation_id == invitation_id)
        .order_by(CandidateOutcome.at.desc(), CandidateOutcome.id.desc())
        .limit(1)
    )


async def outcome_history(db: AsyncSession, invitation_id: int) -> list[CandidateOutcome]:
    """Every outcome recorded for the invitation, newest first (the latest is what counts)."""
    return list(
        await db.scalars(
            select(CandidateOutcome)
            .where(CandidateOutcome.invitation_id == invitation_id)
            .order_by(CandidateOutcome.at.desc(), CandidateOutcome.id.desc())
        )
    )


@dataclass(frozen=True)
class OutcomeRow:
    decision: str
    candidates: int
    by_outcome: dict[str, int]
    positive_rate: float | None
    mean_score: float | None


async def outcome_table(db: AsyncSession, slug: str) -> list[OutcomeRow]:
    """Per screen decision (pass, fail): candidates with a recorded outcome, by outcome."""
    latest = (
        select(CandidateOutcome.invitation_id, func.max(CandidateOutcome.id).label("last_id"))
        .group_by(CandidateOutcome.invitation_id)
        .subquery()
    )
    rows = await db.execute(
        select(Decision.outcome, CandidateOutcome.outcome, Decision.weighted_score)
        .join(Attempt, Decision.attempt_id == Attempt.id)
        .join(Invitation, Attempt.invitation_id == Invitation.id)
        .join(Prompt, Invitation.prompt_id == Prompt.id)
        .join(latest, latest.c.invitation_id == Invitation.id)
        .join(CandidateOutcome, CandidateOutcome.id == latest.c.last_id)
        .where(Prompt.slug == slug, Decision.outcome.in_(("pass", "fail")))
    )
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    scores: dict[str, list[float]] = defaultdict(list)
    for decision, outcome, score in rows:
        counts[decision][outcome] += 1
        scores[decision].append(score)
    table = []
    for decision in ("pass", "fail"):
        by_outcome = counts[decision]
        total = sum(by_outcome.values())
        positive = sum(by_outcome[o] for o in POSITIVE)
        table.append(
            OutcomeRow(
                decision=decision,
                candidates=total,
                by_outcome=dict(by_outcome),
                positive_rate=positive / total if total else None,
                mean_score=sum(scores[decision]) / total if total else None,
            )
        )
    return table
