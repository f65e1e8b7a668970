"""Disabling a webhook endpoint cancels its queued deliveries at once (issue 15, finding 9):
the log says "cancelled", not "failed, will retry", and enabling it again sends none of them."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import AuditEvent, OutboxEvent, OutboxStatus, WebhookDelivery
from screen.platform.signals import WEBHOOK_DELIVER
from screen.settings import Settings
from tests.support.factories import make_candidate, make_user
from tests.support.staff import sign_in
from tests.support.webhooks import Receiver, add_endpoint

Client = AsyncTestClient[Litestar]


async def run_jobs(runner: InProcessRunner) -> None:
    await runner.tick()
    await runner.drain()


async def press(client: Client, path: str) -> Any:
    token = client.cookies.get("screen_csrf")
    return await client.post(path, data={"_csrf_token": token})


async def test_disabling_an_endpoint_cancels_its_queued_deliveries_at_once(
    client: Client,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)
    async with Receiver(default=503) as receiver:
        endpoint = await add_endpoint(db, settings, clock, receiver.url)
        await make_candidate(db, settings, clock.now(), name="Tried Once")
        await run_jobs(runner)  # tried, refused: a retry is queued
        await make_candidate(db, settings, clock.now(), name="Not Yet Tried")
        page = f"/admin/webhooks/{endpoint.id}"
        before = await client.get(page)

        disabled = await press(client, f"{page}/disable")
        after = await client.get(page)
        for _ in range(3):  # every retry comes due; nothing is sent
            clock.advance(hours=12)
            await run_jobs(runner)
        await sign_in(client, admin.email)  # the session lapsed while the clock ran on
        await client.get(page)
        enabled = await press(client, f"{page}/enable")
        for _ in range(3):  # enabling does not bring them back
            clock.advance(hours=12)
            await run_jobs(runner)
        await sign_in(client, admin.email)
        later = await client.get(page)

    assert "failed, will retry" in before.text
    assert disabled.status_code == 200  # after the redirect to the endpoint's page
    assert "failed, will retry" not in after.text
    assert after.text.count("cancelled") >= 2
    assert enabled.status_code == 200
    assert "failed, will retry" not in later.text
    assert len(receiver.requests) == 1  # the one try before the endpoint was disabled
    deliveries = await db.scalars(select(WebhookDelivery).execution_options(populate_existing=True))
    assert [d.status for d in deliveries] == ["cancelled", "cancelled"]
    events = await db.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.kind == WEBHOOK_DELIVER)
        .execution_options(populate_existing=True)
    )
    assert {(e.status, e.last_error) for e in events} == {
        (OutboxStatus.DONE, "cancelled: the endpoint was disabled")
    }
    [audit] = await db.scalars(
        select(AuditEvent).where(AuditEvent.action == "webhook.endpoint_disabled")
    )
    assert audit.after is not None and len(audit.after["cancelled_deliveries"]) == 2
