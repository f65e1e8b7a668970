"""The model rater's figures for one prompt, as the agreement page shows them.

Per model that rated the prompt: its calibration (best share on the exemplars), how its
ratings went (rated, failed, not calibrated; latency and tokens), its agreement with the
humans per dimension over the answers they decided (`reviewers.model_agreement`) with a
bootstrap interval around each figure, and what the validity rule says.

The agreement figures need every decided answer the model rated and every review of it,
so they are computed by the agreement snapshot job beside the humans' figures
(`compute_raters`, called by `agreement_snapshots.figures` for a prompt's scope, in the
same worker thread) and kept in the prompt's snapshot. The page reads them from there
(`views`) with a handful of indexed aggregates for the counters, so a page view costs
the same at any size of history. The validity rule is applied on the view to the
snapshot's point estimates, with the thresholds configured now.

`rater_figures` is the same rule on current data, without intervals: the check score
asks it when a rating is made (in the model.rate job), where the answer must be judged
by what is known at that moment, not by the last snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.agreement import RatingTable
from reviewers.model_agreement import (
    DimensionAgreement,
    RatedAnswer,
    Validity,
    agreement,
    dimension_with_intervals,
    units_from_columns,
    validity,
)
from reviewers.rubric import Rubric
from screen.platform.models import (
    Decision,
    ModelRating,
    ModelValidityWaiver,
    Outcome,
    Review,
    ReviewStatus,
)
from screen.settings import Settings

Counts = npt.NDArray[np.int64]

# Rows of model ratings read per round trip, as the humans' ratings are read.
BATCH = 5_000

# A decision waiting for adjudication is the humans' disagreement, not their decision:
# the answer counts for a model (its figures, the validity rule's count, the check)
# only once a lead has decided it pass or fail.
_FINAL = Decision.outcome != Outcome.NEEDS_ADJUDICATION
_HUMAN_DECIDED = (Decision.attempt_id == ModelRating.attempt_id) & _FINAL


@dataclass(frozen=True)
class RaterAgreement:
    """What the snapshot keeps of one model on one prompt: how many decided answers it
    rated, and per current rubric dimension its figures with their intervals."""

    rater: str
    decided: int
    dimensions: tuple[DimensionAgreement, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "rater": self.rater,
            "decided": self.decided,
            "dimensions": [asdict(d) for d in self.dimensions],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RaterAgreement:
        def dimension(raw: Mapping[str, Any]) -> DimensionAgreement:
            # JSON keeps an interval as a list; the figures hold tuples.
            fields: dict[str, Any] = {
                k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()
            }
            return DimensionAgreement(**fields)

        return cls(
            rater=str(data["rater"]),
            decided=int(data["decided"]),
            dimensions=tuple(dimension(d) for d in data["dimensions"]),
        )


@dataclass(frozen=True)
class ModelLevels:
    """One model's levels on the decided answers it rated: attempts sorted and distinct,
    levels attempts × keys (−1 where it gave none)."""

    attempts: Counts
    levels: Counts


async def decided_levels(db: AsyncSession, slug: str, keys: list[str]) -> dict[str, ModelLevels]:
    """Every model's levels on the prompt's decided answers, by rater: the levels taken out
    of the JSON by the database (the evidence quotes beside them are most of its size), in
    batches, as integer columns. An answer rated twice by one model counts its latest
    rating."""
    level_columns = [ModelRating.ratings[key]["level"].as_integer() for key in keys]
    query = (
        select(ModelRating.rater, ModelRating.attempt_id, *level_columns)
        .join(Decision, _HUMAN_DECIDED)
        .where(
            ModelRating.prompt_slug == slug,
            ModelRating.attempt_id.is_not(None),
            ModelRating.status == "rated",
        )
        .order_by(ModelRating.rater, ModelRating.attempt_id, ModelRating.id)
    )
    parts: dict[str, list[Counts]] = {}
    result = await db.stream(query.execution_options(yield_per=BATCH))
    async for rows in result.partitions(BATCH):
        for rater, attempt, *levels in rows:
            parts.setdefault(rater, []).append(
                np.array(
                    [attempt, *(-1 if level is None else level for level in levels)],
                    dtype=np.int64,
                )
            )
    out: dict[str, ModelLevels] = {}
    for rater, rows_of in parts.items():
        table = np.stack(rows_of).reshape(-1, 1 + len(keys))
        # Sorted by attempt then id: the last row of each attempt is its latest rating.
        last = np.r_[table[1:, 0] != table[:-1, 0], True]
        out[rater] = ModelLevels(table[last, 0], table[last, 1:])
    return out


def compute_raters(
    table: RatingTable,
    models: Mapping[str, ModelLevels],
    keys: list[str],
    levels: list[int],
) -> tuple[RaterAgreement, ...]:
    """The CPU part: each model's figures with intervals, against the humans' ratings the
    snapshot job already holds as columns (its current dimensions come first in
    `table.dimensions`, so their indices are the same in `keys`). Runs in the job's
    worker thread."""
    raters = []
    for rater, model in sorted(models.items()):
        units = units_from_columns(
            table.attempt, table.dimension, table.level, model.attempts, model.levels, keys, levels
        )
        dimensions = tuple(dimension_with_intervals(u, levels) for u in units)
        # An answer counts when the humans reviewed it and the model rated it.
        reviewed = np.isin(model.attempts, table.attempt)
        raters.append(RaterAgreement(rater, int(reviewed.sum()), dimensions))
    return tuple(raters)


@dataclass(frozen=True)
class ModelView:
    """One model on the agreement page: live counters, and the figures of the latest
    snapshot (none yet: `figures` is None, and the verdict is known only when too few
    answers are decided for the rule to admit it whatever the figures say)."""

    rater: str
    calibration_share: float | None
    exemplars_tried: int
    counts: dict[str, int]
    mean_latency_seconds: float | None
    mean_tokens: float | None
    decided: int
    dimensions: list[tuple[str, DimensionAgreement]]
    validity: Validity | None
    waiver: ModelValidityWaiver | None
    figures: RaterAgreement | None
    computed_at: datetime | None
    # Its ratings of decided answers made after the snapshot: not in the figures yet.
    rated_since: int = 0


async def _counters(
    db: AsyncSession, slug: str, rater: str
) -> tuple[tuple[float | None, int], dict[str, int], tuple[float | None, float | None]]:
    """Calibration, live ratings by status, mean latency and tokens: aggregates over the
    model's ratings of the prompt, found by the (prompt_slug, rater) index."""
    mine = (ModelRating.prompt_slug == slug) & (ModelRating.rater == rater)
    calibration = (
        await db.execute(
            select(func.max(ModelRating.calibration_share), func.count(ModelRating.id)).where(
                mine, ModelRating.exemplar_key.is_not(None)
            )
        )
    ).one()
    counts = dict(
        (
            await db.execute(
                select(ModelRating.status, func.count(ModelRating.id))
                .where(mine, ModelRating.attempt_id.is_not(None))
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
    return (
        (calibration[0], int(calibration[1])),
        {str(k): int(v) for k, v in counts.items()},
        (
            float(usage[0]) if usage[0] is not None else None,
            float(usage[1]) if usage[1] is not None else None,
        ),
    )


async def _decided_count(db: AsyncSession, slug: str, rater: str) -> int:
    return int(
        await db.scalar(
            select(func.count(ModelRating.id))
            .join(Decision, _HUMAN_DECIDED)
            .where(
                ModelRating.prompt_slug == slug,
                ModelRating.rater == rater,
                ModelRating.status == "rated",
            )
        )
        or 0
    )


async def rated_since(
    db: AsyncSession, slug: str, since: datetime, rater: str | None = None
) -> int:
    """Ratings of decided answers a snapshot computed at `since` does not include. A model
    rates after the humans decide, so its figures go stale with no decision since; this
    is what says so (on the page, and to the hourly refresh). Found by the index on
    (prompt_slug, rater, created_at): new rows only, at any size of history. A rating
    made earlier of an answer a lead adjudicated since is new to the figures too: found
    by the partial index on the decisions' adjudicated_at."""
    rated = (ModelRating.prompt_slug == slug) & (ModelRating.status == "rated")
    if rater is not None:
        rated &= ModelRating.rater == rater
    new = await db.scalar(
        select(func.count(ModelRating.id))
        .join(Decision, _HUMAN_DECIDED)
        .where(rated, ModelRating.created_at > since)
    )
    adjudicated = await db.scalar(
        select(func.count(ModelRating.id))
        .select_from(Decision)
        .join(ModelRating, _HUMAN_DECIDED)
        .where(
            rated,
            Decision.adjudicated_at.is_not(None),
            Decision.adjudicated_at > since,
            ModelRating.created_at <= since,
        )
    )
    return int(new or 0) + int(adjudicated or 0)


def stored(data: Mapping[str, Any] | None) -> dict[str, RaterAgreement] | None:
    """The models' figures a snapshot keeps, by rater; None for a snapshot that keeps none
    (one of a screen, or made before they were kept)."""
    raw = (data or {}).get("models")
    if raw is None:
        return None
    return {r.rater: r for r in (RaterAgreement.from_json(item) for item in raw)}


async def views(
    db: AsyncSession,
    slug: str,
    rubric: Rubric,
    settings: Settings,
    snapshot_data: Mapping[str, Any] | None,
    computed_at: datetime | None,
) -> list[ModelView]:
    """Each model that rated the prompt, from the prompt's latest snapshot (its data and
    when it was computed) and cheap counters."""
    raters = list(
        await db.scalars(
            select(ModelRating.rater)
            .where(ModelRating.prompt_slug == slug)
            .group_by(ModelRating.rater)
            .order_by(ModelRating.rater)
        )
    )
    kept = stored(snapshot_data) or {}
    names = {d.key: d.name for d in rubric.dimensions}

    def rule(figures: list[DimensionAgreement], decided: int) -> Validity:
        return validity(
            figures,
            decided,
            min_answers=settings.model_min_answers,
            min_alpha=settings.model_min_alpha,
            min_adjacent=settings.model_min_adjacent,
            names=names,
        )

    out = []
    for rater in raters:
        (share, tried), counts, (latency, tokens) = await _counters(db, slug, rater)
        figures = kept.get(rater)
        if figures is not None:
            # The rubric's dimensions now; a figure of a retired one is not shown.
            shown = [f for f in figures.dimensions if f.key in names]
            decided = figures.decided
            verdict: Validity | None = rule(shown, decided)
        else:
            shown = []
            decided = await _decided_count(db, slug, rater)
            # Too few answers refuses whatever the figures say; otherwise wait for them.
            verdict = rule([], decided) if decided < settings.model_min_answers else None
        out.append(
            ModelView(
                rater=rater,
                calibration_share=share,
                exemplars_tried=tried,
                counts=counts,
                mean_latency_seconds=latency,
                mean_tokens=tokens,
                decided=decided,
                dimensions=[(names[f.key], f) for f in shown],
                validity=verdict,
                waiver=await db.scalar(
                    select(ModelValidityWaiver).where(
                        ModelValidityWaiver.rater == rater, ModelValidityWaiver.prompt_slug == slug
                    )
                ),
                figures=figures,
                computed_at=computed_at if figures is not None else None,
                rated_since=(
                    await rated_since(db, slug, computed_at, rater)
                    if figures is not None and computed_at is not None
                    else 0
                ),
            )
        )
    return out


@dataclass(frozen=True)
class ModelFigures:
    """The rule's inputs on current data (no intervals), for the check score."""

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


async def rater_figures(
    db: AsyncSession, slug: str, rubric: Rubric, settings: Settings, rater: str
) -> ModelFigures:
    (share, tried), counts, (latency, tokens) = await _counters(db, slug, rater)
    live = (
        (ModelRating.prompt_slug == slug)
        & (ModelRating.rater == rater)
        & ModelRating.attempt_id.is_not(None)
    )
    model_levels = {
        attempt_id: _levels(ratings)
        for attempt_id, ratings in await db.execute(
            select(ModelRating.attempt_id, ModelRating.ratings)
            .join(Decision, _HUMAN_DECIDED)
            .where(live, ModelRating.status == "rated")
        )
    }
    humans: dict[int, dict[Hashable, Mapping[str, int]]] = {}
    if model_levels:
        rows = await db.execute(
            select(Review.attempt_id, Review.reviewer_id, Review.scores)
            .join(Decision, (Decision.attempt_id == Review.attempt_id) & _FINAL)
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
    # Alpha over every decided answer: in a thread, so the job's event loop (the web
    # process's, with the in-process runner) keeps serving.
    figures = await asyncio.to_thread(agreement, rated, keys, list(rubric.levels))
    names = {d.key: d.name for d in rubric.dimensions}
    verdict = validity(
        figures,
        len(rated),
        min_answers=settings.model_min_answers,
        min_alpha=settings.model_min_alpha,
        min_adjacent=settings.model_min_adjacent,
        names=names,
    )
    return ModelFigures(
        rater=rater,
        calibration_share=share,
        exemplars_tried=tried,
        counts=counts,
        mean_latency_seconds=latency,
        mean_tokens=tokens,
        decided=len(rated),
        dimensions=[(names[f.key], f) for f in figures],
        validity=verdict,
        waiver=await db.scalar(
            select(ModelValidityWaiver).where(
                ModelValidityWaiver.rater == rater, ModelValidityWaiver.prompt_slug == slug
            )
        ),
    )
