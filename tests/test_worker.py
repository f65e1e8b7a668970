"""The production runtime: a real arq worker on real Redis, and the web working without Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest
from arq.connections import ArqRedis
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screen.app import create_app
from screen.platform.clock import FrozenClock
from screen.platform.jobs import JobContext
from screen.platform.mail import FolderMailer
from screen.platform.models import OutboxEvent, OutboxStatus
from screen.platform.outbox import relay_outbox
from screen.platform.rendering import create_environment
from screen.registry import REGISTRY
from screen.settings import Settings
from screen.worker import ArqQueue
from tests.support.candidates import start_form
from tests.support.factories import make_candidate
from tests.support.smtp import SmtpServer, free_port
from tests.support.worker import run_worker_burst, worker_env


@pytest.mark.redis
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


@pytest.mark.redis
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
        started = await client.post(
            f"{candidates[0].path}/start", data=start_form(), follow_redirects=False
        )
        saved = await client.post(
            f"{candidates[0].path}/draft",
            json={"revision": 0, "answer": "works without Redis"},
            headers={"Accept": "application/json"},
        )
        submitted = await client.post(
            f"{candidates[0].path}/submit", data={"revision": "1", "answer": "works without Redis"}
        )
    # Ready means "can serve": Redis down degrades the worker side, not the web tier.
    assert ready.status_code == 200
    assert ready.json()["redis"] != "ok"
    assert ready.json()["database"] == "ok"
    assert ready.json()["status"] == "degraded"
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


@pytest.mark.redis
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


@pytest.fixture
async def silent_redis() -> AsyncIterator[int]:
    """A server that accepts connections and never answers: a Redis that has hung (a
    stopped container, a network partition), unlike a closed port, which refuses."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            pass
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def test_a_redis_that_stops_answering_fails_the_relay_and_leaves_rows_pending(
    silent_redis: int,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    await make_candidate(db, settings, clock.now(), name="Hana Hung")
    redis = ArqRedis(host="127.0.0.1", port=silent_redis)
    context = JobContext(
        settings,
        sessionmaker,
        clock,
        FolderMailer(settings.mail_dir),
        create_environment(),
        ArqQueue(redis, timeout_seconds=0.2),
        REGISTRY.outbox_handlers,
    )

    # Without the queue's own bound this would hang; the outer bound turns that into a
    # failure (its cancellation is not the TimeoutError expected inside).
    async with asyncio.timeout(10):
        with pytest.raises(TimeoutError):
            await relay_outbox(context)
    await redis.aclose(close_connection_pool=True)

    events = list(await db.scalars(select(OutboxEvent).execution_options(populate_existing=True)))
    assert [(e.status, e.tries) for e in events] == [(OutboxStatus.PENDING, 0)]
    # Rolled back, so unlocked: the next relay tick can take the row at once.
    async with asyncio.timeout(5), sessionmaker() as other, other.begin():
        await other.execute(update(OutboxEvent).values(last_error="probe"))
