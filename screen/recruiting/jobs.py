"""The recruiting feature's job: reminders to candidates who have not started."""

from __future__ import annotations

from screen.platform.jobs import Job, JobContext
from screen.recruiting import reminders


async def send_reminders(ctx: JobContext) -> int:
    async with ctx.sessionmaker() as db, db.begin():
        return await reminders.send_due_reminders(db, ctx.clock.now())


JOBS = (Job(send_reminders, cron_seconds=frozenset({7}), timeout_seconds=120),)
