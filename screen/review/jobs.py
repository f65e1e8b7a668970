"""The review feature's job: claims whose lease ran out go back to the queue."""

from __future__ import annotations

from screen.platform.jobs import Job, JobContext
from screen.review import reviews


async def release_review_leases(ctx: JobContext) -> int:
    async with ctx.sessionmaker() as db, db.begin():
        return await reviews.release_expired_leases(db, ctx.clock.now())


JOBS = (Job(release_review_leases, cron_seconds=frozenset({37})),)
