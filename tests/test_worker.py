"""The production runtime: a real arq worker on real Redis, and the web working without Redis."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from arq import create_pool
from arq.worker import Worker
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.app import create_app
from screen.clock import FrozenClock
from screen.models import OutboxEvent, OutboxStatus
from screen.settings import Settings
from screen.worker import redis_settings, worker_options
from tests.factories import make_candidate
from tests.smtp import SmtpServer, free_port

REDIS_URL = os.environ.get("SCREEN_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="set SCREEN_TEST_REDIS_URL to run arq")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
async def redis_url() -> str:
    assert REDIS_URL
    client = Redis.from_url(REDIS_URL)
    await client.flushdb()  # the test Redis database belongs to the suite
    await client.aclose()
    return REDIS_URL


def worker_env(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, smtp: SmtpServer, redis: str
) -> None:
    """The worker reads its settings from the environment, as `screen worker` does."""
    monkeypatch.setenv("SCREEN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SCREEN_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("SCREEN_SMTP_URL", smtp.url)
    monkeypatch.setenv("SCREEN_REDIS_URL", redis)
    monkeypatch.setenv("SCREEN_BASE_URL", settings.base_url)


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


@needs_redis
async def test_a_real_arq_worker_delivers_the_invitation_email(
    monkeypatch: pytest.MonkeyPatch,
    smtp: SmtpServer,
    redis_url: str,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    candidate = await make_candidate(db, settings, clock.now(), name="Wren Worker")
    worker_env(monkeypatch, settings, smtp, redis_url)

    await run_worker_burst(redis_url)

    [message] = await smtp.inbox.wait_for(1)
    assert message["To"] == "Wren Worker <wren@example.com>"
    assert candidate.invitation.link in str(message.get_body(preferencelist=("plain",)))
    [event] = list(await db.scalars(select(OutboxEvent).execution_options(populate_existing=True)))
    assert event.status == OutboxStatus.DONE


@needs_redis
async def test_with_redis_down_candidates_work_and_emails_go_out_once_it_is_back(
    monkeypatch: pytest.MonkeyPatch,
    smtp: SmtpServer,
    redis_url: str,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    web = create_app(replace(settings, redis_url=dead_redis), clock=clock)
    candidates = [
        await make_candidate(
            db, settings, clock.now(), name=f"Dee {i}", email=f"dee{i}@example.com"
        )
        for i in range(3)
    ]
    async with AsyncTestClient(app=web, base_url="http://testserver.local") as client:
        ready = await client.get("/readyz")
        started = await client.post(f"{candidates[0].path}/start", follow_redirects=False)
        saved = await client.post(
            f"{candidates[0].path}/draft",
            json={"revision": 0, "answer": "works without Redis"},
            headers={"Accept": "application/json"},
        )
        submitted = await client.post(
            f"{candidates[0].path}/submit", data={"revision": "1", "answer": "works without Redis"}
        )
    assert ready.status_code == 503
    assert ready.json()["redis"] != "ok"
    assert ready.json()["database"] == "ok"
    assert started.status_code == 303
    assert saved.status_code == 200
    assert submitted.status_code == 200
    assert smtp.inbox.messages == []

    worker_env(monkeypatch, settings, smtp, redis_url)
    await run_worker_burst(redis_url)
    await run_worker_burst(redis_url)  # a second worker run sends nothing more

    received = sorted(str(m["To"]) for m in await smtp.inbox.wait_for(3))
    assert received == [f"Dee {i} <dee{i}@example.com>" for i in range(3)]
    assert len(smtp.inbox.messages) == 3


@needs_redis
async def test_a_retry_runs_although_arq_still_keeps_the_first_try(
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    """arq refuses a job id whose result it still keeps (a minute); the first retry comes
    after 30 s, so each try must be a job of its own."""
    await make_candidate(db, settings, clock.now(), name="Rhea Retry")
    smtp = SmtpServer()  # not started yet: the first try fails
    worker_env(monkeypatch, settings, smtp, redis_url)
    await run_worker_burst(redis_url)
    [event] = list(await db.scalars(select(OutboxEvent).execution_options(populate_existing=True)))
    assert (event.status, event.tries) == (OutboxStatus.PENDING, 1)
    # Time passes until the retry is due (the worker's clock is the real one).
    event.available_at = event.available_at - timedelta(minutes=5)
    await db.commit()

    smtp.start()
    try:
        await run_worker_burst(redis_url)
        [message] = await smtp.inbox.wait_for(1)
    finally:
        smtp.stop()

    assert message["To"] == "Rhea Retry <rhea@example.com>"
    [event] = list(await db.scalars(select(OutboxEvent).execution_options(populate_existing=True)))
    assert (event.status, event.tries) == (OutboxStatus.DONE, 2)
