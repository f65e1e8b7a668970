"""The model rater's figures for one prompt, as the agreement page shows them.

Per model that rated the prompt: its calibration (best share on the exemplars), how its
ratings went (rated, failed, not calibrated; latency and tokens), its agreement with the
humans per dimension over the answers they decided (`reviewers.model_agreement`), and
what the validity rule says. Computed on the page view: no bootstrap, one pass over the
prompt's decided answers that the model rated, which is cheap next to the humans'
figures (those are computed by a job, `agreement_snapshots`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.model_agreement import DimensionAgreement, RatedAnswer, Validity, agreement, validity
from reviewers.rubric import Rubric
from screen.platform.models import (
    Decision,
    ModelRating,
    ModelValidityWaiver,
    Review,
    ReviewStatus,
)
from screen.settings import Settings


@dataclass(frozen=True)
class ModelFigures:
    rater: str
    calibration_share: float | None
    exemplars_tried: int
    counts: dict[str, int]
    mean_latency_seconds: float | None
    mean_tokens: float | None
    decided: int
    dimensions: list[tuple[str, DimensionAgreement]]
    validity: Validity
    waiver: ModelValidityWaiver | None


def _levels(scores: Any) -> dict[str, int]:
    if not isinstance(scores, dict):
        return {}
    out: dict[str, int] = {}
    for key, value in scores.items():
        level = value.get("level") if isinstance(value, dict) else None
        if isinstance(level, int) and not isinstance(level, bool):
            out[key] = level
    return out


async def prompt_figures(
    db: AsyncSession, slug: str, rubric: Rubric, settings: Settings
) -> list[ModelFigures]:
    raters = list(
        await db.scalars(
            select(ModelRating.rater)
            .where(ModelRating.prompt_slug == slug)
            .group_by(ModelRating.rater)
            .order_by(ModelRating.rater)
        )
    )
    return [await rater_figures(db, slug, rubric, settings, rater) for rater in raters]


async def rater_figures(
    db: AsyncSession, slug: str, rubric: Rubric, settings: Settings, rater: str
) -> ModelFigures:
    mine = (ModelRating.prompt_slug == slug) & (ModelRating.rater == rater)
    calibration = (
        await db.execute(
            select(func.max(ModelRating.calibration_share), func.count(ModelRating.id)).where(
                mine, ModelRating.exemplar_key.is_not(None)
            )
        )
    ).one()
    live = mine & ModelRating.attempt_id.is_not(None)
    counts = dict(
        (
            await db.execute(
                select(ModelRating.status, func.count(ModelRating.id))
                .where(live)
                .group_by(ModelRating.status)
            )
        ).all()
    )
    usage = (
        await db.execute(
            select(
                func.avg(ModelRating.latency_seconds),
                func.avg(ModelRating.prompt_tokens + ModelRating.completion_tokens),
            ).where(mine, ModelRating.calls > 0)
        )
    ).one()
    model_levels = {
        attempt_id: _levels(ratings)
        for attempt_id, ratings in await db.execute(
            select(ModelRating.attempt_id, ModelRating.ratings)
            .join(Decision, Decision.attempt_id == ModelRating.attempt_id)
            .where(live, ModelRating.status == "rated")
        )
    }
    humans: dict[int, dict[Hashable, Mapping[str, int]]] = {}
    if model_levels:
        rows = await db.execute(
            select(Review.attempt_id, Review.reviewer_id, Review.scores)
            .join(Decision, Decision.attempt_id == Review.attempt_id)
            .join(ModelRating, ModelRating.attempt_id == Review.attempt_id)
            .where(live, ModelRating.status == "rated", Review.status == ReviewStatus.SUBMITTED)
        )
        for attempt_id, reviewer_id, scores in rows:
            if reviewer_id is not None:
                humans.setdefault(attempt_id, {})[reviewer_id] = _levels(scores)
    rated = [
        RatedAnswer(humans=humans[a], model=levels)
        for a, levels in sorted(model_levels.items())
        if a in humans
    ]
    keys = [d.key for d in rubric.dimensions]
    figures = agreement(rated, keys, list(rubric.levels))
    verdict = validity(
        figures,
        len(rated),
        min_answers=settings.model_min_answers,
        min_alpha=settings.model_min_alpha,
        min_adjacent=settings.model_min_adjacent,
    )
    names = {d.key: d.name for d in rubric.dimensions}
    return ModelFigures(
        rater=rater,
        calibration_share=calibration[0],
        exemplars_tried=int(calibration[1]),
        counts={str(k): int(v) for k, v in counts.items()},
        mean_latency_seconds=float(usage[0]) if usage[0] is not None else None,
        mean_tokens=float(usage[1]) if usage[1] is not None else None,
        decided=len(rated),
        dimensions=[(names[f.key], f) for f in figures],
        validity=verdict,
        waiver=await db.scalar(
            select(ModelValidityWaiver).where(
                ModelValidityWaiver.rater == rater, ModelValidityWaiver.prompt_slug == slug
            )
        ),
    )
