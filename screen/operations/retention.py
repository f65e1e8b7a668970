"""Retention: candidates' personal data erased once the policy's time is up.

Two rules (screen.accounts.privacy.RetentionPolicy): a candidate whose screen ended
(passed, failed, or withdrawn) is erased `decided_days` after it ended; one who never
started is erased `unused_days` after their link expired. A screen still in review or
waiting for a lead is not ended, and is kept until it is.

`due` is the one selection, longest due first: the dry run lists it, and `apply` erases
exactly it, batch by batch (each batch its own transaction, so a run over 100,000
candidates holds no lock for long and a crash keeps what was done). Each rule reads a
partial index holding only candidates it may still erase, so a batch, the dry run and its
capped counts cost the same however much history (erased or not yet due) there is. The
daily job runs `apply` once per UTC day; a run that erased anyone is audited with its
counts (`retention.applied`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, Subquery, func, literal, select, text, union_all
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


def _decided(policy: RetentionPolicy, now: datetime, *columns: Any) -> Select[Any]:
    """Ended screens past `decided_days`, read from `ix_attempts_retention_ended` in the
    order they ended: erased candidates are not in that index, so the cost is what is due,
    never all history."""
    return (
        select(*columns)
        .select_from(Attempt)
        .join(Invitation, Invitation.id == Attempt.invitation_id)
        .where(
            Attempt.state.in_(ENDED),
            ~Attempt.erased,
            Attempt.state_changed_at < now - timedelta(days=policy.decided_days),
            Invitation.erased_at.is_(None),
        )
    )


def _unused(policy: RetentionPolicy, now: datetime, *columns: Any) -> Select[Any]:
    """Links never used, expired more than `unused_days` ago, read from
    `ix_invitations_retention_unused` in the order they expired: the index holds only
    links never started, so the attempt's state decides only between the few left
    (a link withdrawn before its start is the "decided" rule's)."""
    return (
        select(*columns)
        .select_from(Invitation)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .where(
            Invitation.erased_at.is_(None),
            Invitation.started_at.is_(None),
            Invitation.expires_at < now - timedelta(days=policy.unused_days),
            Attempt.state.in_(UNUSED),
        )
    )


# Each rule: its name, its selection, and the time it is due from (its index's order).
_RULES = (
    (DECIDED_RULE, _decided, Attempt.state_changed_at),
    (UNUSED_RULE, _unused, Invitation.expires_at),
)


def _due(policy: RetentionPolicy, now: datetime, limit: int | None) -> Subquery:
    """Everything due, in due order: longest due first (when the screen ended, or the
    link expired), then by invitation. Each rule is read in that order from its own index
    and cut at `limit` before the two are merged, so a batch costs what it returns."""
    branches = []
    for rule, read, since in _RULES:
        branch = read(
            policy,
            now,
            Invitation.id.label("id"),
            since.label("since"),
            literal(rule).label("rule"),
        ).order_by(since, Invitation.id)
        if limit is not None:
            branch = branch.limit(limit)
        # Wrapped: SQLite takes no ORDER BY or LIMIT on a member of a UNION.
        inner = branch.subquery()
        branches.append(select(inner.c.id, inner.c.since, inner.c.rule))
    merged = union_all(*branches).subquery()
    query = select(merged.c.id, merged.c.since, merged.c.rule).order_by(merged.c.since, merged.c.id)
    if limit is not None:
        query = query.limit(limit)
    return query.subquery("due")


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
    """The invitations the policy erases now, longest due first: what a run erases."""
    due = _due(policy, now, limit)
    return list(await db.scalars(select(due.c.id).order_by(due.c.since, due.c.id)))


async def due(
    db: AsyncSession, policy: RetentionPolicy, now: datetime, limit: int | None = None
) -> list[Due]:
    """The dry run: the same selection, with what a person needs to check it."""
    selected = _due(policy, now, limit)
    query = (
        select(selected.c.id, selected.c.since, selected.c.rule, Screen.title, Attempt.state)
        .select_from(selected)
        .join(Invitation, Invitation.id == selected.c.id)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .join(Screen, Screen.id == Invitation.screen_id)
        .order_by(selected.c.since, selected.c.id)
    )
    return [
        Due(
            invitation_id=row.id,
            screen_title=row.title,
            state=row.state,
            rule=row.rule,
            since=row.since,
        )
        for row in await db.execute(query)
    ]


async def due_counts(
    db: AsyncSession, policy: RetentionPolicy, now: datetime, cap: int | None = None
) -> dict[str, int]:
    """How many each rule erases now. With `cap`, each count stops at `cap + 1` (read as
    "more than cap"): the privacy page's view then costs the same however large a
    backlog is (a first run over years of history finds six figures)."""
    if cap is not None and is_postgres(db):
        # A capped count reads at most a few thousand index rows; PostgreSQL planned the
        # "unused" one across two parallel workers, whose start-up cost three times the
        # serial read (17 ms against 5 ms at 200,000 invitations). For this transaction
        # only: the next statements of the page plan as usual (reset below).
        await db.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    counts = {}
    for name, read, since in _RULES:
        matching = read(policy, now, Invitation.id)
        if cap is not None:
            # In the rule's index order: unordered, the planner walked both tables by id
            # (it guesses the due rows are spread evenly) and read 75,000 rows to find 1,001.
            matching = matching.order_by(since, Invitation.id).limit(cap + 1)
        counts[name] = int(
            await db.scalar(select(func.count()).select_from(matching.subquery())) or 0
        )
    if cap is not None and is_postgres(db):
        await db.execute(text("SET LOCAL max_parallel_workers_per_gather TO DEFAULT"))
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
            ids = await due_ids(db, policy, now, limit=batch)
            if ids and is_postgres(db):
                # Two runs at once (two workers, or the CLI beside the job) take different
                # rows: the other run's batch is locked, and one it has erased meanwhile
                # is no longer due. (A UNION takes no FOR UPDATE, hence the second read.)
                ids = list(
                    await db.scalars(
                        select(Invitation.id)
                        .where(Invitation.id.in_(ids), Invitation.erased_at.is_(None))
                        .order_by(Invitation.id)
                        .with_for_update(skip_locked=True)
                    )
                )
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
