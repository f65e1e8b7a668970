"""Sending the notifications `screen.review.notifications` queued: the outbox handlers.

What to say was decided when the event was queued (counts and titles, no candidate
identities) and is stored in its payload; here only whether to send is checked again: a
person who has since been disabled or turned the kind off gets nothing, and a screen whose
chat URL was removed posts nothing. A second run of a sent email is prevented by the
outbox's commit point (see `screen.platform.mail`); a chat post that the receiver accepted
but whose bookkeeping failed may be posted twice, which a channel tolerates.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from screen.platform import outbound
from screen.platform.jobs import JobContext
from screen.platform.mail import build_message
from screen.platform.models import OutboxEvent, ScreenChatHook, User
from screen.platform.outbox import DoneMarker, batched
from screen.review.notifications import LEAD, LEAD_ROLES, REVIEWING_ROLES, SWITCHES, zone_of

TIMEOUT_SECONDS = 10.0
USER_AGENT = "Screen-Notifications/1"


class ChatPostFailedError(Exception):
    """The channel did not answer 2xx; raised so the outbox retries with its backoff."""


@batched
async def send_notification_email(
    ctx: JobContext, event: OutboxEvent, done: DoneMarker
) -> dict[str, Any] | None:
    payload = event.payload
    kind = str(payload["kind"])
    async with ctx.sessionmaker() as db:
        user = await db.get(User, payload["user_id"])
    roles = LEAD_ROLES if kind == LEAD else REVIEWING_ROLES
    if (
        user is None
        or user.disabled_at is not None
        or not user.holds(*roles)
        or not getattr(user, SWITCHES[kind])
    ):
        return {**payload, "skipped": "turned off, disabled or no longer in the role"}
    base = ctx.settings.base_url
    zone = zone_of(user, ctx.settings)
    context = {
        **payload["context"],
        "name": user.name,
        "queue_url": f"{base}/review",
        "lead_url": f"{base}/lead",
        "base_url": base,
        "settings_url": f"{base}/account/notifications",
        "hour": f"{ctx.settings.notify_hour:02d}:00",
        "zone": zone.key,
    }
    message = build_message(
        ctx.templates,
        f"notify_{kind}",
        context,
        sender=ctx.settings.mail_from,
        to=(user.name, user.email),
        message_id=f"<notify-{kind}-{event.id}@screen.local>",
    )
    await ctx.mailer.send(message, commit_point=done)
    return None


async def post_to_chat(
    ctx: JobContext, event: OutboxEvent, done: DoneMarker
) -> dict[str, Any] | None:
    """POST {"text": ...} to the screen's incoming webhook, as Slack (and Mattermost,
    Rocket.Chat, Google Chat's compatible hooks) take it."""
    async with ctx.sessionmaker() as db:
        url = await db.scalar(
            select(ScreenChatHook.url).where(ScreenChatHook.screen_id == event.payload["screen_id"])
        )
    if url is None:
        return {**event.payload, "skipped": "the screen's chat URL was removed"}
    async with outbound.client(ctx.settings, timeout=TIMEOUT_SECONDS) as client:
        response = await client.post(
            url, json={"text": event.payload["text"]}, headers={"User-Agent": USER_AGENT}
        )
    if not 200 <= response.status_code < 300:
        raise ChatPostFailedError(f"the channel answered {response.status_code}")
    return None
