"""The model rater: a configured model rates each submitted answer as one more rater.

Submitting an answer writes a `model.rate` outbox event in the submit's transaction
(`queue_rating`); the outbox delivers it like an email or a webhook, so a slow or
dead model server delays nothing else: review slots are opened by the same
transaction, and no query that decides ever reads `ModelRating`.

Before its first live answer of a prompt, the model is held to the prompt's
calibration gate exactly as a reviewer is (`screen.review.calibration.compare`: the
share of dimensions within one level of the experts, against the screen's threshold,
0.8 when the screen sets none). It scores the exemplars it has not tried, best share
kept, until it passes or none is left; an uncalibrated model's live answer is
recorded `not_calibrated` and never sent. Each run of the handler makes at most one
rating (a reply and its one retry), so it fits the outbox job's time limit: a run that
scored an exemplar queues the answer's rating again.

Every rating is stored with the rater's identity ("model: <name>"); one that failed
twice on malformed output, or whose last outbox try found the server down, is recorded
`failed`. Nothing is guessed. The handler is idempotent: a second run finds the row.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.model_rating import mask_identity, weighted_score
from reviewers.rubric import Rubric, rubric_from_dict
from screen.platform import outbox
from screen.platform.jobs import JobContext
from screen.platform.models import Attempt, Invitation, ModelRating, OutboxEvent, Prompt, Screen
from screen.platform.observability import MODEL_RATINGS
from screen.review import calibration, model_check
from screen.review.model_client import (
    CallOutcome,
    ModelRefused,
    ModelUnavailable,
    rate,
    rater_identity,
)
from screen.settings import Settings

log = logging.getLogger(__name__)

MODEL_RATE = "model.rate"
RATED, FAILED, NOT_CALIBRATED = "rated", "failed", "not_calibrated"
# The gate a screen without its own threshold holds the model to: the screens' default.
DEFAULT_THRESHOLD = 0.8


def queue_rating(db: AsyncSession, attempt_ids: list[int], now: datetime) -> None:
    """One rating event per finished answer. Written whether or not a model is configured,
    so turning the rater on later needs no backfill of events; with none configured the
    handler finishes at once."""
    for attempt_id in attempt_ids:
        outbox.emit(db, MODEL_RATE, {"attempt_id": attempt_id}, now)


def _row(
    outcome: CallOutcome | None,
    *,
    rater: str,
    prompt: Prompt,
    rubric: Rubric,
    now: datetime,
    attempt_id: int | None = None,
    exemplar_key: str | None = None,
    status: str | None = None,
    error: str | None = None,
) -> ModelRating:
    rating = outcome.rating if outcome else None
    row = ModelRating(
        rater=rater,
        prompt_id=prompt.id,
        prompt_slug=prompt.slug,
        attempt_id=attempt_id,
        exemplar_key=exemplar_key,
        status=status or (RATED if rating else FAILED),
        ratings=rating.to_dict() if rating else None,
        weighted_score=round(weighted_score(rubric, rating.levels()), 4) if rating else None,
        error=(error or (outcome.error if outcome else None) or None),
        calls=outcome.calls if outcome else 0,
        latency_seconds=round(outcome.latency_seconds, 4) if outcome else 0.0,
        prompt_tokens=outcome.prompt_tokens if outcome else None,
        completion_tokens=outcome.completion_tokens if outcome else None,
        created_at=now,
    )
    if exemplar_key is not None and rating is not None:
        exemplar = next(e for e in prompt.exemplars if e["key"] == exemplar_key)
        row.calibration_share = calibration.compare(rubric, exemplar, rating.levels()) / len(
            rubric.dimensions
        )
    return row


async def _save(ctx: JobContext, row: ModelRating) -> None:
    """Store one rating in its own transaction; a row a concurrent run stored first wins."""
    async with ctx.sessionmaker() as db:
        db.add(row)
        try:
            await db.commit()
        except IntegrityError:
            await db.rollback()
            return
    MODEL_RATINGS.labels(row.status).inc()


async def best_share(db: AsyncSession, rater: str, slug: str) -> float | None:
    return await db.scalar(
        select(func.max(ModelRating.calibration_share)).where(
            ModelRating.rater == rater,
            ModelRating.prompt_slug == slug,
            ModelRating.exemplar_key.is_not(None),
        )
    )


async def _tried_exemplars(db: AsyncSession, rater: str, prompt_id: int) -> set[str]:
    return {
        key
        for key in await db.scalars(
            select(ModelRating.exemplar_key).where(
                ModelRating.rater == rater,
                ModelRating.prompt_id == prompt_id,
                ModelRating.exemplar_key.is_not(None),
            )
        )
        if key is not None
    }


async def _calibration_step(
    ctx: JobContext, settings: Settings, prompt: Prompt, rubric: Rubric, threshold: float
) -> tuple[float, bool]:
    """The model's best share on the prompt, and whether this run scored an exemplar to
    improve it (one model rating per run keeps every run inside the job's time limit)."""
    rater = rater_identity(settings)
    async with ctx.sessionmaker() as db:
        best = await best_share(db, rater, prompt.slug) or 0.0
        tried = await _tried_exemplars(db, rater, prompt.id)
    exemplar = calibration.next_exemplar(prompt, tried)
    if best >= threshold or exemplar is None:
        return best, False
    # Exemplars hold no candidate, so there is nothing to mask.
    outcome = await rate(settings, rubric, prompt.title, prompt.body, exemplar["answer"])
    row = _row(
        outcome,
        rater=rater,
        prompt=prompt,
        rubric=rubric,
        now=ctx.clock.now(),
        exemplar_key=exemplar["key"],
    )
    await _save(ctx, row)
    return max(best, row.calibration_share or 0.0), True


# Per event loop (one per process in production; the tests start several): the ratings
# running at once in this process, at most `model_concurrency`. Keyed by the loop itself,
# held weakly: keyed by `id(loop)`, a new loop that got a dead one's address inherited its
# semaphore, with the turns that loop's unfinished runs never gave back (a model that
# never rates again). A semaphore that ever made a run wait keeps its loop alive, and so
# its entry, as it did before; one that never did goes with its loop.
_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _slots(settings: Settings) -> asyncio.Semaphore:
    per_loop = _SLOTS.setdefault(asyncio.get_running_loop(), {})
    if settings.model_concurrency not in per_loop:
        per_loop[settings.model_concurrency] = asyncio.Semaphore(settings.model_concurrency)
    return per_loop[settings.model_concurrency]


def model_turn(settings: Settings) -> asyncio.Semaphore:
    """The process's turns at the model, shared by every run that calls it (the rater's
    and the exposure probe's), so together they stay within `model_concurrency`."""
    return _slots(settings)


@outbox.slow
async def rate_attempt(
    ctx: JobContext, event: OutboxEvent, marker: outbox.DoneMarker
) -> dict[str, Any] | None:
    """The `model.rate` handler."""
    del marker  # no instant to mark: the rating row is the effect, stored idempotently
    settings = ctx.settings
    if not settings.model_enabled:
        return {**event.payload, "skipped": "no model configured"}
    # A whole run waits for its turn, not only its call: a run reads what the model has
    # done (calibration, this answer) after the runs before it stored theirs, so a burst
    # of events (the in-process runner dispatches every due one at once) does not send
    # the same exemplar to the model once per event. The call's timeout starts after.
    async with _slots(settings):
        return await _rate_attempt(ctx, event, settings)


async def _rate_attempt(
    ctx: JobContext, event: OutboxEvent, settings: Settings
) -> dict[str, Any] | None:
    attempt_id = int(event.payload["attempt_id"])
    rater = rater_identity(settings)
    async with ctx.sessionmaker() as db:
        found = (
            await db.execute(
                select(Attempt, Invitation, Prompt, Screen.calibration_threshold)
                .join(Invitation, Attempt.invitation_id == Invitation.id)
                .join(Prompt, Invitation.prompt_id == Prompt.id)
                .join(Screen, Invitation.screen_id == Screen.id)
                .where(Attempt.id == attempt_id)
            )
        ).first()
        if found is None:
            return {**event.payload, "skipped": "no such attempt"}
        attempt, invitation, prompt, screen_threshold = found
        done = await db.scalar(
            select(ModelRating.id).where(
                ModelRating.rater == rater, ModelRating.attempt_id == attempt_id
            )
        )
    if done is not None:
        return None
    if invitation.erased_at is not None or not attempt.final_answer:
        return {**event.payload, "skipped": "no answer to rate"}
    rubric = rubric_from_dict(prompt.rubric)
    threshold = screen_threshold if screen_threshold is not None else DEFAULT_THRESHOLD
    last_try = event.tries + 1 >= outbox.MAX_TRIES

    async def unrated(status: str, error: str) -> None:
        """Record that this answer has no rating of the model, and why."""
        await _save(
            ctx,
            _row(
                None,
                rater=rater,
                prompt=prompt,
                rubric=rubric,
                now=ctx.clock.now(),
                attempt_id=attempt_id,
                status=status,
                error=error,
            ),
        )

    try:
        if not prompt.exemplars:
            await unrated(NOT_CALIBRATED, "the prompt has no calibration exemplars to pass")
            return None
        best, stepped = await _calibration_step(ctx, settings, prompt, rubric, threshold)
        if stepped:
            # The answer's own rating is a run of its own, so no run makes two ratings.
            async with ctx.sessionmaker() as db, db.begin():
                queue_rating(db, [attempt_id], ctx.clock.now())
            return {**event.payload, "calibrated_on_exemplar": True}
        if best < threshold:
            await unrated(
                NOT_CALIBRATED,
                f"calibration best share {best:.0%} is below the gate's {threshold:.0%}",
            )
            return None
        masked = mask_identity(
            attempt.final_answer,
            [invitation.candidate_name, invitation.candidate_email, invitation.external_id],
        )
        outcome = await rate(settings, rubric, prompt.title, prompt.body, masked)
    except ModelUnavailable as exc:
        if last_try or isinstance(exc, ModelRefused):
            # The outbox marks the event dead after this; the rating says so too.
            await unrated(
                FAILED,
                f"refused by the model server: {exc}"
                if isinstance(exc, ModelRefused)
                else f"gave up after {outbox.MAX_TRIES} tries: {exc}",
            )
        raise
    row = _row(
        outcome,
        rater=rater,
        prompt=prompt,
        rubric=rubric,
        now=ctx.clock.now(),
        attempt_id=attempt_id,
    )
    if row.status == RATED:
        # Whether this rating is a check on the humans is settled now, with the rule's
        # settings, so the decision later needs neither.
        async with ctx.sessionmaker() as db:
            row.check_active = await model_check.check_applies(
                db, settings, rater, prompt.slug, rubric
            )
        row.check_margin = settings.model_check_margin
    await _save(ctx, row)
    return None
