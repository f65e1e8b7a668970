"""Outgoing connections to addresses others chose (screen.platform.outbound): the address a
webhook delivery or ATS callback actually connects to is checked at connect time, disguised
hosts are refused at input, and SCREEN_ALLOW_PRIVATE_TARGETS lets the suite reach 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from screen.app import create_app
from screen.platform import outbound, outbox
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner, JobContext
from screen.platform.mail import FolderMailer
from screen.platform.models import (
    OutboxEvent,
    OutboxStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from screen.platform.rendering import create_environment
from screen.platform.signals import ATS_COMPLETED
from screen.registry import REGISTRY
from screen.settings import Settings
from tests.support.factories import make_candidate, make_user
from tests.support.staff import sign_in
from tests.support.webhooks import Receiver, add_endpoint

Client = AsyncTestClient[Litestar]
REFUSED = "Screen does not call internal addresses (SCREEN_ALLOW_PRIVATE_TARGETS=1 allows them)"


@pytest.fixture
def strict(settings: Settings) -> Settings:
    """The suite's settings as production has them: private targets not allowed."""
    return replace(settings, allow_private_targets=False)


@pytest.fixture
async def strict_runner(
    strict: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    mail_dir: Path,
) -> AsyncIterator[InProcessRunner]:
    runner = InProcessRunner(REGISTRY.jobs, interval_seconds=3600)
    runner.context = JobContext(
        strict,
        sessionmaker,
        clock,
        FolderMailer(mail_dir),
        create_environment(),
        runner,
        REGISTRY.outbox_handlers,
    )
    yield runner
    await runner.drain()


async def run_jobs(runner: InProcessRunner) -> None:
    await runner.tick()
    await runner.drain()


def resolving(table: dict[str, list[str]], calls: list[tuple[str, int]]) -> outbound.Resolver:
    """A resolver injected in place of DNS, recording what it was asked."""

    async def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return table[host]

    return resolve


# --- The connect-time check, with an injected resolver ---------------------------------------


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (["10.1.2.3"], "a private network address"),
        (["93.184.215.14", "127.0.0.1"], "a loopback address"),  # one bad record is enough
        (["169.254.169.254"], "a link-local address"),
        (["::ffff:169.254.169.254"], "a link-local address"),
        (["fd12::1"], "a private network address"),
        (["0.0.0.0"], "an unspecified address"),  # noqa: S104 - a resolver answer
        (["239.1.2.3"], "a multicast address"),
        (["240.0.0.1"], "a reserved address"),
        (["100.64.0.1"], "not a public address"),  # shared address space (carrier NAT)
    ],
)
async def test_a_public_name_that_resolves_to_an_internal_address_is_refused_at_connect(
    strict: Settings, answer: list[str], why: str
) -> None:
    calls: list[tuple[str, int]] = []
    resolver = resolving({"hooks.example.test": answer}, calls)

    async with outbound.client(strict, timeout=2, resolver=resolver) as client:
        with pytest.raises(outbound.TargetRefusedError) as refused:
            await client.post("https://hooks.example.test/in", content=b"{}")

    assert calls == [("hooks.example.test", 443)]
    assert why in str(refused.value)
    assert "hooks.example.test (resolves to" in str(refused.value)


async def test_the_connection_goes_to_the_address_that_was_checked_with_the_host_kept(
    settings: Settings,
) -> None:
    # The name does not exist in any DNS: reaching the receiver proves the connection used
    # the address the check saw, with no second lookup in between.
    calls: list[tuple[str, int]] = []
    resolver = resolving({"hooks.example.test": ["127.0.0.1"]}, calls)
    async with Receiver() as receiver:
        url = f"http://hooks.example.test:{receiver.port}/in"
        async with outbound.client(settings, timeout=5, resolver=resolver) as client:
            response = await client.post(url, content=b"{}")

    assert response.status_code == 200
    assert calls == [("hooks.example.test", receiver.port)]
    [request] = receiver.requests
    assert request.headers["host"] == f"hooks.example.test:{receiver.port}"


# --- Webhook deliveries and ATS callbacks ----------------------------------------------------


