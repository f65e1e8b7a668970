"""Invitation emails: through the outbox to a real SMTP server, retried, never leaking the link."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from screen.app import create_app
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.mail import SmtpMailer
from screen.platform.models import OutboxEvent, OutboxStatus
from screen.platform.outbox import MAX_TRIES, RETRY_DELAYS, deliver_outbox_batch
from screen.settings import Settings
from tests.support.factories import make_candidate
from tests.support.smtp import Inbox, SmtpServer, free_port, html_part, text_part

LINK = re.compile(r"http://testserver\.local/s/[A-Za-z0-9_-]+")


async def outbox_rows(db: AsyncSession) -> list[OutboxEvent]:
    query = select(OutboxEvent).order_by(OutboxEvent.id).execution_options(populate_existing=True)
    return list(await db.scalars(query))


async def test_the_running_app_emails_the_invitation_and_the_link_works(
    smtp: SmtpServer, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    settings = replace(settings, smtp_url=smtp.url, sweep_interval_seconds=0.05)
    candidate = await make_candidate(db, settings, clock.now(), name="Mina Mailed")
    app = create_app(settings, clock=clock, run_jobs=True)

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        [message] = await smtp.inbox.wait_for(1)
        link = LINK.search(text_part(message))
        assert link is not None
        landing = await client.get(link.group(0).removeprefix("http://testserver.local"))

    assert message["To"] == "Mina Mailed <mina@example.com>"
    assert message["Subject"] == "Your written exercise for Backend engineer, autumn"
    assert link.group(0) == candidate.invitation.link
    assert link.group(0) in html_part(message)
    assert "30 minutes" in text_part(message)
    assert landing.status_code == 200
    assert "Pick a vector store" in landing.text
    [event] = await outbox_rows(db)
    assert event.status == OutboxStatus.DONE


async def test_the_link_is_never_stored_readable(
    smtp: SmtpServer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    assert runner.context is not None
    runner.context.mailer = SmtpMailer.from_url(smtp.url)
    candidate = await make_candidate(db, settings, clock.now())
    token = candidate.token

    async def dump() -> str:
        tables = ["invitations", "attempts", "outbox_events", "audit_events"]
        rows = []
        for table in tables:
            rows += [repr(tuple(row)) for row in await db.execute(text(f"SELECT * FROM {table}"))]
        return "\n".join(rows)

    before_delivery = await dump()
    await runner.tick()
    await runner.drain()
    after_delivery = await dump()

    assert token not in before_delivery and token not in after_delivery
    assert "sealed_link" in before_delivery  # waiting in the outbox, encrypted
    assert "sealed_link" not in after_delivery  # scrubbed once delivered
    assert len(smtp.inbox.messages) == 1


async def test_a_failing_smtp_server_is_retried_with_backoff_then_delivered_once(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    assert runner.context is not None
    port = free_port()
    runner.context.mailer = SmtpMailer.from_url(f"smtp://127.0.0.1:{port}")
    await make_candidate(db, settings, clock.now())

    await runner.tick()
    await runner.drain()
    [failed] = await outbox_rows(db)
    assert failed.status == OutboxStatus.PENDING
    assert failed.tries == 1
    assert failed.last_error
    retry_in = failed.available_at - clock.now()

    await runner.tick()  # too early: nothing is tried again
    await runner.drain()
    assert (await outbox_rows(db))[0].tries == 1

    server = SmtpServer(port).start()
    try:
        clock.advance(seconds=retry_in.total_seconds())
        await runner.tick()
        await runner.drain()
        await runner.tick()
        await runner.drain()
    finally:
        server.stop()

    [delivered] = await outbox_rows(db)
    assert retry_in.total_seconds() == 30
    assert delivered.status == OutboxStatus.DONE
    assert delivered.tries == 2
    assert len(server.inbox.messages) == 1


async def test_an_event_that_keeps_failing_ends_dead_after_the_last_try(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    assert runner.context is not None
    runner.context.mailer = SmtpMailer.from_url(f"smtp://127.0.0.1:{free_port()}")
    await make_candidate(db, settings, clock.now())

    for _ in range(MAX_TRIES + 2):
        await runner.tick()
        await runner.drain()
        clock.advance(hours=12)

    [event] = [e for e in await outbox_rows(db) if e.kind == "invitation.email"]
    assert event.status == OutboxStatus.DEAD
    assert event.tries == MAX_TRIES
    assert "Connect" in (event.last_error or "") or "connect" in (event.last_error or "")


async def test_without_smtp_the_email_is_written_to_the_mail_folder(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    candidate = await make_candidate(db, settings, clock.now())

    await runner.tick()
    await runner.drain()

    files = list(settings.mail_dir.glob("*.eml"))
    assert len(files) == 1
    assert candidate.invitation.link in files[0].read_text()


async def test_a_second_run_of_a_delivered_event_sends_nothing(
    smtp: SmtpServer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    assert runner.context is not None
    runner.context.mailer = SmtpMailer.from_url(smtp.url)
    await make_candidate(db, settings, clock.now())
    await runner.tick()
    await runner.drain()
    [event] = await outbox_rows(db)

    await runner.enqueue("deliver_outbox_event", job_id="again", event_id=event.id)
    await runner.drain()

    assert len(smtp.inbox.messages) == 1


async def test_invitations_go_out_in_batches_and_a_batch_run_twice_sends_each_once(
    smtp: SmtpServer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    assert runner.context is not None
    runner.context.mailer = SmtpMailer.from_url(smtp.url, keep_connections=1)
    for index in range(3):
        await make_candidate(
            db, settings, clock.now(), name=f"Batch {index}", email=f"batch{index}@example.com"
        )
    # The relay's batch, recorded as it enqueues it, then run a second time (arq runs a
    # job at least once).
    enqueued: list[dict[str, object]] = []
    enqueue = runner.enqueue

    async def recording(function: str, job_id: str, **kwargs: object) -> None:
        if function == "deliver_outbox_batch":
            enqueued.append(kwargs)
        await enqueue(function, job_id, **kwargs)

    runner.enqueue = recording  # type: ignore[method-assign]
    await runner.tick()
    await runner.drain()
    [batch] = enqueued
    await enqueue("deliver_outbox_batch", job_id="again", **batch)
    await runner.drain()

    assert sorted(m["To"] for m in smtp.inbox.messages) == [
        f"Batch {index} <batch{index}@example.com>" for index in range(3)
    ]
    assert [e.status for e in await outbox_rows(db)] == [OutboxStatus.DONE] * 3
    await runner.context.mailer.close()


async def test_a_batch_whose_relay_did_not_commit_sends_nothing(
    smtp: SmtpServer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    """A relay that enqueued a batch and then failed leaves its rows pending: the orphan job
    must leave them to the next relay's batch rather than send them alongside it."""
    assert runner.context is not None
    runner.context.mailer = SmtpMailer.from_url(smtp.url)
    await make_candidate(db, settings, clock.now())
    [event] = await outbox_rows(db)

    await runner.enqueue(
        "deliver_outbox_batch",
        job_id="orphan",
        event_ids=[event.id],
        dispatched_at=clock.now().isoformat(),
    )
    await runner.drain()
    assert smtp.inbox.messages == []
    assert (await outbox_rows(db))[0].status == OutboxStatus.PENDING

    await runner.tick()
    await runner.drain()
    assert len(smtp.inbox.messages) == 1


