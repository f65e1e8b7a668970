"""Running the production worker from a test: `screen worker` as a process of its own,
an arq burst worker in the test's process, and the environment both read their settings
from. Only with SCREEN_TEST_REDIS_URL: tests that need it carry the `redis` marker and
are skipped without it (see tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from arq import create_pool
from arq.worker import Worker

from screen.settings import Settings
from screen.worker import redis_settings, worker_options
from tests.support.smtp import SmtpServer

# The suite's own Redis database, flushed by the tests that use it: never one in use.
REDIS_URL = os.environ.get("SCREEN_TEST_REDIS_URL")


def worker_env(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, smtp: SmtpServer, redis: str
) -> None:
    """The worker reads its settings from the environment, as `screen worker` does."""
    monkeypatch.setenv("SCREEN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SCREEN_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("SCREEN_SMTP_URL", smtp.url)
    monkeypatch.setenv("SCREEN_REDIS_URL", redis)
    monkeypatch.setenv("SCREEN_BASE_URL", settings.base_url)
    # The tests' webhook receivers and SMTP sinks listen on 127.0.0.1.
    monkeypatch.setenv("SCREEN_ALLOW_PRIVATE_TARGETS", "1")


def start_worker_process(settings: Settings, smtp_url: str, redis: str) -> subprocess.Popen[bytes]:
    """`screen worker` in a process of its own, configured only by its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCREEN_")}
    env.update(
        SCREEN_DATABASE_URL=settings.database_url,
        SCREEN_SECRET_KEY=settings.secret_key,
        SCREEN_SMTP_URL=smtp_url,
        SCREEN_REDIS_URL=redis,
        SCREEN_BASE_URL=settings.base_url,
        SCREEN_ALLOW_PRIVATE_TARGETS="1",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "screen", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def run_worker_burst(redis: str) -> Worker:
    """A burst worker that starts with a relay run (in production the relay is a cron)."""
    pool = await create_pool(redis_settings(redis))
    await pool.enqueue_job("relay_outbox")
    await pool.aclose()
    worker = Worker(**worker_options(redis, burst=True, poll_delay=0, handle_signals=False))
    try:
        await worker.async_run()
    finally:
        await worker.close()
    return worker
