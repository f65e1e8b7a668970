"""The pipeline signal: events that leave Screen for the hiring pipeline.

`emit_signal` runs inside the transaction of the change it reports. For every
active webhook endpoint subscribed to the event it records a delivery and an
outbox event that sends it; for a decision on an invitation that an ATS created
through the partner API it also queues the completion PATCH to the ATS. The
sending itself (signing, retries, the log) lives in `screen.pipeline.webhooks` and
`screen.pipeline.ats_api`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform import outbox
from screen.platform.models import Invitation, WebhookDelivery, WebhookEndpoint
from screen.platform.rendering import iso_utc

INVITATION_SENT = "invitation.sent"
ATTEMPT_SUBMITTED = "attempt.submitted"
DECISION_MADE = "decision.made"
# A candidate's personal data was erased (on request or by the retention policy). Its data
# holds only the invitation and screen ids: the external id it would name is erased too.
CANDIDATE_ERASED = "candidate.erased"
EVENT_TYPES = (INVITATION_SENT, ATTEMPT_SUBMITTED, DECISION_MADE, CANDIDATE_ERASED)

WEBHOOK_DELIVER = "webhook.deliver"
ATS_COMPLETED = "ats.completed"


def invitation_data(invitation: Invitation) -> dict[str, Any]:
    return {
        "invitation_id": invitation.id,
        "screen_id": invitation.screen_id,
        "external_id": invitation.external_id,
        "candidate": {"name": invitation.candidate_name, "email": invitation.candidate_email},
    }


async def webhook_subscriptions(db: AsyncSession) -> list[WebhookEndpoint]:
    """The active endpoints; read once by a caller that signals many times."""
    return list(
        await db.scalars(select(WebhookEndpoint).where(WebhookEndpoint.disabled_at.is_(None)))
    )


async def emit_signal(
    db: AsyncSession,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
    *,
    ats_callback_url: str | None = None,
    subscriptions: list[WebhookEndpoint] | None = None,
    flush: bool = True,
) -> list[WebhookDelivery]:
    """Record the deliveries of one signal. With `flush=False` the caller flushes (once
    for many signals) before anything reads the deliveries' outbox events."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown signal {event_type!r}")
    if subscriptions is None:
        subscriptions = await webhook_subscriptions(db)
    endpoints = [endpoint for endpoint in subscriptions if event_type in endpoint.events]
    deliveries = []
    for endpoint in endpoints:
        event_id = uuid.uuid4().hex
        delivery = WebhookDelivery(
            endpoint_id=endpoint.id,
            event_id=event_id,
            event_type=event_type,
            payload={
                "id": event_id,
                "type": event_type,
                "created_at": iso_utc(now),
                "data": data,
            },
            status="pending",
            created_at=now,
        )
        db.add(delivery)
        deliveries.append(delivery)
    if deliveries:
        await db.flush()  # the deliveries' ids, for their outbox events
    elif flush:
        await db.flush()
    for delivery in deliveries:
        outbox.emit(db, WEBHOOK_DELIVER, {"delivery_id": delivery.id}, now)
    if event_type == DECISION_MADE and ats_callback_url:
        outbox.emit(
            db,
            ATS_COMPLETED,
            {"invitation_id": data.get("invitation_id"), "url": ats_callback_url},
            now,
        )
    return deliveries