async def test_a_webhook_to_loopback_is_refused_at_delivery_unless_private_targets_are_allowed(
    strict_runner: InProcessRunner,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    async with Receiver() as receiver:
        # Endpoints stored without the admin page's check (as before it existed).
        literal = await add_endpoint(db, settings, clock, receiver.url)
        named = await add_endpoint(
            db, settings, clock, f"http://localhost:{receiver.port}/hooks/screen"
        )
        await make_candidate(db, settings, clock.now())
        await run_jobs(strict_runner)
        refused_requests = list(receiver.requests)
        refusals = {
            a.delivery_id: a.error
            for a in await db.scalars(
                select(WebhookAttempt).execution_options(populate_existing=True)
            )
        }
        deliveries = {
            d.endpoint_id: d
            for d in await db.scalars(
                select(WebhookDelivery).execution_options(populate_existing=True)
            )
        }
        # A process that allows private targets delivers a new event to the same endpoints.
        await make_candidate(db, settings, clock.now())
        await run_jobs(runner)

    assert refused_requests == []
    literal_error = refusals[deliveries[literal.id].id] or ""
    named_error = refusals[deliveries[named.id].id] or ""
    assert literal_error == (
        f"TargetRefusedError: refused to connect to 127.0.0.1: a loopback address; {REFUSED}"
    )
    assert named_error.startswith("TargetRefusedError: refused to connect to localhost (resolves")
    assert named_error.endswith(f"a loopback address; {REFUSED}")
    assert len(receiver.accepted) == 2
    statuses = await db.scalars(
        select(WebhookDelivery.status)
        .order_by(WebhookDelivery.id)
        .execution_options(populate_existing=True)
    )
    assert list(statuses) == ["failed", "failed", "delivered", "delivered"]


async def test_a_callback_stored_before_the_check_is_refused_at_connect_time(
    strict_runner: InProcessRunner, db: AsyncSession, clock: FrozenClock
) -> None:
    async with Receiver() as ats:
        # Straight into the outbox, as a callback accepted by an older release would be.
        outbox.emit(db, ATS_COMPLETED, {"invitation_id": 1, "url": ats.url}, clock.now())
        await db.commit()
        await run_jobs(strict_runner)
        clock.advance(hours=30)  # past the whole retry schedule: nothing more is tried
        await run_jobs(strict_runner)

    assert ats.requests == []
    [event] = await db.scalars(select(OutboxEvent).execution_options(populate_existing=True))
    assert (event.status, event.tries) == (OutboxStatus.DEAD, 1)  # not retried for 27 hours
    assert event.last_error == (
        "Gave up at once, a retry cannot succeed: TargetRefusedError: refused to connect to "
        f"127.0.0.1: a loopback address; {REFUSED}"
    )


async def test_a_target_refused_at_connect_time_is_dead_at_once_with_its_reason_shown(
    strict_runner: InProcessRunner,
    client: Client,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    """Issue 15: a refused target used to be retried on the 27-hour schedule, showing
    "failed, will retry" although no retry could succeed while the setting is off."""
    admin = await make_user(db, clock.now(), "admin")
    async with Receiver() as receiver:
        endpoint = await add_endpoint(db, settings, clock, receiver.url)
        await make_candidate(db, settings, clock.now())
        await run_jobs(strict_runner)
        clock.advance(minutes=1)  # the first retry would have been due after 30 s
        await run_jobs(strict_runner)
        await sign_in(client, admin.email)
        endpoint_page = await client.get(f"/admin/webhooks/{endpoint.id}")
        outbox_page = await client.get("/admin/outbox?status=dead")

    assert receiver.requests == []
    [event] = await db.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.kind == "webhook.deliver")
        .execution_options(populate_existing=True)
    )
    assert (event.status, event.tries) == (OutboxStatus.DEAD, 1)
    assert len(list(await db.scalars(select(WebhookAttempt)))) == 1
    assert "failed, gave up at once: a retry cannot succeed" in endpoint_page.text
    assert "will retry" not in endpoint_page.text
    assert "refused to connect to 127.0.0.1: a loopback address" in endpoint_page.text
    assert f"#{event.id}" in outbox_page.text
    assert (
        "Gave up at once, a retry cannot succeed: WebhookFailedError: TargetRefusedError: "
        "refused to connect to 127.0.0.1" in outbox_page.text
    )


# --- Input ---------------------------------------------------------------------------------


async def post_endpoint(client: Client, url: str) -> Any:
    token = client.cookies.get("screen_csrf")
    return await client.post(
        "/admin/webhooks",
        data={"url": url, "events": "invitation.sent", "_csrf_token": token},
    )


async def test_disguised_and_internal_webhook_urls_get_a_400_at_input(
    client: Client,
    strict: Settings,
    db: AsyncSession,
    clock: FrozenClock,
    mail_dir: Path,
) -> None:
    admin = await make_user(db, clock.now(), "admin")
    disguised = {
        "http://%31%32%37.0.0.1/x": "&#39;%31%32%37.0.0.1&#39; is percent-encoded",
        "http://0x7f.1/x": "&#39;0x7f.1&#39; is an IPv4 address in a disguised form",
        "http://2130706433/x": "&#39;2130706433&#39; is an IPv4 address in a disguised form",
        "http://[::ffff:7f00:1]/x": "&#39;::ffff:7f00:1&#39; is an IPv6 address carrying",
    }
    internal = {
        "http://10.0.0.5/x": "&#39;10.0.0.5&#39; is a private network address",
        "http://localhost:8080/x": "&#39;localhost&#39; is this machine",
        "http://169.254.169.254/latest": "&#39;169.254.169.254&#39; is a link-local address",
    }
    production_like = create_app(strict, clock=clock, mailer=FolderMailer(mail_dir), run_jobs=False)

    answers: dict[str, Any] = {}
    async with AsyncTestClient(app=production_like, base_url="http://testserver.local") as prod:
        await sign_in(prod, admin.email)
        await prod.get("/admin/webhooks")
        for url in [*disguised, *internal]:
            answers[url] = await post_endpoint(prod, url)
    await sign_in(client, admin.email)
    await client.get("/admin/webhooks")
    allowed = {url: await post_endpoint(client, url) for url in [*disguised, *internal]}

    for url, reason in disguised.items():
        for response in (answers[url], allowed[url]):  # whatever the setting
            assert response.status_code == 400, url
            assert "The URL must name its host plainly: " + reason in response.text, url
    for url, reason in internal.items():
        assert answers[url].status_code == 400, url
        assert "The URL must be on a public host: " + reason in answers[url].text, url
        assert allowed[url].status_code == 201, url  # the setting lets development use them
    endpoints = await db.scalars(select(WebhookEndpoint.url).order_by(WebhookEndpoint.id))
    assert list(endpoints) == list(internal)
