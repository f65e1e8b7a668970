"""The audit log: who did what, when, with the state before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from screen.platform.models import AuditEvent, User


def actor_of(user: User | None) -> str:
    return f"user:{user.id}:{user.email}" if user else "system"


def record(
    db: AsyncSession,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: int | str,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        before=before,
        after=after,
        at=now,
    )
    db.add(event)
    return event
