"""The review feature's jobs: claims whose lease ran out go back to the queue, the
notifications that bring the queue to reviewers and leads are queued when due, and the
agreement figures leads have looked at are recomputed once new decisions make them old."""

from __future__ import annotations

from screen.platform.jobs import Job, JobContext
from screen.review import agreement_snapshots, notifications, reviews


async def release_review_leases(ctx: JobContext) -> int:
    async with ctx.sessionmaker() as db, db.begin():
        return await reviews.release_expired_leases(db, ctx.clock.now())


async def send_notifications(ctx: JobContext) -> int:
    """Idempotent (one key per person and period), so every minute and every tick is fine."""
    return await notifications.queue_due(ctx.sessionmaker, ctx.clock.now(), ctx.settings)


async def refresh_agreement(ctx: JobContext) -> int:
    """Cheap when nothing is due (one query per scope); the computations it queues run as
    outbox events, one waiting per scope at most."""
    async with ctx.sessionmaker() as db, db.begin():
        return await agreement_snapshots.refresh_due(db, ctx.clock.now())


JOBS = (
    Job(release_review_leases, cron_seconds=frozenset({37})),
    Job(send_notifications, cron_seconds=frozenset({23}), timeout_seconds=120),
    Job(refresh_agreement, cron_seconds=frozenset({47})),
)
