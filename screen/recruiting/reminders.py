"""Reminders for candidates who have not started, sent before their link expires.

Each screen lists how many hours before expiry to remind (default 48 and 24). A
reminder is a `reminders_sent` row plus an outbox email in one transaction; the
unique (invitation, hours) key makes "never twice" hold even if two sweeps race.
When several are due at once (a short link, or the sweep was down), only the
latest-due one is sent and the earlier ones are recorded as passed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.errors import InputError
from screen.platform.models import NOT_STARTED, Attempt, Invitation, ReminderSent, Screen
from screen.platform.web import small_number
from screen.recruiting.invitations import REMINDER_EMAIL, queue_email

MAX_HOURS = 24 * 30


async def send_due_reminders(db: AsyncSession, now: datetime) -> int:
    """Queue every reminder that is due; returns how many emails were queued."""
    horizon = now + timedelta(hours=MAX_HOURS)
    waiting = (
        Attempt.state.in_(NOT_STARTED),
        Invitation.expires_at > now,
        Invitation.expires_at <= horizon,
        Invitation.sealed_link.is_not(None),
    )
    rows = await db.execute(
        select(Invitation, Screen.reminder_hours)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .join(Screen, Invitation.screen_id == Screen.id)
        .where(*waiting)
    )
    candidates = list(rows)
    if not candidates:
        return 0
    sent: dict[int, set[int]] = {}
    # Joined on the same conditions, not a list of ids: a big campaign's waiting candidates
    # can outnumber the 32,767 parameters PostgreSQL binds in one statement.
    for invitation_id, hours in await db.execute(
        select(ReminderSent.invitation_id, ReminderSent.hours_before)
        .join(Invitation, ReminderSent.invitation_id == Invitation.id)
        .join(Attempt, Attempt.invitation_id == Invitation.id)
        .where(*waiting)
    ):
        sent.setdefault(invitation_id, set()).add(hours)
    queued = 0
    for invitation, schedule in candidates:
        due = [
            h
            for h in schedule or []
            if invitation.expires_at - timedelta(hours=h) <= now
            and h not in sent.get(invitation.id, set())
            # A reminder due before the invitation existed would only repeat the invitation.
            and invitation.expires_at - timedelta(hours=h) > invitation.created_at
        ]
        if not due:
            continue
        for hours in due:
            db.add(ReminderSent(invitation_id=invitation.id, hours_before=hours, sent_at=now))
        queue_email(db, invitation, REMINDER_EMAIL, now)
        queued += 1
    await db.flush()
    return queued


def parse_schedule(raw: str) -> list[int]:
    """ "48, 24" → [48, 24]: whole hours before expiry, 1 to 720, no repeats."""
    hours: list[int] = []
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if small_number(part) is None or not 1 <= int(part) <= MAX_HOURS:
            raise InputError(
                f"Reminders are whole hours before expiry, 1 to {MAX_HOURS}; got {part!r}.",
                field="reminder_hours",
            )
        if int(part) not in hours:
            hours.append(int(part))
    return sorted(hours, reverse=True)
