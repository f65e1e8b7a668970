"""The arq worker: one `WorkerSettings`, the same job functions the in-process runner calls.

`screen worker` runs it. Jobs are idempotent and keyed (`_job_id` = outbox id and
try), because arq runs a job at least once: a worker killed mid-job leaves it to
be picked up again. The periodic relay re-dispatches outbox rows whose job was
lost (Redis flushed, worker killed), so a failure costs a delay, never an effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from arq import cron, func
from arq.connections import ArqRedis, RedisSettings
from arq.cron import CronJob
from arq.worker import Function, Worker
from prometheus_client import REGISTRY as PROCESS_REGISTRY
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from screen.platform.clock import SystemClock
from screen.platform.db import create_sessionmaker, engine_for
from screen.platform.jobs import Job, JobContext, run_job
from screen.platform.mail import mailer_for
from screen.platform.rendering import create_environment
from screen.registry import REGISTRY
from screen.settings import Settings, load_settings

log = logging.getLogger(__name__)

REDIS_UP = Gauge(
    "screen_worker_redis_up",
    "1 while the worker is connected to Redis, 0 while it waits for Redis to come back",
)
# What a Redis that went away raises, from arq's polling, its crons or our enqueues.
# (redis-py's BusyLoadingError, a Redis still loading its data, is a ConnectionError.)
REDIS_DOWN_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    TimeoutError,
)
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 10.0
# The watchdog: arq polls Redis with no socket timeout, so a Redis that stops answering
# (SIGSTOP, a network black hole) rather than refusing would stall the Worker silently.
# A PING every WATCHDOG_INTERVAL_SECONDS that gets no answer within WATCHDOG_TIMEOUT_SECONDS
# is an outage: a stall is noticed within about 5 s.
WATCHDOG_INTERVAL_SECONDS = 2.0
WATCHDOG_TIMEOUT_SECONDS = 3.0
# Closing connections to a Redis that does not answer must not hang the supervisor.
CLEANUP_TIMEOUT_SECONDS = 2.0
_metrics_started = False
# What the worker's /metrics shows: its own gauge, the jobs it runs, and the process. The
# web's metrics live in the same process-wide registry (the worker imports every feature),
# but the worker never sets them: shown here they would read as false values, e.g. the
# web's `screen_redis_up` at 0 beside `screen_worker_redis_up` at 1.
WORKER_METRIC_PREFIXES = ("screen_worker_", "screen_job_", "process_", "python_")


class _WorkerMetrics(Collector):
    def collect(self) -> Iterable[Metric]:
        for family in PROCESS_REGISTRY.collect():
            if family.name.startswith(WORKER_METRIC_PREFIXES):
                yield family


WORKER_REGISTRY = CollectorRegistry(auto_describe=False)
WORKER_REGISTRY.register(_WorkerMetrics())


def _start_metrics(port: int | None) -> None:
    """Once per process: the supervisor starts a fresh arq Worker after each outage."""
    global _metrics_started
    if port and not _metrics_started:
        start_http_server(port, addr="127.0.0.1", registry=WORKER_REGISTRY)
        _metrics_started = True


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
    _start_metrics(settings.worker_metrics_port)
    engine = engine_for(settings)
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


async def _redis_answers(url: str) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        async with asyncio.timeout(2):
            await client.ping()
    except REDIS_DOWN_ERRORS:
        return False
    finally:
        with contextlib.suppress(*REDIS_DOWN_ERRORS):
            await client.aclose()
    return True


class RedisStalledError(TimeoutError):
    """Redis accepted the connection (or had it open) but did not answer a PING in time."""


async def _watchdog(url: str, interval: float, answer_within: float) -> RedisStalledError:
    """Ping Redis every `interval` seconds; return (never raise) once a PING gets no answer
    within `answer_within`, or fails. Runs beside each arq Worker, on its own connection."""
    client = Redis.from_url(url, socket_connect_timeout=answer_within, socket_timeout=answer_within)
    try:
        while True:
            await asyncio.sleep(interval)
            try:
                async with asyncio.timeout(answer_within):
                    await client.ping()
            except REDIS_DOWN_ERRORS as exc:
                return RedisStalledError(
                    f"no answer to PING within {answer_within:.0f} s ({type(exc).__name__})"
                )
    finally:
        await _bounded(client.aclose())


async def _bounded(step: Awaitable[Any]) -> None:
    """Await a clean-up step that talks to Redis, giving up after a moment: Redis may be the
    reason for stopping, and may not answer at all."""
    with contextlib.suppress(*REDIS_DOWN_ERRORS):
        async with asyncio.timeout(CLEANUP_TIMEOUT_SECONDS):
            await step


async def _stop_worker(worker: Worker, main_task: asyncio.Task[None]) -> None:
    """Stop one arq Worker without needing Redis: let running jobs finish (up to
    `job_completion_wait`, as on SIGTERM), cancel the rest, run our shutdown.

    arq's own `close()` deletes its health key in Redis first and so raises, skipping
    the shutdown hook, when Redis is the reason for stopping."""
    worker.allow_pick_jobs = False
    running = [task for task in worker.tasks.values() if not task.done()]
    if running:
        await asyncio.wait(running, timeout=WorkerSettings.job_completion_wait)
    for task in [*worker.tasks.values(), main_task]:
        if not task.done():
            task.cancel()
    await asyncio.gather(*worker.tasks.values(), main_task, return_exceptions=True)
    pool = worker._pool
    if pool is not None:
        await _bounded(pool.delete(worker.health_check_key))
        await _bounded(pool.aclose(close_connection_pool=True))
        worker._pool = None
    await shutdown(worker.ctx)


async def supervise(
    redis_url: str,
    stop: asyncio.Event,
    *,
    first_delay: float = BACKOFF_FIRST_SECONDS,
    max_delay: float = BACKOFF_CAP_SECONDS,
    watchdog_interval: float = WATCHDOG_INTERVAL_SECONDS,
    watchdog_timeout: float = WATCHDOG_TIMEOUT_SECONDS,
) -> None:
    """Run arq Workers until `stop` is set, riding out Redis outages of any length.

    arq's `Worker.main` raises out of its polling loop on the first Redis error and its
    `create_pool` gives up after five retries, so `run_worker` exits and stays down. Here
    each such error stops that Worker (its running jobs finish: they need the database,
    not Redis), and Redis is pinged with capped exponential backoff until it answers;
    then a fresh Worker starts. One log line when Redis goes, one when it is back, and
    `screen_worker_redis_up` in between. Nothing is lost: every job is an outbox row,
    re-enqueued by the relay under the same job id (a job enqueued twice runs once).

    A Redis that hangs instead of refusing raises nothing in arq: the watchdog beside each
    Worker notices the unanswered PING and the Worker is stopped the same way."""
    delay = first_delay
    down_since: float | None = None
    REDIS_UP.set(0)
    while not stop.is_set():
        if not await _redis_answers(redis_url):
            if down_since is None:
                down_since = time.monotonic()
                log.warning(
                    "Redis unavailable at start-up: jobs wait in the outbox; retrying "
                    "with backoff up to %.0f s",
                    max_delay,
                )
            REDIS_UP.set(0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, max_delay)
            continue
        if down_since is not None:
            log.warning("Redis back after %.1f s: resuming jobs", time.monotonic() - down_since)
            down_since = None
        delay = first_delay
        REDIS_UP.set(1)
        options = worker_options(
            redis_url,
            handle_signals=False,
            # Fresh crons: arq's CronJob remembers its next run, and one kept across an
            # outage would enqueue every missed slot in a burst.
            cron_jobs=arq_cron_jobs(REGISTRY.jobs),
        )
        # We retry ourselves, with backoff; arq's own retries log a line each.
        options["redis_settings"] = replace(options["redis_settings"], conn_retries=0)
        worker = Worker(**options)
        main_task = asyncio.create_task(worker.main())
        stopping = asyncio.create_task(stop.wait())
        watchdog = asyncio.create_task(_watchdog(redis_url, watchdog_interval, watchdog_timeout))
        await asyncio.wait({main_task, stopping, watchdog}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        error = None if not main_task.done() or main_task.cancelled() else main_task.exception()
        if error is None and watchdog.done():
            error = watchdog.result()
        watchdog.cancel()
        await asyncio.gather(watchdog, return_exceptions=True)
        if error is not None and not isinstance(error, REDIS_DOWN_ERRORS):
            await _stop_worker(worker, main_task)
            raise error
        if error is not None:
            down_since = time.monotonic()
            REDIS_UP.set(0)
            log.warning(
                "Redis unavailable (%s: %s): jobs wait in the outbox; retrying with "
                "backoff up to %.0f s",
                type(error).__name__,
                error,
                max_delay,
            )
        await _stop_worker(worker, main_task)
        if error is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, max_delay)
    REDIS_UP.set(0)


async def serve(settings: Settings) -> None:
    """`screen worker`: supervise arq Workers until SIGTERM or SIGINT, then stop
    gracefully (running jobs get `job_completion_wait` to finish)."""
    if not settings.redis_url:
        raise ValueError("screen worker needs SCREEN_REDIS_URL")
    _start_metrics(settings.worker_metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await supervise(settings.redis_url, stop)


def run(settings: Settings) -> None:
    asyncio.run(serve(settings))
