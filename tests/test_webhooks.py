"""Webhooks: signed deliveries to a real HTTP receiver on loopback, retries, the admin pages."""

from __future__ import annotations

import json
import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.pipeline.webhooks import verify_signature
from screen.platform.clock import FrozenClock
from screen.platform.jobs import InProcessRunner
from screen.platform.models import (
    AuditEvent,
    OutboxEvent,
    OutboxStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from screen.platform.outbox import MAX_TRIES
from screen.platform.signals import WEBHOOK_DELIVER
from screen.platform.tokens import unseal
from screen.settings import Settings
from tests.support.factories import make_candidate, make_submitted, make_user
from tests.support.smtp import free_port
from tests.support.staff import sign_in
from tests.support.webhooks import SECRET, Received, Receiver, add_endpoint, receiver_accepts

Client = AsyncTestClient[Litestar]
_SECRET_ON_PAGE = re.compile(r"data-secret>([^<]+)<")


# --- Helpers -----------------------------------------------------------------------------------


async def fetch(db: AsyncSession, model: type[Any], *where: ColumnElement[bool]) -> list[Any]:
    query = select(model).where(*where).order_by(model.id)
    return list(await db.scalars(query.execution_options(populate_existing=True)))


async def run_jobs(runner: InProcessRunner) -> None:
    await runner.tick()
    await runner.drain()


async def post_multi(client: Client, path: str, data: dict[str, Any], **kw: Any) -> Any:
    """A browser form post whose fields may repeat (checkboxes), CSRF token included."""
    token = client.cookies.get("screen_csrf")
    assert token, "load a page first"
    return await client.post(path, data={**data, "_csrf_token": token}, **kw)


# --- Signing -----------------------------------------------------------------------------------


async def test_a_delivery_is_signed_as_documented_and_a_tampered_body_is_rejected(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    async with Receiver() as receiver:
        endpoint = await add_endpoint(db, settings, clock, receiver.url)
        candidate = await make_candidate(db, settings, clock.now(), name="Ada Lovelace")
        await run_jobs(runner)

    [request] = receiver.requests
    [delivery] = await fetch(db, WebhookDelivery)
    now = clock.now().timestamp()
    assert request.method == "POST"
    assert request.path == "/hooks/screen"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-screen-event"] == "invitation.sent"
    assert request.headers["x-screen-delivery"] == delivery.event_id
    assert request.headers["x-screen-timestamp"] == str(int(now))
    assert request.headers["x-screen-signature"].startswith("sha256=")
    assert receiver_accepts(SECRET, request, now)
    # The body is the stored event as compact JSON with sorted keys.
    assert (
        request.body == json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    )
    event = json.loads(request.body)
    assert event["id"] == delivery.event_id
    assert event["type"] == "invitation.sent"
    assert event["data"]["invitation_id"] == candidate.invitation_id
    assert event["data"]["candidate"] == {"name": "Ada Lovelace", "email": "ada@example.com"}

    tampered = Received(**{**request.__dict__, "body": request.body.replace(b"Ada", b"Eve")})
    assert not receiver_accepts(SECRET, tampered, now)
    assert not receiver_accepts("another-secret-entirely", request, now)
    # The reference function in the module agrees with the recipe, and refuses replays.
    timestamp, signature = (
        request.headers["x-screen-timestamp"],
        request.headers["x-screen-signature"],
    )
    assert verify_signature(SECRET, timestamp, request.body, signature, now=now)
    assert verify_signature(SECRET, timestamp, request.body, signature, now=now + 299)
    assert not verify_signature(SECRET, timestamp, request.body, signature, now=now + 301)
    assert not verify_signature(SECRET, timestamp, tampered.body, signature, now=now)
    assert not verify_signature(SECRET, str(int(now) + 1), request.body, signature, now=now)
    assert not verify_signature(SECRET, "not-a-time", request.body, signature, now=now)
    assert not verify_signature(SECRET, timestamp, request.body, "sha256=00", now=now)
    assert not verify_signature(SECRET, timestamp, request.body, "sha256=é", now=now)
    # The secret is stored sealed, never in clear.
    assert endpoint.sealed_secret != SECRET
    assert unseal(settings.secret_key, endpoint.sealed_secret) == SECRET


# --- Retries -----------------------------------------------------------------------------------


async def test_a_failing_receiver_is_retried_with_backoff_and_gets_the_event_once(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    async with Receiver(statuses=[500, 500]) as receiver:
        await add_endpoint(db, settings, clock, receiver.url)
        await make_candidate(db, settings, clock.now())

        await run_jobs(runner)
        [first] = await fetch(db, OutboxEvent, OutboxEvent.kind == WEBHOOK_DELIVER)
        [delivery] = await fetch(db, WebhookDelivery)
        assert delivery.status == "failed"
        assert first.status == OutboxStatus.PENDING
        assert (first.available_at - clock.now()).total_seconds() == 30

        await run_jobs(runner)  # too early: the backoff holds the retry back
        assert len(receiver.requests) == 1

        clock.advance(seconds=30)
        await run_jobs(runner)
        clock.advance(minutes=2)
        await run_jobs(runner)
        for _ in range(3):  # nothing more is sent once it is delivered
            clock.advance(hours=2)
            await run_jobs(runner)

    assert [r.status for r in receiver.requests] == [500, 500, 200]
    assert len(receiver.accepted) == 1
    assert len({r.headers["x-screen-delivery"] for r in receiver.requests}) == 1
    for request in receiver.requests:  # each try is signed afresh for its own time
        assert receiver_accepts(SECRET, request, float(request.headers["x-screen-timestamp"]))
    [delivery] = await fetch(db, WebhookDelivery)
    assert delivery.status == "delivered"
    assert delivery.delivered_at is not None
    attempts = await fetch(db, WebhookAttempt)
    assert [a.status_code for a in attempts] == [500, 500, 200]
    assert attempts[0].error == "HTTP 500: receiver is down for maintenance"
    assert attempts[2].error is None
    assert all(a.duration_ms >= 0 for a in attempts)
    [event] = await fetch(db, OutboxEvent, OutboxEvent.kind == WEBHOOK_DELIVER)
    assert event.status == OutboxStatus.DONE
    assert event.tries == 3


async def test_an_unreachable_receiver_is_logged_then_given_up_after_the_last_try(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    await add_endpoint(db, settings, clock, f"http://127.0.0.1:{free_port()}/nobody-home")
    await make_candidate(db, settings, clock.now())

    for _ in range(MAX_TRIES + 2):
        await run_jobs(runner)
        clock.advance(hours=12)

    [delivery] = await fetch(db, WebhookDelivery)
    attempts = await fetch(db, WebhookAttempt)
    [event] = await fetch(db, OutboxEvent, OutboxEvent.kind == WEBHOOK_DELIVER)
    assert delivery.status == "failed"
    assert event.status == OutboxStatus.DEAD
    assert len(attempts) == MAX_TRIES
    assert all(a.status_code is None and "ConnectError" in (a.error or "") for a in attempts)


async def test_a_disabled_endpoint_is_sent_nothing(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    async with Receiver() as receiver:
        endpoint = await add_endpoint(db, settings, clock, receiver.url)
        await make_candidate(db, settings, clock.now(), name="Queued Before")
        endpoint.disabled_at = clock.now()
        await db.commit()
        await make_candidate(db, settings, clock.now(), name="Created After")
        await run_jobs(runner)

    assert receiver.requests == []
    [delivery] = await fetch(db, WebhookDelivery)  # none at all for the second event
    assert delivery.status == "cancelled"


# --- Admin pages -------------------------------------------------------------------------------


async def test_an_admin_adds_an_endpoint_and_sees_its_secret_only_once(
    client: Client,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)
    form_page = await client.get("/admin/webhooks/new")
    assert form_page.status_code == 200
    assert "decision.made" in form_page.text

    async with Receiver() as receiver:
        created = await post_multi(
            client,
            "/admin/webhooks",
            {
                "url": receiver.url,
                "description": "Hiring data warehouse",
                "events": ["invitation.sent", "decision.made"],
            },
        )
        assert created.status_code == 201
        assert created.headers["cache-control"] == "no-store"
        match = _SECRET_ON_PAGE.search(created.text)
        assert match
        secret = match.group(1)
        listing = await client.get("/admin/webhooks")
        [endpoint] = await fetch(db, WebhookEndpoint)
        detail = await client.get(f"/admin/webhooks/{endpoint.id}")

        await make_candidate(db, settings, clock.now())
        await run_jobs(runner)

    assert len(secret) >= 43
    assert secret not in listing.text and secret not in detail.text
    assert receiver.url in listing.text and "Hiring data warehouse" in listing.text
    assert endpoint.url == receiver.url
    assert endpoint.events == ["invitation.sent", "decision.made"]
    assert secret not in endpoint.sealed_secret
    [request] = receiver.requests
    assert receiver_accepts(secret, request, clock.now().timestamp())
    [audit] = await fetch(db, AuditEvent, AuditEvent.action == "webhook.endpoint_created")
    assert audit.actor == f"user:{admin.id}:{admin.email}"
    assert audit.after is not None and audit.after["secret"] == "generated"
    assert secret not in json.dumps(audit.after)


async def test_an_admin_may_provide_the_secret(
    client: Client, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)
    await client.get("/admin/webhooks")

    created = await post_multi(
        client,
        "/admin/webhooks",
        {"url": "https://hooks.example.com/in", "events": "decision.made", "secret": SECRET},
    )

    assert created.status_code == 201
    assert SECRET in created.text
    [endpoint] = await fetch(db, WebhookEndpoint)
    assert unseal(settings.secret_key, endpoint.sealed_secret) == SECRET
    assert endpoint.events == ["decision.made"]


async def test_bad_endpoint_input_gets_a_400_page_and_creates_nothing(
    client: Client, db: AsyncSession, clock: FrozenClock
) -> None:
    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)
    await client.get("/admin/webhooks")
    cases = {
        "ftp://files.example.com/in": ("invitation.sent", "", "http:// or https://"),
        "javascript:alert(1)": ("invitation.sent", "", "http:// or https://"),
        "https://": ("invitation.sent", "", "http:// or https://"),
        "http://exa mple.com/": ("invitation.sent", "", "must not contain spaces"),
        "http://example.com:99999/": ("invitation.sent", "", "port that is not a number"),
        "http://example.com:0/": ("invitation.sent", "", "port that is not a number"),
        "http://xn--a.com/": ("invitation.sent", "", "host name that cannot be used"),
        "https://user:pass@example.com/hook": ("invitation.sent", "", "user name or password"),
        "https://example.com/" + "a" * 2100: ("invitation.sent", "", "at most 2,000"),
        "https://example.com/no-events": (None, "", "at least one event"),
        "https://example.com/unknown": ("candidate.hired", "", "Unknown event type"),
        "https://example.com/short": ("invitation.sent", "too-short", "16 to 200"),
    }

    responses = {}
    for url, (event, secret, _) in cases.items():
        data: dict[str, Any] = {"url": url, "secret": secret}
        if event:
            data["events"] = event
        responses[url] = await post_multi(client, "/admin/webhooks", data)

    for url, (_, _, message) in cases.items():
        assert responses[url].status_code == 400, url
        assert message in responses[url].text, url
    assert await fetch(db, WebhookEndpoint) == []
    assert await fetch(db, AuditEvent, AuditEvent.action.like("webhook.%")) == []


async def test_only_admins_reach_the_webhook_pages(
    app: Litestar, db: AsyncSession, clock: FrozenClock
) -> None:
    recruiter = await make_user(db, clock.now(), "recruiter")
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        anonymous = await client.get("/admin/webhooks", follow_redirects=False)
        await sign_in(client, recruiter.email)
        page = await client.get("/admin/webhooks")
        create = await post_multi(
            client, "/admin/webhooks", {"url": "https://a.example/x", "events": "decision.made"}
        )

    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/signin?next=/admin/webhooks"
    assert page.status_code == 403
    assert create.status_code == 403
    assert await fetch(db, WebhookEndpoint) == []


async def test_the_delivery_log_shows_each_try_and_redeliver_sends_it_again(
    client: Client,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)
    async with Receiver(statuses=[503]) as receiver:
        endpoint = await add_endpoint(db, settings, clock, receiver.url)
        await make_candidate(db, settings, clock.now())
        await run_jobs(runner)
        retrying = await client.get(f"/admin/webhooks/{endpoint.id}")
        clock.advance(seconds=30)
        await run_jobs(runner)
        log = await client.get(f"/admin/webhooks/{endpoint.id}")

        [delivery] = await fetch(db, WebhookDelivery)
        redeliver = await post_multi(
            client,
            f"/admin/webhooks/deliveries/{delivery.id}/redeliver",
            {},
            follow_redirects=False,
        )
        queued_status = (await fetch(db, WebhookDelivery))[0].status
        queued_events = [
            e.status for e in await fetch(db, OutboxEvent, OutboxEvent.kind == WEBHOOK_DELIVER)
        ]
        await run_jobs(runner)
        missing = await post_multi(client, "/admin/webhooks/deliveries/9999/redeliver", {})

    assert "failed, will retry" in retrying.text
    assert "HTTP 503: receiver is down for maintenance" in retrying.text
    assert "HTTP 503" in log.text and "HTTP 200" in log.text
    assert "invitation.sent" in log.text
    assert delivery.event_id in log.text
    assert redeliver.status_code == 303
    assert redeliver.headers["location"].startswith(f"/admin/webhooks/{endpoint.id}")
    assert queued_status == "pending"
    assert queued_events == [OutboxStatus.DONE, OutboxStatus.PENDING]
    assert [r.status for r in receiver.requests] == [503, 200, 200]
    assert receiver.requests[2].headers["x-screen-delivery"] == delivery.event_id
    assert len(await fetch(db, WebhookAttempt)) == 3
    [delivered] = await fetch(db, WebhookDelivery)
    assert delivered.status == "delivered"
    assert missing.status_code == 404
    [audit] = await fetch(db, AuditEvent, AuditEvent.action == "webhook.redelivered")
    assert audit.before == {"status": "delivered"}
    assert audit.subject_id == str(delivery.id)


async def test_a_delivery_that_gave_up_shows_as_failed_and_can_be_redelivered(
    client: Client,
    runner: InProcessRunner,
    settings: Settings,
    db: AsyncSession,
    clock: FrozenClock,
) -> None:
    admin = await make_user(db, clock.now(), "admin")
    async with Receiver(statuses=[500] * MAX_TRIES) as receiver:
        endpoint = await add_endpoint(db, settings, clock, receiver.url)
        await make_candidate(db, settings, clock.now())
        for _ in range(MAX_TRIES):
            await run_jobs(runner)
            clock.advance(hours=11)
        await sign_in(client, admin.email)  # days later: a fresh session
        gave_up = await client.get(f"/admin/webhooks/{endpoint.id}")
        [delivery] = await fetch(db, WebhookDelivery)
        await post_multi(client, f"/admin/webhooks/deliveries/{delivery.id}/redeliver", {})
        await run_jobs(runner)

    assert "failed, gave up" in gave_up.text
    assert len(receiver.requests) == MAX_TRIES + 1
    assert receiver.requests[-1].status == 200
    [delivered] = await fetch(db, WebhookDelivery)
    assert delivered.status == "delivered"


async def test_an_admin_disables_and_enables_an_endpoint(
    client: Client, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    admin = await make_user(db, clock.now(), "admin")
    await sign_in(client, admin.email)
    endpoint = await add_endpoint(db, settings, clock, "https://hooks.example.com/in")
    await client.get("/admin/webhooks")

    disabled = await post_multi(
        client, f"/admin/webhooks/{endpoint.id}/disable", {}, follow_redirects=False
    )
    page = await client.get(f"/admin/webhooks/{endpoint.id}")
    again = await post_multi(client, f"/admin/webhooks/{endpoint.id}/disable", {})
    disabled_at = (await fetch(db, WebhookEndpoint))[0].disabled_at
    await make_candidate(db, settings, clock.now())
    no_deliveries = await fetch(db, WebhookDelivery)
    enabled = await post_multi(client, f"/admin/webhooks/{endpoint.id}/enable", {})
    [after] = await fetch(db, WebhookEndpoint)

    assert disabled.status_code == 303
    assert "disabled" in page.text
    assert again.status_code == 200  # a second click is harmless
    assert disabled_at == clock.now()
    assert no_deliveries == []
    assert enabled.status_code == 200
    assert after.disabled_at is None
    actions = [a.action for a in await fetch(db, AuditEvent, AuditEvent.action.like("webhook.%"))]
    assert actions == [
        "webhook.endpoint_created",
        "webhook.endpoint_disabled",
        "webhook.endpoint_enabled",
    ]


async def test_every_timestamp_in_a_payload_is_utc_whole_seconds_with_a_z(
    runner: InProcessRunner, settings: Settings, db: AsyncSession, clock: FrozenClock
) -> None:
    """As the README promises for the API, the webhooks and the exports."""
    clock.advance(microseconds=654_321)  # a submission never lands on a whole second
    async with Receiver() as receiver:
        await add_endpoint(
            db, settings, clock, receiver.url, events=("invitation.sent", "attempt.submitted")
        )
        await make_submitted(db, settings, clock.now())
        await run_jobs(runner)

    def timestamps(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [
                found
                for key, inner in value.items()
                for found in (
                    [inner] if key.endswith("_at") and isinstance(inner, str) else timestamps(inner)
                )
            ]
        return []

    bodies = [json.loads(request.body) for request in receiver.accepted]
    assert sorted(body["type"] for body in bodies) == ["attempt.submitted", "invitation.sent"]
    found = [stamp for body in bodies for stamp in timestamps(body)]
    assert any(stamp for body in bodies for stamp in timestamps(body.get("data", {})))
    for stamp in found:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp), stamp
