"""Webhooks: signed deliveries of pipeline signals to receivers an admin registers.

`screen.platform.signals.emit_signal` records one `WebhookDelivery` per subscribed endpoint
and an outbox event that sends it; this module sends it, keeps the delivery log,
and holds the admin pages (endpoints, the log, redeliver).

What a receiver gets, per try:

    POST <endpoint url>
    Content-Type: application/json
    X-Screen-Event: decision.made
    X-Screen-Delivery: <event id, the same on every retry and redelivery>
    X-Screen-Timestamp: <unix seconds when this try was signed>
    X-Screen-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.".encode() + body)>

    <body: the event as compact JSON, keys sorted>

A `decision.made` event's `data` carries `report_url`, the candidate report
(`SCREEN_BASE_URL` + `screen.report.reports.report_path`). The rule that emits the
signal has no settings, so the stored event holds the invitation id and the URL is
added here, at send time, by `outgoing_payload`: a pure function of the stored
event and the base URL, so every retry and redelivery sends the same bytes (unless
an operator changes `SCREEN_BASE_URL`, when the receiver gets the address that works).

The signature covers the timestamp as well as the raw body, so a captured request
cannot be replayed later with a fresh timestamp; `verify_signature` below is the
reference check receivers can copy (standard library only). A 2xx answer marks
the delivery delivered; anything else is recorded and retried by the outbox with
its backoff (about 27 hours), after which the outbox event is dead and the delivery
stays failed. An admin can redeliver any delivery by hand.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform import audit, outbound, outbox
from screen.platform.errors import ConflictError, InputError, NotFoundError
from screen.platform.jobs import JobContext
from screen.platform.models import (
    OutboxEvent,
    OutboxStatus,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from screen.platform.signals import DECISION_MADE, EVENT_TYPES, WEBHOOK_DELIVER
from screen.platform.text import one_line
from screen.platform.tokens import seal, unseal
from screen.report.reports import report_path
from screen.settings import Settings

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
CANCELLED = "cancelled"  # the endpoint was disabled before the delivery went out

TIMEOUT_SECONDS = 10.0
SIGNATURE_TOLERANCE_SECONDS = 300
# Enough of a refusal to see why in the log; a receiver cannot make us buffer more.
RESPONSE_EXCERPT_BYTES = 500
LOG_LIMIT = 100
MAX_URL_CHARS = outbound.MAX_URL_CHARS
MIN_SECRET_CHARS, MAX_SECRET_CHARS = 16, 200
USER_AGENT = "Screen-Webhooks/1"


class WebhookFailedError(Exception):
    """A try that did not get a 2xx; raised so the outbox schedules the next one."""


# --- Signing -----------------------------------------------------------------------------------


def outgoing_payload(payload: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The event as sent: a decision also carries the absolute address of its report."""
    data = payload.get("data")
    if payload.get("type") != DECISION_MADE or not isinstance(data, dict):
        return payload
    invitation_id = data.get("invitation_id")
    if not isinstance(invitation_id, int):
        return payload
    report_url = base_url.rstrip("/") + report_path(invitation_id)
    return {**payload, "data": {**data, "report_url": report_url}}


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent and signed: compact, keys sorted, so a redelivery is identical."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256
    ).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    header: str,
    now: float,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """Reference check for receivers: copy it, it needs only `hashlib` and `hmac`.

    `timestamp` and `header` are the X-Screen-Timestamp and X-Screen-Signature
    headers, `body` the raw request body before any JSON parsing, `now` the
    receiver's unix time (`time.time()`). A request signed more than `tolerance`
    seconds away from now is refused, so a captured request cannot be replayed
    later; within the window, drop repeats by the event id (`X-Screen-Delivery`,
    also the body's signed `id`).
    """
    if not (timestamp.isascii() and timestamp.isdigit()):
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(
        secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(f"sha256={expected}".encode(), header.strip().encode("utf-8"))


def signed_headers(
    delivery: WebhookDelivery, secret: str, timestamp: str, body: bytes
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Screen-Event": delivery.event_type,
        "X-Screen-Delivery": delivery.event_id,
        "X-Screen-Timestamp": timestamp,
        "X-Screen-Signature": sign(secret, timestamp, body),
    }


# --- Endpoints ---------------------------------------------------------------------------------


def check_http_url(url: str, *, field: str = "url", what: str = "The URL") -> str:
    """An absolute http(s) URL with a plainly written host; anything else is refused before
    it is stored, with the reason in the message. Whether the host may be internal is the
    caller's setting (the admin page checks it with `outbound.check_target_url`), and every
    delivery checks the address it connects to (`screen.platform.outbound`)."""
    return outbound.check_target_url(url, allow_private=True, field=field, what=what)


def check_events(events: list[str]) -> list[str]:
    chosen = [event for event in EVENT_TYPES if event in events]
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise InputError(f"Unknown event type: {', '.join(unknown)}.", field="events")
    if not chosen:
        raise InputError("Choose at least one event to send.", field="events")
    return chosen


def check_secret(secret: str) -> str:
    if not MIN_SECRET_CHARS <= len(secret) <= MAX_SECRET_CHARS or any(c.isspace() for c in secret):
        raise InputError(
            f"A secret you provide must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters "
            "without spaces; leave it empty to have one generated.",
            field="secret",
        )
    return secret


async def create_endpoint(
    db: AsyncSession,
    *,
    url: str,
    events: list[str],
    now: datetime,
    secret_key: str,
    description: str = "",
    secret: str | None = None,
    user: User | None = None,
) -> tuple[WebhookEndpoint, str]:
    """The endpoint and its signing secret in clear, which is shown once and stored sealed."""
    url = check_http_url(url)
    chosen = check_events(events)
    description = one_line(description)
    if len(description) > 200:
        raise InputError("The description must be at most 200 characters.", field="description")
    provided = bool(secret)
    secret = check_secret(secret) if secret else secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(
        url=url,
        # Stored sealed, not hashed: every delivery needs the secret itself to sign.
        sealed_secret=seal(secret_key, secret),
        events=chosen,
        description=description,
        created_at=now,
    )
    db.add(endpoint)
    await db.flush()
    audit.record(
        db,
        actor=audit.actor_of(user),
        action="webhook.endpoint_created",
        subject_type="webhook_endpoint",
        subject_id=endpoint.id,
        now=now,
        after={
            "url": url,
            "events": chosen,
            "description": description,
            "secret": "provided" if provided else "generated",
        },
    )
    return endpoint, secret


async def get_endpoint(db: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await db.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFoundError(f"No webhook endpoint with id {endpoint_id}.")
    return endpoint


async def set_enabled(
    db: AsyncSession, endpoint_id: int, enabled: bool, user: User | None, now: datetime
) -> WebhookEndpoint:
    endpoint = await get_endpoint(db, endpoint_id)
    if (endpoint.disabled_at is None) == enabled:
        return endpoint  # a repeated click changes nothing
    before = {"disabled_at": endpoint.disabled_at.isoformat() if endpoint.disabled_at else None}
    endpoint.disabled_at = None if enabled else now
    cancelled = [] if enabled else await _cancel_queued(db, endpoint.id, now)
    audit.record(
        db,
        actor=audit.actor_of(user),
        action="webhook.endpoint_enabled" if enabled else "webhook.endpoint_disabled",
        subject_type="webhook_endpoint",
        subject_id=endpoint.id,
        now=now,
        before=before,
        after={"disabled_at": None if enabled else now.isoformat()}
        | ({"cancelled_deliveries": cancelled} if cancelled else {}),
    )
    return endpoint


async def _cancel_queued(db: AsyncSession, endpoint_id: int, now: datetime) -> list[int]:
    """Cancel, at once, every delivery of the endpoint still waiting to be sent (pending, or
    failed with a retry to come), and finish the outbox events that would send them, so the
    log says "cancelled" now and enabling the endpoint again sends none of them (Redeliver
    can). A try already under way when the admin clicks may still go out."""
    queued = list(
        await db.scalars(
            select(OutboxEvent).where(
                OutboxEvent.kind == WEBHOOK_DELIVER,
                OutboxEvent.status.in_((OutboxStatus.PENDING, OutboxStatus.DISPATCHED)),
                OutboxEvent.payload["delivery_id"]
                .as_integer()
                .in_(
                    select(WebhookDelivery.id).where(
                        WebhookDelivery.endpoint_id == endpoint_id,
                        WebhookDelivery.status.in_((PENDING, FAILED)),
                    )
                ),
            )
        )
    )
    delivery_ids = sorted({int(event.payload["delivery_id"]) for event in queued})
    for event in queued:
        event.status = OutboxStatus.DONE
        event.done_at = now
        event.last_error = "cancelled: the endpoint was disabled"
    # The endpoint's waiting deliveries by their own condition, not a list of ids: an
    # endpoint down for weeks can have more than the 32,767 PostgreSQL binds in a statement.
    cancelled = set(delivery_ids)
    for delivery in await db.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status.in_((PENDING, FAILED)),
        )
    ):
        if delivery.id in cancelled:
            delivery.status = CANCELLED
    return delivery_ids


