"""The model's rating of an answer as leads and the candidate report see it: only once the
decision is final, beside the human levels, labelled as a model's check.

Before the decision nobody sees it, so neither a reviewer nor the lead who adjudicates can
lean on it; it is on no reviewer page at all. After a pass or a fail it is evidence to
read, with its quotes from the answer: whether it was a check score on the prompt when it
rated (admitted by the validity rule, or with the rule waived by an admin), whether it
asked for one more human review, and whether it disagrees with the decision by the same
comparison the check uses (`model_check.disagreement`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.rubric import Rubric
from screen.platform.models import Decision, ModelRating, Outcome, Review, ReviewStatus
from screen.review import model_check

RATED = "rated"
VALIDATED, WAIVED = "validated", "waived"


@dataclass(frozen=True)
class ModelDimension:
    name: str
    # The reviewers' levels, in slot order, and the mean the decision used.
    human_levels: tuple[int | None, ...]
    human_mean: float | None
    level: int | None
    evidence: str
    # False when the model's evidence is not a quote from the answer: not shown as one.
    quoted: bool = True


@dataclass(frozen=True)
class ModelCheckShown:
    rater: str  # "model: <name>"
    rated_at: datetime
    dimensions: tuple[ModelDimension, ...]
    weighted: float | None
    human_weighted: float
    # Why the model was a check score on the prompt when it rated: VALIDATED, WAIVED, or
    # None when it only collected evidence there.
    basis: str | None
    asked_review_at: datetime | None
    # Why its levels disagree with the decision (the check's own comparison), or None.
    disagreement: str | None
    margin: float | None
    # It rated once the decision was made: too late to ask for another review (a model is
    # slower than the reviewers, or was down, or rated before its figures admitted it).
    rated_after_decision: bool = False

    @property
    def is_check(self) -> bool:
        return self.basis is not None


def final(decision: Decision | None) -> bool:
    return decision is not None and decision.outcome in (Outcome.PASS, Outcome.FAIL)


def pass_threshold(decision: Decision, rubric: Rubric) -> float:
    stored = ((decision.inputs or {}).get("result") or {}).get("pass_threshold")
    return float(stored) if stored else rubric.decision.pass_threshold


async def _basis(db: AsyncSession, rating: ModelRating) -> str | None:
    if not rating.check_active:
        return None
    # A waiver is never taken back, only given again (with a new time): one given by
    # the time of the rating is what made it a check; otherwise the rule admitted it.
    waiver = await model_check.waiver(db, rating.rater, rating.prompt_slug)
    return WAIVED if waiver is not None and waiver.at <= rating.created_at else VALIDATED


async def after_decision(
    db: AsyncSession,
    attempt_id: int,
    decision: Decision | None,
    rubric: Rubric,
    reviews: Sequence[Review] | None = None,
) -> list[ModelCheckShown]:
    """Every model's rating of the answer, once the decision is a pass or a fail; none
    before (an answer awaiting adjudication is not decided yet)."""
    if decision is None or not final(decision):
        return []
    ratings = list(
        await db.scalars(
            select(ModelRating)
            .where(ModelRating.attempt_id == attempt_id, ModelRating.status == RATED)
            .order_by(ModelRating.id)
        )
    )
    if not ratings:
        return []
    if reviews is None:
        reviews = list(
            await db.scalars(
                select(Review)
                .where(Review.attempt_id == attempt_id, Review.status == ReviewStatus.SUBMITTED)
                .order_by(Review.slot)
            )
        )
    submitted = [r for r in reviews if r.status == ReviewStatus.SUBMITTED]
    threshold = pass_threshold(decision, rubric)
    total = sum(d.weight for d in rubric.dimensions)
    shown = []
    for rating in ratings:
        given = rating.ratings or {}
        dimensions = []
        for d in rubric.dimensions:
            mine = given.get(d.key) or {}
            mean = (decision.dimension_means or {}).get(d.key)
            dimensions.append(
                ModelDimension(
                    name=d.name,
                    human_levels=tuple(
                        ((r.scores or {}).get(d.key) or {}).get("level") for r in submitted
                    ),
                    human_mean=float(mean) if mean is not None else None,
                    level=int(mine["level"]) if mine.get("level") is not None else None,
                    evidence=str(mine.get("evidence") or ""),
                    quoted=bool(mine.get("quoted", True)),
                )
            )
        levels = model_check.levels_of(rating)
        complete = all(d.key in levels for d in rubric.dimensions) and total > 0
        shown.append(
            ModelCheckShown(
                rater=rating.rater,
                rated_at=rating.created_at,
                dimensions=tuple(dimensions),
                weighted=(
                    sum(d.weight * levels[d.key] for d in rubric.dimensions) / total
                    if complete
                    else None
                ),
                human_weighted=decision.weighted_score,
                basis=await _basis(db, rating),
                asked_review_at=rating.check_requested_at,
                disagreement=model_check.disagreement(
                    rubric,
                    rating,
                    outcome=decision.outcome,
                    weighted=decision.weighted_score,
                    pass_threshold=threshold,
                ),
                margin=rating.check_margin,
                rated_after_decision=rating.created_at >= decision.decided_at,
            )
        )
    return shown
