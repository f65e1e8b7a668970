"""A delivery that finishes after another run of the same event already did.

The relay hands a row out again once it has been dispatched for ten minutes; a worker that
stalled meanwhile (a frozen VM, a server slow to take the recipient) may still send its
copy afterwards. Its "sent" mark then records nothing new, and must change nothing: the
first run's record stands, and so does what an erasure did to it since.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.operations import erasure
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.mail import SmtpMailer
from screen.platform.models import OutboxEvent, OutboxStatus
from screen.platform.outbox import deliver_outbox_batch
from screen.settings import Settings
from tests.support.factories import make_candidate
from tests.support.smtp import Inbox, SmtpServer


class StallingInbox(Inbox):
    """Takes a recipient only once `go` is set, as a slow or stuck server does."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = threading.Event()
        self.go = threading.Event()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.asked.set()
        # The test sets `go` from its own event loop; the server runs in another thread.
        await asyncio.to_thread(self.go.wait, 60)
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def _until(flag: threading.Event) -> None:
    for _ in range(500):
        if flag.is_set():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the stalled server was never asked")


async def test_a_late_copy_of_a_sent_email_leaves_the_first_record_and_its_erasure(
    smtp: SmtpServer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    assert runner.context is not None
    ctx = runner.context
    candidate = await make_candidate(db, settings, clock.now(), email="late@example.com")

    # The first relay's batch goes to a worker whose server stalls before the message.
    batches: list[dict[str, Any]] = []
    enqueue = runner.enqueue

    async def first_batch_stalls(function: str, job_id: str, **kwargs: Any) -> None:
        if function == "deliver_outbox_batch" and not batches:
            batches.append(kwargs)
            return
        await enqueue(function, job_id, **kwargs)

    runner.enqueue = first_batch_stalls  # type: ignore[method-assign]
    await runner.tick()
    stalled = StallingInbox()
    slow = SmtpServer()
    slow.inbox = stalled
    slow.controller.handler = stalled
    slow.start()
    try:
        ctx.mailer = SmtpMailer.from_url(slow.url)
        late = asyncio.create_task(deliver_outbox_batch(ctx, **batches[0]))
        await _until(stalled.asked)

        # Ten minutes on, the relay hands the row out again; that copy is sent and marked.
        ctx.mailer = SmtpMailer.from_url(smtp.url)
        clock.advance(minutes=11)
        await runner.tick()
        await runner.drain()
        assert len(smtp.inbox.messages) == 1
        [event] = list(await db.scalars(select(OutboxEvent)))
        first = (event.status, event.tries, event.done_at)
        assert first[0] == OutboxStatus.DONE
        assert event.payload.get("sent_to") == "late@example.com"

        # The candidate is erased: the sent email's record keeps no address.
        await erasure.erase_candidate(db, candidate.invitation_id, actor="test", now=clock.now())
        await db.commit()

        clock.advance(minutes=1)
        stalled.go.set()
        assert await asyncio.wait_for(late, 30) == {OutboxStatus.DONE: 1}
    finally:
        slow.stop()

    db.expire_all()
    [event] = list(await db.scalars(select(OutboxEvent)))
    assert (event.status, event.tries, event.done_at) == first
    assert "sent_to" not in event.payload
    assert "late@example.com" not in str(event.payload)
