"""The model's check score: one more human review when a valid model disagrees.

A model acts as a check on a prompt only when the validity rule admits it there
(`reviewers.model_agreement.validity`, with the settings' thresholds) or an admin waived
the rule for it, with a reason (audited; a lead can see the rule's verdict but not
waive it). Whether that held is recorded on each rating when it is made
(`ModelRating.check_active`, with the margin then configured), so deciding needs no
settings and no statistics.

When the reviews are all in and the rule says pass or fail, `asks_another_review` compares
the model's rating of the answer with the humans' decision
(`reviewers.model_agreement.check_disagreement`). If they disagree, one more review slot
opens (the queue and the SLA treat it like any other) and the decision waits for it; the
check asks once per answer. The model never decides, its levels are never averaged in,
and no reviewer sees its rating.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.decision import Decision as RuleDecision
from reviewers.model_agreement import DEFAULT_CHECK_MARGIN, check_disagreement
from reviewers.rubric import Rubric
from screen.platform import audit
from screen.platform.errors import InputError, NotFoundError
from screen.platform.models import ModelRating, ModelValidityWaiver, Review, ReviewStatus, User
from screen.platform.text import one_line
from screen.review import model_figures
from screen.settings import Settings

MAX_REASON = 1000


async def waiver(db: AsyncSession, rater: str, slug: str) -> ModelValidityWaiver | None:
    return await db.scalar(
        select(ModelValidityWaiver).where(
            ModelValidityWaiver.rater == rater, ModelValidityWaiver.prompt_slug == slug
        )
    )


async def waive(
    db: AsyncSession, admin: User, rater: str, slug: str, reason: str, now: datetime
) -> ModelValidityWaiver:
    """Let `rater` act as a check score on `slug` before the rule admits it. Audited."""
    reason = one_line(reason)
    if not 10 <= len(reason) <= MAX_REASON:
        raise InputError("Give a reason of 10 to 1000 characters.", field="reason")
    known = await db.scalar(
        select(func.count(ModelRating.id)).where(
            ModelRating.rater == rater, ModelRating.prompt_slug == slug
        )
    )
    if not known:
        raise NotFoundError("That model has rated nothing of this prompt.")
    existing = await waiver(db, rater, slug)
    if existing is not None:
        existing.reason, existing.waived_by_id, existing.at = reason, admin.id, now
    else:
        existing = ModelValidityWaiver(
            rater=rater, prompt_slug=slug, waived_by_id=admin.id, reason=reason, at=now
        )
        db.add(existing)
    audit.record(
        db,
        actor=audit.actor_of(admin),
        action="model_validity.waived",
        subject_type="prompt",
        subject_id=slug,
        now=now,
        after={"rater": rater, "reason": reason},
    )
    await db.flush()
    return existing


async def check_applies(
    db: AsyncSession, settings: Settings, rater: str, slug: str, rubric: Rubric
) -> bool:
    """Whether the model's rating of a new answer of `slug` acts as a check."""
    if await waiver(db, rater, slug) is not None:
        return True
    figures = await model_figures.rater_figures(db, slug, rubric, settings, rater)
    return figures.validity.valid


def levels_of(rating: ModelRating) -> dict[str, int]:
    return {key: int(value["level"]) for key, value in (rating.ratings or {}).items()}


def disagreement(
    rubric: Rubric, rating: ModelRating, *, outcome: str, weighted: float, pass_threshold: float
) -> str | None:
    """Why the model's rating disagrees with the humans' pass or fail, or None: the one
    comparison the check, the lead's page, the report and the fairness figures all use,
    with the margin stored on the rating (the one configured when it was made)."""
    if not rating.ratings or any(d.key not in rating.ratings for d in rubric.dimensions):
        return None
    return check_disagreement(
        rubric,
        levels_of(rating),
        human_outcome=outcome,
        human_weighted=weighted,
        pass_threshold=pass_threshold,
        margin=rating.check_margin if rating.check_margin is not None else DEFAULT_CHECK_MARGIN,
    )


async def asks_another_review(
    db: AsyncSession, attempt_id: int, rubric: Rubric, result: RuleDecision, now: datetime
) -> bool:
    """Open one more review slot, and say so, when the model's check disagrees with the
    humans' result; at most once per answer."""
    rating = await db.scalar(
        select(ModelRating)
        .where(
            ModelRating.attempt_id == attempt_id,
            ModelRating.status == "rated",
            ModelRating.check_active.is_(True),
        )
        .order_by(ModelRating.id)
        .limit(1)
        .with_for_update()
    )
    if rating is None or rating.check_requested_at is not None or not rating.ratings:
        return False
    reason = disagreement(
        rubric,
        rating,
        outcome=result.outcome,
        weighted=result.weighted_mean,
        pass_threshold=result.pass_threshold,
    )
    if reason is None:
        return False
    slots = list(await db.scalars(select(Review).where(Review.attempt_id == attempt_id)))
    model = max(slots, key=lambda r: r.slot)
    db.add(
        Review(
            attempt_id=attempt_id,
            slot=model.slot + 1,
            status=ReviewStatus.OPEN,
            due_at=model.due_at,
            queued_at=now,
            prompt_slug=model.prompt_slug,
            calibration_threshold=model.calibration_threshold,
            screen_id=model.screen_id,
        )
    )
    rating.check_requested_at = now
    audit.record(
        db,
        actor="system",
        action="model_check.review_requested",
        subject_type="attempt",
        subject_id=attempt_id,
        now=now,
        after={"rater": rating.rater, "reason": reason},
    )
    await db.flush()
    return True
