"""A worker killed with SIGKILL in the middle of a batch loses no email and repeats none
that it had recorded as sent.

What it may repeat is a message the SMTP server accepted in the instant between its
250 reply and the worker's COMMIT of "sent": no SMTP client can know whether such a
message was kept (RFC 1047), and Screen chooses to send it again rather than risk
losing an invitation. The repeat carries the same Message-ID, so the receiving system
can drop it. The test tells the two kinds of message apart by reading, at the instant
of the kill, which events the database records as sent.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.models import OutboxEvent, OutboxStatus
from screen.recruiting.invitations import invite
from screen.settings import Settings
from screen.worker import WorkerSettings
from tests.support.factories import make_screen
from tests.support.smtp import Inbox, SmtpServer
from tests.support.worker import REDIS_URL, run_worker_burst, start_worker_process, worker_env

BATCH = 200
EVENT_IN_MESSAGE_ID = re.compile(r"-event-([0-9]+)@")
# About 15 s: 200 emails at 50 ms each, a kill, and up to three burst workers after it.
pytestmark = [pytest.mark.redis, pytest.mark.slow]


class SlowInbox(Inbox):
    """Takes its time over each message, so a kill lands mid-batch with sends in flight."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.inbox = SlowInbox()
    server.controller.handler = server.inbox
    server.start()
    yield server
    server.stop()


async def test_each_of_200_emails_arrives_exactly_once_across_a_killed_worker(
    monkeypatch: pytest.MonkeyPatch,
    slow_smtp: SmtpServer,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    assert REDIS_URL
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    screen = await make_screen(db, clock.now())
    for index in range(BATCH):
        await invite(
            db,
            screen,
            name=f"Batch {index}",
            email=f"batch{index}@example.com",
            now=clock.now(),
            base_url=settings.base_url,
            secret_key=settings.secret_key,
            actor="test",
        )
    await db.commit()
    worker = start_worker_process(settings, slow_smtp.url, REDIS_URL)
    try:
        await slow_smtp.inbox.wait_for(40, within_seconds=60)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    received_before_kill = len(slow_smtp.inbox.messages)
    recorded_as_sent = set(
        await db.scalars(
            select(OutboxEvent.id)
            .where(OutboxEvent.status == OutboxStatus.DONE)
            .execution_options(populate_existing=True)
        )
    )
    # A dead worker's jobs come back once arq's in-progress markers expire (job timeout
    # + 10 s); remove them instead of waiting.
    async for key in redis.scan_iter("arq:in-progress:*"):
        await redis.delete(key)
    await redis.aclose()

    worker_env(monkeypatch, settings, slow_smtp, REDIS_URL)
    for _ in range(3):
        await run_worker_burst(REDIS_URL)
        if len(slow_smtp.inbox.messages) >= BATCH:
            break

    counts = Counter(str(m["To"]) for m in slow_smtp.inbox.messages)
    by_event = Counter(
        int(EVENT_IN_MESSAGE_ID.search(str(m["Message-ID"])).group(1))  # type: ignore[union-attr]
        for m in slow_smtp.inbox.messages
    )
    repeated = {event: n - 1 for event, n in by_event.items() if n > 1}
    print(
        f"received before the kill {received_before_kill}, recorded as sent "
        f"{len(recorded_as_sent)}, repeated after the kill {sum(repeated.values())}"
    )
    assert received_before_kill < BATCH  # the kill really landed mid-batch
    assert len(counts) == BATCH  # nothing lost: every candidate got the email
    assert len(by_event) == BATCH  # one Message-ID per email, kept across retries
    # Exactly once for everything the worker had recorded as sent when it died.
    assert all(by_event[event] == 1 for event in recorded_as_sent)
    # Only messages in flight at the kill can repeat, once each: at most arq's max_jobs.
    assert not recorded_as_sent & repeated.keys()
    assert all(n == 1 for n in repeated.values())
    assert len(repeated) <= WorkerSettings.max_jobs
    pending = await db.scalar(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.status != OutboxStatus.DONE)
    )
    assert pending == 0
