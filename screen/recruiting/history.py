"""What happened to one invitation, in words a recruiter reads: who invited, resent,
extended, changed the time allowed, withdrew (and why), and what happened next.

The audit log stores its actor as an identifier (`user:2:ada@example.com`,
`api_key:3:scr_ab12`, `system`); pages show the person's name, or what the actor is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.models import ApiKey, AuditEvent, User

# Actors that are no person, in words.
NAMED_ACTORS = {"system": "system", "cli": "command line", "demo": "demo", "ats": "ATS"}


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 12 else None


async def actor_names(db: AsyncSession, actors: Iterable[str]) -> dict[str, str]:
    """Each actor string as a page shows it: a user's name, "API key <name>", "ATS",
    "system"; an actor that no longer resolves keeps what it recorded."""
    actors = set(actors)
    user_ids: dict[str, int] = {}
    key_ids: dict[str, int] = {}
    names: dict[str, str] = {}
    for actor in actors:
        kind, _, rest = actor.partition(":")
        number = _number(rest.partition(":")[0])
        if kind == "user" and number is not None:
            user_ids[actor] = number
        elif kind == "api_key" and number is not None:
            key_ids[actor] = number
        elif kind == "api" and rest:
            names[actor] = f"API key {rest}"  # the ATS API records its key's name
        else:
            names[actor] = NAMED_ACTORS.get(actor, actor)
    if user_ids:
        rows = await db.execute(select(User.id, User.name).where(User.id.in_(user_ids.values())))
        users: dict[int, str] = {row.id: row.name for row in rows}
        for actor, user_id in user_ids.items():
            names[actor] = users.get(user_id) or actor.split(":", 2)[-1]
    if key_ids:
        rows = await db.execute(
            select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(key_ids.values()))
        )
        keys: dict[int, str] = {row.id: row.name for row in rows}
        for actor, key_id in key_ids.items():
            names[actor] = f"API key {keys.get(key_id) or key_id}"
    return names


@dataclass(frozen=True)
class Entry:
    at: datetime
    what: str
    detail: str | None
    by: str


WHAT = {
    "invitation.created": "Invited",
    "invitation.resend": "Invitation email sent again",
    "invitation.extend": "Link extended",
    "invitation.accommodation": "Time allowed changed",
    "invitation.withdraw": "Withdrawn",
    "outcome.recorded": "Outcome recorded",
}


def _detail(event: AuditEvent) -> str | None:
    after = event.after or {}
    if event.action == "invitation.withdraw":
        reason = after.get("reason")
        return f"Reason: {reason}" if reason else None
    if event.action == "invitation.accommodation":
        return f"Time multiplier × {after.get('accommodation')}"
    if event.action == "outcome.recorded":
        outcome = str(after.get("outcome") or "").replace("_", " ")
        note = after.get("note")
        return f"{outcome} — {note}" if note else outcome
    return None


async def invitation_history(db: AsyncSession, invitation_id: int) -> list[Entry]:
    """The invitation's audited events, oldest first, with who did each."""
    events = list(
        await db.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.subject_type == "invitation",
                AuditEvent.subject_id == str(invitation_id),
                AuditEvent.action.in_(WHAT),
            )
            .order_by(AuditEvent.at, AuditEvent.id)
        )
    )
    names = await actor_names(db, (event.actor for event in events))
    return [
        Entry(event.at, WHAT[event.action], _detail(event), names[event.actor]) for event in events
    ]
