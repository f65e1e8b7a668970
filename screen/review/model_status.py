"""What the configured model is doing on a prompt while nothing of it is stored yet: its
calibration state and its outbox events (waiting, retrying, dead) with the last error.

A model server that times out or is unreachable leaves no rating behind until the
outbox's last try, so the ratings alone cannot show a lead that it fails; the events
can. Every read here starts from the outbox's (status, available_at) index with status in
pending, dispatched or dead: those rows are the work in flight and what gave up, few at
any size of history, and no done event is ever read. Each event is then tied to its
prompt through primary keys (the event's attempt, its invitation, its prompt).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.models import (
    Attempt,
    Invitation,
    ModelRating,
    OutboxEvent,
    OutboxStatus,
    Prompt,
)
from screen.review.model_client import rater_identity
from screen.review.model_rater import DEFAULT_THRESHOLD, MODEL_RATE
from screen.settings import Settings

OPEN = (OutboxStatus.PENDING, OutboxStatus.DISPATCHED, OutboxStatus.DEAD)
# The exception class names the outbox writes in front (after "Gave up at once, …: " when
# the server refused the request itself).
CLASS_NAME = re.compile(r"\bModel(?:Unavailable|Refused): ")


def readable(error: str | None) -> str | None:
    # The outbox keeps the exception's class name in front; a lead needs the sentence.
    if error is None:
        return None
    return CLASS_NAME.sub("", error, count=1)


@dataclass(frozen=True)
class Trouble:
    """The newest failed try of a model's events: what went wrong, when that try started
    (the outbox keeps the start of the last try, and a try lasts at most the model job's 540 s),
    and when the next one is due (None while one is running, or once the event is dead)."""

    error: str
    tried_at: datetime | None
    next_try_at: datetime | None
    running: bool
    dead: bool
    tries: int


def _trouble(event: OutboxEvent) -> Trouble:
    return Trouble(
        error=readable(event.last_error) or "",
        tried_at=event.dispatched_at,
        next_try_at=event.available_at if event.status == OutboxStatus.PENDING else None,
        running=event.status == OutboxStatus.DISPATCHED,
        dead=event.status == OutboxStatus.DEAD,
        tries=event.tries,
    )


@dataclass(frozen=True)
class Queue:
    """The model.rate events of one prompt not yet done."""

    waiting: int
    retrying: int
    dead: int
    last: Trouble | None

    @property
    def empty(self) -> bool:
        return not (self.waiting or self.retrying or self.dead)


def _of_prompt(slug: str | None) -> Select[Any]:
    attempt_id = OutboxEvent.payload["attempt_id"].as_integer()
    query = (
        select(Prompt.slug)
        .select_from(OutboxEvent)
        .join(Attempt, Attempt.id == attempt_id)
        .join(Invitation, Invitation.id == Attempt.invitation_id)
        .join(Prompt, Prompt.id == Invitation.prompt_id)
        .where(OutboxEvent.status.in_(OPEN), OutboxEvent.kind == MODEL_RATE)
    )
    return query.where(Prompt.slug == slug) if slug is not None else query


async def queues(db: AsyncSession, slug: str | None = None) -> dict[str, Queue]:
    """Per prompt (or the one asked for), its model.rate events waiting, retrying (a try
    failed) and dead, and its newest failed try."""
    failed = OutboxEvent.last_error.is_not(None)
    live = OutboxEvent.status != OutboxStatus.DEAD
    counts = await db.execute(
        _of_prompt(slug)
        .add_columns(
            func.sum(case((live & ~failed, 1), else_=0)),
            func.sum(case((live & failed, 1), else_=0)),
            func.sum(case((OutboxEvent.status == OutboxStatus.DEAD, 1), else_=0)),
        )
        .group_by(Prompt.slug)
    )
    out: dict[str, Queue] = {}
    for prompt_slug, waiting, retrying, dead in counts:
        newest = await db.scalar(
            _of_prompt(prompt_slug)
            .with_only_columns(OutboxEvent)
            .where(failed)
            .order_by(OutboxEvent.dispatched_at.desc(), OutboxEvent.id.desc())
            .limit(1)
        )
        out[prompt_slug] = Queue(
            waiting=int(waiting or 0),
            retrying=int(retrying or 0),
            dead=int(dead or 0),
            last=_trouble(newest) if newest is not None else None,
        )
    return out


@dataclass(frozen=True)
class Status:
    """The configured model on one prompt: who it is, where its calibration stands, and
    its events in flight."""

    rater: str
    calibration: str
    calibration_text: str
    queue: Queue
    # The validity rule's least number of human-decided answers the model must have rated.
    min_answers: int = 50


async def status(db: AsyncSession, settings: Settings, prompt: Prompt) -> Status | None:
    """None when no model is configured."""
    if not settings.model_enabled:
        return None
    found = await queues(db, prompt.slug)
    return await status_with(db, settings, prompt, found.get(prompt.slug))


async def status_with(
    db: AsyncSession, settings: Settings, prompt: Prompt, queue: Queue | None
) -> Status:
    rater = rater_identity(settings)
    mine = (ModelRating.prompt_slug == prompt.slug) & (ModelRating.rater == rater)
    best, tried = (
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
    exemplars = len(prompt.exemplars or [])
    share = f"best share {100 * best:.0f}%" if best is not None else ""
    if counts.get("rated"):
        state, text = "passed", f"passed ({share})"
    elif best is not None and best >= DEFAULT_THRESHOLD:
        # The default gate; a screen may set its own, which the live ratings then show.
        state, text = "passed", f"passed ({share})"
    elif exemplars == 0:
        state, text = "failed", "cannot pass: the prompt has no calibration exemplars"
    elif counts.get("not_calibrated") and tried >= exemplars:
        state = "failed"
        text = f"failed: {share} on all {exemplars} exemplars; its live answers are not sent"
    elif tried == 0:
        state, text = "pending", f"pending: none of the {exemplars} exemplars scored yet"
    else:
        state = "in progress"
        text = f"in progress: {tried} of {exemplars} exemplars scored, {share}"
    return Status(
        rater=rater,
        calibration=state,
        calibration_text=text,
        queue=queue or Queue(0, 0, 0, None),
        min_answers=settings.model_min_answers,
    )


async def probe_trouble(db: AsyncSession, kind: str, probe_id: int) -> Trouble | None:
    """The newest failed try of a running probe's event, if its step is failing."""
    event = await db.scalar(
        select(OutboxEvent)
        .where(
            OutboxEvent.status.in_(OPEN),
            OutboxEvent.kind == kind,
            OutboxEvent.payload["probe_id"].as_integer() == probe_id,
            OutboxEvent.last_error.is_not(None),
        )
        .order_by(OutboxEvent.id.desc())
        .limit(1)
    )
    return _trouble(event) if event is not None else None
