"""The fairness feature's job: adverse-impact figures someone has looked at are
recomputed once new decisions or answers make them old."""

from __future__ import annotations

from screen.fairness import snapshots
from screen.platform.jobs import Job, JobContext


async def refresh_fairness(ctx: JobContext) -> int:
    """Cheap when nothing is due (three queries); the computations it queues run as
    outbox events, one waiting per scope at most."""
    async with ctx.sessionmaker() as db, db.begin():
        return await snapshots.refresh_due(db, ctx.clock.now())


JOBS = (Job(refresh_fairness, cron_seconds=frozenset({53})),)
