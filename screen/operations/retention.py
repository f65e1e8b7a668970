"""Retention: candidates' personal data erased once the policy's time is up.

Two rules (screen.accounts.privacy.RetentionPolicy): a candidate whose screen ended
(passed, failed, or withdrawn) is erased `decided_days` after it ended; one who never
started is erased `unused_days` after their link expired. A screen still in review or
waiting for a lead is not ended, and is kept until it is.

`due` is the one selection: the dry run lists it, and `apply` erases exactly it, batch
by batch (each batch its own transaction, so a run over 100,000 candidates holds no lock
for long and a crash keeps what was done). The daily job runs `apply` once per UTC day;
a run that erased anyone is audited with its counts (`retention.applied`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screen.accounts.privacy import RetentionPolicy, retention_policy
from screen.operations import erasure
from screen.platform import audit
from screen.platform.db import is_postgres
from screen.platform.jobs import Job, JobContext
from screen.platform.models import (
    Attempt,
    AttemptState,
    Invitation,
    NotificationSent,
    Screen,
)
from screen.settings import Settings

BATCH = 500
APPLIED = "retention.applied"  # the audit action
ENDED = (AttemptState.PASSED, AttemptState.FAILED, AttemptState.WITHDRAWN)
UNUSED = (AttemptState.INVITED, AttemptState.OPENED, AttemptState.EXPIRED)
DECIDED_RULE, UNUSED_RULE = "decided", "unused"


def _rule(policy: RetentionPolicy, now: datetime) -> tuple[Any, Any]:
    decided = and_(
        Attempt.state.in_(ENDED),
        Attempt.state_changed_at < now - timedelta(days=policy.decided_days),
    )
    unused = and_(
        Attempt.state.in_(UNUSED),
        Invitation.expires_at < now - timedelta(days=policy.unused_days),
    )
    return decided, unused


def _due(policy: RetentionPolicy, now: datetime, *columns: Any) -> Select[Any]:
    decided, unused = _rule(policy, now)
    return (
        select(*columns)
        .select_from(Invitation)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .where(Invitation.erased_at.is_(None), or_(decided, unused))
    )


@dataclass(frozen=True)
class Due:
    invitation_id: int
    screen_title: str
    state: str
    rule: str  # DECIDED_RULE or UNUSED_RULE
    since: datetime  # when the screen ended, or the link expired


async def due_ids(
    db: AsyncSession, policy: RetentionPolicy, now: datetime, limit: int | None = None
) -> list[int]:
    """The invitations the policy erases now, oldest id first: what a run erases."""
    query = _due(policy, now, Invitation.id).order_by(Invitation.id)
    if limit is not None:
        query = query.limit(limit)
    return list(await db.scalars(query))


async def due(
    db: AsyncSession, policy: RetentionPolicy, now: datetime, limit: int | None = None
) -> list[Due]:
    """The dry run: the same selection, with what a person needs to check it."""
    query = (
        _due(policy, now, Invitation.id, Screen.title, Attempt.state)
        .add_columns(Attempt.state_changed_at, Invitation.expires_at)
        .join(Screen, Screen.id == Invitation.screen_id)
        .order_by(Invitation.id)
    )
    if limit is not None:
        query = query.limit(limit)
    found = []
    for row in await db.execute(query):
        ended = row.state in ENDED
        found.append(
            Due(
                invitation_id=row.id,
                screen_title=row.title,
                state=row.state,
                rule=DECIDED_RULE if ended else UNUSED_RULE,
                since=row.state_changed_at if ended else row.expires_at,
            )
        )
    return found


async def due_counts(
    db: AsyncSession, policy: RetentionPolicy, now: datetime, cap: int | None = None
) -> dict[str, int]:
    """How many each rule erases now. With `cap`, each count stops at `cap + 1` (read as
    "more than cap"): the privacy page's view then costs the same however large a
    backlog is (a first run over years of history finds six figures)."""
    decided, unused = _rule(policy, now)
    counts = {}
    for name, rule in ((DECIDED_RULE, decided), (UNUSED_RULE, unused)):
        matching = (
            select(Invitation.id)
            .select_from(Invitation)
            .join(Attempt, Attempt.invitation_id == Invitation.id)
            .where(Invitation.erased_at.is_(None), rule)
        )
        if cap is not None:
            matching = matching.limit(cap + 1)
        counts[name] = int(
            await db.scalar(select(func.count()).select_from(matching.subquery())) or 0
        )
    return counts


@dataclass
class Run:
    policy: RetentionPolicy
    erased: list[int] = field(default_factory=list)
    counts: erasure.Counts = field(default_factory=erasure.Counts)
    batches: int = 0


async def apply(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime,
    *,
    actor: str = "system",
    batch: int = BATCH,
) -> Run:
    """Erase everything due, `batch` candidates per transaction; audit the run's counts."""
    async with sessionmaker() as db:
        policy = await retention_policy(db, settings)
    run = Run(policy)
    while True:
        async with sessionmaker() as db, db.begin():
            query = _due(policy, now, Invitation.id).order_by(Invitation.id).limit(batch)
            if is_postgres(db):
                # Two runs at once (two workers, or the CLI beside the job) take different rows.
                query = query.with_for_update(of=Invitation, skip_locked=True)
            ids = list(await db.scalars(query))
            if not ids:
                break
            counts = await erasure.erase_many(db, ids, now, reason="retention")
            run.erased.extend(ids)
            run.counts.add(counts)
            run.batches += 1
    if run.erased:
        async with sessionmaker() as db, db.begin():
            audit.record(
                db,
                actor=actor,
                action=APPLIED,
                subject_type="retention",
                subject_id="policy",
                now=now,
                after={
                    "decided_days": policy.decided_days,
                    "unused_days": policy.unused_days,
                    "batches": run.batches,
                    **run.counts.as_dict(),
                },
            )
    return run


def _day_key(now: datetime) -> str:
    return f"retention:{now.date().isoformat()}"


async def postpone_today(db: AsyncSession, now: datetime) -> None:
    """Mark today's run as done without running it: the demo does, so its privacy page has
    a dry run to show (`screen candidates retention` still applies the policy at once)."""
    key = _day_key(now)
    if await db.scalar(select(NotificationSent.id).where(NotificationSent.key == key)) is None:
        db.add(NotificationSent(key=key, kind="retention", sent_at=now))
        await db.flush()


async def apply_retention(ctx: JobContext) -> int:
    """The daily job: the first tick of each UTC day claims the day (a unique key, so two
    workers never both run it) and applies the policy."""
    now = ctx.clock.now()
    try:
        async with ctx.sessionmaker() as db, db.begin():
            db.add(NotificationSent(key=_day_key(now), kind="retention", sent_at=now))
    except IntegrityError:
        return 0  # today's run happened
    run = await apply(ctx.sessionmaker, ctx.settings, now)
    return len(run.erased)


JOBS = (Job(apply_retention, cron_seconds=frozenset({47}), timeout_seconds=3600, max_tries=1),)
