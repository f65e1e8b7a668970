"""`screen worker` as production runs it: a process of its own, importing only what the
worker imports, delivers every kind of outbox event (a worker that knew only the emails
left webhooks and the ATS callback to die after 27 hours of retries)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.models import OutboxEvent, OutboxStatus
from screen.settings import Settings
from tests.support.factories import make_candidate
from tests.support.smtp import SmtpServer
from tests.support.webhooks import Receiver, add_endpoint, receiver_accepts
from tests.support.worker import REDIS_URL, start_worker_process

pytestmark = pytest.mark.redis


def test_a_fresh_worker_process_knows_every_outbox_handler() -> None:
    """Asked of a new interpreter: this test process has imported the whole app."""
    probe = "import screen.worker as w;print(' '.join(sorted(w.REGISTRY.outbox_handlers)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [
        "agreement.compute",
        "ats.completed",
        "fairness.compute",
        "invitation.email",
        "model.probe",
        "model.rate",
        "notify.chat",
        "notify.email",
        "reminder.email",
        "similarity.check",
        "staff_link.email",
        "webhook.deliver",
    ]


async def test_a_worker_process_delivers_the_email_and_the_signed_webhook(
    smtp: SmtpServer,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    assert REDIS_URL
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    await redis.aclose()
    async with Receiver() as receiver:
        await add_endpoint(db, settings, clock, receiver.url)
        await make_candidate(db, settings, clock.now(), name="Wim Webhook")
        await db.commit()
        worker = start_worker_process(settings, smtp.url, REDIS_URL)
        try:
            await smtp.inbox.wait_for(1, within_seconds=30)
            give_up = time.monotonic() + 30
            while not receiver.accepted and time.monotonic() < give_up:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        finally:
            worker.terminate()
            worker.wait(timeout=30)

    [request] = receiver.accepted
    assert receiver_accepts("receiver-shared-secret-0123456789", request, time.time())
    assert b'"invitation.sent"' in request.body
    statuses = await db.scalars(
        select(OutboxEvent.status).execution_options(populate_existing=True)
    )
    assert set(statuses) == {OutboxStatus.DONE}
