"""Jobs: how a feature declares one, the context every job receives, the in-process runner.

A feature lists its jobs as `Job` values in its `wiring` module; `screen.registry`
collects them once, and that one list feeds the embedded in-process runner, arq's
`WorkerSettings`, the tests and the bench. Job functions take a `JobContext` and
call the same rules the pages call, so nothing here knows which runner is in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screen.platform.clock import Clock
from screen.platform.mail import Mailer
from screen.platform.observability import JOB_DURATION, JOB_FAILURES
from screen.settings import Settings

log = logging.getLogger(__name__)


class JobQueue(Protocol):
    async def enqueue(self, function: str, job_id: str, **kwargs: Any) -> None: ...


# (context, event, done marker) -> the payload to keep once done, or None. Typed loosely
# here so this module needs nothing of the outbox; `screen.platform.outbox.Handler` is
# the precise type.
OutboxHandler = Callable[..., Awaitable[dict[str, Any] | None]]


@dataclass
class JobContext:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock
    mailer: Mailer
    templates: Environment
    queue: JobQueue
    # Every kind of outbox event the app writes, with the function that delivers it:
    # `screen.registry.REGISTRY.outbox_handlers`. Required, so no runner can be built that
    # silently knows only some kinds (a worker once delivered no webhooks that way).
    outbox_handlers: Mapping[str, OutboxHandler]


@dataclass(frozen=True)
class Job:
    """One job a feature contributes, and how a runner treats it.

    `cron_seconds` makes it periodic: arq runs it at those seconds of every minute; the
    in-process runner runs every periodic job once per tick, in registry order.
    `max_tries` is arq's: how often a job whose worker died under it is started again.
    Failures inside a job are not retried by arq at all (`run_job` records them); the
    outbox retries deliveries with its own backoff.
    """

    function: Callable[..., Awaitable[Any]]
    cron_seconds: frozenset[int] | None = None
    run_at_startup: bool = False
    timeout_seconds: int = 60
    max_tries: int = 5

    @property
    def name(self) -> str:
        return self.function.__name__


async def run_job(job: Job, context: JobContext, **kwargs: Any) -> Any:
    """Run one job, timing it and counting failures for /metrics; a failure is logged,
    never raised (the database keeps whatever the job was for)."""
    started = time.perf_counter()
    try:
        return await job.function(context, **kwargs)
    except Exception:
        JOB_FAILURES.labels(job.name).inc()
        log.exception("job %s failed", job.name)
        return None
    finally:
        JOB_DURATION.labels(job.name).observe(time.perf_counter() - started)


class InProcessRunner:
    """Runs jobs as tasks inside the web process; periodic jobs on a timer.

    Suits one process. A job already in flight is not started twice.
    """

    def __init__(self, jobs: Sequence[Job], interval_seconds: float) -> None:
        self.jobs = {job.name: job for job in jobs}
        # Order matters within a tick: what the sweeps queue, the relay (last) then sends.
        self.periodic = [job for job in jobs if job.cron_seconds is not None]
        self.interval = interval_seconds
        self.context: JobContext | None = None
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._passes = 0

    async def enqueue(self, function: str, job_id: str, **kwargs: Any) -> None:
        if job_id in self._tasks:
            return
        task = asyncio.create_task(self._run(self.jobs[function], kwargs), name=job_id)
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

    async def _run(self, job: Job, kwargs: dict[str, Any]) -> Any:
        if self.context is None:
            raise RuntimeError("the in-process runner was used before its context was set")
        return await run_job(job, self.context, **kwargs)

    async def tick(self) -> None:
        for job in self.periodic:
            await self._run(job, {})

    async def drain(self) -> None:
        """Wait until every job in flight (and any it enqueued) has finished. A wait that is
        cancelled or times out leaves the jobs running: `gather` would cancel them with it,
        and a model rating cut off after `screen demo`'s 30 s wait stayed `dispatched`
        until the relay handed it out again ten minutes later."""
        while self._tasks:
            await asyncio.wait(list(self._tasks.values()))

    def start(self) -> None:
        self._stopping.clear()
        self._ticker = asyncio.create_task(self._tick_forever(), name="screen-periodic-jobs")

    async def _tick_forever(self) -> None:
        while not self._stopping.is_set():
            await self.tick()
            self._passes += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)

    async def settle(self, passes: int, within_seconds: float) -> None:
        """Wait, at most `within_seconds`, until `passes` periodic passes have run and
        every job they started has finished. `screen demo` says "ready" only then: its
        start-up burst (the seeded invitations' emails, similarity checks, the first
        snapshots) made the first pages opened from the banner take seconds."""
        if self._ticker is None:
            return  # jobs run elsewhere (arq workers): nothing here to wait for
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_seconds):
                while self._passes < passes:
                    await self.drain()
                    await asyncio.sleep(0.05)
                await self.drain()

    async def stop(self) -> None:
        if self._ticker:
            # Let the tick in flight finish rather than cancel it: a job cut off between
            # its first write and its commit leaves the aiosqlite connection (and so
            # SQLite's one write lock) open until garbage collection, and every writer
            # after it waits out the busy timeout and fails with "database is locked".
            self._stopping.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._ticker), timeout=10)
            except TimeoutError:
                self._ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._ticker
        # Give in-flight deliveries a moment to finish; what is cut off stays in the
        # outbox as dispatched and is re-dispatched by the next relay. Cut off here, on
        # purpose: `drain` itself never cancels what it waits for.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), timeout=10)
        cut_off = list(self._tasks.values())
        for task in cut_off:
            task.cancel()
        if cut_off:
            await asyncio.wait(cut_off)
