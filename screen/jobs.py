"""Jobs: the functions that do side effects and sweeps, and the in-process runner.

The same job functions run in the embedded in-process runner and, in
production, in arq workers; both reach them through the small `JobQueue`
interface, so nothing here knows which one is in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screen import attempts, outbox, reminders, reviews
from screen.clock import Clock
from screen.mail import Mailer
from screen.settings import Settings

log = logging.getLogger(__name__)
MAX_RELAY_BATCHES = 100


class JobQueue(Protocol):
    async def enqueue(self, function: str, job_id: str, **kwargs: Any) -> None: ...


@dataclass
class JobContext:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    mailer: Mailer
    templates: Environment
    queue: JobQueue


async def deliver_outbox_event(ctx: JobContext, event_id: int) -> str:
    return await outbox.deliver(ctx, event_id)


async def relay_outbox(ctx: JobContext) -> int:
    """Hand every due outbox row to the queue, a batch per transaction, until none is left
    (so a burst of 5,000 invitations is not throttled to one batch per relay tick).

    The rows are marked dispatched in the same transaction that enqueues their jobs and
    committed only after the last enqueue: a relay that dies (or a Redis that refuses)
    half-way leaves them pending for the next tick, never "dispatched" with no job behind
    them until the ten-minute re-dispatch. A job enqueued twice that way runs once (its
    id is the row's and try's) or finds its row done."""
    relayed = 0
    for _ in range(MAX_RELAY_BATCHES):
        async with ctx.sessionmaker() as db, db.begin():
            due = await outbox.claim_due(db, ctx.clock.now())
            for event_id, tries in due:
                # A retry needs an id of its own: arq refuses a job id whose result it
                # still keeps, and keeps results longer than the first retry's delay.
                await ctx.queue.enqueue(
                    "deliver_outbox_event",
                    job_id=outbox.job_id(event_id, tries),
                    event_id=event_id,
                )
        relayed += len(due)
        if len(due) < outbox.RELAY_BATCH:
            break
    return relayed


async def sweep_deadlines(ctx: JobContext) -> int:
    async with ctx.sessionmaker() as db, db.begin():
        return await attempts.sweep(db, ctx.clock.now(), ctx.settings.grace_seconds)


async def send_reminders(ctx: JobContext) -> int:
    async with ctx.sessionmaker() as db, db.begin():
        return await reminders.send_due_reminders(db, ctx.clock.now())


async def release_review_leases(ctx: JobContext) -> int:
    async with ctx.sessionmaker() as db, db.begin():
        return await reviews.release_expired_leases(db, ctx.clock.now())


JOBS: dict[str, Callable[..., Awaitable[Any]]] = {
    "deliver_outbox_event": deliver_outbox_event,
    "relay_outbox": relay_outbox,
    "sweep_deadlines": sweep_deadlines,
    "send_reminders": send_reminders,
    "release_review_leases": release_review_leases,
}
# Order matters within a tick: what the sweeps queue, the relay then sends.
PERIODIC = ("sweep_deadlines", "send_reminders", "release_review_leases", "relay_outbox")


async def run_job(function: str, context: JobContext, **kwargs: Any) -> Any:
    """Run one job by name, timing it and counting failures for /metrics."""
    from screen.observability import JOB_DURATION, JOB_FAILURES

    started = time.perf_counter()
    try:
        return await JOBS[function](context, **kwargs)
    except Exception:
        JOB_FAILURES.labels(function).inc()
        log.exception("job %s failed", function)
        return None
    finally:
        JOB_DURATION.labels(function).observe(time.perf_counter() - started)


class InProcessRunner:
    """Runs jobs as tasks inside the web process; periodic jobs on a timer.

    Suits one process. A job already in flight is not started twice.
    """

    def __init__(self, interval_seconds: float) -> None:
        self.interval = interval_seconds
        self.context: JobContext | None = None
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._ticker: asyncio.Task[None] | None = None

    async def enqueue(self, function: str, job_id: str, **kwargs: Any) -> None:
        if job_id in self._tasks:
            return
        task = asyncio.create_task(self._run(function, kwargs), name=job_id)
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

    async def _run(self, function: str, kwargs: dict[str, Any]) -> Any:
        if self.context is None:
            raise RuntimeError("the in-process runner was used before its context was set")
        return await run_job(function, self.context, **kwargs)

    async def tick(self) -> None:
        for name in PERIODIC:
            await self._run(name, {})

    async def drain(self) -> None:
        """Wait until every job in flight (and any it enqueued) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_forever(), name="screen-periodic-jobs")

    async def _tick_forever(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        # Give in-flight deliveries a moment to finish; what is cut off stays in the
        # outbox as dispatched and is re-dispatched by the next relay.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), timeout=10)
