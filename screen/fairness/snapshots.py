"""Fairness snapshots: the adverse-impact page's figures, computed by a job and kept.

The figures need every submission of their scope with its decision and answers, and an
exact test per group: most of a second at 10k invitations and growing with history. So
an outbox job computes them (`impact.impact_view`, its statistics in a worker thread)
and stores a `FairnessSnapshot`; the page shows the latest one and its age. The CSV
export still computes afresh: a bias-audit file is an export, proportional to its data,
and should be as of its download.

A computation is asked for when the page finds no snapshot for its scope (or one made
for other categories or another minimum group size), when a lead or admin clicks
"Recompute now", and by the schedule (`refresh_due`, for scopes someone has looked at,
once their snapshot is older than `REFRESH_AFTER` and a decision or an answer to the
questions came since). At most one waits per scope.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reviewers.fairness import CategoryFigures, GroupFigures
from screen.fairness import categories as configured
from screen.fairness.categories import Category
from screen.fairness.impact import CategoryView, ImpactView, Scope, impact_view, scope_of
from screen.platform import audit, outbox
from screen.platform.errors import ScreenError
from screen.platform.jobs import JobContext
from screen.platform.models import (
    Decision,
    FairnessSnapshot,
    OutboxEvent,
    OutboxStatus,
    SelfIdentification,
    User,
)

FAIRNESS_COMPUTE = "fairness.compute"
REFRESH_AFTER = timedelta(hours=1)


def signature(categories: tuple[Category, ...], minimum: int) -> dict[str, Any]:
    """What the figures were computed for: a snapshot of other categories or another
    minimum group size is not shown (its rows would not match the page's questions)."""
    return {
        "categories": [[c.key, [o.key for o in c.options]] for c in categories],
        "minimum": minimum,
    }


def to_json(view: ImpactView, categories: tuple[Category, ...]) -> dict[str, Any]:
    return {
        "signature": signature(categories, view.minimum),
        "submissions": view.submissions,
        "model": view.model,
        "categories": [
            {
                "key": item.category.key,
                "rows": [asdict(row) for row in item.figures.rows],
                "reference": item.figures.reference,
                "minimum": item.figures.minimum,
            }
            for item in view.categories
        ],
    }


def from_json(
    data: dict[str, Any], scope: Scope, categories: tuple[Category, ...], minimum: int
) -> ImpactView | None:
    """The view a snapshot holds, or None when it was computed for other settings."""
    if data.get("signature") != signature(categories, minimum):
        return None
    by_key = {c.key: c for c in categories}
    return ImpactView(
        scope=scope,
        submissions=int(data["submissions"]),
        categories=tuple(
            CategoryView(
                by_key[item["key"]],
                CategoryFigures(
                    rows=tuple(GroupFigures(**row) for row in item["rows"]),
                    reference=item["reference"],
                    minimum=int(item["minimum"]),
                ),
            )
            for item in data["categories"]
        ),
        minimum=minimum,
        model=bool(data.get("model", False)),
    )


@dataclass(frozen=True)
class Freshness:
    computed_at: datetime | None
    pending: bool


async def latest(db: AsyncSession, scope: Scope) -> FairnessSnapshot | None:
    return await db.scalar(
        select(FairnessSnapshot)
        .where(FairnessSnapshot.scope == scope.key)
        .order_by(FairnessSnapshot.computed_at.desc(), FairnessSnapshot.id.desc())
        .limit(1)
    )


def _pending(key: str) -> Any:
    return select(OutboxEvent.id).where(
        OutboxEvent.kind == FAIRNESS_COMPUTE,
        OutboxEvent.status.in_((OutboxStatus.PENDING, OutboxStatus.DISPATCHED)),
        OutboxEvent.payload["scope"].as_string() == key,
    )


async def pending(db: AsyncSession, scope: Scope) -> bool:
    return await db.scalar(_pending(scope.key).limit(1)) is not None


def _payload(scope: Scope) -> dict[str, Any]:
    return {
        "scope": scope.key,
        "screen": str(scope.screen.id) if scope.screen is not None else None,
        "prompt": scope.prompt.slug if scope.prompt is not None else None,
    }


async def request(db: AsyncSession, scope: Scope, now: datetime, *, by: User | None = None) -> bool:
    """Ask for a computation of this scope; False when one is already waiting. A person's
    request is audited (whether it queued one or joined the one waiting)."""
    queued = not await pending(db, scope)
    if queued:
        outbox.emit(db, FAIRNESS_COMPUTE, _payload(scope), now)
    if by is not None:
        audit.record(
            db,
            actor=audit.actor_of(by),
            action="fairness.recompute",
            subject_type="fairness",
            subject_id=scope.key,
            now=now,
            after={"queued": queued},
        )
    await db.flush()
    return queued


async def shown(
    db: AsyncSession, scope: Scope, categories: tuple[Category, ...], minimum: int, now: datetime
) -> tuple[ImpactView | None, Freshness]:
    """The latest snapshot's figures, never a computation: with none for these settings,
    one is asked for and the page says it is being computed."""
    snapshot = await latest(db, scope)
    if snapshot is not None:
        view = from_json(snapshot.data, scope, categories, minimum)
        if view is not None:
            return view, Freshness(snapshot.computed_at, await pending(db, scope))
    await request(db, scope, now)
    return None, Freshness(None, True)


async def compute(
    db: AsyncSession, scope: Scope, categories: tuple[Category, ...], minimum: int, now: datetime
) -> FairnessSnapshot:
    view = await impact_view(db, scope, categories, minimum)
    snapshot = FairnessSnapshot(
        scope=scope.key,
        computed_at=now,
        submissions=view.submissions,
        data=to_json(view, categories),
    )
    db.add(snapshot)
    await db.flush()
    return snapshot


async def run_compute(ctx: JobContext, event: OutboxEvent, _done: outbox.DoneMarker) -> None:
    """Idempotent enough for a second run: it stores one more snapshot of the same scope,
    and the page reads the newest."""
    payload = event.payload
    async with ctx.sessionmaker() as db, db.begin():
        try:
            scope = await scope_of(db, payload.get("screen"), payload.get("prompt"))
        except ScreenError:
            return  # the screen or prompt is gone: nothing to compute
        await compute(
            db,
            scope,
            configured.configured(ctx.settings),
            ctx.settings.fairness_minimum_group,
            ctx.clock.now(),
        )


async def refresh_due(db: AsyncSession, now: datetime) -> int:
    """Queue a computation for every scope with a snapshot older than `REFRESH_AFTER`
    when a decision was made or the questions answered since; returns how many."""
    newest = (
        select(FairnessSnapshot.scope, func.max(FairnessSnapshot.computed_at).label("at"))
        .group_by(FairnessSnapshot.scope)
        .subquery()
    )
    due = [
        (scope, at)
        for scope, at in await db.execute(select(newest.c.scope, newest.c.at))
        if at <= now - REFRESH_AFTER
    ]
    if not due:
        return 0
    oldest = min(at for _, at in due)
    # Any change anywhere since: two cheap questions instead of one per scope.
    last_decision = await db.scalar(
        select(func.max(Decision.decided_at)).where(Decision.decided_at > oldest)
    )
    last_answer = await db.scalar(
        select(func.max(SelfIdentification.recorded_at)).where(
            SelfIdentification.recorded_at > oldest
        )
    )
    changed = max((t for t in (last_decision, last_answer) if t is not None), default=None)
    queued = 0
    for key, at in due:
        if changed is None or changed <= at:
            continue
        kind, _, rest = key.partition(":")
        try:
            scope = await scope_of(
                db, rest if kind == "screen" else None, rest if kind == "prompt" else None
            )
        except ScreenError:
            continue  # the screen or prompt is gone
        if await request(db, scope, now):
            queued += 1
    return queued
