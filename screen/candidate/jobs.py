"""The candidate feature's job: the deadline sweep."""

from __future__ import annotations

from screen.candidate import attempts
from screen.platform.jobs import Job, JobContext


async def sweep_deadlines(ctx: JobContext) -> int:
    """Auto-submit attempts past their deadline and expire links never started; pages
    do the same lazily for the attempt they show."""
    async with ctx.sessionmaker() as db, db.begin():
        return await attempts.sweep(db, ctx.clock.now(), ctx.settings.grace_seconds)


JOBS = (Job(sweep_deadlines, cron_seconds=frozenset(range(0, 60, 5))),)
