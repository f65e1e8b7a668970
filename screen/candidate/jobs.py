"""The candidate feature's job: the deadline sweep (main answers and follow-ups)."""

from __future__ import annotations

from screen.candidate import attempts, follow_ups
from screen.platform.jobs import Job, JobContext


async def sweep_deadlines(ctx: JobContext) -> int:
    """Auto-submit attempts past their deadline and expire links never started; pages
    do the same lazily for the attempt they show."""
    async with ctx.sessionmaker() as db, db.begin():
        now, grace = ctx.clock.now(), ctx.settings.grace_seconds
        ended = await attempts.sweep(db, now, grace)
        # After the main answers: one that just ended has started its first follow-up.
        return ended + await follow_ups.sweep(db, now, grace)


JOBS = (Job(sweep_deadlines, cron_seconds=frozenset(range(0, 60, 5))),)