class RefusingInbox(Inbox):
    """Refuses one recipient at RCPT, as a server does for a mailbox it does not have."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address == self.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def test_a_refused_recipient_in_a_batch_is_retried_alone_and_the_others_are_sent(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    """A batch is read and rendered at once, but each email is still sent and marked on its
    own: the server refusing one recipient costs that email a retry, nothing more."""
    assert runner.context is not None
    inbox = RefusingInbox("batch1@example.com")
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        runner.context.mailer = SmtpMailer.from_url(f"smtp://127.0.0.1:{port}", keep_connections=1)
        for index in range(4):
            await make_candidate(
                db, settings, clock.now(), name=f"Batch {index}", email=f"batch{index}@example.com"
            )
        await runner.tick()
        await runner.drain()
        await runner.context.mailer.close()
    finally:
        controller.stop()

    assert sorted(m["To"] for m in inbox.messages) == [
        f"Batch {index} <batch{index}@example.com>" for index in (0, 2, 3)
    ]
    events = await outbox_rows(db)
    assert [(e.status, e.tries) for e in events] == [
        (OutboxStatus.DONE, 1),
        (OutboxStatus.PENDING, 1),
        (OutboxStatus.DONE, 1),
        (OutboxStatus.DONE, 1),
    ]
    refused = events[1]
    assert "No such mailbox" in (refused.last_error or "")
    assert refused.available_at - clock.now() == RETRY_DELAYS[0]
    # The sent ones keep no link; the refused one still has its sealed link for the retry.
    assert [("sealed_link" in e.payload) for e in events] == [False, True, False, False]
    assert events[0].payload == {
        "invitation_id": events[0].payload["invitation_id"],
        "sent_to": "batch0@example.com",
    }


def test_smtp_urls_are_parsed_with_credentials_and_tls() -> None:
    plain = SmtpMailer.from_url("smtp://mail.internal:2525")
    secure = SmtpMailer.from_url("smtps://user%40corp:p%3Ass@smtp.corp.example")
    upgraded = SmtpMailer.from_url("smtp://u:p@smtp.corp.example:587?starttls=1")

    assert (plain.hostname, plain.port, plain.use_tls, plain.start_tls) == (
        "mail.internal",
        2525,
        False,
        False,
    )
    assert (secure.port, secure.use_tls, secure.username, secure.password) == (
        465,
        True,
        "user@corp",
        "p:ss",
    )
    assert upgraded.start_tls is True
    with pytest.raises(ValueError, match="SCREEN_SMTP_URL"):
        SmtpMailer.from_url("http://example.com")


class HoldingInbox(Inbox):
    """Accepts messages until the `hold_at`-th, whose final dot it never answers: a worker
    killed there has sent the ones before it and is waiting on that one."""

    def __init__(self, hold_at: int) -> None:
        super().__init__()
        self.hold_at = hold_at
        self.seen = 0
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.seen += 1
        if self.seen == self.hold_at:
            self.holding.set()
            await self.release.wait()
            # The client is gone: a server discards a message it never acknowledged.
            return "451 Connection lost before acceptance"
        return await super().handle_DATA(server, session, envelope)


async def test_a_batch_killed_mid_send_leaves_exactly_the_unsent_ones_to_its_second_run(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    """The done marks of a batch share one database connection: a job cancelled while the
    server is accepting its third message keeps the two sent ones done, marks nothing else,
    leaves no transaction open on the connection, and a second run sends exactly the rest."""
    assert runner.context is not None
    inbox = HoldingInbox(hold_at=3)
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        runner.context.mailer = SmtpMailer.from_url(f"smtp://127.0.0.1:{port}", keep_connections=1)
        for index in range(5):
            await make_candidate(
                db, settings, clock.now(), name=f"Held {index}", email=f"held{index}@example.com"
            )
        batches: list[dict[str, Any]] = []
        enqueue = runner.enqueue

        async def keeping(function: str, job_id: str, **kwargs: Any) -> None:
            if function == "deliver_outbox_batch":
                batches.append(kwargs)  # run below by hand, not by the runner
            else:
                await enqueue(function, job_id, **kwargs)

        runner.enqueue = keeping  # type: ignore[method-assign]
        await runner.tick()
        [batch] = batches

        job = asyncio.create_task(deliver_outbox_batch(runner.context, **batch))
        held = asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(inbox.holding.wait(), controller.loop)
        )
        await asyncio.wait_for(held, 10)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        controller.loop.call_soon_threadsafe(inbox.release.set)

        events = await outbox_rows(db)
        assert [e.status for e in events] == [OutboxStatus.DONE] * 2 + [OutboxStatus.DISPATCHED] * 3
        assert [m["To"] for m in inbox.messages] == [
            f"Held {index} <held{index}@example.com>" for index in range(2)
        ]

        assert await deliver_outbox_batch(runner.context, **batch) == {"done": 3}
        await runner.context.mailer.close()
    finally:
        controller.stop()
    assert sorted(m["To"] for m in inbox.messages) == [
        f"Held {index} <held{index}@example.com>" for index in range(5)
    ]
    events = await outbox_rows(db)
    assert [(e.status, e.tries) for e in events] == [(OutboxStatus.DONE, 1)] * 5
    assert all("sealed_link" not in e.payload for e in events)
    if db.bind.dialect.name == "postgresql":
        open_transactions = await db.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        )
        assert open_transactions == 0


async def test_a_recipient_whose_address_looks_like_sql_is_marked_done_with_it_verbatim(
    smtp: SmtpServer,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    """On PostgreSQL a batch's done mark sends its values as literals (one round trip with
    its BEGIN); an address may hold a dollar quote's tag or what starts a
    comment, and must be stored as it is, with nothing else changed."""
    assert runner.context is not None
    runner.context.mailer = SmtpMailer.from_url(smtp.url, keep_connections=1)
    hostile = ["o$p$drop@example.com", "x$p$$p1$--@example.com"]
    for index, address in enumerate(hostile):
        await make_candidate(db, settings, clock.now(), name=f"Quote {index}", email=address)
    await runner.tick()
    await runner.drain()
    await runner.context.mailer.close()

    assert sorted(m["To"].addresses[0].addr_spec for m in smtp.inbox.messages) == sorted(hostile)
    events = await outbox_rows(db)
    assert [(e.status, e.tries, e.done_at) for e in events] == [
        (OutboxStatus.DONE, 1, clock.now())
    ] * 2
    assert [e.payload["sent_to"] for e in events] == hostile
