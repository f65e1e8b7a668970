"""Reviewer calibration: score a prompt's expert-scored exemplars before its live answers.

A reviewer scores an exemplar blind in the normal rubric form. They are calibrated
for the prompt when their levels are within one level of the experts' on at least
the screen's threshold share of dimensions (default 80%); otherwise they see the
expert levels with the reasons and may try the other exemplars. A lead can waive
calibration (audited). Calibration scores never touch a candidate's decision: they
live in their own table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.rubric import Rubric, rubric_from_dict
from screen.platform import audit
from screen.platform.errors import ConflictError, InputError, NotFoundError
from screen.platform.models import CalibrationAttempt, Prompt, ReviewerCalibration, User
from screen.platform.text import one_line

MAX_WAIVER_REASON = 1000


async def latest_prompt(db: AsyncSession, slug: str) -> Prompt:
    prompt = await db.scalar(
        select(Prompt).where(Prompt.slug == slug).order_by(Prompt.version.desc()).limit(1)
    )
    if prompt is None or not prompt.exemplars:
        raise NotFoundError("This prompt has no calibration exemplars.")
    return prompt


async def tried(db: AsyncSession, reviewer: User, slug: str) -> set[str]:
    return set(
        await db.scalars(
            select(CalibrationAttempt.exemplar_key).where(
                CalibrationAttempt.reviewer_id == reviewer.id,
                CalibrationAttempt.prompt_slug == slug,
            )
        )
    )


def next_exemplar(prompt: Prompt, done: set[str]) -> dict[str, Any] | None:
    return next((e for e in prompt.exemplars if e["key"] not in done), None)


@dataclass(frozen=True)
class CalibrationResult:
    exemplar: dict[str, Any]
    levels: dict[str, int]
    within_one: int
    dimensions: int
    share: float
    best_share: float


def compare(rubric: Rubric, exemplar: dict[str, Any], levels: dict[str, int]) -> int:
    expert = exemplar["levels"]
    return sum(
        1 for d in rubric.dimensions if abs(levels[d.key] - int(expert[d.key]["level"])) <= 1
    )


async def record(
    db: AsyncSession,
    reviewer: User,
    prompt: Prompt,
    exemplar_key: str,
    levels: dict[str, int],
    now: datetime,
) -> CalibrationResult:
    rubric = rubric_from_dict(prompt.rubric)
    exemplar = next((e for e in prompt.exemplars if e["key"] == exemplar_key), None)
    if exemplar is None:
        raise NotFoundError("No such exemplar.")
    if exemplar_key in await tried(db, reviewer, prompt.slug):
        raise ConflictError("You have already scored this exemplar; try another one.")
    missing = [d.name for d in rubric.dimensions if d.key not in levels]
    if missing:
        raise InputError("Choose a level for every dimension: " + ", ".join(missing) + ".")
    within_one = compare(rubric, exemplar, levels)
    share = within_one / len(rubric.dimensions)
    db.add(
        CalibrationAttempt(
            reviewer_id=reviewer.id,
            prompt_id=prompt.id,
            prompt_slug=prompt.slug,
            exemplar_key=exemplar_key,
            levels=levels,
            within_one=within_one,
            dimensions=len(rubric.dimensions),
            at=now,
        )
    )
    standing = await db.scalar(
        select(ReviewerCalibration).where(
            ReviewerCalibration.reviewer_id == reviewer.id,
            ReviewerCalibration.prompt_slug == prompt.slug,
        )
    )
    if standing is None:
        standing = ReviewerCalibration(
            reviewer_id=reviewer.id, prompt_slug=prompt.slug, share=share, updated_at=now
        )
        db.add(standing)
    elif share > standing.share:
        standing.share = share
        standing.updated_at = now
    await db.flush()
    return CalibrationResult(
        exemplar, levels, within_one, len(rubric.dimensions), share, standing.share
    )


async def waive(
    db: AsyncSession, lead: User, reviewer: User, slug: str, reason: str, now: datetime
) -> None:
    if reviewer.id == lead.id:
        # A lead who also reviews would otherwise lift their own gate alone.
        raise InputError("A lead cannot waive their own calibration; ask another lead.")
    reason = one_line(reason)
    if not 10 <= len(reason) <= MAX_WAIVER_REASON:
        raise InputError("Give a reason of 10 to 1000 characters.", field="reason")
    await latest_prompt(db, slug)
    standing = await db.scalar(
        select(ReviewerCalibration).where(
            ReviewerCalibration.reviewer_id == reviewer.id,
            ReviewerCalibration.prompt_slug == slug,
        )
    )
    before = {"share": standing.share} if standing else None
    if standing is None:
        standing = ReviewerCalibration(
            reviewer_id=reviewer.id, prompt_slug=slug, share=1.0, updated_at=now
        )
        db.add(standing)
    standing.share = 1.0
    standing.updated_at = now
    standing.waived_by_id = lead.id
    standing.waiver_reason = reason
    audit.record(
        db,
        actor=audit.actor_of(lead),
        action="calibration.waived",
        subject_type="user",
        subject_id=reviewer.id,
        now=now,
        before=before,
        after={"prompt": slug, "reason": reason},
    )
    await db.flush()
