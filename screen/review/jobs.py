"""The review feature's jobs: claims whose lease ran out go back to the queue, and the
notifications that bring the queue to reviewers and leads are queued when due."""

from __future__ import annotations

from screen.platform.jobs import Job, JobContext
from screen.review import notifications, reviews


async def release_review_leases(ctx: JobContext) -> int:
    async with ctx.sessionmaker() as db, db.begin():
        return await reviews.release_expired_leases(db, ctx.clock.now())


async def send_notifications(ctx: JobContext) -> int:
    """Idempotent (one key per person and period), so every minute and every tick is fine."""
    return await notifications.queue_due(ctx.sessionmaker, ctx.clock.now(), ctx.settings)


JOBS = (
    Job(release_review_leases, cron_seconds=frozenset({37})),
    Job(send_notifications, cron_seconds=frozenset({23}), timeout_seconds=120),
)
