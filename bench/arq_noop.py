"""arq on its own: a worker whose only job does nothing, configured as `screen worker` is.

The invite fan-out runs one arq job per email (the job id is the outbox row's, so a
job enqueued twice runs once). This measures what that costs before any email work:
the same number of jobs, keyed the same way, enqueued from one process as the relay
does and run by the same number of workers with the app's `max_jobs` and `keep_result`.

    python -m arq bench.arq_noop.WorkerSettings    (BENCH_REDIS_URL names the Redis)
"""

from __future__ import annotations

import os
from typing import Any

from arq.connections import RedisSettings

from screen.worker import WorkerSettings as AppWorkerSettings


async def noop(ctx: dict[str, Any], event_id: int) -> None:
    return None


class WorkerSettings:
    functions = [noop]  # noqa: RUF012 - arq reads class attributes
    redis_settings = RedisSettings.from_dsn(os.environ.get("BENCH_REDIS_URL", "redis://"))
    max_jobs = AppWorkerSettings.max_jobs
    keep_result = AppWorkerSettings.keep_result
    job_timeout = AppWorkerSettings.job_timeout
    poll_delay = AppWorkerSettings.poll_delay