async def redeliver(
    db: AsyncSession, delivery_id: int, user: User | None, now: datetime
) -> WebhookDelivery:
    """Queue the delivery again, whatever its state: same event id, fresh timestamp and
    signature. An older outbox event still waiting to retry finds it delivered and stops."""
    delivery = await db.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFoundError(f"No webhook delivery with id {delivery_id}.")
    endpoint = await get_endpoint(db, delivery.endpoint_id)
    if endpoint.disabled_at is not None:
        raise ConflictError("This endpoint is disabled: enable it before redelivering.")
    before = {"status": delivery.status}
    delivery.status = PENDING
    delivery.delivered_at = None
    outbox.emit(db, WEBHOOK_DELIVER, {"delivery_id": delivery.id}, now)
    audit.record(
        db,
        actor=audit.actor_of(user),
        action="webhook.redelivered",
        subject_type="webhook_delivery",
        subject_id=delivery.id,
        now=now,
        before=before,
        after={"status": PENDING, "event_id": delivery.event_id},
    )
    return delivery


# --- Sending -----------------------------------------------------------------------------------


async def _post(
    settings: Settings, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str | None]:
    """The status code, and for a refusal the start of the response body. The address is
    checked when the connection is made (`screen.platform.outbound`), so an endpoint stored
    before the input check existed, or a name that resolves to a private address, is
    refused: a `TargetRefusedError`, recorded in the log, and not retried."""
    async with (
        outbound.client(settings, timeout=TIMEOUT_SECONDS) as client,
        client.stream("POST", url, content=body, headers=headers) as response,
    ):
        if response.is_success:
            return response.status_code, None
        excerpt = b""
        async for chunk in response.aiter_bytes():
            excerpt += chunk
            if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
                break
        text = excerpt[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace").strip()
        return response.status_code, f"HTTP {response.status_code}" + (f": {text}" if text else "")


async def _record(
    ctx: JobContext,
    delivery_id: int,
    at: datetime,
    duration_ms: int,
    *,
    status_code: int | None = None,
    error: str | None = None,
    status: str,
) -> None:
    async with ctx.sessionmaker() as db, db.begin():
        db.add(
            WebhookAttempt(
                delivery_id=delivery_id,
                at=at,
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
            )
        )
        delivery = await db.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return
        if status == DELIVERED:
            delivery.status = DELIVERED
            delivery.delivered_at = ctx.clock.now()
        elif delivery.status not in (DELIVERED, CANCELLED):
            # A concurrent redelivery may have succeeded, or the admin disabled the endpoint
            # while this try was under way.
            delivery.status = status


async def deliver_webhook(ctx: JobContext, event: OutboxEvent, _done: outbox.DoneMarker) -> None:
    """Send one delivery once; every try, good or bad, is a row in the delivery log.

    Jobs run at least once, so this may run again for a delivery it already sent:
    one marked delivered is not sent again. The remaining window (the receiver
    answered 2xx, then the worker died before recording it) sends the same event
    id twice, which is why receivers are told to drop repeats by that id.
    """
    delivery_id = int(event.payload["delivery_id"])
    async with ctx.sessionmaker() as db:
        delivery = await db.get(WebhookDelivery, delivery_id)
        endpoint = await db.get(WebhookEndpoint, delivery.endpoint_id) if delivery else None
    if delivery is None or endpoint is None:
        raise LookupError(f"webhook delivery {delivery_id} no longer exists")
    if delivery.status in (DELIVERED, CANCELLED):  # cancelled: only Redeliver sends it again
        return None
    if endpoint.disabled_at is not None:
        async with ctx.sessionmaker() as db, db.begin():
            current = await db.get(WebhookDelivery, delivery_id)
            if current is not None and current.status != DELIVERED:
                current.status = CANCELLED
        return None

    started_at = ctx.clock.now()
    secret = unseal(ctx.settings.secret_key, endpoint.sealed_secret)
    if secret is None:
        error = "the endpoint secret cannot be unsealed: was SCREEN_SECRET_KEY changed?"
        await _record(ctx, delivery_id, started_at, 0, error=error, status=FAILED)
        raise WebhookFailedError(error)

    body = encode_body(outgoing_payload(delivery.payload, ctx.settings.base_url))
    timestamp = str(int(started_at.timestamp()))
    headers = signed_headers(delivery, secret, timestamp, body)
    # Elapsed time is measured, not read from the injectable clock (tests freeze that).
    began = time.perf_counter()
    try:
        status_code, refusal = await _post(ctx.settings, endpoint.url, body, headers)
    # Timeouts, refused connections, TLS, bad URL: all retried, except an internal address
    # refused by policy (outbound.TargetRefusedError), which the outbox gives up at once.
    except Exception as exc:
        duration_ms = round((time.perf_counter() - began) * 1000)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        await _record(ctx, delivery_id, started_at, duration_ms, error=error, status=FAILED)
        raise WebhookFailedError(error) from exc
    duration_ms = round((time.perf_counter() - began) * 1000)
    ok = refusal is None
    await _record(
        ctx,
        delivery_id,
        started_at,
        duration_ms,
        status_code=status_code,
        error=refusal,
        status=DELIVERED if ok else FAILED,
    )
    if not ok:
        raise WebhookFailedError(refusal)
    return None


# --- Delivery log ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]
    # The latest outbox event sending it: whether a retry is still coming, or it gave up.
    outbox: OutboxEvent | None

    @property
    def state(self) -> str:
        status = self.delivery.status
        if status != FAILED or self.outbox is None:
            return status
        if self.outbox.status == OutboxStatus.DEAD:
            if (self.outbox.last_error or "").startswith(outbox.GAVE_UP_AT_ONCE):
                return "failed, gave up at once: a retry cannot succeed"
            return "failed, gave up"
        if self.outbox.status in (OutboxStatus.PENDING, OutboxStatus.DISPATCHED):
            return "failed, will retry"
        return status


async def delivery_log(
    db: AsyncSession, endpoint_id: int, limit: int = LOG_LIMIT
) -> list[LogEntry]:
    deliveries = list(
        await db.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(limit)
        )
    )
    ids = [d.id for d in deliveries]
    attempts: dict[int, list[WebhookAttempt]] = {i: [] for i in ids}
    events: dict[int, OutboxEvent] = {}
    if ids:
        for attempt in await db.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(ids))
            .order_by(WebhookAttempt.at, WebhookAttempt.id)
        ):
            attempts[attempt.delivery_id].append(attempt)
        for row in await db.scalars(
            select(OutboxEvent)
            .where(
                OutboxEvent.kind == WEBHOOK_DELIVER,
                OutboxEvent.payload["delivery_id"].as_integer().in_(ids),
            )
            .order_by(OutboxEvent.id)
        ):
            events[int(row.payload["delivery_id"])] = row  # the latest wins
    return [LogEntry(d, attempts[d.id], events.get(d.id)) for d in deliveries]


# --- Admin pages -------------------------------------------------------------------------------
