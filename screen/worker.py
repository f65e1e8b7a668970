"""The arq worker: one `WorkerSettings`, the same job functions the in-process runner calls.

`screen worker` runs it. Jobs are idempotent and keyed (`_job_id` = outbox id and
try), because arq runs a job at least once: a worker killed mid-job leaves it to
be picked up again. The periodic relay re-dispatches outbox rows whose job was
lost (Redis flushed, worker killed), so a failure costs a delay, never an effect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from arq import cron, func
from arq.connections import ArqRedis, RedisSettings
from arq.cron import CronJob
from arq.worker import Function
from prometheus_client import start_http_server

from screen.platform.clock import SystemClock
from screen.platform.db import create_engine, create_sessionmaker
from screen.platform.jobs import Job, JobContext, run_job
from screen.platform.mail import mailer_for
from screen.platform.rendering import create_environment
from screen.registry import REGISTRY
from screen.settings import load_settings

log = logging.getLogger(__name__)


class ArqQueue:
    """`JobQueue` over arq: enqueueing twice with one job id runs the job once.

    Each enqueue is bounded in time. arq sets no socket timeout on its Redis
    connection, so a Redis that stops answering (not one that refuses) would hang the
    relay inside its transaction, holding its outbox rows locked until the cron's
    timeout. Timing out fails the relay, which rolls back: the rows stay pending for
    the next tick, and a job that did reach Redis meanwhile runs once (its id)."""

    def __init__(self, redis: ArqRedis, timeout_seconds: float = 5.0) -> None:
        self.redis = redis
        self.timeout_seconds = timeout_seconds

    async def enqueue(self, function: str, job_id: str, **kwargs: Any) -> None:
        async with asyncio.timeout(self.timeout_seconds):
            await self.redis.enqueue_job(function, _job_id=job_id, **kwargs)


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


async def startup(ctx: dict[str, Any]) -> None:
    settings = load_settings()
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr="127.0.0.1")
    engine = create_engine(settings.database_url)
    ctx["engine"] = engine
    ctx["screen"] = JobContext(
        settings=settings,
        sessionmaker=create_sessionmaker(engine),
        clock=SystemClock(),
        mailer=mailer_for(
            settings.smtp_url, settings.mail_dir, keep_connections=WorkerSettings.max_jobs
        ),
        templates=create_environment(),
        queue=ArqQueue(ctx["redis"]),
        outbox_handlers=REGISTRY.outbox_handlers,
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    if "screen" in ctx:
        await ctx["screen"].mailer.close()
    if "engine" in ctx:
        await ctx["engine"].dispose()


def _arq_coroutine(job: Job) -> Any:
    """arq calls a job with its own ctx dict; ours lives in it under "screen"."""

    async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
        return await run_job(job, ctx["screen"], **kwargs)

    run.__qualname__ = run.__name__ = job.name
    return run


def arq_functions(jobs: Sequence[Job]) -> list[Function]:
    return [
        func(
            _arq_coroutine(job),
            name=job.name,
            timeout=job.timeout_seconds,
            max_tries=job.max_tries,
        )
        for job in jobs
    ]


def arq_cron_jobs(jobs: Sequence[Job]) -> list[CronJob]:
    # A periodic job missed (worker down) is not caught up: the next run does its work.
    return [
        cron(
            _arq_coroutine(job),
            name=f"cron:{job.name}",
            second=set(job.cron_seconds),
            run_at_startup=job.run_at_startup,
            timeout=job.timeout_seconds,
        )
        for job in jobs
        if job.cron_seconds is not None
    ]


class WorkerSettings:
    """The one wiring point for jobs: functions, crons, start-up and shutdown.

    `screen worker` runs it with the Redis of SCREEN_REDIS_URL; `arq
    screen.worker.WorkerSettings` works too (arq's default Redis on localhost).
    """

    functions = arq_functions(REGISTRY.jobs)
    cron_jobs = arq_cron_jobs(REGISTRY.jobs)
    on_startup = startup
    on_shutdown = shutdown
    max_jobs = 20
    job_timeout = 60
    # Results are not read back; keeping them a minute still refuses a duplicate _job_id.
    keep_result = 60
    # On SIGTERM, running jobs get this long to finish; the rest are picked up again later.
    job_completion_wait = 20
    # arq reads at most `queue_read_limit` (100) job ids per poll and then waits out the rest
    # of `poll_delay`: at its default of 0.5 s that capped a worker at 200 jobs a second, and
    # two workers reading the same queue head at barely more (measured: 207 no-op jobs/s).
    poll_delay = 0.05


def worker_options(redis_url: str, **overrides: Any) -> dict[str, Any]:
    options = {
        name: getattr(WorkerSettings, name)
        for name in (
            "functions",
            "cron_jobs",
            "on_startup",
            "on_shutdown",
            "max_jobs",
            "job_timeout",
            "keep_result",
            "job_completion_wait",
            "poll_delay",
        )
    }
    options["redis_settings"] = redis_settings(redis_url)
    options.update(overrides)
    return options
